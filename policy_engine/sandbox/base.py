"""The interface every selector runner implements, and what a call to a selector can come to.

A runner takes the text of one selector script and a context serialised as JSON, runs the
script's ``select`` in a sandboxed worker and reports an :class:`Outcome`. It never raises for
anything the script does; the caller (the ``custom`` strategy) decides what a failed outcome
means (fall back to rotation order).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from policy_engine.common.digests import sha256
from policy_engine.common.records import dataclass
from policy_engine.sandbox.limits import MAX_PYTHON_SOURCE_CHARS, MAX_SELECTOR_TIMEOUT

__all__ = [
    "MAX_PYTHON_SOURCE_CHARS",
    "MAX_SELECTOR_TIMEOUT",
    "Outcome",
    "OutcomeKind",
    "Runner",
    "SourceProblem",
    "source_hash",
]

OutcomeKind = Literal["ok", "error", "compile", "timeout", "crash", "unavailable"]


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A problem found in a script before it runs: a syntax error, a forbidden name, no ``select``."""

    message: str
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one selector call came to.

    ``kind`` is ``ok`` (``value`` holds the script's answer, decoded from JSON: ``None``, a string,
    a list, or anything else the script returned), ``error`` (the script raised or returned
    something that is not JSON), ``compile`` (the script does not compile), ``timeout`` (no answer
    in time; the worker was killed or interrupted), ``crash`` (the worker died, e.g. out of
    memory), ``unavailable`` (the worker cannot start, e.g. ``node`` is missing). ``detail`` is a
    short human explanation, with a line number when one is known.
    """

    kind: OutcomeKind
    value: Any = None
    detail: str = ""
    line: int | None = None

    @property
    def ok(self) -> bool:
        """True when the script ran and answered."""
        return self.kind == "ok"


def source_hash(source: str) -> str:
    """The key a compiled script is cached under (in the parent and in each worker)."""
    return sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


class Runner(Protocol):
    """Runs selector scripts of one language."""

    language: str  # "python" or "javascript"

    def unavailable(self) -> str | None:
        """``None`` when scripts can run, else why not (e.g. ``node`` is not installed)."""
        ...

    def check(self, source: str, filename: str) -> list[SourceProblem]:
        """Problems that stop the script from running at all (empty when it compiles)."""
        ...

    def call(self, source: str, filename: str, ctx_json: str, timeout: float, scope: str = "") -> Outcome:
        """Run ``select(ctx)`` with ``ctx`` decoded from ``ctx_json``; answer within ``timeout`` s + a margin.

        Module state persists between calls with the same ``source`` and ``scope`` (a pool's own
        key), never between different scopes.
        """
        ...

    def warm(self) -> None:
        """Start a worker in the background so that the first call does not pay for it."""
        ...

    def close(self) -> None:
        """Stop the workers."""
        ...
