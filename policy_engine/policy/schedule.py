"""Schedules: the time windows of ``scheduled`` pool members (DESIGN §3 "Schedules", §4).

A window is either an *hours* window ``{hours: [start, end], days: [...], dateRange: {from, to}}``
(every key optional) or a *cron* window ``{cron: EXPR, duration: DUR, dateRange?}``.

Semantics, all in the schedule's time zone:

* ``hours`` are ``[start, end)`` in whole hours; ``start`` is 0-23, ``end`` 0-24 (24 = the
  midnight that ends the day). ``start > end`` wraps past midnight (``[22, 6]`` = 22:00 to 06:00
  the next day). ``[h, h]`` is an error. No ``hours`` = the whole day.
* ``days`` names the day on which a window *opens*; items are ``mon``..``sun`` or ranges
  (``mon-fri``, ``fri-mon`` wraps, ``mon-sun`` is the whole week). No days = every day.
* ``dateRange`` is inclusive and applies to the local date on which a window opens.
* A cron window opens at each fire of ``EXPR`` and lasts ``duration`` of real (elapsed) time.

Wall-clock rules (DST): a time is local wall time on each date, so ``[9, 17]`` is 09:00-17:00 on
every date and ``[0, 24]`` lasts 23 or 25 real hours on the change days. A wall time that does not
exist (spring-forward gap) maps to the first real instant after the gap; an ambiguous one
(fall-back) to its first occurrence (``fold=0``). An interval that becomes empty this way (e.g.
``[2, 3]`` on a spring-forward night in Europe) does not occur that day.

Cron and DST: croniter, given a tz-aware start, fires a daily ``30 2 * * *`` twice on the autumn
DST day in Europe/Vienna (02:30 CEST and 02:30 CET). To get one fire per wall time, croniter only
parses the expression (``croniter.expand``: the minutes, hours and seconds of a fire, and the day,
month and weekday sets, matched per local date with cron's day-of-month/weekday "or" rule);
expressions with ``L``, ``W`` or ``#`` have their dates found by a naive, zone-free croniter.
Each matching date's fire times are then mapped to instants with the rules above. Consequences:
during the repeated hour of a fall-back night a cron fires once per wall time (first pass), also
for sub-hourly expressions; and since ``duration`` is real time, ``17:00 + 16h`` ends at 08:00
wall time after a fall-back night (10:00 after a spring-forward one). Hashed (``H``)
expressions are not supported.

Search horizon: answers look at most :data:`HORIZON_DAYS` (731, about two years) local dates
past ``now``. A schedule still active at the horizon "never closes" (``None``); one that does
not open within it "never opens" (``None``). A window whose ``dateRange`` starts after the
horizon therefore reports ``None`` too.

Wall-clock arithmetic lives in :mod:`~policy_engine.policy.wall_clock`, cron expressions in
:mod:`~policy_engine.policy.schedule_cron`; this module parses windows and answers for them.
It is a little over 500 lines because this docstring, the normative statement of the window
semantics, is 40 of them; the code itself is one parser and one answerer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from policy_engine.common.durations import parse_duration
from policy_engine.common.records import dataclass
from policy_engine.policy.schedule_cron import Cron
from policy_engine.policy.wall_clock import (
    CACHE_LIMIT,
    DAY_SECONDS,
    Interval,
    day_info,
    merge_intervals,
    timestamp_of,
    wall_instant,
    weekday_of,
)

__all__ = [
    "DAY_NAMES",
    "HORIZON_DAYS",
    "Schedule",
    "ScheduleState",
    "Window",
    "parse_days",
]

#: How many local dates past ``now`` the schedule looks for a closing or an opening.
HORIZON_DAYS = 731

#: Day names in ``weekday()`` order: 0 = mon .. 6 = sun.
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_ALL_DAYS = frozenset(range(7))
_DAY_INDEX = {name: i for i, name in enumerate(DAY_NAMES)}
_WINDOW_KEYS = ("hours", "days", "dateRange", "cron", "duration")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

Occurrence = tuple[datetime, datetime]
"""An ``[open, close)`` interval as aware datetimes."""


_DayCache = dict[int, tuple[Interval, ...]]


# --------------------------------------------------------------------------------------- parsing


def _as_pi_reads(raw: Any) -> Any:
    """A ``multi-pass.json`` window as pi-multi-pass reads it: day names lower-cased, items that are no
    day left out (they match no day), and ``None`` for a window that never opens (``hours: [h, h]``,
    or days of which none is a day). Anything else is returned as it is (and checked as in YAML)."""
    if not isinstance(raw, Mapping):
        return raw
    hours = raw.get("hours")
    if isinstance(hours, list) and len(hours) == 2 and hours[0] == hours[1] and "cron" not in raw:
        return None
    days = raw.get("days")
    if isinstance(days, list) and days:
        read = [d.strip().lower() for d in days if isinstance(d, str) and _is_day_text(d.strip().lower())]
        if not read:
            return None
        raw = {**raw, "days": read}
    return raw


def _is_day_text(text: str) -> bool:
    parts = text.split("-")
    return 1 <= len(parts) <= 2 and all(p in _DAY_INDEX for p in parts)


def parse_days(items: Sequence[str]) -> frozenset[int]:
    """Read ``days`` items (``mon``..``sun``, ranges ``mon-fri``/``fri-mon``) into 0=mon..6=sun.

    An empty list means every day. ``mon-sun`` (or any range that wraps back onto its start, such
    as ``tue-mon``) is the whole week; ``mon-mon`` is Monday alone. Raises ``ValueError`` naming
    the offending item.
    """
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise ValueError(f"days must be a list of day names such as [mon, tue], got {items!r}")
    if not items:
        return _ALL_DAYS
    days: set[int] = set()
    for item in items:
        days |= _parse_day_item(item)
    return frozenset(days)


def _parse_day_item(item: object) -> set[int]:
    if not isinstance(item, str):
        raise ValueError(f"bad day {item!r} in days: expected a day name such as mon or a range like mon-fri")
    first, sep, last = item.partition("-")
    if not sep:
        return {_day_index(item, item)}
    start, end = _day_index(first, item), _day_index(last, item)
    return {(start + k) % 7 for k in range((end - start) % 7 + 1)}


def _day_index(name: str, item: str) -> int:
    index = _DAY_INDEX.get(name)
    if index is not None:
        return index
    hint = f" (day names are lowercase: {item.lower()!r})" if name.lower() in _DAY_INDEX else ""
    raise ValueError(
        f"bad day {item!r} in days: expected one of {', '.join(DAY_NAMES)} or a range such as mon-fri{hint}"
    )


def _parse_hours(raw: object) -> tuple[int, int]:
    if (
        isinstance(raw, str)
        or not isinstance(raw, Sequence)
        or len(raw) != 2
        or not all(isinstance(h, int) and not isinstance(h, bool) for h in raw)
    ):
        raise ValueError(f"hours must be [start, end] in whole hours, such as [9, 17], got {raw!r}")
    return int(raw[0]), int(raw[1])


def _parse_date(raw: object, key: str) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and _DATE_RE.fullmatch(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise ValueError(f"dateRange.{key} must be a date written YYYY-MM-DD, got {raw!r}")


def _parse_date_range(raw: object) -> tuple[date | None, date | None]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"dateRange must be a mapping such as {{from: 2026-01-01, to: 2026-01-31}}: {raw!r}")
    unknown = sorted(set(raw) - {"from", "to"}, key=str)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in dateRange: expected from, to")
    return _parse_date(raw.get("from"), "from"), _parse_date(raw.get("to"), "to")


def _check_keys(raw: Mapping[str, Any]) -> None:
    for key in raw:
        if key not in _WINDOW_KEYS:
            import difflib  # only for a diagnostic's "did you mean"

            close = difflib.get_close_matches(str(key), _WINDOW_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            expected = ", ".join(_WINDOW_KEYS)
            raise ValueError(f"unknown key {key!r} in schedule window{hint}; expected one of {expected}")


# ---------------------------------------------------------------------------------------- window


@dataclass(frozen=True)
class Window:
    """One parsed, immutable schedule window (an hours window or a cron window).

    ``days`` holds weekday numbers (0 = mon); every day when unrestricted. Build it with
    :meth:`from_dict` from the policy's mapping; direct construction is validated too.
    """

    hours: tuple[int, int] | None = None
    days: frozenset[int] = _ALL_DAYS
    date_from: date | None = None
    date_to: date | None = None
    cron: str | None = None
    duration: timedelta | None = None
    _cron: Cron | None = field(init=False, default=None, repr=False, compare=False)
    _start: int = field(init=False, default=0, repr=False, compare=False)
    _end: int = field(init=False, default=DAY_SECONDS, repr=False, compare=False)
    _first: int | None = field(init=False, default=None, repr=False, compare=False)
    _last: int | None = field(init=False, default=None, repr=False, compare=False)
    _lookback: int = field(init=False, default=1, repr=False, compare=False)
    _runs: tuple[Interval, ...] = field(init=False, default=(), repr=False, compare=False)
    _skip: tuple[int, ...] = field(init=False, default=(0,) * 7, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.hours is not None:
            self._set("hours", tuple(self.hours))
        self._validate_common()
        if self.cron is not None:
            self._init_cron()
        else:
            self._init_hours()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Window:
        """Parse a policy window mapping; raises ``ValueError`` with a clear message."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"a schedule window must be a mapping such as {{hours: [9, 17]}}, got {raw!r}")
        _check_keys(raw)
        date_from, date_to = _parse_date_range(raw["dateRange"]) if "dateRange" in raw else (None, None)
        if "cron" in raw:
            if "duration" not in raw:
                raise ValueError("a cron window needs a duration: {cron: '0 22 * * fri', duration: 10h}")
            return cls(
                cron=raw["cron"],
                duration=parse_duration(raw["duration"]),
                date_from=date_from,
                date_to=date_to,
                **({"hours": _parse_hours(raw["hours"])} if "hours" in raw else {}),
                **({"days": parse_days(raw["days"])} if "days" in raw else {}),
            )
        if "duration" in raw:
            raise ValueError("duration only goes with cron; an hours window ends at its end hour")
        return cls(
            hours=_parse_hours(raw["hours"]) if "hours" in raw else None,
            days=parse_days(raw["days"]) if "days" in raw else _ALL_DAYS,
            date_from=date_from,
            date_to=date_to,
        )

    # ------------------------------------------------------------------ construction helpers

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _validate_common(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"dateRange.from {self.date_from} is after dateRange.to {self.date_to}")
        self._set("_first", self.date_from.toordinal() if self.date_from else None)
        self._set("_last", self.date_to.toordinal() if self.date_to else None)

    def _init_hours(self) -> None:
        if not self.days or not self.days <= _ALL_DAYS:
            raise ValueError(f"days must be weekday numbers 0 (mon) to 6 (sun), got {sorted(self.days)}")
        skip = tuple(next(k for k in range(7) if (w + k) % 7 in self.days) for w in range(7))
        self._set("_skip", skip)
        if self.hours is None:
            return
        start, end = self.hours
        if not 0 <= start <= 23 or not 0 <= end <= 24:
            raise ValueError(f"hours [{start}, {end}]: start must be 0-23 and end 0-24")
        if start == end:
            whole = "use [0, 24] (or no hours) for the whole day"
            raise ValueError(f"hours [{start}, {end}] is an empty window; {whole}")
        self._set("_start", start * 3600)
        self._set("_end", end * 3600 if end > start else DAY_SECONDS + end * 3600)

    def _init_cron(self) -> None:
        if self.hours is not None or self.days != _ALL_DAYS:
            raise ValueError("a cron window takes no hours or days: put them in the cron expression")
        if not isinstance(self.cron, str) or not self.cron.strip():
            raise ValueError(f"cron must be a cron expression such as '0 22 * * fri', got {self.cron!r}")
        if self.duration is None or self.duration <= timedelta(0):
            raise ValueError(f"a cron window needs a positive duration, got {self.duration!r}")
        spec = Cron(self.cron)
        length = self.duration.total_seconds()
        self._set("_cron", spec)
        self._set("_lookback", int(length // DAY_SECONDS) + 2)
        self._set("_runs", merge_intervals([(s, s + length) for s in spec.fire_seconds]))

    # ---------------------------------------------------------------------------- evaluation

    def occurrences(self, start: datetime, end: datetime, tz: ZoneInfo) -> Iterator[Occurrence]:
        """The ``[open, close)`` intervals overlapping ``[start, end)``, ordered by opening.

        Includes an interval that opened before ``start`` and is still open then. Each cron fire
        is its own interval (they may overlap); times are aware datetimes in ``tz``.
        """
        lo, hi = timestamp_of(start, "start"), timestamp_of(end, "end")
        first = start.astimezone(tz).toordinal() - self._lookback
        last = end.astimezone(tz).toordinal()
        for ordinal in range(first, last + 1):
            for o, c in self._openings(ordinal, tz):
                if c > lo and o < hi:
                    yield datetime.fromtimestamp(o, tz), datetime.fromtimestamp(c, tz)

    def _date_ok(self, ordinal: int) -> bool:
        after_first = self._first is None or ordinal >= self._first
        return after_first and (self._last is None or ordinal <= self._last)

    def _openings(self, ordinal: int, tz: tzinfo) -> tuple[Interval, ...]:
        """Every interval opening on the local date ``ordinal`` (one per fire), sorted."""
        if not self._date_ok(ordinal):
            return ()
        if self._cron is None:
            return self._hours_interval(ordinal, tz)
        if self._cron.next_date(ordinal) != ordinal:
            return ()
        length = self.duration.total_seconds()  # type: ignore[union-attr]
        start, uniform = day_info(tz, ordinal)
        if uniform is not None:
            return tuple((start + s, start + s + length) for s in self._cron.fire_seconds)
        fires = sorted({wall_instant(tz, ordinal, s) for s in self._cron.fire_seconds})
        return tuple((t, t + length) for t in fires)

    def _merged(self, ordinal: int, tz: tzinfo) -> tuple[Interval, ...]:
        """The union of the intervals opening on ``ordinal``, as sorted disjoint intervals."""
        if self._cron is None or not self._date_ok(ordinal):
            return self._openings(ordinal, tz)
        if self._cron.next_date(ordinal) != ordinal:
            return ()
        start, uniform = day_info(tz, ordinal)
        if uniform is not None:
            return tuple((start + o, start + c) for o, c in self._runs)
        return merge_intervals(self._openings(ordinal, tz))

    def _hours_interval(self, ordinal: int, tz: tzinfo) -> tuple[Interval, ...]:
        if weekday_of(ordinal) not in self.days:
            return ()
        o = wall_instant(tz, ordinal, self._start)
        c = wall_instant(tz, ordinal, self._end)
        return ((o, c),) if c > o else ()

    def _next_date(self, ordinal: int) -> int | None:
        """The first local date ≥ ``ordinal`` on which this window may open, if any."""
        if self._first is not None and ordinal < self._first:
            ordinal = self._first
        cron = self._cron
        found = cron.next_date(ordinal) if cron else ordinal + self._skip[weekday_of(ordinal)]
        if found is None or (self._last is not None and found > self._last):
            return None
        return found

    @property
    def always_open(self) -> bool:
        """True for a window that covers all time (whole day, every day, no dateRange)."""
        return (
            self._cron is None
            and self._start == 0
            and self._end == DAY_SECONDS
            and self.days == _ALL_DAYS
            and self._first is None
            and self._last is None
        )


# -------------------------------------------------------------------------------------- schedule


class ScheduleState(NamedTuple):
    """A schedule's state at one instant.

    ``until`` is the end of the contiguous active period when ``active``, the next opening when
    not; ``None`` means never (within :data:`HORIZON_DAYS`).
    """

    active: bool
    until: datetime | None


@dataclass(frozen=True)
class Schedule:
    """A member's windows in one time zone; active when any window is.

    With no windows it is always active and never closes. ``now`` arguments must be aware
    datetimes in any zone; answers are aware datetimes in ``tz``.
    """

    windows: tuple[Window, ...]
    tz: ZoneInfo
    never: bool = False  # every window given never opens (pi's [h, h]): never active, no next opening
    _always: bool = field(init=False, default=False, repr=False, compare=False)
    _lookback: int = field(init=False, default=1, repr=False, compare=False)
    _days: _DayCache = field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "_always", not self.never and (not self.windows
                                                                or any(w.always_open for w in self.windows)))
        object.__setattr__(self, "_lookback", max((w._lookback for w in self.windows), default=1))

    @classmethod
    def from_windows(cls, raws: Sequence[Mapping[str, Any]], tz: ZoneInfo, *, pi_tolerant: bool = False) -> Schedule:
        """Parse window mappings; a ``ValueError`` names the window (``window 2: ...``).

        ``pi_tolerant`` (a ``multi-pass.json``, DESIGN §3): day names are matched whatever their case,
        an item that is no day matches no day, and ``hours: [h, h]`` is a window that never opens.
        """
        if isinstance(raws, str | Mapping) or not isinstance(raws, Sequence):
            raise ValueError(f"windows must be a list of windows, got {raws!r}")
        windows = []
        for index, raw in enumerate(raws):
            if pi_tolerant:
                raw = _as_pi_reads(raw)
                if raw is None:
                    continue  # never opens
            try:
                windows.append(Window.from_dict(raw))
            except ValueError as exc:
                raise ValueError(f"window {index}: {exc}") from exc
        if raws and not windows:
            return cls(windows=(), tz=tz, never=True)
        return cls(windows=tuple(windows), tz=tz)

    def state(self, now: datetime) -> ScheduleState:
        """(active, until): the close of the current active period, or the next opening."""
        if self.never:
            timestamp_of(now, "now")
            return ScheduleState(False, None)
        if self._always:
            timestamp_of(now, "now")
            return ScheduleState(True, None)
        ts = timestamp_of(now, "now")
        today = now.astimezone(self.tz).toordinal()
        end = self._active_end(ts, today)
        if end is not None:
            return ScheduleState(True, self._to_datetime(end))
        return ScheduleState(False, self._to_datetime(self._next_open(ts, today)))

    def is_active(self, now: datetime) -> bool:
        """Whether any window is open at ``now``."""
        return self.state(now).active

    def active_until(self, now: datetime) -> datetime | None:
        """The end of the contiguous active period containing ``now``.

        Intervals of all windows that overlap or touch are merged, across days. ``None``: it does
        not close within the horizon. Raises ``ValueError`` when the schedule is not active.
        """
        active, until = self.state(now)
        if not active:
            raise ValueError(f"schedule is not active at {now.isoformat()}")
        return until

    def next_opening(self, now: datetime) -> datetime | None:
        """The next instant after ``now`` at which the schedule turns from inactive to active.

        When inactive, that is the next opening; when active, the opening after the current
        period closes. ``None``: no such opening within the horizon.
        """
        if self._always or self.never:
            timestamp_of(now, "now")
            return None
        ts = timestamp_of(now, "now")
        today = now.astimezone(self.tz).toordinal()
        end = self._active_end(ts, today)
        if end is None:
            return self._to_datetime(self._next_open(ts, today))
        if math.isinf(end):
            return None
        return self._to_datetime(self._next_open(end, datetime.fromtimestamp(end, self.tz).toordinal()))

    # ---------------------------------------------------------------------------- internals

    def _to_datetime(self, ts: float | None) -> datetime | None:
        if ts is None or math.isinf(ts):
            return None
        return datetime.fromtimestamp(ts, self.tz)

    def _day(self, ordinal: int) -> tuple[Interval, ...]:
        """All windows' intervals opening on ``ordinal``, merged and sorted (cached)."""
        cached = self._days.get(ordinal)
        if cached is None:
            parts = [iv for w in self.windows for iv in w._merged(ordinal, self.tz)]
            cached = merge_intervals(parts) if len(parts) > 1 else tuple(parts)
            if len(self._days) >= CACHE_LIMIT:
                self._days.clear()
            self._days[ordinal] = cached
        return cached

    def _active_end(self, ts: float, today: int) -> float | None:
        """End of the active period containing ``ts``; ``None`` if inactive, ``inf`` if endless."""
        end: float | None = None
        for ordinal in range(today - self._lookback, today + HORIZON_DAYS + 1):
            if end is None:
                if ordinal > today:
                    return None
            elif day_info(self.tz, ordinal)[0] > end:
                return end
            for o, c in self._day(ordinal):
                if end is None:
                    if o <= ts < c:
                        end = c
                elif o > end:
                    return end
                elif c > end:
                    end = c
        return None if end is None else math.inf

    def _next_open(self, ts: float, today: int) -> float | None:
        """The first opening after ``ts`` (when inactive at ``ts``), within the horizon."""
        ordinal: int | None = today
        limit = today + HORIZON_DAYS
        while ordinal is not None and ordinal <= limit:
            for o, _ in self._day(ordinal):
                if o > ts:
                    return o
            ordinal = self._next_candidate(ordinal + 1)
        return None

    def _next_candidate(self, ordinal: int) -> int | None:
        found = [d for d in (w._next_date(ordinal) for w in self.windows) if d is not None]
        return min(found) if found else None
