"""Time zones: the machine's own zone (DST-aware when it can be found) and ISO-8601 helpers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["SUPPORTED_YEARS", "check_supported", "fixed_offset_of", "isoformat", "local_zone", "parse_instant",
           "supported_epoch"]

#: The years a clock, a start or an expiry may fall in (as ``eval --at`` allows): wide enough for any
#: real schedule, narrow enough that adding a period, a cooldown or an offset stays within datetime.
SUPPORTED_YEARS = (1970, 9000)


@cache
def local_zone() -> tzinfo:
    """The machine's time zone: ``$TZ``, else ``/etc/localtime``'s zone name, else its current offset."""
    candidates = []
    if os.environ.get("TZ"):
        candidates.append(os.environ["TZ"].lstrip(":"))
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    for key in candidates:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return datetime.now().astimezone().tzinfo or UTC


def parse_instant(value: str | datetime, default_tz: tzinfo | None = None) -> datetime:
    """Read an ISO-8601 date-time; one without an offset is taken in ``default_tz`` (else local)."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz or local_zone())
    return moment


def check_supported(moment: datetime) -> datetime:
    """``moment`` itself when its year is within :data:`SUPPORTED_YEARS`; else ``ValueError`` saying so."""
    low, high = SUPPORTED_YEARS
    if not low <= moment.year <= high:
        raise ValueError(f"the year must be between {low} and {high}, got {moment.year}")
    return moment


def supported_epoch(seconds: float) -> datetime | None:
    """The UTC instant of epoch ``seconds`` when it is finite and within :data:`SUPPORTED_YEARS`, else None."""
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    low, high = SUPPORTED_YEARS
    return moment if low <= moment.year <= high else None


def isoformat(moment: datetime | None, tz: tzinfo) -> str | None:
    """ISO-8601 with offset in ``tz``, to the second unless there are fractions of a second, which are rounded up
    to the millisecond: a time that says when something becomes possible (``retryAfter``, a cooldown's end) is
    never before it, so a client that waits until then finds it so."""
    if moment is None:
        return None
    local = moment.astimezone(tz)
    if local.microsecond:
        local += timedelta(microseconds=-local.microsecond % 1000)
        if local.microsecond:
            return local.isoformat(timespec="milliseconds")
    return local.isoformat(timespec="seconds")


def fixed_offset_of(moment: datetime) -> tzinfo:
    """A fixed-offset zone equal to ``moment``'s offset (for tests without a policy time zone)."""
    offset = moment.utcoffset() or timedelta(0)
    return timezone(offset)
