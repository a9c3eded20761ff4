"""The JSON Schema validator of policy documents: the bundled schemas, inlined, and the format checks
(durations, time zones, cron, dates, regular expressions)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache, lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal

from policy_engine.common.durations import parse_duration
from policy_engine.common.suggestions import did_you_mean
from policy_engine.common.timezones import check_supported

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.protocols import Validator

__all__ = ["DATE_PATTERN", "KINDS", "SCHEMA_FILES", "FormatProblem", "Kind", "schema", "schema_text", "validator_for"]


Kind = Literal["policy", "project", "test"]

KINDS: tuple[Kind, ...] = ("policy", "project", "test")

SCHEMA_FILES: dict[str, str] = {
    "policy": "policy.schema.json",
    "project": "project.schema.json",
    "test": "test.schema.json",
}

def schema_text(kind: Kind) -> str:
    """The JSON text of the ``kind`` schema, as shipped (for ``mp-policy schema``)."""
    if kind not in SCHEMA_FILES:
        raise ValueError(f"unknown schema {kind!r}; expected one of {', '.join(KINDS)}")
    return files("policy_engine.schemas").joinpath(SCHEMA_FILES[kind]).read_text(encoding="utf-8")

def schema(kind: Kind) -> dict[str, Any]:
    """The ``kind`` schema as a fresh dict (safe to modify)."""
    return json.loads(schema_text(kind))

@cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {kind: json.loads(schema_text(kind)) for kind in KINDS}  # type: ignore[arg-type]

@cache
def validator_for(kind: str) -> Validator:
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

_KIND_OF_FILE = {file: kind for kind, file in SCHEMA_FILES.items()}

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

DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")

def _check_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not DATE_PATTERN.fullmatch(value):
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
