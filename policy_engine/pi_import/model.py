"""What an import produces: the converted documents and the differences found on the way."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from policy_engine.common.diagnostics import json_path
from policy_engine.common.records import dataclass

__all__ = ["Difference", "DifferenceKind", "ImportReport", "ImportedFile", "PiImportError", "SourceKind"]

SourceKind = Literal["policy", "project"]

#: ``behaviour``: the set-up carries over, but mp-policy acts differently from pi-multi-pass (DESIGN §10);
#: ``rewritten``: a value mp-policy rejects was rewritten to what pi did with it;
#: ``dropped``: something pi ignored (or could not use) is not carried over.
DifferenceKind = Literal["behaviour", "rewritten", "dropped"]


class PiImportError(Exception):
    """An input that cannot be imported: it does not parse, or it is not a pi-multi-pass config.

    ``file`` and ``line`` say where (when known); ``hint`` what to do about it.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, col: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        self.hint = hint

    def format(self) -> str:
        """``file:line:col: message`` and the hint on a second line."""
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}" + (f":{self.col}" if self.col is not None else "")
        text = f"{where}: {self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` form."""
        return {"file": self.file, "line": self.line, "col": self.col, "message": self.message, "hint": self.hint}


@dataclass(frozen=True)
class Difference:
    """One thing that behaves differently under mp-policy, or that the import had to change or leave out."""

    code: str
    message: str
    kind: DifferenceKind = "behaviour"
    file: str | None = None  # the pi file it concerns (its name as given)
    path: tuple[str | int, ...] = ()  # JSON path in that file
    line: int | None = None

    @property
    def json_path(self) -> str:
        """The JSON path as text: ``$.pools[1].memberSchedule["openai-codex"]``."""
        return json_path(self.path)

    def location(self) -> str:
        """``file:line`` when known, else the file name."""
        where = self.file or "<input>"
        return f"{where}:{self.line}" if self.line is not None else where

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` form: ``{code, path, message}`` plus kind, file and line."""
        return {"code": self.code, "path": self.json_path, "message": self.message, "kind": self.kind,
                "file": self.file, "line": self.line}


@dataclass
class ImportedFile:
    """One pi file and its YAML: the converted data, the text, where it goes."""

    kind: SourceKind
    source: Path
    target: Path | None  # None: standard output
    data: dict[str, Any]
    text: str = ""
    written: bool = False

    @property
    def source_name(self) -> str:
        """The pi file as its comments and the report name it: ``multi-pass.json`` or ``.pi/multi-pass.json``."""
        return f".pi/{self.source.name}" if self.kind == "project" else self.source.name


@dataclass
class ImportReport:
    """The whole import: the files, every difference (pi order: files, then paths), and warnings."""

    files: list[ImportedFile] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    multi_sub: str | None = None

    @property
    def written(self) -> list[str]:
        """The files written (``-`` for standard output)."""
        return [str(f.target) if f.target is not None else "-" for f in self.files if f.written]

    def to_dict(self) -> dict[str, Any]:
        """``{written, differences, warnings}`` (plus the outputs, with the YAML text for standard output)."""
        return {
            "written": self.written,
            "differences": [d.to_dict() for d in self.differences],
            "warnings": list(self.warnings),
            "outputs": [{"kind": f.kind, "source": str(f.source), "target": str(f.target) if f.target else "-",
                         **({"yaml": f.text} if f.target is None else {})} for f in self.files],
            "multiSub": self.multi_sub,
        }
