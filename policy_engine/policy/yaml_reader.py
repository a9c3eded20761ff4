"""Reading a policy document written as YAML, safely: a YAML 1.2 core-schema resolver, bounded aliases,
nodes and depth, and a position for every value."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.policy.document import JsonPath, LoadedDocument, Position

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MultipleDocuments",
    "build_document",
    "compose",
    "line_col",
    "yaml_error",
]


#: Alias expansions allowed in one document (an alias inside an expanded alias counts again).
MAX_ALIASES = 1_000
#: Values (scalars, lists, mappings) built for one document, aliases expanded.
MAX_NODES = 100_000
#: Nesting depth of lists and mappings.
MAX_DEPTH = 200


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Resolver(BaseResolver):
    """YAML 1.1 implicit types minus timestamps, sexagesimal numbers and ``=``; JSON-style floats."""

    yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012


def _resolve(self: _Resolver, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
    """A faster ``resolve`` for our resolver, which has no path resolvers: by first character only."""
    if kind is ScalarNode:
        if implicit[0]:
            for tag, regexp in self.yaml_implicit_resolvers.get(value[:1], ()):
                if regexp.match(value):
                    return tag
        return _STR
    return _SEQ if kind is SequenceNode else _MAP


_Resolver.resolve = _resolve  # type: ignore[method-assign,assignment]
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+
        |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])

try:
    from yaml.cyaml import CParser as _Parser

    class _ComposeLoader(_Parser, _Resolver):  # type: ignore[misc,valid-type]
        """libyaml's parser and composer with our resolver."""

        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            _Resolver.__init__(self)

except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _ComposeLoader(Reader, Scanner, Parser, Composer, _Resolver):  # type: ignore[no-redef]
        """PyYAML's pure-Python parser and composer with our resolver."""

        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)
            _Resolver.__init__(self)


class MultipleDocuments(Exception):
    """A file that holds more than one YAML document (a located diagnostic for it: :meth:`diagnostic`)."""

    def __init__(self, mark: Any) -> None:
        super().__init__("multiple documents")
        self.mark = mark

    def diagnostic(self, source: str) -> Diagnostic:
        return Diagnostic(
            code="multiple-documents",
            message="the file holds more than one YAML document (a second '---' starts another)",
            file=source,
            line=self.mark.line + 1 if self.mark else None,
            col=self.mark.column + 1 if self.mark else None,
            hint="keep one document per file; a policy and its project overlay go in separate files",
        )


def compose(text: str) -> Node | None:
    """The single YAML node tree of ``text`` (``None`` when empty), with the core-schema resolver."""
    loader = _ComposeLoader(text)
    try:
        return loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if exc.problem and "another document" in exc.problem:
            raise MultipleDocuments(exc.problem_mark) from None
        raise
    finally:
        loader.dispose()


_YAML_HINTS = (
    ("mapping values are not allowed", "a value that contains ': ' must be quoted"),
    ("undefined alias", "define the anchor (&name) before using the alias (*name)"),
    ("expected <block end>", "check the indentation of this line against the lines above"),
    ("could not find expected ':'", "a key needs ': ' after it, or a multi-line string must be quoted"),
)


def yaml_error(exc: yaml.YAMLError, source: str, text: str) -> Diagnostic:
    """A parse-error diagnostic from a PyYAML error: the parser's message, line and column."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        line, col = line_col(text, exc.position)
        message = f"the file contains a character that YAML does not allow: {char!r}"
        return Diagnostic(code="parse-error", message=message, file=source, line=line, col=col)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    message = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        message += f" ({context} at line {context_mark.line + 1})"
    elif context:
        message += f" ({context})"
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return Diagnostic(
        code="parse-error",
        message=message,
        file=source,
        line=line,
        col=col,
        hint=_yaml_hint(message, _char_at(text, line, col)),
    )


def _yaml_hint(message: str, char: str | None) -> str | None:
    if char == "\t":
        return "YAML does not allow tabs for indentation; indent with spaces"
    return next((hint for needle, hint in _YAML_HINTS if needle in message), None)


def _char_at(text: str, line: int | None, col: int | None) -> str | None:
    if line is None or col is None:
        return None
    lines = text.split("\n", line)
    if len(lines) < line or col > len(lines[line - 1]):
        return None
    return lines[line - 1][col - 1]


def line_col(text: str, index: int) -> Position:
    """The 1-based line and column of character ``index`` in ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# --- building data from nodes --------------------------------------------------------------------

_SCALARS = {
    "tag:yaml.org,2002:int": SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": SafeConstructor.construct_yaml_null,
}
_AS_TEXT = {_STR, "tag:yaml.org,2002:timestamp"}
_CONSTRUCTOR = SafeConstructor()


class _Abort(Exception):
    """Stop building: a limit was hit and going on would only cost time."""


class _Builder:
    """Turns a node graph into plain data, recording positions and collecting problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[JsonPath, Position] = {}
        self.key_positions: dict[JsonPath, Position] = {}
        self.scalar_text: dict[JsonPath, str] = {}
        self.problems: list[Diagnostic] = []
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.nodes = 0
        self.aliases = 0

    def problem(self, code: str, message: str, node: Node, path: JsonPath, hint: str | None = None) -> None:
        mark = node.start_mark
        self.problems.append(
            Diagnostic(
                code=code,
                message=message,
                file=self.source,
                line=mark.line + 1,
                col=mark.column + 1,
                path=path,
                hint=hint,
            )
        )

    def count(self, node: Node, path: JsonPath) -> None:
        """Apply the node, alias and depth budgets before building ``node`` at ``path``."""
        self.nodes += 1
        key = id(node)
        if key in self.seen:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                self.abort_aliases(node, path, f"more than {MAX_ALIASES:,} alias expansions")
        else:
            self.seen.add(key)
        if self.nodes > MAX_NODES:
            self.abort_aliases(node, path, f"more than {MAX_NODES:,} values once aliases are expanded")

    def abort_aliases(self, node: Node, path: JsonPath, what: str) -> None:
        self.problem(
            "alias-limit",
            f"refusing to expand the document: {what} (an alias bomb?)",
            node,
            path,
            hint="a policy may use a few anchors and aliases (&name / *name), not nested expansions",
        )
        raise _Abort

    def value(self, node: Node, path: JsonPath) -> Any:
        """Build the value of ``node`` and record its position under ``path``."""
        self.count(node, path)
        mark = node.start_mark
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if node.__class__ is ScalarNode:
            return node.value if node.tag == _STR else self.scalar(node, path)
        if id(node) in self.active:
            self.problem("alias-limit", "an alias refers to the list or mapping that contains it", node, path)
            raise _Abort
        if len(path) >= MAX_DEPTH:
            self.problem("nesting-limit", f"lists and mappings are nested more than {MAX_DEPTH} deep", node, path)
            raise _Abort
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self.sequence(node, path)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        tag = node.tag
        if tag in _AS_TEXT:
            return node.value
        build = _SCALARS.get(tag)
        if build is None:
            self.unsupported_tag(node, path)
            return node.value
        try:
            value = build(_CONSTRUCTOR, node)
        except (ValueError, ConstructorError):
            self.problem("parse-error", f"{node.value!r} cannot be read as {tag.rsplit(':', 1)[-1]}", node, path)
            return node.value
        self.scalar_text[path] = node.value
        return value

    def unsupported_tag(self, node: Node, path: JsonPath) -> None:
        shown = node.tag.replace("tag:yaml.org,2002:", "!!")
        self.problem(
            "parse-error",
            f"unsupported YAML tag {shown}: only plain values, lists and mappings are allowed",
            node,
            path,
            hint="remove the tag; write the value as plain text",
        )

    def sequence(self, node: SequenceNode, path: JsonPath) -> list[Any]:
        if node.tag != _SEQ:
            self.unsupported_tag(node, path)
        return [self.value(child, (*path, index)) for index, child in enumerate(node.value)]

    def mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        if node.tag != _MAP:
            self.unsupported_tag(node, path)
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge(value_node, path, result)
                continue
            key = self.key(key_node, path)
            if key in first_seen:
                line = first_seen[key].start_mark.line + 1
                self.problem(
                    "duplicate-key",
                    f"duplicate key '{key}' (first defined at line {line})",
                    key_node,
                    (*path, key),
                    hint="a key may appear once in a mapping; the second one would silently win",
                )
                continue
            first_seen[key] = key_node
            entry = (*path, key)
            self.key_positions[entry] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.value(value_node, entry)
        return result

    def key(self, node: Node, path: JsonPath) -> str:
        if isinstance(node, ScalarNode) and node.tag in _AS_TEXT:
            return node.value
        if not isinstance(node, ScalarNode):
            self.problem("non-string-key", "a mapping key must be a string, not a list or mapping", node, path)
            return f"<key at line {node.start_mark.line + 1}>"
        kind = {
            "tag:yaml.org,2002:bool": "a boolean",
            "tag:yaml.org,2002:null": "null",
            "tag:yaml.org,2002:int": "a number",
            "tag:yaml.org,2002:float": "a number",
        }.get(node.tag, f"a {node.tag}")
        self.problem(
            "non-string-key",
            f"the key {node.value!r} is read as {kind}; keys must be strings",
            node,
            (*path, node.value),
            hint=f'quote it: "{node.value}"',
        )
        return node.value

    def merge(self, node: Node, path: JsonPath, result: dict[str, Any]) -> None:
        """A YAML merge key (``<<: *defaults``): copy in the keys the mapping does not have yet."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem("parse-error", "a merge key (<<) must refer to a mapping", source, path)
                continue
            self.count(source, path)
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE:
                    self.merge(value_node, path, result)
                    continue
                key = self.key(key_node, path)
                if key in result:
                    continue
                entry = (*path, key)
                self.key_positions[entry] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.value(value_node, entry)


def build_document(node: Node | None, source: str) -> LoadedDocument:
    """The document built from a composed node tree: plain data plus the position of every value."""
    builder = _Builder(source)
    data = None
    if node is not None:
        try:
            data = builder.value(node, ())
        except _Abort:
            pass
        except RecursionError:
            builder.problems.append(
                Diagnostic(code="nesting-limit", message="the document is nested too deeply", file=source)
            )
    if builder.problems:
        raise PolicyError(builder.problems)
    return LoadedDocument(
        data=data,
        source=source,
        positions=builder.positions,
        key_positions=builder.key_positions,
        scalar_text=builder.scalar_text,
    )
