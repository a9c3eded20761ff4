"""Durations as written in policies: ``90s``, ``5m``, ``1h30m``, ``2d``, ``250ms`` or a number of seconds."""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["MAX_DURATION", "DurationError", "format_duration", "parse_duration"]

#: The longest duration a policy may write (ten years): beyond it, time arithmetic overflows.
MAX_DURATION = timedelta(days=3650)

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what form is expected."""


def parse_duration(value: str | int | float) -> timedelta:
    """Read a duration; numbers are seconds. Raises :class:`DurationError` on anything else."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration such as 90s, 5m or 1h30m, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise DurationError(f"a duration must be a finite number of seconds >= 0, got {value!r}")
        return _bounded(float(value), value)
    if not isinstance(value, str):
        raise DurationError(f"expected a duration such as 90s, 5m or 1h30m, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return _bounded(float(text), value)
    if not text or not _WHOLE.match(text):
        raise DurationError(f"expected a duration such as 90s, 5m, 1h30m or 2d, got {value!r}")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    return _bounded(seconds, value)


def _bounded(seconds: float, written: object) -> timedelta:
    if not math.isfinite(seconds) or seconds > MAX_DURATION.total_seconds():
        raise DurationError(f"the duration {written!r} is too long (at most {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Write a duration compactly (``1h30m``, ``45s``, ``250ms``); the inverse of :func:`parse_duration`."""
    total_ms = round(delta.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    if total_ms < 1000:
        return f"{sign}{total_ms}ms"
    seconds, ms = divmod(total_ms, 1000)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    if seconds or ms:
        parts.append(f"{seconds}.{ms:03d}".rstrip("0").rstrip(".") + "s")
    return sign + "".join(parts)
