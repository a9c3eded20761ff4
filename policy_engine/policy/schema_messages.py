"""jsonschema's errors as located diagnostics: a stable code, the line and column, the JSON path, a hint.

jsonschema's own messages are rewritten: an unknown key gets a "did you mean", a YAML 1.1 boolean where text
was expected says which word was read as a boolean, a failed ``oneOf`` says what was expected. The
schemas' annotations ``x-code``, ``x-messages``, ``x-hint`` and ``x-plain-text`` are read here."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.records import dataclass
from policy_engine.common.suggestions import did_you_mean
from policy_engine.common.terminal_text import describe_character, first_unsafe
from policy_engine.policy.document import JsonPath, LoadedDocument

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = ["CRON_EXAMPLE", "drop_redundant", "translate_error"]

_NOUNS = {"policy": "policy", "project": "project overlay", "test": "policy test"}


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

def translate_error(error: ValidationError, doc: LoadedDocument, kind: str) -> list[Diagnostic]:
    """The diagnostics of one jsonschema error (its sub-errors explained by the handlers below)."""
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
                hint = CRON_EXAMPLE if "cron" in (present, key) else None
                findings.append(_Finding("required", message, failure.path, hint))
    return findings

CRON_EXAMPLE = 'for example {cron: "0 22 * * fri", duration: 10h}: open for 10 hours from each fire'

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

def drop_redundant(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Leave out "needs one of" on an object whose unknown key is probably the misspelt one."""
    unknown_in = {d.path[:-1] for d in diagnostics if d.code == "unknown-key"}
    return [d for d in diagnostics if not (d.code in ("one-of", "step") and d.path in unknown_in)]
