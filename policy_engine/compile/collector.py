"""Diagnostics of a compilation, collected (not raised at the first) and located in the file that wrote the
value."""

from __future__ import annotations

from collections.abc import Sequence

from policy_engine.common.diagnostics import Diagnostic, Severity
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.merge import EffectivePolicy

__all__ = ["Collector", "did_you_mean_hint"]


class Collector:
    """The diagnostics of one compilation, each located in the document that wrote the value."""
    def __init__(self, policy: EffectivePolicy) -> None:
        self.policy = policy
        self.items: list[Diagnostic] = []

    def add(
        self,
        section: str,
        path: Sequence[str | int],
        code: str,
        message: str,
        severity: Severity = "error",
        hint: str | None = None,
        doc: LoadedDocument | None = None,  # where the value is written, when not the section's document
    ) -> None:
        doc = doc if doc is not None else self.policy.source_of(section)
        full = (section, *path)
        line = col = None
        file = None
        root: tuple[str | int, ...] = ()
        if doc is not None:
            file = doc.source
            root = tuple(doc.root)
            pos = doc.position(full)
            if pos is not None:
                line, col = pos
        self.items.append(
            Diagnostic(code=code, message=message, severity=severity, file=file, line=line, col=col,
                       path=root + full, hint=hint)
        )

def did_you_mean_hint(name: str, options: Sequence[str]) -> str | None:
    """``did you mean 'x'?`` for the closest of ``options``, or ``None``."""
    import difflib  # only for a diagnostic's "did you mean"

    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
