"""Validate loaded documents against the JSON Schemas (draft 2020-12) and the rules a schema cannot say.

:func:`validate_document` returns every problem, each a :class:`Diagnostic` with a stable code, the
line and column in the source file, the JSON path and, where one helps, a hint. jsonschema's own
messages are rewritten: an unknown key gets a "did you mean", a YAML 1.1 boolean where text was
expected says which word was read as a boolean, a failed ``oneOf`` says what was expected.

The schemas carry a few annotations that jsonschema and editors ignore and this module reads:
``x-code`` (the diagnostic code of errors inside that subschema), ``x-messages`` (a message per
failing keyword; for ``type`` it is the expectation, "must be ..."), ``x-hint`` and
``x-plain-text`` (names: a failed ``pattern`` names the control character and its position).

Codes: ``unknown-key``, ``required``, ``type``, ``yaml-boolean``, ``enum``, ``const``, ``version``,
``min-items``, ``max-items``, ``min-length``, ``range``, ``duplicate-item``, ``key``, ``one-of``,
``step``, ``not-allowed``, ``duration``, ``timezone``, ``cron``, ``date``, ``date-time``, ``regex``,
``hours``, ``days``, ``date-range``, ``window``, ``project-subscriptions``, ``nesting-limit``,
``control-character``, ``zero-duration``, ``empty-window`` and, for anything else jsonschema
reports, ``schema``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from policy_engine.common.diagnostics import Diagnostic, PolicyError, sort_diagnostics
from policy_engine.common.durations import parse_duration
from policy_engine.common.terminal_text import describe_character, first_unsafe
from policy_engine.common.timezones import check_supported
from policy_engine.policy.loader import JsonPath, LoadedDocument, pi_tolerant

if TYPE_CHECKING:
    from jsonschema import FormatChecker, ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "DAY_NAMES",
    "ERROR_KINDS",
    "KINDS",
    "DayProblem",
    "Kind",
    "check_days",
    "did_you_mean",
    "expand_days",
    "require_valid",
    "schema",
    "schema_text",
    "validate_document",
]

Kind = Literal["policy", "project", "test"]
KINDS: tuple[Kind, ...] = ("policy", "project", "test")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ERROR_KINDS = ("rate_limit", "quota_exhausted", "overloaded", "auth", "context_overflow", "other")

_SCHEMA_FILES: dict[str, str] = {
    "policy": "policy.schema.json",
    "project": "project.schema.json",
    "test": "test.schema.json",
}
_NOUNS = {"policy": "policy", "project": "project overlay", "test": "policy test"}
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS_HINT = "days are mon, tue, wed, thu, fri, sat, sun, or ranges such as mon-fri"


# --- public API ----------------------------------------------------------------------------------


def validate_document(doc: LoadedDocument, kind: Kind) -> list[Diagnostic]:
    """Every schema and domain problem of ``doc`` read as a ``kind`` document, sorted by position."""
    if kind not in _SCHEMA_FILES:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        found = [d for error in _validator(kind).iter_errors(doc.data) for d in _translate(error, doc, kind)]
        found.extend(_domain_checks(doc, kind))
        found.extend(_path_checks(doc, kind))
    except RecursionError:
        found = [doc.diagnostic("nesting-limit", "the document is nested too deeply")]
    if pi_tolerant(doc):
        from policy_engine.policy.pi_tolerance import tolerate

        found = tolerate(doc, found)
    return _drop_redundant(sort_diagnostics(found))


def require_valid(doc: LoadedDocument, kind: Kind) -> LoadedDocument:
    """Return ``doc`` when it has no errors; raise :class:`PolicyError` with all diagnostics otherwise."""
    diagnostics = validate_document(doc, kind)
    if any(d.severity == "error" for d in diagnostics):
        raise PolicyError(diagnostics)
    return doc


def schema_text(kind: Kind) -> str:
    """The JSON text of the ``kind`` schema, as shipped (for ``mp-policy schema``)."""
    if kind not in _SCHEMA_FILES:
        raise ValueError(f"unknown schema {kind!r}; expected one of {', '.join(KINDS)}")
    return files("policy_engine.schemas").joinpath(_SCHEMA_FILES[kind]).read_text(encoding="utf-8")


def _add_strategy_options(policy_schema: dict[str, Any], strategy_options: Mapping[str, Any]) -> None:
    """Constrain ``pools[].options`` by strategy: ``if strategy == name then options: <its schema>``."""
    pool = policy_schema.get("$defs", {}).get("pool")
    if not isinstance(pool, dict):
        return
    pool.setdefault("allOf", []).extend(
        {"if": {"properties": {"strategy": {"const": name}}, "required": ["strategy"]},
         "then": {"properties": {"options": {k: v for k, v in options.items() if k != "$schema"}}}}
        for name, options in sorted(strategy_options.items())
    )


def bundled_schema_text(kind: Kind, strategy_options: Mapping[str, Any] | None = None) -> str:
    """The ``kind`` schema with the schemas it refers to embedded (2020-12 bundling), self-contained.

    A reference such as ``policy.schema.json#/$defs/pools`` resolves against the ``$id`` of the
    embedded copy, so editors and CI tools need no network access and no other file.
    ``strategy_options`` (strategy name -> options schema, from plugins) constrain ``pools[].options``.
    """
    root = schema(kind)
    by_file = {name: k for k, name in _SCHEMA_FILES.items()}
    embedded: dict[str, Any] = {}
    queue = [root]
    while queue:
        for name in re.findall(r'"\$ref": *"([a-z]+\.schema\.json)', json.dumps(queue.pop())):
            other = by_file.get(name)
            if other is None or other == kind or name in embedded:
                continue
            part = schema(other)  # type: ignore[arg-type]
            part.pop("$schema", None)
            embedded[name] = part
            queue.append(part)
    if strategy_options:
        _add_strategy_options(root if kind == "policy" else embedded.get("policy.schema.json", {}), strategy_options)
    if embedded:
        root.setdefault("$defs", {}).update(embedded)
    return json.dumps(root, indent=2, ensure_ascii=False)


def schema(kind: Kind) -> dict[str, Any]:
    """The ``kind`` schema as a fresh dict (safe to modify)."""
    return json.loads(schema_text(kind))


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The option closest to ``word`` (case, ``_`` and ``-`` ignored first), or None."""
    choices = list(options)

    def norm(text: str) -> str:
        return text.replace("_", "").replace("-", "").lower()

    for option in choices:
        if norm(option) == norm(word):
            return option
    by_norm = {norm(option): option for option in choices}
    close = difflib.get_close_matches(norm(word), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


class DayProblem(NamedTuple):
    """A bad item of a window's ``days``: its index, what is wrong and how to fix it."""

    index: int
    message: str
    hint: str | None


def check_days(items: Sequence[Any]) -> list[DayProblem]:
    """Check the items of a window's ``days`` (``mon``, ``mon-fri``, ``fri-mon``); strings only."""
    problems = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            problem = _day_problem(item)
            if problem:
                problems.append(DayProblem(index, *problem))
    return problems


def expand_days(items: Sequence[str]) -> tuple[str, ...]:
    """The days named by ``items``, in week order: ``[fri-mon]`` gives mon, fri, sat, sun.

    ``mon-sun`` is the whole week. Raises :class:`ValueError` on an item :func:`check_days` rejects.
    """
    chosen: set[int] = set()
    for item in items:
        problem = _day_problem(item)
        if problem:
            raise ValueError(problem[0])
        start, _, end = item.partition("-")
        first = DAY_NAMES.index(start)
        last = DAY_NAMES.index(end or start)
        span = (last - first) % 7
        chosen.update((first + step) % 7 for step in range(span + 1))
    return tuple(DAY_NAMES[i] for i in sorted(chosen))


# --- schemas and the validator -------------------------------------------------------------------


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {kind: json.loads(schema_text(kind)) for kind in KINDS}  # type: ignore[arg-type]


@cache
def _validator(kind: str) -> Validator:
    """The validator of ``kind``, built once: references inlined, our format checker attached."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_inlined(kind), format_checker=_format_checker())


_ANNOTATIONS = {"title", "description", "default", "examples", "$comment"}
_BASE_URI = "https://mp-policy.dev/schemas/"


def _inlined(kind: str) -> dict[str, Any]:
    """The ``kind`` schema with every ``$ref`` replaced by what it points to.

    The shipped files use ``$ref`` (readable, and editors follow them); resolving references costs
    jsonschema more than the checks themselves, and our schemas are not recursive, so the validator
    gets them inlined. A ``$ref`` with annotation siblings (title, description) becomes the target
    with those annotations; with other siblings, an ``allOf``.
    """
    schemas = _schemas()

    def resolve(ref: str, current: str) -> Any:
        target, _, pointer = ref.removeprefix(_BASE_URI).partition("#")
        document = schemas[_KIND_OF_FILE[target]] if target else schemas[current]
        node: Any = document
        for part in (p for p in pointer.split("/") if p):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        owner = _KIND_OF_FILE[target] if target else current
        return inline({k: v for k, v in node.items() if k not in ("$id", "$schema", "$defs")}, owner)

    def inline(node: Any, current: str) -> Any:
        if isinstance(node, list):
            return [inline(item, current) for item in node]
        if not isinstance(node, dict):
            return node
        result = {k: inline(v, current) for k, v in node.items() if k not in ("$ref", "$defs")}
        if "$ref" not in node:
            return result
        target = resolve(node["$ref"], current)
        if set(result) <= _ANNOTATIONS:
            return {**target, **result}
        return {**result, "allOf": [*result.get("allOf", []), target]}

    schema = inline(schemas[kind], kind)
    schema["$schema"] = schemas[kind]["$schema"]
    return schema


_KIND_OF_FILE = {file: kind for kind, file in _SCHEMA_FILES.items()}


class FormatProblem(ValueError):
    """A value that does not have its format; carries a hint for the diagnostic."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _format_checker() -> FormatChecker:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    for name, function in _FORMATS.items():
        checker.checks(name, raises=ValueError)(_cached(function))
    return checker


def _cached(check: Callable[[object], bool]) -> Callable[[object], bool]:
    """Remember the verdict on each string (policies repeat values such as ``5m``)."""

    @lru_cache(maxsize=2048)
    def verdict(value: str) -> ValueError | None:
        try:
            check(value)
        except ValueError as exc:
            return exc
        return None

    def checked(value: object) -> bool:
        if not isinstance(value, str):
            return check(value)
        problem = verdict(value)
        if problem is not None:
            raise problem
        return True

    return checked


def _check_duration(value: object) -> bool:
    if isinstance(value, str):
        parse_duration(value)
    return True


def _check_timezone(value: object) -> bool:
    if not isinstance(value, str):
        return True
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise FormatProblem(f"unknown time zone {value!r}", _timezone_hint(value)) from None
    return True


def _timezone_hint(value: str) -> str:
    from zoneinfo import available_timezones

    match = did_you_mean(value, sorted(available_timezones()))
    if match:
        return f"did you mean '{match}'?"
    return "use an IANA time zone name such as Europe/Vienna, America/New_York or UTC"


def _check_cron(value: object) -> bool:
    if not isinstance(value, str):
        return True
    from croniter import croniter

    hint = "five fields: minute hour day-of-month month day-of-week, such as '0 22 * * fri'"
    if len(value.split()) != 5:
        raise FormatProblem(f"a cron expression has five fields, {value!r} has {len(value.split())}", hint)
    if croniter.is_valid(value, strict=True):
        return True
    if croniter.is_valid(value):
        raise FormatProblem(f"the cron expression {value!r} never fires (no such date)", hint)
    try:
        croniter(value)
        reason = "it is not valid"
    except Exception as exc:  # croniter raises several error types
        reason = str(exc).replace(f"[{value}] ", "").replace("is not acceptable, ", "")
    raise FormatProblem(f"not a valid cron expression: {value!r} ({reason})", hint)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.fullmatch(value):
        raise FormatProblem(f"{value!r} is not a date written YYYY-MM-DD", "for example 2026-06-01")
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise FormatProblem(f"{value!r} is not a real date ({exc})") from None
    return True


def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    hint = "write it like 2026-04-06T10:30:00+02:00 (or ...Z for UTC)"
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FormatProblem(f"{value!r} is not an ISO-8601 date-time", hint) from None
    if moment.tzinfo is None:
        raise FormatProblem(f"{value!r} has no UTC offset", hint)
    try:
        check_supported(moment)
    except ValueError as exc:
        raise FormatProblem(f"{value!r}: {exc}", "write a time such as 2026-04-06T10:30:00+02:00") from None
    return True


def _check_regex(value: object) -> bool:
    # errorRules patterns are compiled and searched by RE2 (linear time); Python-only syntax is refused here.
    if isinstance(value, str):
        from policy_engine.classify.rule_patterns import RulePatternError, compile_rule_pattern

        try:
            compile_rule_pattern(value)
        except RulePatternError as exc:
            raise FormatProblem(exc.message, exc.hint) from None
    return True


_FORMATS = {
    "duration": _check_duration,
    "timezone": _check_timezone,
    "cron": _check_cron,
    "date": _check_date,
    "date-time": _check_date_time,
    "regex": _check_regex,
}


# --- turning jsonschema errors into diagnostics --------------------------------------------------


class _Finding(NamedTuple):
    code: str
    message: str
    path: JsonPath
    hint: str | None = None
    at_key: bool = False


@dataclass(frozen=True)
class _Failure:
    """One jsonschema error with what the handlers need to explain it."""

    error: ValidationError
    doc: LoadedDocument
    kind: str

    @property
    def path(self) -> JsonPath:
        return tuple(self.error.absolute_path)

    @property
    def schema(self) -> Mapping[str, Any]:
        return self.error.schema if isinstance(self.error.schema, Mapping) else {}

    @property
    def instance(self) -> Any:
        return self.error.instance

    @property
    def source(self) -> str | None:
        """The YAML source text of the value when it was not read as a string (``off``)."""
        return self.doc.scalar_text.get(self.path)

    def custom(self, keyword: str | None = None) -> str | None:
        """The schema's own message (``x-messages``) for the failing keyword."""
        return self.schema.get("x-messages", {}).get(keyword or self.error.validator)

    def subject(self) -> str:
        """How messages name the value: ``'cooldown'``, ``item 2 of 'members'``, ``the policy``."""
        path = self.path
        if not path:
            return f"the {_NOUNS[self.kind]}"
        last = path[-1]
        if isinstance(last, str):
            return f"'{last}'"
        parent = path[-2] if len(path) > 1 else None
        return f"item {last} of '{parent}'" if isinstance(parent, str) else f"item {last}"

    def noun(self, *, named: bool = True) -> str:
        """What the failing object is: ``pool 'codex'``, ``window``, ``the policy``."""
        path = self.path
        if not path:
            return f"the {_NOUNS[self.kind]}"
        title = str(self.schema.get("title") or "mapping")
        noun = title[0].lower() + title[1:]
        if not named:
            return noun
        if isinstance(self.instance, Mapping) and isinstance(self.instance.get("name"), str):
            return f"{noun} '{self.instance['name']}'"
        if isinstance(path[-1], str) and _squash(path[-1]) != _squash(title):
            return f"{noun} '{path[-1]}'"
        return noun


_KEEP_CODE = {"additionalProperties", "unevaluatedProperties", "required"}


def _translate(error: ValidationError, doc: LoadedDocument, kind: str) -> list[Diagnostic]:
    failure = _Failure(error, doc, kind)
    try:
        findings = _explain(failure)
    except Exception:  # a message bug must not hide the problem itself
        findings = [_Finding("schema", error.message, failure.path)]
    node_schema = failure.schema
    result = []
    for finding in findings:
        code = finding.code
        if "x-code" in node_schema and error.validator not in _KEEP_CODE and code != "yaml-boolean":
            code = node_schema["x-code"]
        hint = node_schema.get("x-hint") or finding.hint
        result.append(doc.diagnostic(code, finding.message, finding.path, hint=hint, at_key=finding.at_key))
    return result


def _explain(failure: _Failure) -> list[_Finding]:
    if "propertyNames" in failure.error.relative_schema_path:
        return _on_property_name(failure)
    handler = _HANDLERS.get(str(failure.error.validator), _generic)
    return handler(failure)


def _on_property_name(failure: _Failure) -> list[_Finding]:
    key = failure.instance
    if key == "":
        return [_Finding("key", f"{failure.subject()} has an empty key", failure.path, "name the entry")]
    unsafe = first_unsafe(key) if isinstance(key, str) else None
    if unsafe is not None:
        message = (f"{failure.subject()} has the key {key!r}, which contains {describe_character(unsafe[1])} "
                   f"at character {unsafe[0] + 1}")
        return [_Finding("control-character", message, (*failure.path, key), _PLAIN_TEXT_HINT, True)]
    return [_Finding("key", f"{failure.subject()} has an invalid key {key!r}", failure.path)]


_PLAIN_TEXT_HINT = ("names are printed on terminals, where control characters and bidirectional controls can "
                    "clear the screen, rewrite a line or show text reversed; write it in plain text")


def _on_pattern(failure: _Failure) -> list[_Finding]:
    """A ``pattern`` failure; for plain text (``x-plain-text``), the offending character and where it is."""
    instance = failure.instance
    unsafe = first_unsafe(instance) if isinstance(instance, str) else None
    if not failure.schema.get("x-plain-text") or unsafe is None:
        return _generic(failure)
    message = (f"{failure.subject()} contains {describe_character(unsafe[1])} at character {unsafe[0] + 1} "
               f"of {instance!r}")
    return [_Finding("control-character", message, failure.path, _PLAIN_TEXT_HINT)]


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _describe(value: Any) -> str:
    if value is None:
        return "null (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_YAML_BOOLEANS = "YAML 1.1 reads yes/no/on/off/true/false as booleans"


def _on_type(failure: _Failure) -> list[_Finding]:
    instance, path, source = failure.instance, failure.path, failure.source
    value = failure.error.validator_value
    types = value if isinstance(value, list) else [value]
    expected = failure.custom() or "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in types)
    subject = failure.subject()
    if not path and instance is None and failure.doc.position(()) is None:
        return [_Finding("type", f"the file is empty: a {_NOUNS[failure.kind]} is a mapping of keys", path)]
    if isinstance(instance, bool) and source is not None:
        message = f"'{source}' was read as the boolean {str(instance).lower()}, but {subject} {expected}"
        return [_Finding("yaml-boolean", message, path, f'{_YAML_BOOLEANS}; quote it: "{source}"')]
    hint = None
    if "string" in types and source is not None and instance is not None:
        hint = f'quote it: "{source}"'
    elif instance is None and source is not None:
        hint = "write a value after the colon, or remove the key"
    elif isinstance(instance, str) and re.fullmatch(r"-?\d+(\.\d+)?", instance.strip()):
        hint = f"write the number without quotes: {instance.strip()}"
    return [_Finding("type", f"{subject} {expected}, not {_describe(instance)}", path, hint)]


def _on_additional(failure: _Failure) -> list[_Finding]:
    instance = failure.instance if isinstance(failure.instance, Mapping) else {}
    properties = failure.schema.get("properties", {})
    patterns = failure.schema.get("patternProperties", {})
    allowed = [k for k, v in properties.items() if not (isinstance(v, Mapping) and "not" in v)]
    where = f"in {failure.noun()}" if failure.path else f"at the top level of the {_NOUNS[failure.kind]}"
    findings = []
    for key in instance:
        if key in properties or any(re.search(p, str(key)) for p in patterns):
            continue
        match = did_you_mean(str(key), allowed)
        hint = f"did you mean '{match}'?" if match else "allowed keys: " + ", ".join(allowed)
        message = f"unknown key '{key}' {where}"
        findings.append(_Finding("unknown-key", message, (*failure.path, key), hint, True))
    return findings


def _on_required(failure: _Failure) -> list[_Finding]:
    instance = failure.instance if isinstance(failure.instance, Mapping) else {}
    missing = [k for k in failure.error.validator_value if k not in instance]
    message = failure.error.message
    key = next((k for k in missing if message.startswith(repr(k))), missing[0] if missing else "?")
    described = failure.schema.get("properties", {}).get(key, {})
    description = described.get("description") if isinstance(described, Mapping) else None
    hint = f"'{key}': {description}" if description else None
    return [_Finding("required", f"{failure.noun()} is missing the required key '{key}'", failure.path, hint)]


def _on_enum(failure: _Failure) -> list[_Finding]:
    options = ", ".join(str(o) for o in failure.error.validator_value)
    instance, source, subject = failure.instance, failure.source, failure.subject()
    if isinstance(instance, bool) and source is not None:
        message = f"'{source}' was read as the boolean {str(instance).lower()}; {subject} must be one of {options}"
        return [_Finding("yaml-boolean", message, failure.path, f'{_YAML_BOOLEANS}; quote it: "{source}"')]
    match = did_you_mean(instance, failure.error.validator_value) if isinstance(instance, str) else None
    message = f"{subject} must be one of {options}; not {_describe(instance)}"
    return [_Finding("enum", message, failure.path, f"did you mean '{match}'?" if match else None)]


def _on_const(failure: _Failure) -> list[_Finding]:
    message = failure.custom() or f"{failure.subject()} must be {json.dumps(failure.error.validator_value)}"
    return [_Finding("const", f"{message} (got {_describe(failure.instance)})", failure.path)]


def _on_items_count(failure: _Failure) -> list[_Finding]:
    count = failure.error.validator_value
    plural = "" if count == 1 else "s"
    if failure.error.validator == "minItems":
        message = failure.custom() or f"{failure.subject()} needs at least {count} item{plural}"
        return [_Finding("min-items", message, failure.path)]
    message = failure.custom() or f"{failure.subject()} takes at most {count} item{plural}"
    return [_Finding("max-items", message, failure.path)]


_BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
}


def _on_range(failure: _Failure) -> list[_Finding]:
    bound = f"{_BOUNDS[str(failure.error.validator)]} {failure.error.validator_value}"
    message = failure.custom() or f"{failure.subject()} must be {bound}"
    return [_Finding("range", f"{message}, not {failure.instance!r}", failure.path)]


def _on_min_length(failure: _Failure) -> list[_Finding]:
    size = failure.error.validator_value
    if size == 1:
        return [_Finding("min-length", f"{failure.subject()} must not be empty", failure.path)]
    message = f"{failure.subject()} must be at least {size} characters long"
    return [_Finding("min-length", message, failure.path)]


def _on_unique(failure: _Failure) -> list[_Finding]:
    seen: list[Any] = []
    for index, item in enumerate(failure.instance):
        if item in seen:
            message = f"{failure.subject()} lists {json.dumps(item)} more than once"
            return [_Finding("duplicate-item", message, (*failure.path, index), "remove the repeated item")]
        seen.append(item)
    return [_Finding("duplicate-item", f"{failure.subject()} has repeated items", failure.path)]


def _on_format(failure: _Failure) -> list[_Finding]:
    cause = failure.error.cause
    name = str(failure.error.validator_value)
    reason = str(cause) if cause else f"{failure.instance!r} is not a valid {name}"
    return [_Finding(name, f"{failure.subject()}: {reason}", failure.path, getattr(cause, "hint", None))]


def _on_dependent(failure: _Failure) -> list[_Finding]:
    instance = failure.instance if isinstance(failure.instance, Mapping) else {}
    noun = failure.noun(named=False)
    findings = []
    for present, needed in failure.error.validator_value.items():
        for key in needed if present in instance else ():
            if key not in instance:
                message = f"a {noun} with '{present}' also needs '{key}'"
                hint = _CRON_EXAMPLE if "cron" in (present, key) else None
                findings.append(_Finding("required", message, failure.path, hint))
    return findings


_CRON_EXAMPLE = 'for example {cron: "0 22 * * fri", duration: 10h}: open for 10 hours from each fire'


def _on_not(failure: _Failure) -> list[_Finding]:
    message = failure.custom("not") or f"{failure.subject()} is not allowed here"
    return [_Finding("not-allowed", message, failure.path, None, True)]


def _on_one_of(failure: _Failure) -> list[_Finding]:
    branches = failure.error.validator_value
    keys = [b["required"][0] for b in branches if isinstance(b, Mapping) and len(b.get("required", ())) == 1]
    if len(keys) != len(branches) or not isinstance(failure.instance, Mapping):
        return _best_of(failure)
    present = [k for k in keys if k in failure.instance]
    noun = failure.noun(named=False)
    if not present:
        message = f"a {noun} needs one of: {', '.join(keys)}"
    else:
        message = f"a {noun} takes only one of {', '.join(keys)}; this one has {' and '.join(present)}"
    return [_Finding("one-of", message, failure.path)]


def _best_of(failure: _Failure) -> list[_Finding]:
    from jsonschema.exceptions import best_match

    best = best_match(failure.error.context or [])
    if best is None:
        return [_Finding("schema", failure.error.message, failure.path)]
    return _explain(_Failure(best, failure.doc, failure.kind))


def _generic(failure: _Failure) -> list[_Finding]:
    validator = failure.error.validator
    if validator == "anyOf":
        return _best_of(failure)
    if validator is None:  # a `false` subschema
        return [_Finding("not-allowed", f"{failure.subject()} is not allowed here", failure.path, None, True)]
    message = failure.custom() or f"{failure.subject()}: {failure.error.message}"
    return [_Finding("schema", message, failure.path)]


_HANDLERS: dict[str, Callable[[_Failure], list[_Finding]]] = {
    "type": _on_type,
    "additionalProperties": _on_additional,
    "unevaluatedProperties": _on_additional,
    "required": _on_required,
    "enum": _on_enum,
    "const": _on_const,
    "minItems": _on_items_count,
    "maxItems": _on_items_count,
    "minimum": _on_range,
    "maximum": _on_range,
    "exclusiveMinimum": _on_range,
    "exclusiveMaximum": _on_range,
    "minLength": _on_min_length,
    "uniqueItems": _on_unique,
    "format": _on_format,
    "dependentRequired": _on_dependent,
    "not": _on_not,
    "oneOf": _on_one_of,
    "pattern": _on_pattern,
}


def _drop_redundant(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Leave out "needs one of" on an object whose unknown key is probably the misspelt one."""
    unknown_in = {d.path[:-1] for d in diagnostics if d.code == "unknown-key"}
    return [d for d in diagnostics if not (d.code in ("one-of", "step") and d.path in unknown_in)]


# --- checks a schema cannot express --------------------------------------------------------------


def _domain_checks(doc: LoadedDocument, kind: str) -> list[Diagnostic]:
    data = doc.data
    if not isinstance(data, Mapping):
        return []
    if kind in ("policy", "project"):
        return [*_policy_checks(doc, data, ()), *_zero_durations(doc, data, ())]
    found: list[Diagnostic] = []
    for key in ("policy", "project"):
        if isinstance(data.get(key), Mapping):
            found.extend(_policy_checks(doc, data[key], (key,)))
            found.extend(_zero_durations(doc, data[key], (key,)))
    return found


#: Settings whose zero value makes the engine misbehave, with why (a zero cooldown, quotaBudget or
#: errorRules retryAfter is a choice: rest not at all, never wait for quota checks, add no wait).
_NO_ZERO = {
    "turnTtl": ("a turn would expire as soon as it starts, so every fail would begin again at the first account "
                "and a turn could never rotate past it", "the default is 1h; a turn lasts as long as one prompt "
                "and its retries"),
    "selectorTimeout": ("every custom selector call would time out, so custom pools would always fall back to "
                        "rotation order", "the default is 250ms; a selector answers in well under a millisecond"),
    "quotaTtl": ("every quota snapshot would be stale as soon as it is read, so every decision would query the "
                 "providers' usage endpoints again", "the default is 60s"),
}


def _is_zero_duration(value: Any) -> bool:
    """Whether ``value`` is a duration that parses to zero (``0``, ``0s``, ``0ms``, ``0.0``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    try:
        return parse_duration(value).total_seconds() == 0
    except ValueError:
        return False  # the schema reports it


def _zero_durations(doc: LoadedDocument, data: Mapping[str, Any], base: JsonPath) -> Iterator[Diagnostic]:
    """``turnTtl``, ``selectorTimeout`` and ``quotaTtl`` of 0, which no one can mean (see :data:`_NO_ZERO`)."""
    settings = data.get("settings")
    if not isinstance(settings, Mapping):
        return
    for key, (why, hint) in _NO_ZERO.items():
        if key in settings and _is_zero_duration(settings[key]):
            yield doc.diagnostic("zero-duration", f"settings.{key} is 0: {why}", (*base, "settings", key),
                                 hint=f"write a duration of more than 0, or leave {key} out; {hint}")


def _policy_checks(doc: LoadedDocument, data: Mapping[str, Any], base: JsonPath) -> Iterator[Diagnostic]:
    pools = data.get("pools")
    if not isinstance(pools, list):
        return
    for index, pool in enumerate(pools):
        schedule = pool.get("memberSchedule") if isinstance(pool, Mapping) else None
        if not isinstance(schedule, Mapping):
            continue
        for member, entry in schedule.items():
            windows = entry.get("windows") if isinstance(entry, Mapping) else None
            if not isinstance(windows, list):
                continue
            for number, window in enumerate(windows):
                if isinstance(window, Mapping):
                    path = (*base, "pools", index, "memberSchedule", member, "windows", number)
                    yield from _window_checks(doc, window, path)


def _window_checks(doc: LoadedDocument, window: Mapping[str, Any], path: JsonPath) -> Iterator[Diagnostic]:
    if not window:
        yield _empty_window(doc, path)
    if "cron" in window and _is_zero_duration(window.get("duration")):
        yield doc.diagnostic("zero-duration", "a cron window lasting 0 never opens", (*path, "duration"),
                             hint=_CRON_EXAMPLE)
    hours = window.get("hours")
    if _is_hour_pair(hours) and hours[0] == hours[1]:
        yield doc.diagnostic(
            "hours",
            f"empty window: [{hours[0]}, {hours[1]}] never opens; write [0, 24] for the whole day",
            (*path, "hours"),
            hint="hours are [start, end): [9, 17] is 09:00 to 17:00, [22, 6] wraps past midnight",
        )
    days = window.get("days")
    if isinstance(days, list):
        for problem in check_days(days):
            yield doc.diagnostic("days", problem.message, (*path, "days", problem.index), hint=problem.hint)
    date_range = window.get("dateRange")
    if isinstance(date_range, Mapping):
        start, end = _as_date(date_range.get("from")), _as_date(date_range.get("to"))
        if start and end and start > end:
            yield doc.diagnostic(
                "date-range",
                f"dateRange ends before it starts: from {start.isoformat()} is after to {end.isoformat()}",
                (*path, "dateRange"),
                hint="swap from and to",
            )


def _empty_window(doc: LoadedDocument, path: JsonPath) -> Diagnostic:
    """``{}`` as a window: an error in YAML; in a pi ``multi-pass.json``, a warning (pi reads it as always open)."""
    if pi_tolerant(doc):
        return doc.diagnostic(
            "empty-window", "an empty window {} is open all the time (pi-multi-pass reads it so, and so does "
            "mp-policy for a multi-pass.json)", path, severity="warning",
            hint="leave windows out for a member that is always preferred, or give hours, days or dateRange; "
            "`mp-policy import` converts this file to YAML, where an empty window is an error")
    return doc.diagnostic(
        "empty-window", "an empty window {} says nothing about when it is open", path,
        hint="give hours, days, dateRange or cron ({hours: [9, 17], days: [mon-fri]}); for a member that is "
        "always preferred, leave out windows")


def _is_hour_pair(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in value)
    )


def _as_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _day_problem(item: str) -> tuple[str, str | None] | None:
    parts = item.split("-")
    if len(parts) > 2 or not all(parts):
        return f"'{item}' is not a day or a range of days", _DAYS_HINT
    fixed = [_fix_day(part) for part in parts]
    if any(fix != part for fix, part in zip(fixed, parts, strict=True)):
        suggestion = "-".join(f for f in fixed if f) if all(fixed) else None
        what = "range of days" if len(parts) == 2 else "day"
        hint = f"did you mean '{suggestion}'? {_DAYS_HINT}" if suggestion else _DAYS_HINT
        return f"unknown {what} '{item}'", hint
    if len(parts) == 2 and parts[0] == parts[1]:
        return (
            f"'{item}' is a range from a day to itself",
            f"write '{parts[0]}' for that day, or 'mon-sun' for the whole week",
        )
    return None


def _fix_day(text: str) -> str | None:
    """The day name ``text`` most likely means (itself when it is one), or None."""
    if text in DAY_NAMES:
        return text
    lower = text.lower().strip(".")
    if lower in DAY_NAMES:
        return lower
    for short, full in zip(DAY_NAMES, _FULL_DAYS, strict=True):
        if len(lower) >= 3 and full.startswith(lower):
            return short
    close = difflib.get_close_matches(lower, [*DAY_NAMES, *_FULL_DAYS], n=1, cutoff=0.6)
    if close:
        name = close[0]
        return name if name in DAY_NAMES else DAY_NAMES[_FULL_DAYS.index(name)]
    return None


# --- path-like fields ----------------------------------------------------------------------------


def _path_checks(doc: LoadedDocument, kind: str) -> Iterator[Diagnostic]:
    """Path-like fields (``settings.state``, ``pools[].selectorScript``, a test's ``policy``/``project``)
    holding text no file name can hold: a NUL byte, a lone surrogate (JSON can carry ``"\\udc80"``),
    or characters the file system's encoding cannot write. Each is an error at the field."""
    data = doc.data
    if not isinstance(data, Mapping):
        return
    parts: list[tuple[Mapping[str, Any], JsonPath]] = []
    if kind == "test":
        for key in ("policy", "project"):
            value = data.get(key)
            if isinstance(value, str):
                yield from _path_field(doc, value, (key,), f"{key} (a file path)")
            elif isinstance(value, Mapping):
                parts.append((value, (key,)))
    else:
        parts.append((data, ()))
    for part, base in parts:
        settings = part.get("settings")
        if isinstance(settings, Mapping) and isinstance(settings.get("state"), str):
            yield from _path_field(doc, settings["state"], (*base, "settings", "state"), "settings.state")
        pools = part.get("pools")
        for index, pool in enumerate(pools if isinstance(pools, list) else ()):
            if isinstance(pool, Mapping) and isinstance(pool.get("selectorScript"), str):
                yield from _path_field(doc, pool["selectorScript"], (*base, "pools", index, "selectorScript"),
                                       "selectorScript")


def _path_field(doc: LoadedDocument, value: str, path: JsonPath, what: str) -> Iterator[Diagnostic]:
    problem = _unusable_in_path(value)
    if problem is not None:
        yield doc.diagnostic("path", f"{what} {problem}, so it cannot name a file", path,
                             hint="write the path as plain text (no \\0 or \\uD800-\\uDFFF escapes)")


def _unusable_in_path(value: str) -> str | None:
    """Why ``value`` cannot be a file name or URL path on this system, or None when it can."""
    if "\0" in value:
        return f"contains a NUL byte (at character {value.index(chr(0)) + 1})"
    for position, char in enumerate(value, start=1):
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"contains a lone surrogate {char!a} (at character {position}), which is not text"
    try:
        os.fsencode(value)
    except UnicodeEncodeError as exc:
        return (f"contains {value[exc.start]!a} (at character {exc.start + 1}), which the file system's "
                f"encoding ({sys.getfilesystemencoding()}) cannot write")
    return None
