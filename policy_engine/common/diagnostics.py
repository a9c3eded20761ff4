"""Diagnostics: one problem found in a policy, with where it is and what to do about it.

Rendered as ``file:line:col: code: message`` (OPA style) in text, and as objects with the same
fields plus the JSON path in ``--format json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import Any, Literal

from policy_engine.common.records import dataclass
from policy_engine.common.terminal_text import printable

__all__ = ["Diagnostic", "PolicyError", "Severity", "json_path", "sort_diagnostics"]

Severity = Literal["error", "warning"]


def json_path(path: Sequence[str | int]) -> str:
    """Render a path as JSONPath: ``$.pools[0].members[2]``."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += "[" + repr(part).replace("'", '"') + "]"
    return out


@dataclass(frozen=True)
class Diagnostic:
    """One finding: severity, stable code, message, location (file/line/col, 1-based) and JSON path."""

    code: str
    message: str
    severity: Severity = "error"
    file: str | None = None
    line: int | None = None
    col: int | None = None
    path: tuple[str | int, ...] = field(default_factory=tuple)
    hint: str | None = None

    @property
    def json_path(self) -> str:
        """The JSON path of the offending value."""
        return json_path(self.path)

    def location(self) -> str:
        """``file:line:col`` (parts that are unknown are left out)."""
        where = self.file or "<policy>"
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return where

    def format(self) -> str:
        """The one-line text form, with the JSON path and the hint when there is one."""
        text = f"{self.location()}: {self.code}: {self.message} (at {self.json_path})"
        if self.severity == "warning":
            text = f"{self.location()}: warning: {self.code}: {self.message} (at {self.json_path})"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return printable(text, keep="\n\t")  # names may come from auth.json, MULTI_SUB, the state store

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` form."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": self.json_path,
            "hint": self.hint,
        }


class PolicyError(Exception):
    """A policy (or test file) that cannot be used; carries every diagnostic found, errors first."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sort_diagnostics(diagnostics)
        first = next((d for d in self.diagnostics if d.severity == "error"), None)
        count = sum(1 for d in self.diagnostics if d.severity == "error")
        summary = first.format() if first else "invalid policy"
        if count > 1:
            summary += f" (and {count - 1} more error{'s' if count > 2 else ''})"
        super().__init__(summary)

    @property
    def errors(self) -> list[Diagnostic]:
        """Only the error-severity diagnostics."""
        return [d for d in self.diagnostics if d.severity == "error"]


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Order by file, then line/column, then JSON path, keeping duplicates out."""
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for d in diagnostics:
        key = (d.file, d.line, d.col, d.code, d.message, d.path, d.severity)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return sorted(
        unique,
        key=lambda d: (d.file or "", d.line or 0, d.col or 0, [str(p) for p in d.path]),
    )
