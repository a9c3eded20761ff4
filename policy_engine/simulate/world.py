"""The simulated world: a clock, who is logged in, quota tracks, and every change in time order.

:class:`World` owns an :class:`~policy_engine.engine.Engine` on a private ``memory://`` store
with a clock it sets itself. Changes wait in one time-ordered queue:

* script events (``fail`` goes through the engine's real ``fail``, so cooldowns follow the real
  classification and cooldown rules and the pool's cursor moves as it would for an agent);
* cooldown ends (read back from the store after each failure);
* schedule transitions (a ``scheduled`` pool's preferred member's windows open or close);
* quota milestones (a burning account reaches 5 % or 0 %, or two accounts of a ``quota-first``
  pool swap places, found by solving the linear burns; a stale entry is skipped by a generation
  number when a track changes).

:meth:`World.advance` applies everything due up to a moment and returns what happened, each
change naming the accounts it concerns (a failure also names the members of the pool whose
cursor it moved): between two moments at which nothing concerning a route's accounts happened,
every decision of the built-in strategies on that route is the same, which is what the fast
path of :mod:`policy_engine.simulate.run` relies on.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.common.timezones import isoformat
from policy_engine.compile.graph import CompiledPool, Graph
from policy_engine.engine import Engine
from policy_engine.simulate.events import AuthAction, BurnAction, FailAction, QuotaAction, TimedEvent
from policy_engine.state import QuotaSnapshot, StateChanges, open_store
from policy_engine.strategies.quota_first import BLOCKED_PERCENT, QuotaFirst
from policy_engine.strategies.scheduled import Scheduled

__all__ = ["MAX_WINDOW_CHANGES", "Change", "SimAuth", "SimClock", "World", "pool_is_stable"]

#: The most openings and closings of preferred members' windows one simulation follows (a cron
#: window firing every minute for a week is 20,160 of them, and each costs a cron computation).
MAX_WINDOW_CHANGES = 200_000

#: Quota milestones are queued this long before and after the computed instant, so a rounding
#: error in the instant can never hide a change from the step grid (steps are at least 1 s apart).
_EPSILON = 0.001
_QUOTA_SOURCE = "simulation"


@dataclass(frozen=True, slots=True)
class Change:
    """Something that happened in the simulated world (for the reasons shown next to each run)."""

    at: float  # epoch seconds
    kind: str
    text: str
    providers: frozenset[str] = frozenset()
    repeat: bool = False  # the second entry of a quota milestone: a breakpoint, already told

    def to_dict(self, tz: tzinfo) -> dict[str, Any]:
        """The JSON form (time in the policy's zone)."""
        return {"at": isoformat(datetime.fromtimestamp(self.at, UTC), tz), "kind": self.kind, "text": self.text,
                "providers": sorted(self.providers)}


class SimClock:
    """The engine's clock: whatever the simulation last set."""

    __slots__ = ("moment",)

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


class SimAuth:
    """Who is logged in, changed by ``login`` / ``logout`` events (an ``AuthSource``)."""

    __slots__ = ("_names",)

    def __init__(self, names: Iterable[str]) -> None:
        self._names = frozenset(names)

    def has(self, provider: str) -> bool:
        """True when ``provider`` is logged in."""
        return provider in self._names

    def providers(self) -> frozenset[str]:
        """Every logged-in account."""
        return self._names

    def change(self, providers: Iterable[str], login: bool) -> None:
        """Log accounts in or out."""
        self._names = self._names | frozenset(providers) if login else self._names - frozenset(providers)


@dataclass(slots=True)
class _Track:
    """An account's remaining quota: ``value0 - rate * (t - t0)`` (clamped to 0..100), ``rate`` in %/s."""

    value0: float
    t0: float
    rate: float = 0.0
    stop: float | None = None  # the burn ends here
    exhaust: bool = True
    reset_after: float | None = None
    gen: int = 0
    resume_rate: float = 0.0  # ran dry in the middle of a burn: the rate to go on with after a reset

    def value(self, t: float) -> float:
        if self.rate == 0.0:
            return self.value0
        until = t if self.stop is None else min(t, self.stop)
        return min(100.0, max(0.0, self.value0 - self.rate * (until - self.t0)))

    def line(self) -> tuple[float, float]:
        """(intercept, slope) of the value as a function of t while the burn lasts."""
        return self.value0 + self.rate * self.t0, -self.rate


def pool_is_stable(pool: CompiledPool) -> bool:
    """Whether the pool's strategy decides only on what the world's change queue tracks.

    Round-robin (and any strategy that keeps rotation order), ``quota-first`` and ``scheduled``
    are; a ``custom`` selector or a plugin strategy may look at the clock itself, so routes
    through such a pool are evaluated at every step.
    """
    strategy = pool.strategy
    return bool(getattr(strategy, "keeps_order", False)) or isinstance(strategy, QuotaFirst | Scheduled)


@dataclass
class World:
    """The simulated world behind one run (see the module docstring)."""

    engine: Engine
    auth: SimAuth
    clock: SimClock
    start: float
    end: float
    changes: list[Change] = field(default_factory=list)
    _queue: list[tuple[float, int, str, Any]] = field(default_factory=list)
    _seq: int = 0
    _tracks: dict[str, _Track] = field(default_factory=dict)
    _cooldowns: dict[str, float] = field(default_factory=dict)
    _quota_pools: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    _burning: bool = False

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def create(cls, engine: Engine, start: datetime, end: datetime, *, fresh: bool = False,
               auth: Iterable[str] | None = None, quota: Mapping[str, float] | None = None,
               events: Iterable[TimedEvent] = ()) -> World:
        """A world on a private in-memory store, seeded from ``engine``'s state unless ``fresh``."""
        store = open_store("memory://", agent_dir=Path("."))
        if not fresh:
            snap = engine.store.snapshot()
            store.apply(StateChanges(cooldowns=list(snap.cooldowns.values()), cursors=dict(snap.cursors),
                                     quota=list(snap.quota.values())))
        sim_auth = SimAuth(engine.auth.providers() if auth is None else auth)
        clock = SimClock(start.astimezone(UTC))
        sim = Engine(engine.graph, store=store, auth=sim_auth, clock=clock, sources=engine.sources,
                     registry=engine.registry)
        world = cls(sim, sim_auth, clock, start.timestamp(), end.timestamp())
        world._quota_pools = [(p.name, p.members) for p in engine.graph.pools.values()
                              if p.enabled and isinstance(p.strategy, QuotaFirst) and len(p.members) > 1]
        t0 = world.start
        for provider, snap in store.snapshot().quota.items():
            if snap.remaining is not None:
                world._tracks[provider] = _Track(float(snap.remaining), t0)
        if quota:
            store.apply(StateChanges(quota=[_snapshot(p, v, t0) for p, v in quota.items()]))
            for provider, value in quota.items():
                world._tracks[provider] = _Track(float(value), t0)
        world._note_cooldowns(t0)
        world._queue_windows(engine.graph)
        for event in events:
            world._push(event.at.timestamp(), "event", event)
        return world

    def _push(self, at: float, kind: str, payload: Any) -> None:
        if at > self.end:
            return
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, kind, payload))

    def _queue_windows(self, graph: Graph) -> None:
        """Every opening and closing of a preferred member's windows within the period.

        More than :data:`MAX_WINDOW_CHANGES` raises ``ValueError``: at once when the first hour's
        changes, extrapolated to the period, already say so (a cron window firing every minute), else
        as soon as the count passes the cap (naming the pool and member that reached it).
        """
        begin = datetime.fromtimestamp(self.start, UTC)
        schedules = [(pool.name, member, plan.schedule) for pool in graph.pools.values()
                     if pool.enabled and isinstance(pool.strategy, Scheduled) and isinstance(pool.prepared, dict)
                     for member, plan in pool.prepared.items()
                     if getattr(plan, "role", None) == "preferred" and getattr(plan, "schedule", None) is not None
                     and member in pool.member_set]
        hours = max(1.0, (self.end - self.start) / 3600)
        first_hour = min(self.end, self.start + 3600)
        estimate = 0.0
        for _, _, schedule in schedules:
            estimate += len(list(_transitions(schedule, begin, first_hour, MAX_WINDOW_CHANGES + 1))) * hours
            if estimate > MAX_WINDOW_CHANGES:
                raise ValueError(
                    f"the schedules' windows would open and close about {estimate:,.0f} times or more in the "
                    f"simulated period (at most {MAX_WINDOW_CHANGES:,}); simulate a shorter period, or use "
                    "longer windows")
        queued = 0
        for pool_name, member, schedule in schedules:
            for active, until in _transitions(schedule, begin, self.end, MAX_WINDOW_CHANGES + 1 - queued):
                queued += 1
                if queued > MAX_WINDOW_CHANGES:
                    raise ValueError(
                        f"the schedules' windows open and close more than {MAX_WINDOW_CHANGES:,} times in the "
                        f"simulated period (the cap was reached at {member!r} of pool {pool_name!r}); "
                        "simulate a shorter period, or use longer windows")
                kind = "window-close" if active else "window-open"
                verb = "closes" if active else "opens"
                self._push(until.timestamp(), kind, (member, f"{member}'s window {verb} (pool {pool_name})"))

    # -- the clock -----------------------------------------------------------------------------

    def set_time(self, at: float) -> None:
        """Set the engine's clock."""
        self.clock.moment = datetime.fromtimestamp(at, UTC)

    @property
    def burning(self) -> bool:
        """Whether some account's quota changes with time (snapshots then need refreshing)."""
        return self._burning

    def refresh_quota(self, at: float) -> None:
        """Write the current value of every burning account's quota into the store."""
        if not self._burning:
            return
        snaps = [_snapshot(p, track.value(at), at) for p, track in self._tracks.items() if track.rate]
        if snaps:
            self.engine.store.apply(StateChanges(quota=snaps))

    def advance(self, at: float) -> list[Change]:
        """Apply every change due at or before ``at`` and return them (empty: nothing happened).

        A decision can only differ from the previous step's on a route whose accounts a change
        names (a change naming none concerns every route). A quota milestone's second entry is
        returned again (it is a moment to look again) but logged once.
        """
        told: list[Change] = []
        queue = self._queue
        while queue and queue[0][0] <= at:
            when, _, kind, payload = heapq.heappop(queue)
            change = self._apply(when, kind, payload)
            if change is None:
                continue  # stale: superseded by a later change
            told.append(change)
            if not change.repeat:
                self.changes.append(change)
        return told

    # -- applying changes ----------------------------------------------------------------------

    def _apply(self, when: float, kind: str, payload: Any) -> Change | None:
        if kind == "event":
            return self._event(when, payload)
        if kind == "cooldown-end":
            provider = payload
            if self._cooldowns.get(provider) != when:
                return None  # extended by a later failure
            del self._cooldowns[provider]
            return Change(when, kind, f"{provider}'s cooldown ends", frozenset({provider}))
        if kind in ("window-open", "window-close"):
            member, text = payload
            return Change(when, kind, text, frozenset({member}))
        provider, gen, *rest = payload
        track = self._tracks.get(provider)
        if track is None or track.gen != gen:
            return None  # the track changed since this was queued
        if kind == "quota-order":
            other, other_gen, text, exact, repeat = rest
            other_track = self._tracks.get(other)
            if other_track is None or other_track.gen != other_gen:
                return None
            return Change(exact, kind, text, frozenset({provider, other}), repeat)
        if kind == "quota-mark":
            text, exact, repeat = rest
            return Change(exact, kind, text, frozenset({provider}), repeat)
        if kind == "burn-end":
            left = track.value(when)
            self._set_track(provider, when, left, 0.0, None, track.exhaust, track.reset_after)
            return Change(when, kind, f"{provider} stops burning quota ({left:.0f}% left)", frozenset({provider}))
        if kind == "quota-empty":
            return self._empty(when, provider, track)
        if kind == "quota-reset":
            rate = track.resume_rate if track.stop is None or track.stop > when else 0.0
            self._set_track(provider, when, 100.0, rate, track.stop if rate else None, track.exhaust,
                            track.reset_after)
            return Change(when, kind, f"{provider}'s quota resets to 100%", frozenset({provider}))
        raise AssertionError(f"unknown change {kind!r}")  # pragma: no cover

    def _event(self, when: float, event: TimedEvent) -> Change:
        action = event.action
        if isinstance(action, FailAction):
            return self._fail(when, action.provider, action.status, action.message, action.type, action.code,
                              dict(action.headers), action.body, "fail")
        if isinstance(action, AuthAction):
            self.auth.change(action.providers, action.login)
            verb = "logs in" if action.login else "logs out"
            return Change(when, "login" if action.login else "logout",
                          f"{', '.join(action.providers)} {verb}", frozenset(action.providers))
        if isinstance(action, BurnAction):
            old = self._tracks.get(action.provider)
            start = action.remaining if action.remaining is not None else (old.value(when) if old else 100.0)
            stop = when + action.duration.total_seconds() if action.duration is not None else None
            reset = action.reset_after.total_seconds() if action.reset_after is not None else None
            self._set_track(action.provider, when, start, action.per_hour / 3600.0, stop, action.exhaust, reset)
            return Change(when, "burn", f"{action.describe()} (from {start:g}%)" if action.remaining is None
                          else action.describe(), frozenset({action.provider}))
        assert isinstance(action, QuotaAction)
        old = self._tracks.get(action.provider)
        if old is not None and old.rate and (old.stop is None or old.stop > when):
            self._set_track(action.provider, when, action.remaining, old.rate, old.stop, old.exhaust,
                            old.reset_after)
        else:
            self._set_track(action.provider, when, action.remaining, 0.0, None, True, None)
        return Change(when, "quota", action.describe(), frozenset({action.provider}))

    def _fail(self, when: float, provider: str, status: int, message: str, type_: str | None, code: str | None,
              headers: dict[str, str], body: Any, kind: str) -> Change:
        self.refresh_quota(when)
        self.set_time(when)
        engine = self.engine
        decision = engine.fail(provider=provider, status=status, message=message, type=type_, code=code,
                               headers=headers, body=body)
        engine.succeed(decision.turn)
        error = decision.error
        assert error is not None
        text = f"{provider}: {status} {error.kind}"
        touched = {provider}
        if error.rotate and error.cooldown_until is not None:
            local = error.cooldown_until.astimezone(engine.graph.tz)
            text += f", cooling down until {local:%a %H:%M}"
            self._note_cooldowns(when)
            target = decision.target
            if target is not None and target.pool in engine.graph.pools:
                touched.update(engine.graph.pools[target.pool].members)  # that pool's cursor moved
        else:
            text += " (does not rotate: nothing changes)"
        return Change(when, kind, text, frozenset(touched))

    def _empty(self, when: float, provider: str, track: _Track) -> Change:
        burning_on = track.stop is None or track.stop > when
        self._set_track(provider, when, 0.0, 0.0, track.stop if burning_on else None, track.exhaust,
                        track.reset_after, resume_rate=track.rate if burning_on else 0.0)
        if track.reset_after is not None:
            self._push(when + track.reset_after, "quota-reset", (provider, self._tracks[provider].gen))
        if not track.exhaust:
            return Change(when, "quota-empty", f"{provider}'s quota is used up (0%)", frozenset({provider}))
        headers = {"retry-after": str(math.ceil(track.reset_after))} if track.reset_after is not None else {}
        change = self._fail(when, provider, 429, "quota exceeded (simulated: the quota burn reached 0%)", None, None,
                            headers, None, "quota-empty")
        return Change(when, "quota-empty", f"{provider}'s quota is used up (0%) → {change.text}", change.providers)

    def _set_track(self, provider: str, when: float, value: float, rate: float, stop: float | None, exhaust: bool,
                   reset_after: float | None, resume_rate: float = 0.0) -> None:
        """Replace an account's quota track from ``when`` on (queued milestones of the old one go stale)."""
        old = self._tracks.get(provider)
        self._tracks[provider] = _Track(value, when, rate, stop, exhaust, reset_after, (old.gen + 1) if old else 1,
                                        resume_rate)
        self._burning = any(t.rate for t in self._tracks.values())
        self.engine.store.apply(StateChanges(quota=[_snapshot(provider, value, when)]))
        self._queue_milestones(provider, when)

    def _queue_milestones(self, provider: str, when: float) -> None:
        track = self._tracks[provider]
        ranked = any(provider in members for _, members in self._quota_pools)
        if track.rate > 0:
            if track.stop is not None:
                self._push(track.stop, "burn-end", (provider, track.gen))
            empty = track.t0 + track.value0 / track.rate
            if track.stop is None or empty < track.stop:
                self._push(empty, "quota-empty", (provider, track.gen))
            low = track.t0 + (track.value0 - BLOCKED_PERCENT) / track.rate
            if ranked and track.value0 > BLOCKED_PERCENT and (track.stop is None or low < track.stop):
                text = f"{provider}'s quota reaches {BLOCKED_PERCENT:g}% (quota-first tries it last)"
                self._push(low - _EPSILON, "quota-mark", (provider, track.gen, text, low, False))
                self._push(low + _EPSILON, "quota-mark", (provider, track.gen, text, low, True))
        a1, s1 = track.line()
        for pool, members in self._quota_pools:
            if provider not in members:
                continue
            for other in members:
                other_track = self._tracks.get(other)
                if other == provider or other_track is None:
                    continue
                a2, s2 = other_track.line()
                if s1 == s2:
                    continue
                cross = (a2 - a1) / (s1 - s2)
                if cross < when - _EPSILON:
                    continue
                ends = [t.stop for t in (track, other_track) if t.stop is not None]
                if ends and cross > min(ends) + _EPSILON:
                    continue  # a burn ends first; the milestones are queued again then
                faster, slower = (provider, other) if s1 < s2 else (other, provider)
                text = f"{faster}'s quota falls below {slower}'s (pool {pool})"
                payload = (provider, track.gen, other, other_track.gen, text, cross)
                self._push(cross - _EPSILON, "quota-order", (*payload, False))
                self._push(cross + _EPSILON, "quota-order", (*payload, True))

    def _note_cooldowns(self, now: float) -> None:
        """Queue the end of every cooldown still running (or made longer) at ``now``."""
        for provider, cooldown in self.engine.store.snapshot().cooldowns.items():
            until = cooldown.until.timestamp()
            if until > now and self._cooldowns.get(provider) != until:
                self._cooldowns[provider] = until
                self._push(until, "cooldown-end", provider)


def _transitions(schedule: Any, begin: datetime, end: float, limit: int) -> Iterator[tuple[bool, datetime]]:
    """``(active before, moment)`` of each opening or closing of ``schedule`` in ``(begin, end]``, at most ``limit``."""
    moment = begin
    for _ in range(limit):
        active, until = schedule.state(moment)
        if until is None or until.timestamp() > end:
            return
        yield active, until
        moment = until


def _snapshot(provider: str, remaining: float, at: float) -> QuotaSnapshot:
    return QuotaSnapshot(provider=provider, remaining=float(remaining), fetched_at=datetime.fromtimestamp(at, UTC),
                         source=_QUOTA_SOURCE, summary="simulated")

