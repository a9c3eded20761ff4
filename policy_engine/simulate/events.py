"""The event script of a simulation: rate limits, quota burn and logins at given times.

A YAML (or JSON) file; every key is optional except each event's ``at`` and its one action::

    start: 2026-11-23T00:00          # defaults for --start, --period, --step (the options win)
    period: 7d
    step: 1m
    auth: [anthropic, openai-codex]  # who is logged in at the start (default: pi's auth.json)
    quota: {openai-codex: 80}        # remaining percent at the start (quota snapshots)
    routes: [chain:main, pool:codex] # default routes (--route wins)
    events:
      - at: tue 10:30                # see "Times" below
        fail: {provider: anthropic, status: 429, message: rate_limit_error, retryAfter: 1h}
      - at: mon 09:00
        every: 1d                    # repeat (count: N to stop after N occurrences)
        burn: {provider: openai-codex, perHour: 10, remaining: 100, for: 8h, resetAfter: 5h}
      - {at: +2d, quota: {provider: openai-codex, remaining: 100}}
      - {at: wed 12:00, logout: anthropic-2}
      - {at: wed 14:00, login: [anthropic-2]}

Actions:

* ``fail``: an error on an account, given to the engine's real ``fail`` (so classification,
  ``errorRules``, cooldown lengths, retry-after headers and cursor moves are the real ones).
  Keys: ``provider`` (required), ``status`` (default 429), ``message``, ``type``, ``code``,
  ``headers``, ``body``, and ``retryAfter`` (a duration, sent as a ``retry-after`` header).
* ``burn``: from this moment the account's remaining quota falls by ``perHour`` percent per
  hour (linearly), from ``remaining`` (default: its current value, else 100), for ``for``
  (default: until the end, or until another ``burn`` or ``quota`` event on it). Snapshots
  are fed into the state store, so ``quota-first`` pools react. When it reaches 0 %, with
  ``exhaust: true`` (the default) the account gets a real ``fail`` (HTTP 429, "quota
  exceeded", classified ``quota_exhausted``) with a ``retry-after`` of ``resetAfter`` when
  given; ``resetAfter`` also puts the quota back to 100 % that long after it ran out (burning
  on if the burn has time left). ``exhaust: false``: it just stays at 0 % (``quota-first``
  puts it last).
* ``quota``: set the remaining percent (a quota checker's reading, e.g. a weekly reset); a
  running burn continues from the new value.
* ``login`` / ``logout``: one account or a list; who has credentials changes.

Times (``at``; also ``start``): an ISO-8601 time (without an offset: the policy's time zone),
``+DURATION`` after the start (``+90m``, ``+1d2h``), or ``[DAY] HH:MM``, the first such local
time at or after the start (``tue 10:30``, ``17:00``). ``every`` repeats an event: a whole
number of days repeats at the same local (wall-clock) time, anything else in elapsed time.
Events outside the simulated period are left out with a warning. Two events at the same time
are applied in the order written.

This module holds the script's model and its expansion over a period; reading the file is
:mod:`~policy_engine.simulate.event_reader`'s job.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from policy_engine.common.diagnostics import Diagnostic, PolicyError, Severity
from policy_engine.common.durations import format_duration, parse_duration
from policy_engine.common.records import dataclass
from policy_engine.common.timezones import check_supported, parse_instant
from policy_engine.compile.graph import Graph
from policy_engine.evaluate.route import RouteError
from policy_engine.policy.days import DAY_NAMES
from policy_engine.policy.document import LoadedDocument
from policy_engine.simulate.routes import parse_route

__all__ = [
    "MAX_OCCURRENCES",
    "AuthAction",
    "BurnAction",
    "EventScript",
    "FailAction",
    "QuotaAction",
    "ScriptEvent",
    "TimeSpec",
    "TimedEvent",
    "parse_time_spec",
    "resolve_start",
]

_CLOCK = re.compile(r"^(?:(?P<day>[A-Za-z]{3})\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})$")
#: The most event occurrences one simulation applies (each is a real engine call and a change to report).
MAX_OCCURRENCES = 50_000


# -- actions ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailAction:
    """An error on an account, given to the engine's ``fail``."""

    provider: str
    status: int = 429
    message: str = ""
    type: str | None = None
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    retry_after: timedelta | None = None

    def describe(self) -> str:
        """``fail anthropic 429 "rate_limit_error"``."""
        text = f"fail {self.provider} {self.status}"
        if self.message:
            short = self.message if len(self.message) <= 40 else self.message[:39] + "…"
            text += f" {short!r}"
        return text


@dataclass(frozen=True, slots=True)
class BurnAction:
    """The account's remaining quota falls by ``per_hour`` percent per hour from now on."""

    provider: str
    per_hour: float
    remaining: float | None = None
    duration: timedelta | None = None
    exhaust: bool = True
    reset_after: timedelta | None = None

    def describe(self) -> str:
        """``burn openai-codex 10%/h from 100% for 8h``."""
        text = f"burn {self.provider} {self.per_hour:g}%/h"
        if self.remaining is not None:
            text += f" from {self.remaining:g}%"
        if self.duration is not None:
            text += f" for {format_duration(self.duration)}"
        return text


@dataclass(frozen=True, slots=True)
class QuotaAction:
    """Set an account's remaining quota (a quota checker's reading)."""

    provider: str
    remaining: float

    def describe(self) -> str:
        """``quota openai-codex = 100%``."""
        return f"quota {self.provider} = {self.remaining:g}%"


@dataclass(frozen=True, slots=True)
class AuthAction:
    """Accounts log in (``login=True``) or out."""

    providers: tuple[str, ...]
    login: bool

    def describe(self) -> str:
        """``logout anthropic-2``."""
        return f"{'login' if self.login else 'logout'} {', '.join(self.providers)}"


Action = FailAction | BurnAction | QuotaAction | AuthAction


# -- times -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """When an event happens, as written: an instant, an offset from the start, or a local clock time."""

    kind: str  # "instant" | "offset" | "clock"
    text: str
    offset: timedelta | None = None
    weekday: int | None = None
    clock: time | None = None

    def resolve(self, start: datetime, tz: tzinfo) -> datetime:
        """The instant (aware) for a simulation starting at ``start`` in the policy's zone ``tz``."""
        if self.kind == "offset":
            assert self.offset is not None
            return (start.astimezone(UTC) + self.offset).astimezone(tz)
        if self.kind == "instant":
            return parse_instant(self.text, tz)
        assert self.clock is not None
        local = start.astimezone(tz)
        day = local.date()
        for _ in range(9):
            if self.weekday is None or day.weekday() == self.weekday:
                moment = datetime.combine(day, self.clock, tzinfo=tz)
                if moment.timestamp() >= start.timestamp():
                    return moment
            day += timedelta(days=1)
        raise AssertionError("unreachable: a weekday recurs within a week")  # pragma: no cover


def parse_time_spec(value: object) -> TimeSpec:
    """Read an ``at`` / ``start`` value; raises ``ValueError`` saying which forms are accepted."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a time such as 2026-11-24T10:30, +2h or tue 10:30, got {value!r}")
    text = value.strip()
    if text.startswith("+"):
        return TimeSpec("offset", text, offset=parse_duration(text[1:]))
    match = _CLOCK.match(text)
    if match:
        day = match.group("day")
        weekday = None
        if day is not None:
            if day.lower() not in DAY_NAMES:
                raise ValueError(f"{text!r}: {day!r} is not a day; write mon, tue, wed, thu, fri, sat or sun")
            weekday = DAY_NAMES.index(day.lower())
        hour, minute = int(match.group("h")), int(match.group("m"))
        if hour > 23 or minute > 59:
            raise ValueError(f"{text!r}: the time of day must be 00:00 to 23:59")
        return TimeSpec("clock", text, weekday=weekday, clock=time(hour, minute))
    try:
        moment = parse_instant(text, UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write an ISO-8601 time (2026-11-24T10:30, offset optional), "
                         "+DURATION after the start (+2h30m) or [DAY] HH:MM (tue 10:30)") from None
    try:
        check_supported(moment)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return TimeSpec("instant", text)


def resolve_start(text: str, now: datetime, tz: tzinfo) -> datetime:
    """A simulation's start: ``now``, ``today`` (00:00), ``week`` (this Monday 00:00), or a time as for ``at``.

    ``now`` is rounded down to the minute; ``+DURATION`` and ``[DAY] HH:MM`` count from it. Raises
    ``ValueError`` for anything else.
    """
    word = text.strip().lower()
    local = now.astimezone(tz).replace(second=0, microsecond=0)
    if word == "now":
        return local
    if word in ("today", "week"):
        day = local.date() - timedelta(days=local.weekday() if word == "week" else 0)
        return datetime.combine(day, time(0, 0), tzinfo=tz)
    try:
        return parse_time_spec(text).resolve(local, tz).astimezone(tz)
    except ValueError as exc:
        raise ValueError(f"{exc}; or now, today (00:00) or week (this Monday 00:00)") from None


# -- the script ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptEvent:
    """One event as written: when, how often, what (and where it stands in the file)."""

    at: TimeSpec
    action: Action
    index: int
    every: timedelta | None = None
    count: int | None = None
    origin: str = ""


@dataclass(frozen=True, slots=True)
class TimedEvent:
    """One occurrence of an event at an instant (UTC), ready to apply."""

    at: datetime
    action: Action
    origin: str
    seq: int

    def describe(self) -> str:
        """What happens, in a few words."""
        return self.action.describe()


@dataclass(frozen=True)
class EventScript:
    """A parsed event script (see the module docstring for the format)."""

    source: str = "<events>"
    start: TimeSpec | None = None
    period: timedelta | None = None
    step: timedelta | None = None
    auth: frozenset[str] | None = None
    quota: Mapping[str, float] = field(default_factory=dict)
    routes: tuple[str, ...] = ()
    events: tuple[ScriptEvent, ...] = ()
    document: LoadedDocument | None = field(default=None, repr=False, compare=False)

    def providers(self) -> Iterable[tuple[str, tuple[str | int, ...]]]:
        """Every account the script names, with the JSON path where it is written."""
        for name in sorted(self.auth or ()):
            yield name, ("auth",)
        for name in self.quota:
            yield name, ("quota", name)
        for event in self.events:
            action = event.action
            base: tuple[str | int, ...] = ("events", event.index)
            if isinstance(action, AuthAction):
                key = "login" if action.login else "logout"
                for name in action.providers:
                    yield name, (*base, key)
            else:
                yield action.provider, (*base, _action_key(action), "provider")

    def check(self, graph: Graph) -> list[Diagnostic]:
        """Problems only the policy can reveal: accounts and routes it does not have."""
        found: list[Diagnostic] = []
        accounts = sorted(graph.accounts)
        for name, path in self.providers():
            if name not in graph.accounts:
                # plain difflib, not did_you_mean: '-' separates an account's number (anthropic-3 ~ anthropic-2)
                close = difflib.get_close_matches(name, accounts, n=1, cutoff=0.6)
                found.append(self._diagnostic("unknown-account", f"{name!r} is not an account of this policy", path,
                                              f"did you mean {close[0]!r}?" if close else
                                              f"known accounts: {', '.join(accounts)}"))
        for i, text in enumerate(self.routes):
            try:
                parse_route(text, graph)
            except RouteError as exc:
                found.append(self._diagnostic("unknown-route", str(exc), ("routes", i), None))
        return found

    def occurrences(self, start: datetime, end: datetime, tz: tzinfo) -> tuple[list[TimedEvent], list[Diagnostic]]:
        """Every occurrence in ``[start, end)`` in time order, and warnings for events outside it.

        The number of occurrences is computed from each event's ``at``, ``every`` and ``count``
        first; more than :data:`MAX_OCCURRENCES` in all raises :class:`PolicyError` (located at the
        event that repeats most) before a single one is made.
        """
        counts = [(event, event.at.resolve(start, tz)) for event in self.events]
        sizes = [_count(first, event.every, event.count, start, end, tz) for event, first in counts]
        total = sum(sizes)
        if total > MAX_OCCURRENCES:
            raise PolicyError([self._too_many(counts, sizes, total, start, end, tz)])
        out: list[TimedEvent] = []
        warnings: list[Diagnostic] = []
        seq = 0
        for (event, first), size in zip(counts, sizes, strict=True):
            if not size:
                warnings.append(self._diagnostic(
                    "outside-period",
                    f"event {event.index} ({event.action.describe()}) at {first.astimezone(tz):%a %Y-%m-%d %H:%M} "
                    "is outside the simulated period; it is left out",
                    ("events", event.index, "at"),
                    f"the period is {start.astimezone(tz):%a %Y-%m-%d %H:%M} to {end.astimezone(tz):%a %Y-%m-%d %H:%M}",
                    severity="warning"))
            for moment in _repeat(first, event.every, event.count, start, end, tz):
                out.append(TimedEvent(moment.astimezone(UTC), event.action, event.origin, seq))
                seq += 1
        out.sort(key=lambda e: (e.at, e.seq))
        return out, warnings

    def _too_many(self, counts: Sequence[tuple[ScriptEvent, datetime]], sizes: Sequence[int], total: int,
                  start: datetime, end: datetime, tz: tzinfo) -> Diagnostic:
        """The error for a script that would apply more than :data:`MAX_OCCURRENCES` events."""
        biggest = max(range(len(sizes)), key=sizes.__getitem__)
        event = counts[biggest][0]
        period = f"{start.astimezone(tz):%a %Y-%m-%d %H:%M} to {end.astimezone(tz):%a %Y-%m-%d %H:%M}"
        alone = ""
        if event.every is not None:
            alone = (f"; event {event.index} alone ({event.action.describe()}, every "
                     f"{format_duration(event.every)}) happens {sizes[biggest]:,} times")
        path: tuple[str | int, ...] = ("events", event.index, "every" if event.every is not None else "at")
        return self._diagnostic(
            "too-many-events",
            f"the event script would apply {total:,} events in the simulated period ({period}){alone}; "
            f"a simulation applies at most {MAX_OCCURRENCES:,}",
            path,
            "repeat less often (a longer every), stop a repeat with count: N, or simulate a shorter --period")

    def _diagnostic(self, code: str, message: str, path: Sequence[str | int], hint: str | None,
                    severity: Severity = "error") -> Diagnostic:
        if self.document is not None:
            return self.document.diagnostic(code, message, path, hint=hint, severity=severity)
        return Diagnostic(code=code, message=message, severity=severity, file=self.source, path=tuple(path), hint=hint)


def _count(first: datetime, every: timedelta | None, count: int | None, start: datetime, end: datetime,
           tz: tzinfo) -> int:
    """How many occurrences of an event fall in ``[start, end)``, by arithmetic (nothing is expanded)."""
    begin, stop, at = start.timestamp(), end.timestamp(), first.timestamp()
    if every is None:
        return 1 if begin <= at < stop else 0
    if every.total_seconds() % 86400 == 0:
        low, high = _wall_range(first, int(every.total_seconds() // 86400), start, end, tz)
    else:
        step = every.total_seconds()
        low = max(0, math.ceil((begin - at) / step))  # the first n with first + n * every >= start
        high = math.ceil((stop - at) / step) - 1  # the last n with first + n * every < end
    if count is not None:
        high = min(high, count - 1)
    return max(0, high - low + 1)


def _wall_moment(local: datetime, days: int, n: int, tz: tzinfo) -> datetime:
    """The ``n``-th occurrence of a whole-day repeat: ``n * days`` later, at the same local time."""
    return datetime.combine(local.date() + timedelta(days=days * n), local.timetz().replace(tzinfo=None), tzinfo=tz)


def _wall_range(first: datetime, days: int, start: datetime, end: datetime, tz: tzinfo) -> tuple[int, int]:
    """The first and last ``n`` of a whole-day repeat inside ``[start, end)``: estimated from the dates,
    then corrected by a step or two (a local day lasts 23 to 25 hours)."""
    local = first.astimezone(tz)
    low = max(0, (start.astimezone(tz).date() - local.date()).days // days - 1)
    while _wall_moment(local, days, low, tz).timestamp() < start.timestamp():
        low += 1
    high = (end.astimezone(tz).date() - local.date()).days // days + 1
    while high >= 0 and _wall_moment(local, days, high, tz).timestamp() >= end.timestamp():
        high -= 1
    return low, high


def _repeat(first: datetime, every: timedelta | None, count: int | None, start: datetime, end: datetime,
            tz: tzinfo) -> Iterator[datetime]:
    """The occurrences of an event in ``[start, end)``: from the first one at or after ``start``, not
    from ``first`` (an instant long before the period repeats from there without walking the gap)."""
    if every is None:
        if start.timestamp() <= first.timestamp() < end.timestamp():
            yield first
        return
    total = _count(first, every, count, start, end, tz)
    if not total:
        return
    if every.total_seconds() % 86400 == 0:
        days = int(every.total_seconds() // 86400)
        local = first.astimezone(tz)
        low = _wall_range(first, days, start, end, tz)[0]
        for n in range(low, low + total):
            yield _wall_moment(local, days, n, tz)
        return
    low = max(0, math.ceil((start.timestamp() - first.timestamp()) / every.total_seconds()))
    origin = first.astimezone(UTC)
    for n in range(low, low + total):
        yield origin + every * n


def _action_key(action: Action) -> str:
    if isinstance(action, FailAction):
        return "fail"
    if isinstance(action, BurnAction):
        return "burn"
    if isinstance(action, QuotaAction):
        return "quota"
    return "login" if action.login else "logout"
