"""Cron windows of schedules: one fire per wall time on each matching local date.

See :mod:`policy_engine.policy.schedule`, "Cron and DST".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from policy_engine.policy.wall_clock import CACHE_LIMIT

_MISSING = object()

__all__ = ["Cron"]


_CRON_YEARS = 4  # how far a cron's next matching date is searched
_PLAIN_TOKEN = re.compile(r"\*|\?|\d+|[a-z]{3}")


class Cron:
    """A parsed cron expression: the fire times of day, and which local dates have fires.

    Dates are matched by a small matcher over croniter's expanded day, month and weekday fields
    (with cron's rule: when both day-of-month and weekday are restricted, either may match);
    expressions using ``L``, ``W`` or ``#`` ask a naive croniter instead.
    """

    __slots__ = ("_dates", "_iter", "_lock", "_match", "expr", "fire_seconds")

    def __init__(self, expr: str) -> None:
        from croniter import CroniterError, croniter  # imported only when a policy has cron windows

        try:
            expanded, nth = croniter.expand(expr)
            self._iter = croniter(expr, datetime(2000, 1, 1), max_years_between_matches=_CRON_YEARS)
        except (CroniterError, ValueError, TypeError) as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"bad cron expression {expr!r}: {reason}") from None
        self.expr = expr
        self.fire_seconds = _fire_seconds(expr, expanded)
        self._match = None if nth else _date_matcher(expr, expanded)
        self._dates: dict[int, int | None] = {}
        self._lock = threading.Lock()

    def next_date(self, ordinal: int) -> int | None:
        """The first local date ≥ ``ordinal`` with a fire (``None``: none within the horizon)."""
        hit = self._dates.get(ordinal, _MISSING)
        if hit is not _MISSING:
            return hit  # type: ignore[return-value]
        with self._lock:
            found = self._search(ordinal)
            if len(self._dates) >= CACHE_LIMIT:
                self._dates.clear()
            last = ordinal + 400 if found is None else min(found, ordinal + 400)
            for day in range(ordinal, last + 1):
                self._dates[day] = found
        return found

    def _search(self, ordinal: int) -> int | None:
        if self._match is not None:
            return next((d for d in range(ordinal, ordinal + _CRON_YEARS * 366) if self._match(d)), None)
        from croniter import CroniterBadDateError

        start = datetime.fromordinal(ordinal) - timedelta(seconds=1)
        try:
            fire = self._iter.get_next(datetime, start_time=start)
        except CroniterBadDateError:
            return None
        return max(fire.toordinal(), ordinal)


def _date_matcher(expr: str, expanded: Sequence[Sequence[object]]) -> Callable[[int], bool] | None:
    """A fast "does this date have fires" test, or ``None`` for syntax it does not cover."""
    text = expr.strip().lower()
    if not text.startswith("@"):
        fields = text.split()
        date_fields = fields[2:5] + fields[6:7]
        tokens = [tok for f in date_fields for tok in re.split(r"[,/-]", f)]
        if not all(_PLAIN_TOKEN.fullmatch(tok) for tok in tokens):
            return None
    sets: list[frozenset[int] | None] = []
    for index in (2, 3, 4, 6):
        spec = list(expanded[index]) if index < len(expanded) else ["*"]
        if spec == ["*"]:
            sets.append(None)
        elif all(isinstance(v, int) for v in spec):
            values = frozenset(int(v) for v in spec)  # type: ignore[call-overload]
            sets.append(frozenset(v % 7 for v in values) if index == 4 else values)  # weekday 7 = sunday
        else:
            return None
    doms, months, dows, years = sets
    either = doms is not None and dows is not None

    def match(ordinal: int) -> bool:
        day = date.fromordinal(ordinal)
        if (months is not None and day.month not in months) or (years is not None and day.year not in years):
            return False
        dom_ok = doms is None or day.day in doms
        dow_ok = dows is None or ordinal % 7 in dows  # cron weekday: 0 = sunday; ordinal 7 is a sunday
        return (dom_ok or dow_ok) if either else (dom_ok and dow_ok)

    return match


def _fire_seconds(expr: str, expanded: Sequence[Sequence[object]]) -> tuple[int, ...]:
    """Seconds past midnight of every fire on a matching date (minute × hour × second fields)."""
    fields = [expanded[1], expanded[0], expanded[5] if len(expanded) > 5 else [0]]
    sizes = (24, 60, 60)
    values: list[list[int]] = []
    for spec, size in zip(fields, sizes, strict=True):
        if list(spec) == ["*"]:
            values.append(list(range(size)))
        elif all(isinstance(v, int) for v in spec):
            values.append(sorted({int(v) for v in spec}))  # type: ignore[call-overload]
        else:
            raise ValueError(f"bad cron expression {expr!r}: unsupported time field {spec!r}")
    hours, minutes, seconds = values
    return tuple(h * 3600 + m * 60 + s for h in hours for m in minutes for s in seconds)
