"""Local wall-clock times to instants, by the rules of :mod:`policy_engine.policy.schedule`.

DST: a wall time that does not exist maps to the first instant after the gap, an ambiguous one to its
first occurrence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta, tzinfo

__all__ = [
    "CACHE_LIMIT",
    "DAY_SECONDS",
    "Interval",
    "day_info",
    "merge_intervals",
    "timestamp_of",
    "wall_instant",
    "weekday_of",
]


_EPOCH_ORD = date(1970, 1, 1).toordinal()
DAY_SECONDS = 86400


CACHE_LIMIT = 4096


Interval = tuple[float, float]
"""``[open, close)`` as POSIX timestamps (internal representation)."""


_day_infos: dict[tuple[tzinfo, int], tuple[float, float | None]] = {}


def weekday_of(ordinal: int) -> int:
    """``date.fromordinal(ordinal).weekday()`` without building a date (0001-01-01 is a Monday)."""
    return (ordinal - 1) % 7


def day_info(tz: tzinfo, ordinal: int) -> tuple[float, float | None]:
    """(instant of the date's 00:00, its UTC offset if constant all day else ``None``), cached."""
    key = (tz, ordinal)
    info = _day_infos.get(key)
    if info is None:
        day = datetime.fromordinal(ordinal)
        offsets = {
            _offset(day.replace(tzinfo=tz)),
            _offset(day.replace(hour=12, tzinfo=tz)),
            _offset((day + timedelta(days=1)).replace(tzinfo=tz)),
        }
        uniform = offsets.pop() if len(offsets) == 1 else None
        start = (ordinal - _EPOCH_ORD) * DAY_SECONDS - uniform if uniform is not None else _resolve(tz, day)
        info = (start, uniform)
        if len(_day_infos) >= CACHE_LIMIT:
            _day_infos.clear()
        _day_infos[key] = info
    return info


def _offset(aware: datetime) -> float:
    delta = aware.utcoffset()
    return delta.total_seconds() if delta is not None else 0.0


def _resolve(tz: tzinfo, naive: datetime) -> float:
    """The instant of a local wall time: first occurrence if ambiguous, gap end if missing."""
    aware = naive.replace(tzinfo=tz)  # fold=0
    ts = aware.timestamp()
    if datetime.fromtimestamp(ts, tz).replace(tzinfo=None) == naive:
        return ts
    # In a gap: fold=0 reads it with the offset before the transition (an instant after it),
    # fold=1 with the offset after it (an instant before it). Find the transition itself.
    lo = math.floor(aware.replace(fold=1).timestamp())
    hi = math.ceil(ts)
    before = _offset(datetime.fromtimestamp(lo, tz))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(datetime.fromtimestamp(mid, tz)) == before:
            lo = mid
        else:
            hi = mid
    return float(hi)


def wall_instant(tz: tzinfo, ordinal: int, seconds: int) -> float:
    """The instant of ``seconds`` past local midnight of the date ``ordinal`` (may be ≥ 1 day)."""
    extra, seconds = divmod(seconds, DAY_SECONDS)
    ordinal += extra
    start, uniform = day_info(tz, ordinal)
    if uniform is not None:
        return start + seconds
    return _resolve(tz, datetime.fromordinal(ordinal) + timedelta(seconds=seconds))


def merge_intervals(intervals: Sequence[Interval]) -> tuple[Interval, ...]:
    """Sort and merge overlapping or touching intervals."""
    merged: list[Interval] = []
    for o, c in sorted(intervals):
        if merged and o <= merged[-1][1]:
            if c > merged[-1][1]:
                merged[-1] = (merged[-1][0], c)
        else:
            merged.append((o, c))
    return tuple(merged)


def timestamp_of(when: datetime, name: str) -> float:
    """The POSIX timestamp of ``when``; ``ValueError`` naming ``name`` when it is naive."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {when!r}")
    return when.timestamp()
