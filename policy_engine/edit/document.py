"""A policy file opened for editing: round-trip YAML (or JSON), validated, diffed, written atomically.

:class:`PolicyDocument` holds the text of one policy or project overlay and offers a few
structural edits by JSON path (:meth:`~PolicyDocument.set`, :meth:`~PolicyDocument.delete`,
:meth:`~PolicyDocument.append`); everything else (what the edits mean) lives in
:mod:`policy_engine.edit.operations`.

Guarantees:

- A file that does not parse is never touched: :meth:`PolicyDocument.open` raises
  :class:`UnreadableFileError` with the loader's own diagnostics (file, line, column, hint).
- YAML keeps its comments, key order, quoting and formatting. Lines the edit does not concern
  stay byte for byte what they were. Two techniques make that hold:

  * Structural edits of block collections (removing an entry, adding one, replacing a block
    value) are made on the text itself, at the lines ruamel.yaml reports for each node. A removed
    entry takes its own comment lines with it (the comment lines directly above it, indented no
    deeper than it, and deeper comment lines right after it) and one blank separator line; the
    comment lines above the *next* entry stay with that entry. A new entry goes right after the
    last line of the entry before it, so the blank line and comments that introduce whatever
    follows stay in place, and it gets a blank line before it when its siblings are separated by
    blank lines. A block list replaced by another (a pool's new members) keeps the lines of the
    items that stay, comments included, and moves them along when the order changes; the blank
    lines between items stay in place.
  * Every other edit (a scalar value, anything inside a flow collection such as
    ``{pool: a, model: b}``) goes through the ruamel.yaml round-trip tree; the dump before and
    after the change is then merged into the original text (a three-way line merge), so lines
    that ruamel.yaml would reformat (``key:   value`` alignment, ``---``) keep their original
    form unless the edit touches them.

  The indentation of new entries follows the file (mapping indent, sequence dash offset); new
  strings that YAML 1.1 would read as something else (``off``, ``2026-06-01``) are quoted.
- JSON stays JSON and is edited at the token level (:mod:`policy_engine.edit.json_text`): only
  the edited entry's lines change (and the comma on the line before an appended one); escapes,
  number spellings, indentation and the final newline (or its absence) stay. A new file gets
  2 spaces, as pi-multi-pass writes it. A number that is not finite is never written.
- :meth:`PolicyDocument.validate` checks the result with the project's validator (JSON Schema
  and compile) before anything is written; :meth:`PolicyDocument.save` replaces the file
  atomically (:func:`policy_engine.edit.files.write_atomic`), refuses when another program changed
  the file since it was read (:class:`FileChangedError`), and never writes outside the file's
  root (:func:`policy_engine.edit.files.check_target`: no write through a dangling link or a
  link out of the root, none to a hard-linked or read-only file; :class:`UnsafeTargetError`).
  A link to another file inside the root is followed: that file is replaced, the link stays.

Windows line endings and a UTF-8 byte-order mark are kept. UTF-16 files are refused (save as UTF-8).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from policy_engine.common.bounded_read import EDITED_FILE, FileReadError, ReadProblem, read_bounded
from policy_engine.common.diagnostics import Diagnostic, PolicyError, json_path
from policy_engine.edit.files import UnsafeTargetError, check_target, write_atomic
from policy_engine.edit.json_text import JsonText
from policy_engine.edit.markers import BlockList, BlockMap, FlowList, FlowMap
from policy_engine.edit.yaml_text import YamlText
from policy_engine.policy.document import LoadedDocument, value_at
from policy_engine.policy.loader import load_text, read_error_diagnostic

__all__ = [
    "BlockList",
    "BlockMap",
    "DocKind",
    "FileChangedError",
    "FlowList",
    "FlowMap",
    "PolicyDocument",
    "UnreadableFileError",
    "UnsafeTargetError",
    "unified_diff",
]

DocKind = Literal["policy", "project"]
JsonPath = tuple[str | int, ...]


class FileChangedError(Exception):
    """The file changed on disk between reading and writing it; nothing was written."""


class UnreadableFileError(Exception):
    """The file cannot be read or parsed; it is left untouched. ``diagnostics`` say where and why."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        first = self.diagnostics[0] if self.diagnostics else None
        super().__init__(first.format() if first else "unreadable file")


def unified_diff(old: str, new: str, name: str, *, created: bool = False, deleted: bool = False) -> str:
    """A unified diff (``a/NAME`` → ``b/NAME``; ``/dev/null`` for a created or deleted file)."""
    def lines(text: str) -> list[str]:
        out = text.splitlines(True)
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
        return out

    return "".join(difflib.unified_diff(lines(old), lines(new), "/dev/null" if created else f"a/{name}",
                                        "/dev/null" if deleted else f"b/{name}"))


def _plain(value: Any) -> Any:
    """Markers and ruamel types as plain JSON data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


# -------------------------------------------------------------------------------------- document


class PolicyDocument:
    """One policy file (or project overlay) opened for editing; see the module docstring.

    ``data`` is the current content as the engine reads it (plain JSON data); edits address
    values by JSON path (``("pools", 0, "members")``). Nothing touches the disk until :meth:`save`.
    """

    def __init__(self, path: Path, kind: DocKind, text: str, *, exists: bool, source: str | None = None,
                 bom: bool = False, crlf: bool = False, raw: bytes | None = None, root: Path | None = None,
                 option: str = "--policy") -> None:
        self.path = path
        self.root = root  # the directory the file must stay in (None: the folder it is in)
        self.option = option  # the command-line option that names this file (the hint of a refused write)
        self._raw = raw if raw is not None else (("\ufeff" if bom else "") + text).encode("utf-8")
        self.kind = kind
        self.exists = exists
        self.source = source or str(path)
        self.format: Literal["yaml", "json"] = "json" if path.suffix.lower() == ".json" else "yaml"
        self.original = text
        self._bom = bom
        self._crlf = crlf
        body = text.replace("\r\n", "\n")
        self._backend: JsonText | YamlText = (
            JsonText(body, self.source) if self.format == "json" else YamlText(body, self.source))
        self._loaded: LoadedDocument | None = None  # the engine's reading of _loaded_text (parsed once per text)
        self._loaded_text: str | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str], kind: DocKind, *, source: str | None = None,
             root: str | os.PathLike[str] | None = None, for_writing: bool = True,
             option: str = "--policy") -> PolicyDocument:
        """Read ``path`` for editing (a missing file is an empty document, created by :meth:`save`).

        Raises :class:`UnreadableFileError` when the file exists but cannot be read, is not UTF-8,
        does not parse, or is not a mapping at the top. ``for_writing`` (the default) first checks
        that the file can be written without touching anything outside ``root`` (default: the
        folder the file is in) and raises :class:`UnsafeTargetError` otherwise (``option`` names the
        command-line option of its hint); pass False to only read it.
        """
        file = Path(path).expanduser()
        name = source or str(path)
        base = Path(root).expanduser() if root is not None else None
        if for_writing:
            check_target(file, base, name=name, option=option)
        try:  # the bounded reader: a FIFO, a device, a directory or a symlink loop is refused, never read
            raw = read_bounded(file, EDITED_FILE, source=name)
        except FileReadError as exc:
            if exc.problem is ReadProblem.MISSING:  # a link to nothing only when reading (refused above)
                return cls(file, kind, "", exists=False, source=name, root=base, option=option)
            raise UnreadableFileError([read_error_diagnostic(exc)]) from None
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise UnreadableFileError([Diagnostic("file-unreadable", f"{name} is UTF-16 text; it is left as it is",
                                                  file=name, hint="save it as UTF-8 to edit it with mp-policy")])
        bom = raw.startswith(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise UnreadableFileError([Diagnostic("parse-error", "the file is not UTF-8 text", file=name, line=line,
                                                  hint="save the file as UTF-8")]) from None
        try:
            loaded = load_text(text, name)
        except PolicyError as exc:
            raise UnreadableFileError(exc.diagnostics) from None
        if loaded.data is not None and not isinstance(loaded.data, Mapping):
            raise UnreadableFileError([loaded.diagnostic(
                "type", f"the top of {name} is a {type(loaded.data).__name__}, not a mapping; it is left as it is",
                hint="a policy is a mapping: version, settings, subscriptions, pools, chains, presets")])
        try:
            doc = cls(file, kind, text, exists=True, source=name, bom=bom, crlf="\r\n" in text, raw=raw, root=base,
                      option=option)
        except Exception as exc:  # ruamel.yaml refuses what libyaml read: still never touch it
            mark = getattr(exc, "problem_mark", None)
            raise UnreadableFileError([Diagnostic(
                "parse-error", f"cannot edit this {'JSON' if file.suffix.lower() == '.json' else 'YAML'}: "
                f"{getattr(exc, 'problem', None) or exc}", file=name,
                line=mark.line + 1 if mark is not None else None, col=mark.column + 1 if mark is not None else None,
                hint="mp-policy validate shows whether the engine reads it; edit this file by hand")]) from None
        if doc._backend.render() == text:  # the usual case: no need to parse the same text again
            doc._loaded, doc._loaded_text = loaded, text
        return doc

    # -- reading ---------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The current text of the file (what :meth:`save` would write)."""
        text = self._backend.render()
        if self._crlf:
            text = text.replace("\n", "\r\n")
        return ("\ufeff" + text) if self._bom else text

    @property
    def data(self) -> dict[str, Any]:
        """The current content as the engine reads it (an empty mapping for an empty file)."""
        data = self._load().data
        return data if isinstance(data, Mapping) else {}  # type: ignore[return-value]

    def _load(self) -> LoadedDocument:
        """The current text as the engine loads it, parsed once per text; raises :class:`PolicyError`."""
        text = self._backend.render()
        if self._loaded is None or text != self._loaded_text:
            self._loaded, self._loaded_text = load_text(text, self.source), text
        return self._loaded

    def get(self, path: Sequence[str | int], default: Any = None) -> Any:
        """The value at ``path`` in :attr:`data`, or ``default``."""
        return value_at(self.data, path, default)

    @property
    def changed(self) -> bool:
        """Whether the text differs from the file (a missing file counts as changed once it has content)."""
        return self.text != self.original or (not self.exists and bool(self.data))

    def is_empty(self) -> bool:
        """True when the document has no keys left."""
        return not self.data

    def diff(self) -> str:
        """The unified diff from the file to the current text."""
        return unified_diff(self.original, self.text, self.source, created=not self.exists)

    # -- editing ---------------------------------------------------------------------------------

    def set(self, map_path: Sequence[str | int], key: str, value: Any, *, order: Sequence[str] = ()) -> None:
        """Set ``key`` in the mapping at ``map_path``; a new key goes after the keys that precede it in ``order``.

        Without ``order`` (or when ``key`` is not in it) a new key goes last. Nothing happens when
        the value is already equal.
        """
        path = tuple(map_path)
        current = self.get(path)
        if current is None and path:
            raise KeyError(f"{json_path(path)} does not exist")
        if isinstance(current, Mapping) and key in current and current[key] == _plain(value):
            return
        position = None
        if isinstance(current, Mapping) and key not in current and key in order:
            before = set(order[: list(order).index(key)])
            keys = list(current)
            position = max((i + 1 for i, k in enumerate(keys) if k in before), default=0)
        self._backend.set(path, key, value, position)

    def delete(self, path: Sequence[str | int]) -> None:
        """Remove the mapping key or list item at ``path`` (with its own comment lines)."""
        path = tuple(path)
        if not path:
            raise ValueError("cannot delete the whole document")
        self._backend.delete(path)

    def append(self, seq_path: Sequence[str | int], value: Any) -> None:
        """Add ``value`` at the end of the list at ``seq_path`` (styled like its siblings)."""
        self._backend.append(tuple(seq_path), value)

    # -- checking and writing --------------------------------------------------------------------

    def loaded(self) -> LoadedDocument:
        """The current text as the engine loads it (positions included); raises :class:`PolicyError`."""
        return replace(self._load(), path=self.path.resolve())

    def validate(self, *, env: Mapping[str, str] | None = None, global_doc: LoadedDocument | None = None,
                 agent_dir: Path | None = None) -> list[Diagnostic]:
        """Every schema and compile diagnostic of the current text (a project with ``global_doc``); the
        custom providers of ``agent_dir``'s ``models.json`` are known accounts."""
        from policy_engine.common.timezones import local_zone
        from policy_engine.compile.compiler import compile_policy, policy_revision
        from policy_engine.plugins import registry_for
        from policy_engine.policy.merge import merge_policy
        from policy_engine.policy.validation_cache import validate_cached

        try:
            doc = self.loaded()
        except PolicyError as exc:
            return list(exc.diagnostics)
        found = list(validate_cached(doc, self.kind))
        if any(d.severity == "error" for d in found):
            return found
        registry = registry_for(agent_dir)
        policy_doc, project_doc = (doc, None) if self.kind == "policy" else (global_doc, doc)
        try:
            merged = merge_policy(policy_doc, project_doc, dict(env or {}), registry.bases)
            graph = compile_policy(merged, registry, revision=policy_revision("edit", self.source),
                                   default_tz=local_zone(), base_dir=str(self.path.parent), use_cache=False)
        except PolicyError as exc:
            return found + list(exc.diagnostics)
        return found + list(graph.diagnostics)

    def as_read(self) -> PolicyDocument:
        """The document as it was read, before any edit (to compare what an edit changes)."""
        return PolicyDocument(self.path, self.kind, self.original, exists=self.exists, source=self.source)

    def unchanged_on_disk(self) -> bool:
        """Whether the file still holds what was read (nobody else wrote or removed it meanwhile)."""
        try:
            current = read_bounded(self.path, EDITED_FILE)
        except FileReadError as exc:
            return not self.exists if exc.problem is ReadProblem.MISSING else False
        return self.exists and current == self._raw

    def save(self) -> None:
        """Write the current text atomically (creating the file and its folder when needed).

        A symbolic link to a file inside :attr:`root` stays a link: the file it points to is replaced.
        Raises :class:`UnsafeTargetError` when writing could touch anything else (see
        :func:`~policy_engine.edit.files.check_target`, checked again now) and
        :class:`FileChangedError` when the file was changed by someone else since it was read;
        nothing is written then.
        """
        real = check_target(self.path, self.root, name=self.source, option=self.option)
        if not self.unchanged_on_disk():
            raise FileChangedError(f"{self.source} was changed by another program while this edit ran; nothing "
                                   "was written (run the command again)")
        write_atomic(real, self.text)
        self.original = self.text
        self._raw = self.text.encode("utf-8")
        self.exists = True

    def remove(self) -> None:
        """Delete the file (with the same checks as :meth:`save`); a symbolic link itself is removed."""
        check_target(self.path, self.root, name=self.source, option=self.option)
        if not self.unchanged_on_disk():
            raise FileChangedError(f"{self.source} was changed by another program while this edit ran; it was "
                                   "not deleted (run the command again)")
        self.path.unlink()
        self.exists = False
