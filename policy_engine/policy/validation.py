"""Validate loaded documents against the JSON Schemas (draft 2020-12) and the rules a schema cannot say.

:func:`validate_document` returns every problem, each a :class:`Diagnostic` with a stable code, the
line and column in the source file, the JSON path and, where one helps, a hint. jsonschema's own
messages are rewritten: an unknown key gets a "did you mean", a YAML 1.1 boolean where text was
expected says which word was read as a boolean, a failed ``oneOf`` says what was expected.

The work is split by pass: :mod:`~policy_engine.policy.schema_validator` (the schemas and the format
checks), :mod:`~policy_engine.policy.schema_messages` (jsonschema errors as diagnostics),
:mod:`~policy_engine.policy.domain_checks` (what a schema cannot say) and
:mod:`~policy_engine.policy.days` (day lists); this module runs them and serves the schemas.

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

import json
import re
from collections.abc import Mapping
from typing import Any

from policy_engine.common.diagnostics import Diagnostic, PolicyError, sort_diagnostics
from policy_engine.policy.document import LoadedDocument, pi_tolerant
from policy_engine.policy.domain_checks import domain_checks, path_checks
from policy_engine.policy.schema_messages import drop_redundant, translate_error
from policy_engine.policy.schema_validator import (
    KINDS,
    SCHEMA_FILES,
    Kind,
    schema,
    validator_for,
)

__all__ = ["ERROR_KINDS", "bundled_schema_text", "require_valid", "validate_document"]

ERROR_KINDS = ("rate_limit", "quota_exhausted", "overloaded", "auth", "context_overflow", "other")


# --- public API ----------------------------------------------------------------------------------


def validate_document(doc: LoadedDocument, kind: Kind) -> list[Diagnostic]:
    """Every schema and domain problem of ``doc`` read as a ``kind`` document, sorted by position."""
    if kind not in SCHEMA_FILES:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        found = [d for error in validator_for(kind).iter_errors(doc.data) for d in translate_error(error, doc, kind)]
        found.extend(domain_checks(doc, kind))
        found.extend(path_checks(doc, kind))
    except RecursionError:
        found = [doc.diagnostic("nesting-limit", "the document is nested too deeply")]
    if pi_tolerant(doc):
        from policy_engine.policy.pi_tolerance import tolerate

        found = tolerate(doc, found)
    return drop_redundant(sort_diagnostics(found))


def require_valid(doc: LoadedDocument, kind: Kind) -> LoadedDocument:
    """Return ``doc`` when it has no errors; raise :class:`PolicyError` with all diagnostics otherwise."""
    diagnostics = validate_document(doc, kind)
    if any(d.severity == "error" for d in diagnostics):
        raise PolicyError(diagnostics)
    return doc


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
    by_file = {name: k for k, name in SCHEMA_FILES.items()}
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
