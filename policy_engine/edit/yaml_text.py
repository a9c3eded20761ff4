"""The YAML round-trip editor of policy files: structural edits made on the text at the lines
ruamel.yaml reports, every other edit through the round-trip tree merged back into the original text
(see :mod:`policy_engine.edit.document`); its JSON twin is :mod:`policy_engine.edit.json_text`.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Callable, Mapping
from typing import Any

from policy_engine.common.diagnostics import json_path
from policy_engine.common.records import dataclass
from policy_engine.edit.markers import BlockList, BlockMap, FlowList, FlowMap
from policy_engine.edit.markers import is_block_value as _is_block_value
from policy_engine.policy.document import JsonPath

__all__ = ["Indentation", "YamlText", "detect_indentation", "merge_text"]


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


class YamlText:
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
            if not flow and _is_block_node(old) and not isinstance(value, FlowList) and self._set_items(
                    (*map_path, key), value):
                return
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

    def _set_items(self, seq_path: JsonPath, values: Any) -> bool:
        """Give the block list at ``seq_path`` the items ``values``, keeping the lines of the items that stay.

        An item that stays keeps its lines byte for byte (its comments too) and takes them along
        when it moves; a dropped item's lines go; a new item gets its own line, styled like an
        appended one. The separators between items (blank lines) stay in place. False (nothing
        done) when this is not a non-empty list of one item a line, or ``values`` is not a non-empty list.
        """
        from ruamel.yaml.comments import CommentedSeq

        seq = self.node(seq_path)
        if not isinstance(seq, CommentedSeq) or not seq or not isinstance(values, list | tuple) or not values:
            return False
        spans = self._item_spans(seq_path, len(seq))
        if spans is None:
            return False
        lines = self._lines()
        col = spans[0][2]
        gaps = [lines[end + 1:spans[k + 1][0]] for k, (_, end, _) in enumerate(spans[:-1])]
        spacer = ["\n"] if self._blank_separated(seq_path, len(seq)) else []
        out: list[str] = []
        for k, old in enumerate(_match_items(list(seq), list(values))):
            if k:
                out.extend(gaps[k - 1] if k - 1 < len(gaps) else spacer)
            if old is None:
                out.extend(self._render_item(values[k], col, None))
            else:
                out.extend(lines[spans[old][0]:spans[old][1] + 1])
        lines[spans[0][0]:spans[-1][1] + 1] = out
        self._set_text("".join(lines))
        return True

    def _item_spans(self, seq_path: JsonPath, count: int) -> list[tuple[int, int, int]] | None:
        """(first line with its comments, last line, dash column) of each item of a block list; None when
        an item does not start its own line."""
        spans = []
        for index in range(count):
            start, col, own = self._locate((*seq_path, index))
            if not own:
                return None
            spans.append((self._header_start(start, col), self._region(start, col, False)[0], col))
        return spans

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


def _match_items(old: list[Any], new: list[Any]) -> list[int | None]:
    """For each new item, the index of an equal old item (each used once, in order), else None."""
    free = list(range(len(old)))
    found: list[int | None] = []
    for value in new:
        index = next((i for i in free if _same_item(old[i], value)), None)
        if index is not None:
            free.remove(index)
        found.append(index)
    return found


def _same_item(old: Any, new: Any) -> bool:
    """Equal, and of the same kind (``1`` is not ``true``, ``"1"`` is not ``1``)."""
    return (isinstance(old, bool) == isinstance(new, bool) and isinstance(old, str) == isinstance(new, str)
            and old == new)


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
