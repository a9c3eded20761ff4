"""Reading a policy document written as JSON (pi-multi-pass's ``multi-pass.json``): positions, duplicate keys, hints."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import yaml

from policy_engine.common import json_finite
from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.yaml_reader import MultipleDocuments, build_document, compose, line_col

__all__ = ["load_json"]


def _json_hint(text: str, pos: int) -> str | None:
    """A hint for the JSON mistakes people make most: trailing commas and comments."""
    before = text[:pos].rstrip()
    here = text[pos:pos + 2]
    if before.endswith(",") and here[:1] in "}]":
        return "JSON allows no comma before a closing bracket; remove it"
    if here in ("//", "/*") or here[:1] == "#":
        return "JSON has no comments; remove them, or write the policy as YAML (multi-pass.yaml) to keep them"
    return None


def load_json(text: str, source: str) -> LoadedDocument:
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
            return build_document(compose(candidate), source)
        except (yaml.YAMLError, MultipleDocuments):
            continue
    masked = _SURROGATE_ESCAPE.sub(_mask_surrogate, text)
    if masked != text and not duplicates:
        # libyaml refuses surrogate escapes (a lone "\udc80", or a pair): the same text with each of them
        # written as "\ufffd" (as long) has the same positions; the data stays json's.
        try:
            return replace(build_document(compose(masked.replace("\t", " ")), source), data=data)
        except (yaml.YAMLError, MultipleDocuments, PolicyError):
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
    first = line_col(text, hits[0]) if hits else None
    second = line_col(text, hits[1]) if len(hits) > 1 else None
    where = f" (first defined at line {first[0]})" if first else ""
    return Diagnostic(
        code="duplicate-key",
        message=f"duplicate key '{key}'{where}",
        file=source,
        line=second[0] if second else None,
        col=second[1] if second else None,
        hint="a key may appear once in a mapping; the second one would silently win",
    )
