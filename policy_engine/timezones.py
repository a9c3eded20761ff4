"""Time zones: the machine's own zone (DST-aware when it can be found) and ISO-8601 helpers."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["fixed_offset_of", "isoformat", "local_zone", "parse_instant"]


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


def isoformat(moment: datetime | None, tz: tzinfo) -> str | None:
    """ISO-8601 with offset in ``tz``, to the second unless there are fractions of a second."""
    if moment is None:
        return None
    local = moment.astimezone(tz)
    if local.microsecond:
        local = local.replace(microsecond=(local.microsecond // 1000) * 1000)
        return local.isoformat(timespec="milliseconds")
    return local.isoformat(timespec="seconds")


def fixed_offset_of(moment: datetime) -> tzinfo:
    """A fixed-offset zone equal to ``moment``'s offset (for tests without a policy time zone)."""
    offset = moment.utcoffset() or timedelta(0)
    return timezone(offset)
