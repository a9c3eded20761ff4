"""Reading the numbers and times that usage payloads and quota headers carry, tolerant of junk.

Every reader returns ``None`` for anything it cannot read (a wrong type, an empty string, a
non-finite number, an out-of-range epoch), so parsers never raise on a provider's odd payload.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from policy_engine.common.timezones import parse_instant

__all__ = ["from_epoch", "from_iso", "number", "number_text"]


def number(value: Any) -> float | None:
    """A JSON number as a float (``True``/``False`` are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def number_text(value: str | None) -> float | None:
    """A header value such as ``"42"`` or ``"0.31"`` as a float."""
    if value is None or not value.strip():
        return None
    try:
        parsed = float(value)
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None


def from_epoch(value: Any) -> datetime | None:
    """Unix seconds (a JSON number or a header's text) as a UTC time; zero or less is "unknown"."""
    seconds = number_text(value) if isinstance(value, str) else number(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: Any) -> datetime | None:
    """An ISO-8601 time (``Z`` or an offset; none means UTC); a bare ``YYYY-MM-DD`` is midnight UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_instant(value, UTC)
    except ValueError:
        return None
