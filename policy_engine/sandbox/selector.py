"""One pool's selector script: where it is, which language runs it, its current text, its health.

A script path is relative to the file that declares the pool (for a policy written inline in a
test file: the test file); ``~/`` and absolute paths work too. ``.py`` files run as sandboxed
Python, ``.js``/``.mjs``/``.cjs`` files in a ``node`` worker. The text is read again when the file
changes (size or modification time), so an edited script is picked up without a restart.

Each :class:`Selector` has its own :attr:`~Selector.scope`, a random key the workers keep the
script's module state under: two pools that merely have the same script text never share state.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
from dataclasses import field
from pathlib import Path
from typing import Any

from policy_engine.common.bounded_read import SELECTOR_SCRIPT, FileReadError, ReadProblem, read_bounded
from policy_engine.common.records import dataclass
from policy_engine.sandbox.base import Runner, SourceProblem
from policy_engine.sandbox.breaker import CircuitBreaker
from policy_engine.sandbox.redact import shorten

__all__ = ["LANGUAGES", "MAX_SCRIPT_BYTES", "Selector", "interpret", "resolve_script", "runner_for"]

LANGUAGES = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript"}
MAX_SCRIPT_BYTES = SELECTOR_SCRIPT.max_bytes


def resolve_script(script: str, source_dir: str | None) -> Path:
    """The file a ``selectorScript`` names: ``~/`` is the home folder; relative paths start at ``source_dir``."""
    if script.startswith("~/"):
        return Path(os.path.expanduser("~")) / script[2:]
    path = Path(script)
    if path.is_absolute() or source_dir is None:
        return path
    return Path(source_dir) / path


def runner_for(language: str) -> Runner:
    """The process-wide runner of ``language`` (``python`` or ``javascript``)."""
    if language == "python":
        from policy_engine.sandbox.python_runner import get_python_runner

        return get_python_runner()
    from policy_engine.sandbox.node_runner import get_node_runner

    return get_node_runner()


@dataclass(eq=False)
class Selector:
    """A pool's selector: the resolved script, its language, its text (re-read on change) and its breaker."""

    pool: str
    script: str | None
    path: Path | None = None
    language: str | None = None
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    scope: str = field(default_factory=lambda: secrets.token_hex(8))  # the key of this pool's module state
    _stamp: tuple[int, int] | None = None
    _source: str | None = None
    _problem: str | None = None
    _runner: Runner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_pool(cls, pool: str, script: str | None, source_dir: str | None) -> Selector:
        """Resolve ``script`` for ``pool`` (nothing runs yet)."""
        if not script:
            return cls(pool, script)
        path = resolve_script(script, source_dir)
        return cls(pool, script, path, LANGUAGES.get(path.suffix.lower()))

    def __repr__(self) -> str:
        return f"Selector(pool={self.pool!r}, script={self.script!r}, language={self.language!r})"

    @property
    def runner(self) -> Runner:
        """The runner of this script's language (looked up once)."""
        assert self.language is not None
        if self._runner is None:
            self._runner = runner_for(self.language)
        return self._runner

    def source(self) -> tuple[str | None, str | None]:
        """``(text, None)``, or ``(None, why the script cannot run)``: no script, missing file, unknown kind."""
        if not self.script or self.path is None:
            return None, "the pool has strategy custom but no selectorScript"
        if self.language is None:
            return None, (f"selector {self.script}: unsupported file type {self.path.suffix or '(none)'!r}; "
                          "use .py, .js, .mjs or .cjs")
        try:
            info = self.path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte or an unencodable name
            stamp = None
            why = "not found" if isinstance(exc, FileNotFoundError) else (
                "is a symbolic link loop" if getattr(exc, "errno", None) == errno.ELOOP
                else getattr(exc, "strerror", None) or f"the file name cannot be used ({exc})")
            with self._lock:
                self._stamp, self._source, self._problem = None, None, f"selector {self.script}: {why} ({self.path})"
            return None, self._problem
        with self._lock:
            if stamp == self._stamp:
                return self._source, self._problem
            source, problem = self._read(stamp)
            self._stamp, self._source, self._problem = stamp, source, problem
            return source, problem

    def _read(self, stamp: tuple[int, int] | None) -> tuple[str | None, str | None]:
        assert self.path is not None
        try:  # a regular file only, at most MAX_SCRIPT_BYTES: a FIFO or /dev/zero never blocks the decision
            raw = read_bounded(self.path, SELECTOR_SCRIPT, max_bytes=MAX_SCRIPT_BYTES)
        except FileReadError as exc:
            if exc.problem is ReadProblem.TOO_LARGE:
                return None, f"selector {self.script}: larger than {MAX_SCRIPT_BYTES // 1024} KiB"
            return None, f"selector {self.script}: {exc.reason} ({self.path})"
        try:
            return raw.decode("utf-8"), None
        except UnicodeDecodeError:
            return None, f"selector {self.script}: not UTF-8 text"

    def unavailable(self) -> str | None:
        """Why the script's language cannot run here (``node`` missing), else ``None``."""
        if self.language is None:
            return None
        reason = self.runner.unavailable()
        return f"selector {self.script}: {reason}" if reason else None

    def problems(self, deep: bool = False) -> list[SourceProblem]:
        """Compile problems of the current text. Python is checked in-process; JavaScript only when
        ``deep`` (it needs a ``node`` worker), e.g. for ``mp-policy validate``."""
        text, _ = self.source()
        if text is None or self.language is None:
            return []
        if self.language == "javascript" and not deep:
            return []
        if self.language == "javascript" and self.runner.unavailable():
            return []
        return self.runner.check(text, str(self.path))


def interpret(value: Any, eligible: list[str], configured: frozenset[str]) -> tuple[list[str] | None, str]:
    """Turn a selector's answer into an order of ``eligible`` members.

    Returns ``(order, note)``; ``order`` is ``None`` when the answer means "fall back" (a wrong
    type, or names none of the pool's members). A string or a list of strings names members to
    put first, in that order; named members that are not eligible now are ignored; ``null`` or an
    empty list means no preference (rotation order, not a fallback).
    """
    if value is None or value == []:
        return list(eligible), "the selector expressed no preference; rotation order"
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = list(value)
    else:
        kind = {dict: "an object", list: "a list with non-string items", bool: "a boolean", int: "a number",
                float: "a number"}.get(type(value), type(value).__name__)
        return None, f"the selector returned {kind}; expected a provider name, a list of names, or null"
    members = [n for n in dict.fromkeys(names) if n in configured]
    if not members:
        shown = ", ".join(repr(shorten(n, 40)) for n in names[:3]) + (", ..." if len(names) > 3 else "")
        return None, f"the selector named no member of the pool ({shown})"
    pool_eligible = set(eligible)
    first = [m for m in members if m in pool_eligible]
    rest = [m for m in eligible if m not in set(first)]
    passed = [m for m in members if m not in pool_eligible]
    note = f"selector chose {', '.join(first)}" if first else "the members the selector chose are not eligible now"
    if passed and first:
        note += f" ({', '.join(passed)} not eligible now)"
    return first + rest, note
