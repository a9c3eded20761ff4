"""JSON policy files edited at the token level: only the edited entry's lines change.

:class:`JsonText` keeps the text of a JSON file and a tree of where every value stands in it
(offsets of each value, of each key, of each item). An edit replaces, inserts or removes the
text of one value, member or item and leaves every other character where it was: indentation,
key order, escapes (``\\u00e9`` stays an escape, ``é`` stays raw), number spellings (``1e3``,
``1.0``, ``-0``), blank lines, the final newline or its absence. (Windows line endings are turned
into ``\\n`` before and back after, by :class:`~policy_engine.edit.document.PolicyDocument`.)

What the edits write:

- A new member or item goes where it is asked to, separated like its siblings: in a container
  written one item a line it gets its own line with its siblings' indentation (appending adds the
  comma to the line before, the only other line that changes); in a one-line container it is
  written on that line. Removing an item removes exactly what adding it added, so an add then a
  remove gives the file back byte for byte. Removing the only item leaves ``[]`` (or ``{}``).
- A new value is styled by analogy: a new list entry like the entry before it, a new key like the
  same key in a sibling object, a replaced value like the old one (one line or one item a line, down
  to nested lists). Where the file has nothing alike, the style markers of
  :mod:`policy_engine.edit.markers` decide in a hand-formatted file; a file where every list and
  object is expanded (``JSON.stringify(config, null, 2)``, as pi-multi-pass writes) gets expanded
  values, and a file written on one line gets one-line values. The indentation step, the spacing
  after ``:`` and ``,``, the padding inside one-line brackets and whether non-ASCII characters are
  escaped are read from the file.
- Numbers are written as Python spells them (``3``, ``1.5``); a number that is not finite (NaN,
  infinity, or an integer beyond a double's range, which JavaScript reads as ``Infinity``) is
  never written: :class:`NonFiniteNumberError`.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Literal

from policy_engine.common.diagnostics import json_path
from policy_engine.common.json_finite import is_finite_token
from policy_engine.common.records import dataclass
from policy_engine.edit.markers import is_block_value

__all__ = ["JsonStyle", "JsonSyntaxError", "JsonText", "NonFiniteNumberError", "detect_style", "parse"]

JsonPath = tuple[str | int, ...]

#: Deeper nesting than this is refused (the loader's own limit is lower).
MAX_DEPTH = 400

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERAL = re.compile(r"true|false|null")
_ESCAPED_NON_ASCII = re.compile(r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})")


class JsonSyntaxError(ValueError):
    """The text is not JSON (the loader checks files first, so this means an edit went wrong)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(f"{message} at offset {pos}")
        self.pos = pos


class NonFiniteNumberError(ValueError):
    """A number that is not finite (NaN, infinity, beyond a double's range) was to be read or written."""

    def __init__(self, message: str, path: JsonPath | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


@dataclass
class _Node:
    """A value in the text: ``start``/``end`` offsets; for containers the members or items."""

    kind: Literal["object", "array", "scalar"]
    start: int
    end: int = -1
    keys: list[str] = field(default_factory=list)  # objects: the member keys
    starts: list[int] = field(default_factory=list)  # where each member (its key) or item begins
    children: list[_Node] = field(default_factory=list)  # member values, items


class _Parser:
    """A recursive-descent JSON parser that records positions (and the spacing it meets)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.key_seps: Counter[str] = Counter()

    def parse(self) -> _Node | None:
        pos = self._ws(0)
        if pos == len(self.text):
            return None
        node = self._value(pos, 0)
        if self._ws(node.end) != len(self.text):
            raise JsonSyntaxError("extra data after the document", self._ws(node.end))
        return node

    def _ws(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def _expect(self, pos: int, char: str) -> int:
        if self.text[pos:pos + 1] != char:
            raise JsonSyntaxError(f"expected {char!r}", pos)
        return pos + 1

    def _value(self, pos: int, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise JsonSyntaxError("nested too deeply", pos)
        char = self.text[pos:pos + 1]
        if char == "{":
            return self._container(pos, depth, "object")
        if char == "[":
            return self._container(pos, depth, "array")
        for pattern in (_STRING, _NUMBER, _LITERAL):
            match = pattern.match(self.text, pos)
            if match:
                if pattern is _NUMBER and not is_finite_token(match.group()):
                    raise NonFiniteNumberError(f"{match.group()} is not a finite number (offset {pos})")
                return _Node("scalar", pos, match.end())
        raise JsonSyntaxError("expected a value", pos)

    def _container(self, start: int, depth: int, kind: Literal["object", "array"]) -> _Node:
        node = _Node(kind, start)
        close = "}" if kind == "object" else "]"
        pos = self._ws(start + 1)
        if self.text[pos:pos + 1] == close:
            node.end = pos + 1
            return node
        while True:
            node.starts.append(pos)
            if kind == "object":
                match = _STRING.match(self.text, pos)
                if not match:
                    raise JsonSyntaxError("expected a key", pos)
                node.keys.append(json.loads(match.group()))
                colon = self._ws(match.end())
                value_start = self._ws(self._expect(colon, ":"))
                self.key_seps[self.text[match.end():value_start]] += 1
                pos = value_start
            child = self._value(pos, depth + 1)
            node.children.append(child)
            pos = self._ws(child.end)
            if self.text[pos:pos + 1] == ",":
                pos = self._ws(pos + 1)
                continue
            node.end = self._expect(pos, close)
            return node


def parse(text: str) -> _Node | None:
    """The position tree of a JSON text (None for an empty one); raises :class:`JsonSyntaxError`."""
    return _Parser(text).parse()


@dataclass(frozen=True)
class JsonStyle:
    """How a JSON file is written, as far as new values need to know.

    ``unit`` is one indentation step; ``key_sep`` what stands between a key and its value
    (``": "``); ``item_sep`` the separator inside one-line containers (``", "``); the pads what
    follows an opening bracket on one line; ``ascii`` whether non-ASCII characters are escaped;
    ``mode`` is ``expanded`` (every non-empty container one item a line), ``flat`` (all on one
    line) or ``styled`` (a mix: the style markers decide).
    """

    unit: str = "  "
    key_sep: str = ": "
    item_sep: str = ", "
    object_pad: str = ""
    array_pad: str = ""
    ascii: bool = False
    mode: Literal["expanded", "flat", "styled"] = "expanded"


def _inline(text: str, node: _Node) -> bool:
    return "\n" not in text[node.start:node.end]


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_indent(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _most_common(counter: Counter[str], default: str) -> str:
    return counter.most_common(1)[0][0] if counter else default


def detect_style(text: str) -> JsonStyle:
    """The :class:`JsonStyle` of a JSON text (the defaults, pi-multi-pass's, for an empty one)."""
    parser = _Parser(text)
    root = parser.parse()
    if root is None or not root.children:
        return JsonStyle()
    units: Counter[str] = Counter()
    item_seps: Counter[str] = Counter()
    pads: dict[str, Counter[str]] = {"object": Counter(), "array": Counter()}
    inline_inner = False
    stack = [root]
    while stack:
        node = stack.pop()
        if node.kind == "scalar" or not node.children:
            continue
        stack.extend(node.children)
        if _inline(text, node):
            inline_inner = inline_inner or node is not root
            pads[node.kind][text[node.start + 1:node.starts[0]]] += 1
            for previous, start in zip(node.children, node.starts[1:], strict=False):
                item_seps[text[previous.end:start]] += 1
            continue
        outer = _line_indent(text, node.start)
        for start in node.starts:
            if text[_line_start(text, start):start].strip():
                continue  # shares its line with something else
            inner = _line_indent(text, start)
            if inner.startswith(outer) and len(inner) > len(outer):
                units[inner[len(outer):]] += 1
    non_ascii = any(ord(c) > 127 for c in text)
    mode: Literal["expanded", "flat", "styled"] = (
        "flat" if _inline(text, root) else "styled" if inline_inner else "expanded")
    return JsonStyle(unit=_most_common(units, "  "), key_sep=_most_common(parser.key_seps, ": "),
                     item_sep=_most_common(item_seps, ", "), object_pad=_most_common(pads["object"], ""),
                     array_pad=_most_common(pads["array"], ""),
                     ascii=bool(_ESCAPED_NON_ASCII.search(text)) and not non_ascii, mode=mode)


class JsonText:
    """A JSON file's text, edited in place; see the module docstring.

    The edit methods take JSON paths (``("pools", 0)``) and plain values (with style markers);
    :meth:`render` is the current text.
    """

    def __init__(self, text: str, source: str = "<json>") -> None:
        self.source = source
        self.text = text
        self._root = parse(text)
        if self._root is not None and self._root.kind != "object":
            raise JsonSyntaxError("the top of the document is not an object", self._root.start)
        self.style = detect_style(text)

    def render(self) -> str:
        """The current text."""
        return self.text

    # -- navigation --------------------------------------------------------------------------------

    def _chain(self, path: JsonPath) -> list[_Node]:
        """The nodes from the root to the value at ``path`` (KeyError when there is none)."""
        if self._root is None:
            raise KeyError(f"{json_path(path)} does not exist")
        chain = [self._root]
        for part in path:
            node = chain[-1]
            try:
                if node.kind == "object" and isinstance(part, str):
                    chain.append(node.children[node.keys.index(part)])
                elif node.kind == "array" and isinstance(part, int) and not isinstance(part, bool):
                    chain.append(node.children[part])
                else:
                    raise KeyError(part)
            except (ValueError, IndexError, KeyError):
                raise KeyError(f"{json_path(path)} does not exist") from None
        return chain

    def _replace(self, start: int, end: int, new: str) -> None:
        """Put ``new`` in place of ``text[start:end]`` and read the positions again."""
        text = self.text[:start] + new + self.text[end:]
        try:
            root = parse(text)
        except ValueError as exc:  # a bug in an edit must never reach the disk
            raise RuntimeError(f"internal error: an edit of {self.source} produced text that is not JSON ({exc}); "
                               "nothing was written") from exc
        self.text, self._root = text, root

    def _sibling_like(self, chain: list[_Node], key: str) -> _Node | None:
        """The value of ``key`` in an object next to the object ``chain[-1]`` in the same list, if any."""
        if len(chain) < 2 or chain[-2].kind != "array":
            return None
        for sibling in chain[-2].children:
            if sibling is not chain[-1] and sibling.kind == "object" and key in sibling.keys:
                return sibling.children[sibling.keys.index(key)]
        return None

    # -- the edits ---------------------------------------------------------------------------------

    def set(self, map_path: JsonPath, key: str, value: Any, position: int | None) -> None:
        """Set ``key`` of the object at ``map_path`` (a new key at index ``position``, else last)."""
        if self._root is None:
            self._new_document(key, value)
            return
        chain = self._chain(map_path)
        target = chain[-1]
        if target.kind != "object":
            raise TypeError(f"{json_path(map_path)} is not an object")
        path = (*map_path, key)
        if key in target.keys:
            index = target.keys.index(key)
            old = target.children[index]
            like = old if old.kind != "scalar" else self._sibling_like(chain, key)
            indent = _line_indent(self.text, target.starts[index])
            new = self._render(value, indent, like, _inline(self.text, target), path)
            self._replace(old.start, old.end, new)
            return
        like = self._sibling_like(chain, key)
        count = len(target.children)
        index = count if position is None else max(0, min(position, count))
        self._insert(chain, index, lambda indent, flat: self._member(key, value, indent, like, flat, path),
                     collection=True)

    def delete(self, path: JsonPath) -> None:
        """Remove the member or item at ``path`` with its separator (the only one: leaves ``{}``/``[]``)."""
        if not path:
            raise ValueError("cannot delete the whole document")
        node = self._chain(path[:-1])[-1]
        self._chain(path)  # KeyError when it does not exist
        last = path[-1]
        index = node.keys.index(last) if node.kind == "object" else int(last)
        count = len(node.children)
        if count == 1:
            self._replace(node.start + 1, node.end - 1, "")
        elif index < count - 1:
            start, end = node.starts[index], node.starts[index + 1]
            gap = self.text[node.children[index].end:end]
            if "\n" in gap and self.text[_line_start(self.text, start):start].strip():
                # it shares its first line with what precedes it ({"a": 1,⏎ "b": 2}): take it off that
                # line and leave the next member's line as it is
                start = len(self.text[:start].rstrip(" \t"))
                end = node.children[index].end + gap.index("\n")
            self._replace(start, end, "")
        else:
            self._replace(node.children[index - 1].end, node.children[index].end, "")

    def append(self, seq_path: JsonPath, value: Any) -> None:
        """Add ``value`` at the end of the list at ``seq_path``, written like the item before it."""
        chain = self._chain(seq_path)
        target = chain[-1]
        if target.kind != "array":
            raise TypeError(f"{json_path(seq_path)} is not a list")
        count = len(target.children)
        like = target.children[-1] if target.children else None
        path = (*seq_path, count)
        self._insert(chain, count, lambda indent, flat: self._render(value, indent, like, flat, path),
                     collection=isinstance(value, Mapping | list | tuple))

    # -- inserting ---------------------------------------------------------------------------------

    def _insert(self, chain: list[_Node], index: int, build: Callable[[str, bool], str], *, collection: bool) -> None:
        """Insert the member or item ``build(indent, flat)`` at ``index`` of the container ``chain[-1]``.

        ``collection``: whether the new item is a list or an object (or the new thing a member), which
        puts it on a line of its own in an empty container of a hand-formatted file.
        """
        node, text, style = chain[-1], self.text, self.style
        count = len(node.children)
        if count == 0:
            in_line = len(chain) > 1 and _inline(text, chain[-2])
            if not in_line and self.style.mode != "flat" and (self.style.mode == "expanded" or collection):
                outer = _line_indent(text, node.start)
                inner = outer + style.unit
                new = "\n" + inner + build(inner, False) + "\n" + outer
            else:
                pad = style.object_pad if node.kind == "object" else style.array_pad
                new = pad + build("", True) + pad
            self._replace(node.start + 1, node.end - 1, new)
            return
        flat = _inline(text, node)
        if index < count:
            before = node.start + 1 if index == 0 else node.children[index - 1].end
            gap = text[before:node.starts[index]]
            space = gap.rpartition(",")[2]  # what separates the member there from what precedes it
            # (nothing: it shares the line of the bracket, {"a": 1,⏎ ...; the new one goes on that line too)
            separator = self._flat_separator(node) if flat else "," + space if space else self._inline_separator()
            at = node.starts[index]
            self._replace(at, at, build(_line_indent(text, at), flat) + separator)
            return
        if count >= 2:
            separator = text[node.children[-2].end:node.starts[-1]]
        elif flat:
            separator = self._flat_separator(node)
        else:
            separator = "," + text[node.start + 1:node.starts[0]]
        at = node.children[-1].end
        self._replace(at, at, separator + build(_line_indent(text, node.starts[-1]), flat))

    def _flat_separator(self, node: _Node) -> str:
        """The separator between items of a one-line container: its own, else the file's."""
        if len(node.children) >= 2:
            return self.text[node.children[0].end:node.starts[1]]
        return self._inline_separator()

    def _inline_separator(self) -> str:
        return self.style.item_sep if "," in self.style.item_sep else ", "

    def _new_document(self, key: str, value: Any) -> None:
        """The first key of an empty file: an expanded object, with a final newline."""
        unit = self.style.unit
        self.text = "{\n" + unit + self._member(key, value, unit, None, False, (key,)) + "\n}\n"
        self._root = parse(self.text)

    # -- writing values ----------------------------------------------------------------------------

    def _member(self, key: str, value: Any, indent: str, like: _Node | None, flat: bool, path: JsonPath) -> str:
        return self._string(key) + self.style.key_sep + self._render(value, indent, like, flat, path)

    def _block(self, value: Any, like: _Node | None, flat: bool) -> bool:
        """Whether a non-empty new container is written one item a line (see the module docstring)."""
        if flat:
            return False
        kind = "object" if isinstance(value, Mapping) else "array"
        if like is not None and like.kind == kind and like.children:
            return not _inline(self.text, like)
        if self.style.mode != "styled":
            return self.style.mode == "expanded"
        return is_block_value(value)

    def _child_like(self, like: _Node | None, part: str | int) -> _Node | None:
        if like is None or not like.children:
            return None
        if like.kind == "object" and isinstance(part, str):
            return like.children[like.keys.index(part)] if part in like.keys else None
        if like.kind == "array" and isinstance(part, int):
            return like.children[min(part, len(like.children) - 1)]
        return None

    def _render(self, value: Any, indent: str, like: _Node | None, flat: bool, path: JsonPath) -> str:
        """``value`` as JSON text whose lines after the first are indented from ``indent``."""
        if isinstance(value, Mapping):
            items: list[tuple[str | int, str]] = [(str(k), self._string(str(k)) + self.style.key_sep) for k in value]
            values = list(value.values())
            brackets, pad = "{}", self.style.object_pad
        elif isinstance(value, list | tuple):
            items = [(i, "") for i in range(len(value))]
            values = list(value)
            brackets, pad = "[]", self.style.array_pad
        else:
            return self._scalar(value, path)
        if not values:
            return brackets
        if self._block(value, like, flat):
            inner = indent + self.style.unit
            lines = [inner + prefix + self._render(item, inner, self._child_like(like, part), False, (*path, part))
                     for (part, prefix), item in zip(items, values, strict=True)]
            return brackets[0] + "\n" + ",\n".join(lines) + "\n" + indent + brackets[1]
        separator = self._inline_separator()
        parts = [prefix + self._render(item, "", self._child_like(like, part), True, (*path, part))
                 for (part, prefix), item in zip(items, values, strict=True)]
        return brackets[0] + pad + separator.join(parts) + pad + brackets[1]

    def _string(self, text: str) -> str:
        return json.dumps(text, ensure_ascii=self.style.ascii)

    def _scalar(self, value: Any, path: JsonPath) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            if abs(value) > sys.float_info.max:
                raise NonFiniteNumberError(f"{self.source}: the number at {json_path(path)} is beyond a double's "
                                           "range (JavaScript reads it as Infinity); it was not written", path)
            return str(int(value))
        if isinstance(value, float):
            if not math.isfinite(value):
                raise NonFiniteNumberError(f"{self.source}: the number at {json_path(path)} is {value!r}; JSON has "
                                           "no NaN or Infinity, so it was not written", path)
            return repr(float(value))
        if isinstance(value, str):
            return self._string(value)
        raise TypeError(f"{json_path(path)}: cannot write a {type(value).__name__} in JSON")
