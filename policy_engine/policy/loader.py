"""Load policy, project and test files (YAML or JSON) with the source position of every value.

One parse: libyaml (PyYAML's C parser, or the pure-Python one) composes the node graph, and a small
builder turns the nodes into plain data (dict, list, str, int, float, bool, None) while it records
where each value and each mapping key stands, rejects duplicate and non-string keys, and stops
alias bombs before they expand. Timestamps are not converted (``at: 2026-04-06T10:30:00+02:00``
stays a string); YAML 1.1 booleans (``yes``/``no``/``on``/``off``) stay booleans, and their source
text is kept so that validation can say which word was read as a boolean.

A ``*.json`` file must be strict JSON, as pi-multi-pass reads it: :func:`json.loads` checks it
(and reports JSON's own line and column), then libyaml reads it again for the positions. Where
libyaml cannot (surrogate escapes: pairs, or a lone ``"\\udc80"``), the data comes from :mod:`json`
and the positions from the same text with those escapes written as ``"\\ufffd"``; duplicate keys are
still refused.

Files are read by :func:`policy_engine.common.bounded_read.read_bounded` (regular files only, capped per
kind of file): FIFOs, devices, directories, ``/proc`` files and symlink loops are refused with a
``file-unreadable`` diagnostic, never blocked on.

Problems are raised together as one :class:`~policy_engine.common.diagnostics.PolicyError`, with these
codes: ``file-not-found``, ``file-unreadable``, ``file-too-large``, ``parse-error``,
``duplicate-key``, ``non-string-key``, ``alias-limit``, ``nesting-limit``, ``multiple-documents``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from policy_engine.common import json_finite
from policy_engine.common.bounded_read import POLICY, FileKind, FileReadError, ReadProblem, read_bounded
from policy_engine.common.diagnostics import Diagnostic, PolicyError, Severity

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_NODES",
    "JsonPath",
    "LoadedDocument",
    "from_object",
    "load_file",
    "load_text",
    "pi_tolerant",
    "read_error_diagnostic",
]

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]

#: The size cap of a policy file (that of :data:`policy_engine.common.bounded_read.POLICY`).
DEFAULT_MAX_BYTES = POLICY.max_bytes
#: Alias expansions allowed in one document (an alias inside an expanded alias counts again).
MAX_ALIASES = 1_000
#: Values (scalars, lists, mappings) built for one document, aliases expanded.
MAX_NODES = 100_000
#: Nesting depth of lists and mappings.
MAX_DEPTH = 200


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
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return default
        return value

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


# --- public entry points -------------------------------------------------------------------------


def load_file(path: str | Path, *, kind: FileKind = POLICY, max_bytes: int | None = None) -> LoadedDocument:
    """Read and parse a YAML or JSON file; raise :class:`PolicyError` with every problem found.

    The file is read by :func:`~policy_engine.common.bounded_read.read_bounded`: a regular file of at most
    ``max_bytes`` (default: the cap of ``kind``); FIFOs, devices, directories, pseudo files and
    symlink loops are refused with a ``file-unreadable`` diagnostic.
    """
    source = str(path)
    file_path = Path(path).expanduser()
    raw = _read_bytes(file_path, source, kind, max_bytes)
    text = _decode(raw, source)
    return replace(load_text(text, source), path=file_path.resolve())


def load_text(text: str, source: str = "<inline>") -> LoadedDocument:
    """Parse YAML (or JSON) text; ``source`` names it in diagnostics (a path or ``<inline>``).

    A source named ``*.json`` must be strict JSON (as pi-multi-pass reads it), checked by
    :mod:`json` before libyaml reads it again for the positions.
    """
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return replace(_parse_text(text, source), digest=digest)


def _parse_text(text: str, source: str) -> LoadedDocument:
    if source.lower().endswith(".json"):
        return _load_json(text, source)
    try:
        node = _compose(text)
    except _MultipleDocuments as exc:
        raise PolicyError([exc.diagnostic(source)]) from None
    except yaml.YAMLError as exc:
        if text.lstrip()[:1] in ("{", "["):
            try:
                return _load_json(text, source)
            except PolicyError:
                pass
        raise PolicyError([_yaml_error(exc, source, text)]) from None
    return _build(node, source)


def from_object(obj: Any, source: str = "<inline>") -> LoadedDocument:
    """Wrap data that was not read from text (an API caller's dict); it has no positions."""
    return LoadedDocument(data=obj, source=source)


def pi_tolerant(doc: LoadedDocument) -> bool:
    """Whether ``doc`` is a file pi-multi-pass reads too (named ``multi-pass.json``), which DESIGN §3 reads
    with pi's tolerance: what pi accepts is a warning there where a YAML file has an error. Another
    ``.json`` (a policy of mp-policy's own, or ``auth.json`` passed by mistake) is as strict as YAML."""
    return doc.source.replace("\\", "/").rsplit("/", 1)[-1].lower() == "multi-pass.json"


# --- reading -------------------------------------------------------------------------------------


def _read_bytes(path: Path, source: str, kind: FileKind, max_bytes: int | None) -> bytes:
    """The file's bytes through the bounded reader; a refusal becomes a located diagnostic."""
    try:
        return read_bounded(path, kind, max_bytes=max_bytes, source=source)
    except FileReadError as exc:
        raise PolicyError([read_error_diagnostic(exc)]) from None


def read_error_diagnostic(exc: FileReadError) -> Diagnostic:
    """The diagnostic of a file the bounded reader refused: ``file-not-found``, ``file-too-large`` or
    ``file-unreadable`` (a directory, FIFO, device, pseudo file, symlink loop, permission denied)."""
    code = _READ_CODES.get(exc.problem, "file-unreadable")
    message = f"no such file: {exc.path}" if exc.reason == "no such file" else f"{exc.path} {exc.reason}"
    if exc.problem is ReadProblem.UNREADABLE and exc.reason.startswith("cannot read it"):
        message = f"cannot read {exc.path}: {exc.reason.removeprefix('cannot read it: ')}"
    return Diagnostic(code=code, message=message, file=exc.path, hint=exc.hint)


_READ_CODES = {ReadProblem.MISSING: "file-not-found", ReadProblem.TOO_LARGE: "file-too-large"}


def _decode(raw: bytes, source: str) -> str:
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PolicyError(
            [
                Diagnostic(
                    code="parse-error",
                    message=f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                    file=source,
                    line=line,
                    col=col,
                    hint="save the file as UTF-8",
                )
            ]
        ) from None


# --- YAML composition ----------------------------------------------------------------------------


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


class _MultipleDocuments(Exception):
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


def _compose(text: str) -> Node | None:
    loader = _ComposeLoader(text)
    try:
        return loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if exc.problem and "another document" in exc.problem:
            raise _MultipleDocuments(exc.problem_mark) from None
        raise
    finally:
        loader.dispose()


_YAML_HINTS = (
    ("mapping values are not allowed", "a value that contains ': ' must be quoted"),
    ("undefined alias", "define the anchor (&name) before using the alias (*name)"),
    ("expected <block end>", "check the indentation of this line against the lines above"),
    ("could not find expected ':'", "a key needs ': ' after it, or a multi-line string must be quoted"),
)


def _yaml_error(exc: yaml.YAMLError, source: str, text: str) -> Diagnostic:
    """A parse-error diagnostic from a PyYAML error: the parser's message, line and column."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        line, col = _line_col(text, exc.position)
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


def _line_col(text: str, index: int) -> Position:
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


def _build(node: Node | None, source: str) -> LoadedDocument:
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


# --- JSON fallback -------------------------------------------------------------------------------


def _json_hint(text: str, pos: int) -> str | None:
    """A hint for the JSON mistakes people make most: trailing commas and comments."""
    before = text[:pos].rstrip()
    here = text[pos:pos + 2]
    if before.endswith(",") and here[:1] in "}]":
        return "JSON allows no comma before a closing bracket; remove it"
    if here in ("//", "/*") or here[:1] == "#":
        return "JSON has no comments; remove them, or write the policy as YAML (multi-pass.yaml) to keep them"
    return None


def _load_json(text: str, source: str) -> LoadedDocument:
    """Read strict JSON; libyaml reads it again for positions (and :mod:`json` alone when it cannot)."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=json_finite.parse_constant,
                          parse_float=json_finite.parse_float,
                          parse_int=json_finite.parse_int) if text.strip() else None
    except json_finite.NonFiniteNumber:
        raise PolicyError(json_finite.non_finite_diagnostics(text, source)) from None
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg}"
        raise PolicyError([Diagnostic(code="parse-error", message=message, file=source, line=exc.lineno,
                                      col=exc.colno, hint=_json_hint(text, exc.pos))]) from None
    except RecursionError:
        raise PolicyError(
            [Diagnostic(code="nesting-limit", message="the document is nested too deeply", file=source)]
        ) from None
    for candidate in (text, text.replace("\t", " ")):  # valid JSON has tabs only between tokens
        try:
            return _build(_compose(candidate), source)
        except (yaml.YAMLError, _MultipleDocuments):
            continue
    masked = _SURROGATE_ESCAPE.sub(_mask_surrogate, text)
    if masked != text and not duplicates:
        # libyaml refuses surrogate escapes (a lone "\udc80", or a pair): the same text with each of them
        # written as "\ufffd" (as long) has the same positions; the data stays json's.
        try:
            return replace(_build(_compose(masked.replace("\t", " ")), source), data=data)
        except (yaml.YAMLError, _MultipleDocuments, PolicyError):
            pass
    if duplicates:
        raise PolicyError([_json_duplicate(text, source, key) for key in dict.fromkeys(duplicates)])
    return LoadedDocument(data=data, source=source)


_SURROGATE_ESCAPE = re.compile(r"\\(\\|u[dD][89a-fA-F][0-9a-fA-F]{2})")


def _mask_surrogate(match: re.Match[str]) -> str:
    return match.group(0) if match.group(1) == "\\" else "\\ufffd"


def _json_duplicate(text: str, source: str, key: str) -> Diagnostic:
    """A duplicate key found by :mod:`json`; its lines are found by searching for the key's text."""
    pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
    hits = [match.start() for match in pattern.finditer(text)]
    first = _line_col(text, hits[0]) if hits else None
    second = _line_col(text, hits[1]) if len(hits) > 1 else None
    where = f" (first defined at line {first[0]})" if first else ""
    return Diagnostic(
        code="duplicate-key",
        message=f"duplicate key '{key}'{where}",
        file=source,
        line=second[0] if second else None,
        col=second[1] if second else None,
        hint="a key may appear once in a mapping; the second one would silently win",
    )
