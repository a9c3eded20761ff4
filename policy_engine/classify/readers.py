"""Small readers of loose provider values (text, status, numbers, headers, JSON); none ever raises."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from policy_engine.classify.patterns import _CAMEL, _IDENT_SEP


def _ident(value: str) -> str:
    """Normalise an identifier to lower snake case."""
    return _IDENT_SEP.sub("_", _CAMEL.sub("_", value.strip())).lower()


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:
        return ""


def _as_status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 100 <= value <= 599 else None
    if isinstance(value, str) and value.strip().isdigit():
        return _as_status(int(value.strip()))
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _lower_headers(headers: Any) -> dict[str, str]:
    """Header names lower-cased; list values keep their first item; anything unreadable is dropped."""
    if not headers:
        return {}
    items: Iterable[Any]
    if isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, list | tuple):
        items = headers
    else:
        try:
            items = headers.items()
        except Exception:
            return {}
    out: dict[str, str] = {}
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(value, list | tuple):
            value = value[0] if value else ""
        name_text = _as_text(name).strip().lower()
        if name_text and name_text not in out:
            out[name_text] = _as_text(value).strip()
    return out


def _json_in(text: str) -> Any:
    """The first JSON object or array embedded in ``text``, or None."""
    decoder = json.JSONDecoder()
    starts = sorted(i for i in (text.find("{"), text.find("[")) if i >= 0)
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):  # deeply nested garbage too
            continue
        if isinstance(value, dict | list):
            return value
    return None


def _unwrap(body: Any) -> Mapping[str, Any] | None:
    """A body as a mapping: arrays (Google streaming) give their first mapping item."""
    if isinstance(body, list):
        for item in body[:4]:
            if isinstance(item, Mapping):
                return item
        return None
    return body if isinstance(body, Mapping) else None
