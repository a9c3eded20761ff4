"""A loaded policy document: its data with the source position of every value (file, line, column, JSON path)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from policy_engine.common.diagnostics import Diagnostic, Severity
from policy_engine.common.records import dataclass

__all__ = ["JsonPath", "LoadedDocument", "Position", "pi_tolerant", "value_at"]


JsonPath = tuple[str | int, ...]
Position = tuple[int, int]


@dataclass(frozen=True)
class LoadedDocument:
    """A loaded file: its plain data and where each value stands in the source.

    ``positions`` maps a JSON path (relative to ``data``) to the 1-based (line, column) of the value;
    ``key_positions`` maps the path of a mapping entry to the position of its key; ``scalar_text``
    keeps the source text of scalars that were not read as strings (``off`` for ``False``).
    ``root`` is the path of ``data`` inside the file it came from (non-empty for a sub-document,
    such as a policy written inline in a test file): diagnostics use ``root + path``.
    """

    data: Any
    source: str
    positions: Mapping[JsonPath, Position] = field(default_factory=dict, repr=False, compare=False)
    key_positions: Mapping[JsonPath, Position] = field(default_factory=dict, repr=False, compare=False)
    scalar_text: Mapping[JsonPath, str] = field(default_factory=dict, repr=False, compare=False)
    root: JsonPath = ()
    path: Path | None = None
    digest: str = field(default="", compare=False)  # hash of the source text ("" when not read from text)

    def position(self, path: Sequence[str | int] = ()) -> Position | None:
        """The position of the value at ``path``, or of its nearest ancestor that has one."""
        parts = tuple(path)
        for end in range(len(parts), -1, -1):
            found = self.positions.get(parts[:end])
            if found is not None:
                return found
        return None

    def key_position(self, path: Sequence[str | int]) -> Position | None:
        """The position of the key of the mapping entry at ``path`` (else that of its value)."""
        return self.key_positions.get(tuple(path)) or self.position(path)

    def full_path(self, path: Sequence[str | int] = ()) -> JsonPath:
        """``path`` as a path in the whole file (``root + path``)."""
        return self.root + tuple(path)

    def get(self, path: Sequence[str | int], default: Any = None) -> Any:
        """The value at ``path`` in ``data``, or ``default`` when there is none."""
        return value_at(self.data, path, default)

    def subdocument(self, path: Sequence[str | int]) -> LoadedDocument:
        """The value at ``path`` as a document of its own, keeping this file's positions.

        ``position(())`` of the result is the position of that value, and its ``root`` is
        ``self.root + path``, so diagnostics show the full path and the line in this file.
        """
        prefix = tuple(path)
        if not prefix:
            return self
        return LoadedDocument(
            data=self.get(prefix),
            source=self.source,
            positions=_reroot(self.positions, prefix),
            key_positions=_reroot(self.key_positions, prefix),
            scalar_text=_reroot(self.scalar_text, prefix),
            root=self.root + prefix,
            path=self.path,
            digest=self.digest,
        )

    def diagnostic(
        self,
        code: str,
        message: str,
        path: Sequence[str | int] = (),
        *,
        hint: str | None = None,
        severity: Severity = "error",
        at_key: bool = False,
    ) -> Diagnostic:
        """A diagnostic about the value at ``path`` (or about its key, with ``at_key``)."""
        where = self.key_position(path) if at_key else self.position(path)
        line, col = where if where else (None, None)
        return Diagnostic(
            code=code,
            message=message,
            severity=severity,
            file=self.source,
            line=line,
            col=col,
            path=self.full_path(path),
            hint=hint,
        )


def _reroot(mapping: Mapping[JsonPath, Any], prefix: JsonPath) -> Mapping[JsonPath, Any]:
    size = len(prefix)
    return {path[size:]: value for path, value in mapping.items() if path[:size] == prefix}


def pi_tolerant(doc: LoadedDocument) -> bool:
    """Whether ``doc`` is a file pi-multi-pass reads too (named ``multi-pass.json``), which DESIGN §3 reads
    with pi's tolerance: what pi accepts is a warning there where a YAML file has an error. Another
    ``.json`` (a policy of mp-policy's own, or ``auth.json`` passed by mistake) is as strict as YAML."""
    return doc.source.replace("\\", "/").rsplit("/", 1)[-1].lower() == "multi-pass.json"


def value_at(data: Any, path: Sequence[str | int], default: Any = None) -> Any:
    """The value at ``path`` (keys and list indexes) in ``data``, or ``default`` when there is none."""
    value = data
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return default
    return value
