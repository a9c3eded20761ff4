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
    blank lines.
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
import io
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from policy_engine.common.bounded_read import EDITED_FILE, FileReadError, ReadProblem, read_bounded
from policy_engine.common.diagnostics import Diagnostic, PolicyError, json_path
from policy_engine.edit.files import UnsafeTargetError, check_target, write_atomic
from policy_engine.edit.json_text import JsonText
from policy_engine.edit.markers import BlockList, BlockMap, FlowList, FlowMap
from policy_engine.edit.markers import is_block_value as _is_block_value
from policy_engine.policy.loader import LoadedDocument, load_text, read_error_diagnostic

__all__ = [
    "BlockList",
    "BlockMap",
    "DocKind",
    "FileChangedError",
    "FlowList",
    "FlowMap",
    "Indentation",
    "PolicyDocument",
    "UnreadableFileError",
    "UnsafeTargetError",
    "detect_indentation",
    "merge_text",
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


@dataclass(frozen=True)
class Indentation:
    """How a YAML file indents: ``mapping`` spaces per level, the dash ``offset`` of block sequences."""

    mapping: int = 2
    offset: int = 2

    @property
    def sequence(self) -> int:
        """ruamel.yaml's ``sequence`` indent: the offset of an item's content (dash plus one space)."""
        return self.offset + 2


# --------------------------------------------------------------------------------------- helpers


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _is_comment(line: str) -> bool:
    return line.strip().startswith("#")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key_col(line: str) -> int:
    """The column of the key on a line such as ``  - name: x`` (after dashes)."""
    col = _indent(line)
    rest = line[col:]
    while rest.startswith("- "):
        col += 2
        stripped = rest[2:]
        col += len(stripped) - len(stripped.lstrip(" "))
        rest = stripped.lstrip(" ")
    return col


def detect_indentation(text: str) -> Indentation:
    """The indentation a YAML text uses (most common step), else 2 and a dash offset of 2."""
    mapping: dict[int, int] = {}
    offsets: dict[int, int] = {}
    previous: str | None = None
    for line in text.splitlines():
        if not _is_content(line):
            continue
        if previous is not None and previous.rstrip().endswith(":") and not previous.lstrip().startswith("#"):
            parent = _key_col(previous)
            here = _indent(line)
            if here > parent or (here == parent and line.lstrip().startswith("-")):
                step = here - parent
                if line.lstrip().startswith("- ") or line.strip() == "-":
                    offsets[step] = offsets.get(step, 0) + 1
                elif step > 0:
                    mapping[step] = mapping.get(step, 0) + 1
        previous = line
    found_mapping = max(mapping, key=lambda k: (mapping[k], -k)) if mapping else 2
    found_offset = max(offsets, key=lambda k: (offsets[k], -k)) if offsets else 2
    return Indentation(found_mapping, found_offset)


def merge_text(original: str, base: str, edited: str) -> str:
    """Apply the change ``base`` → ``edited`` to ``original`` (``base`` is ``original`` reformatted).

    Lines are matched original↔base and base↔edited. Every group of original lines whose
    reformatted counterpart reaches ``edited`` unchanged (and contiguous) is emitted as it was in
    ``original``; lines the edit changed or added are emitted as in ``edited``; original lines
    that the reformatting dropped (``---``, stray blank lines) stay at their place.
    """
    if base == edited:
        return original
    if original == base:
        return edited
    a, b, c = original.splitlines(True), base.splitlines(True), edited.splitlines(True)
    units: list[tuple[list[str], int, int]] = []  # (original lines, base start, base end)
    unit_of: list[int] = [0] * len(b)
    dropped: list[tuple[int, list[str]]] = []  # original lines without a base counterpart, at base position
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for d in range(i2 - i1):
                units.append((a[i1 + d:i1 + d + 1], j1 + d, j1 + d + 1))
                unit_of[j1 + d] = len(units) - 1
        elif j1 == j2:
            dropped.append((j1, a[i1:i2]))
        else:
            units.append((a[i1:i2], j1, j2))
            for j in range(j1, j2):
                unit_of[j] = len(units) - 1
    b_to_c: dict[int, int] = {}
    for tag, j1, j2, k1, _ in difflib.SequenceMatcher(None, b, c, autojunk=False).get_opcodes():
        if tag == "equal":
            for d in range(j2 - j1):
                b_to_c[j1 + d] = k1 + d
    c_to_b = {k: j for j, k in b_to_c.items()}

    def intact(unit: int) -> bool:
        _, j1, j2 = units[unit]
        first = b_to_c.get(j1)
        return first is not None and all(b_to_c.get(j) == first + (j - j1) for j in range(j1, j2))

    out: list[str] = []
    pending = 0
    for k, line in enumerate(c):
        j = c_to_b.get(k)
        if j is None:
            out.append(line)
            continue
        while pending < len(dropped) and dropped[pending][0] <= j:
            out.extend(dropped[pending][1])
            pending += 1
        unit = unit_of[j]
        if intact(unit):
            if j == units[unit][1]:
                out.extend(units[unit][0])
        else:
            out.append(line)
    for _, lines in dropped[pending:]:
        out.extend(lines)
    return "".join(out)


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


# ------------------------------------------------------------------------------------- backends


class _YamlText:
    """A YAML file: its text, and the ruamel.yaml tree of it (parsed again after a text edit, when needed)."""

    def __init__(self, text: str, source: str) -> None:
        from ruamel.yaml import YAML

        self.source = source
        self.final_newline = text.endswith("\n") or not text
        self.text = text if self.final_newline else text + "\n"
        self.indentation = detect_indentation(text)
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096  # never re-wrap long lines
        yaml.brace_single_entry_mapping_in_flow_sequence = True  # [{hours: [9, 17]}], not [hours: [9, 17]]
        yaml.indent(mapping=self.indentation.mapping, sequence=self.indentation.sequence,
                    offset=self.indentation.offset)
        self.yaml = yaml
        self._tree: Any = self.yaml.load(self.text)  # raises for what ruamel.yaml cannot read
        self._tree_text = self.text

    # -- parsing and dumping ---------------------------------------------------------------------

    @property
    def tree(self) -> Any:
        """The ruamel.yaml tree of the current text (parsed again only after a text edit)."""
        if self._tree_text != self.text:
            try:
                self._tree = self.yaml.load(self.text)
            except Exception as exc:  # a bug in a text edit must never reach the disk
                raise RuntimeError(f"internal error: an edit of {self.source} produced text that does not parse "
                                   f"({exc}); nothing was written") from exc
            self._tree_text = self.text
        return self._tree

    def _set_text(self, text: str) -> None:
        """Take the edited text; the tree follows on its next use (and the result is validated anyway)."""
        self.text = text

    def _dump(self, node: Any) -> str:
        stream = io.StringIO()
        self.yaml.dump(node, stream)
        return stream.getvalue()

    def _commit(self, change: Callable[[], None]) -> None:
        """Make a change on the tree, then merge its effect into the text (three-way)."""
        before = self._dump(self.tree)
        change()
        after = self._dump(self.tree)
        self._set_text(merge_text(self.text, before, after))

    def render(self) -> str:
        return self.text if self.final_newline else self.text[:-1]

    # -- building new nodes ----------------------------------------------------------------------

    def build(self, value: Any, style: str | None = None) -> Any:
        """Plain data (with style markers) as ruamel nodes; ``style`` forces the top node's style."""
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        node: CommentedMap | CommentedSeq
        if isinstance(value, Mapping):
            node = CommentedMap()
            for key, item in value.items():
                node[str(key)] = self.build(item)
        elif isinstance(value, list | tuple):
            node = CommentedSeq([self.build(item) for item in value])
        elif isinstance(value, str):
            return _quoted_if_needed(value)
        else:
            return value
        flow = style == "flow" if style is not None else not _is_block_value(value)
        if flow:
            node.fa.set_flow_style()
        else:
            node.fa.set_block_style()
        return node

    def _render_pair(self, key: str, value: Any, col: int, style: str | None = None) -> list[str]:
        from ruamel.yaml.comments import CommentedMap

        mapping = CommentedMap()
        mapping[key] = self.build(value, style)
        mapping.fa.set_block_style()
        return _shift(self._dump(mapping).splitlines(True), col)

    def _render_item(self, value: Any, dash_col: int, style: str | None) -> list[str]:
        from ruamel.yaml.comments import CommentedSeq

        seq = CommentedSeq([self.build(value, style)])
        seq.fa.set_block_style()
        lines = self._dump(seq).splitlines(True)
        return _shift(lines, dash_col - _indent(lines[0]))

    # -- navigation and positions ----------------------------------------------------------------

    def node(self, path: JsonPath) -> Any:
        value = self.tree
        for part in path:
            value = value[part]
        return value

    def _lines(self) -> list[str]:
        return self.text.splitlines(True)

    def _locate(self, path: JsonPath) -> tuple[int, int, bool]:
        """(first line, column, whether the element starts its own line) of the element at ``path``."""
        from ruamel.yaml.comments import CommentedMap

        parent = self.node(path[:-1])
        lines = self._lines()
        if isinstance(parent, CommentedMap):
            line, col = parent.lc.key(path[-1])
            return line, col, not lines[line][:col].strip()
        line, col = parent.lc.item(path[-1])
        prefix = lines[line][:col].rstrip()
        if prefix.endswith("-"):
            dash = len(prefix) - 1
            return line, dash, not prefix[:dash].strip()
        for up in range(line - 1, -1, -1):  # "-" alone on a line, the item below it
            if lines[up].strip() == "-":
                return up, _indent(lines[up]), True
            if _is_content(lines[up]):
                break
        return line, col, False

    def _region(self, start: int, col: int, is_key: bool) -> tuple[int, int]:
        """(last line of the element's own content, first line of what follows it)."""
        lines = self._lines()
        end = len(lines)
        for i in range(start + 1, len(lines)):
            line = lines[i]
            if not _is_content(line):
                continue
            stripped = line.strip()
            here = _indent(line)
            if here == 0 and (stripped in ("---", "...") or stripped.startswith(("--- ", "... "))):
                end = i
                break
            if here < col or (here == col and not (is_key and (stripped.startswith("- ") or stripped == "-"))):
                end = i
                break
        body_end = start
        for i in range(start, end):
            if _is_content(lines[i]):
                body_end = i
        i = body_end + 1
        while i < end and _is_comment(lines[i]) and _indent(lines[i]) > col:
            body_end = i
            i += 1
        return body_end, end

    def _header_start(self, start: int, col: int) -> int:
        lines = self._lines()
        i = start
        while i > 0 and _is_comment(lines[i - 1]) and _indent(lines[i - 1]) <= col:
            i -= 1
        if i == 0 and not any(_is_content(line) for line in lines[:start]):
            return start  # the comment at the top of the file is about the file
        return i

    def _blank_separated(self, container_path: JsonPath, count: int) -> bool:
        """Whether the elements of a block container are separated by blank lines (judged by its last one)."""
        if count < 2:
            return False
        container = self.node(container_path)
        last = list(container)[-1] if hasattr(container, "keys") else count - 1
        start, col, own = self._locate((*container_path, last))
        head = self._header_start(start, col)
        return own and head > 0 and _is_blank(self._lines()[head - 1])

    # -- the edits ---------------------------------------------------------------------------------

    def set(self, map_path: JsonPath, key: str, value: Any, position: int | None) -> None:
        from ruamel.yaml.comments import CommentedMap

        if self.tree is None or (not map_path and not self.tree):
            self._set_in_empty(key, value)
            return
        target = self.node(map_path)
        if not isinstance(target, CommentedMap):
            raise TypeError(f"{json_path(map_path)} is not a mapping")
        flow = _is_flow(target)
        if key in target:
            old = target[key]
            style = None
            marked = isinstance(value, FlowMap | BlockMap | FlowList | BlockList)
            if hasattr(old, "fa") and not marked and isinstance(value, Mapping | list | tuple):
                style = "flow" if _is_flow(old) else "block"  # an unstyled value keeps the old value's style
            new_block = not flow and (style == "block" or (style is None and _is_block_value(value)))
            if not flow and (_is_block_node(old) or new_block):
                start, col, own = self._locate((*map_path, key))
                if own:
                    body_end, _ = self._region(start, col, True)
                    lines = self._lines()
                    lines[start:body_end + 1] = self._render_pair(key, value, col, style)
                    self._set_text("".join(lines))
                    return
            built = self.build(value, style)
            self._commit(lambda: target.__setitem__(key, built))
            return
        keys = list(target.keys())
        index = len(keys) if position is None else max(0, min(position, len(keys)))
        if not flow and keys:
            anchor = keys[index - 1] if index > 0 else keys[0]
            start, col, own = self._locate((*map_path, anchor))
            if own:
                lines = self._lines()
                fragment = self._render_pair(key, value, col)
                if index > 0:
                    body_end, _ = self._region(start, col, True)
                    if index == len(keys) and self._blank_separated(map_path, len(keys)):
                        fragment = ["\n", *fragment]
                    lines[body_end + 1:body_end + 1] = fragment
                else:
                    lines[start:start] = fragment
                self._set_text("".join(lines))
                return
        built = self.build(value, "flow" if flow and isinstance(value, Mapping | list | tuple) else None)
        self._commit(lambda: target.insert(index, key, built))

    def _set_in_empty(self, key: str, value: Any) -> None:
        """The document has no content yet (a new file, only comments, or ``{}``): write a block mapping."""
        kept = [line for line in self._lines() if not _is_content(line)]
        while kept and _is_blank(kept[-1]):
            kept.pop()
        self._set_text("".join(kept) + "".join(self._render_pair(key, value, 0)))

    def delete(self, path: JsonPath) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        parent = self.node(path[:-1])
        if _is_flow(parent):
            self._commit(lambda: parent.__delitem__(path[-1]))
            return
        if len(parent) == 1 and len(path) >= 2 and isinstance(self.node(path[:-2]), CommentedMap):
            empty = FlowList() if isinstance(parent, CommentedSeq) else FlowMap()
            self.set(path[:-2], str(path[-2]), empty, None)
            return
        start, col, own = self._locate(path)
        if not own:
            self._commit(lambda: parent.__delitem__(path[-1]))
            return
        lines = self._lines()
        body_end, _ = self._region(start, col, isinstance(parent, CommentedMap))
        head = self._header_start(start, col)
        before = 0
        while head - before > 0 and _is_blank(lines[head - before - 1]):
            before += 1
        after = 0
        while body_end + 1 + after < len(lines) and _is_blank(lines[body_end + 1 + after]):
            after += 1
        first = (next(iter(parent)) if isinstance(parent, CommentedMap) else 0) == path[-1]
        cut_from, cut_to = head, body_end + 1
        at_end = body_end + 1 + after >= len(lines)
        if before and (after or at_end):
            cut_from -= before
        elif not before and after and first:
            cut_to += after
        del lines[cut_from:cut_to]
        self._set_text("".join(lines))

    def append(self, seq_path: JsonPath, value: Any) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        seq = self.node(seq_path)
        if not isinstance(seq, CommentedSeq):
            raise TypeError(f"{json_path(seq_path)} is not a list")
        if _is_flow(seq):
            parent_path, key = seq_path[:-1], seq_path[-1]
            if not seq and _is_block_value(value) and isinstance(key, str):
                self.set(parent_path, key, BlockList([value]), None)
                return
            style = "flow" if isinstance(value, Mapping | list | tuple) else None
            built = self.build(value, style)
            self._commit(lambda: seq.append(built))
            return
        start, col, own = self._locate((*seq_path, len(seq) - 1))
        if not own:
            built = self.build(value)
            self._commit(lambda: seq.append(built))
            return
        last = seq[-1]
        style = None
        if isinstance(last, CommentedMap) and isinstance(value, Mapping):
            style = "flow" if _is_flow_node(last) else "block"
        body_end, _ = self._region(start, col, False)
        fragment = self._render_item(value, col, style)
        if self._blank_separated(seq_path, len(seq)):
            fragment = ["\n", *fragment]
        lines = self._lines()
        lines[body_end + 1:body_end + 1] = fragment
        self._set_text("".join(lines))


def _shift(lines: list[str], by: int) -> list[str]:
    if by >= 0:
        return [(" " * by + line) if line.strip() else line for line in lines]
    return [line[min(-by, _indent(line)):] for line in lines]


def _is_flow(node: Any) -> bool:
    """Flow style (``[a, b]``, ``{k: v}``), or empty (an empty collection is always written ``[]``/``{}``)."""
    return not node or bool(node.fa.flow_style())


def _is_flow_node(node: Any) -> bool:
    return hasattr(node, "fa") and _is_flow(node)


def _is_block_node(node: Any) -> bool:
    return hasattr(node, "fa") and not _is_flow(node)


_YAML11_SPECIAL = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|"
    r"[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+|[-+]?\.(?:inf|Inf|INF)|"
    r"\.(?:nan|NaN|NAN)|\d{4}-\d\d?-\d\d?(?:[Tt ].*)?|[-+]?\d[\d_]*(?::[0-5]?\d)+(?:\.\d*)?)$")


def _quoted_if_needed(text: str) -> Any:
    """A new string, double-quoted when a YAML 1.1 reader (ours, pi's) would see a bool, number, date or null."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if text == "" or _YAML11_SPECIAL.match(text):
        return DoubleQuotedScalarString(text)
    return text


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
        self._backend: JsonText | _YamlText = (
            JsonText(body, self.source) if self.format == "json" else _YamlText(body, self.source))
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
        value: Any = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return default
        return value

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
