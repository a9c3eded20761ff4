"""The simulation: which account and model each route would use, step by step, over a period.

Semantics (``mp-policy simulate --help`` says the same):

* Time advances from ``start`` over ``[start, end)`` in steps of ``step`` (at least 1 s; the
  last step may be cut short). The period's whole days are calendar days in the policy's time
  zone (a week from Monday 00:00 ends on Monday 00:00, also across a DST change); steps are
  elapsed time. At each step, for each route, the answer is what
  ``Engine.select(..., dry_run=True)`` returns at that moment: the target's account and model,
  or none with ``retryAfter``.
* The engine runs on a private ``memory://`` store seeded with the real state's cooldowns,
  cursors and quota snapshots (unless ``fresh``) and a clock the simulation sets; nothing is
  ever written to the real state.
* Script events (:mod:`policy_engine.simulate.events`) at or before a step are applied before
  that step is evaluated, in time order: a ``fail`` goes through the engine's real ``fail``
  (classification, cooldown, the pool's cursor moving on), so after it a new turn starts where
  the agent would now be. A dry-run ``select`` never moves a cursor: the timeline shows which
  account a *new turn* would start on, not a count of requests.
* Fast path: between two moments at which nothing changes for a route's accounts (an event, a
  cooldown ending, a preferred member's window opening or closing, a burning quota reaching 5 %
  or 0 % or two accounts of a ``quota-first`` pool swapping places, a failure moving a pool's
  cursor), every decision of the built-in strategies on it stays the same, so a route is
  evaluated only at the steps where something concerning it happened. Routes through a
  ``custom`` or plugin strategy (which may look at the clock) are evaluated at every step.
  ``mode="naive"`` evaluates every route at every step; the tests check that both give the
  same timeline.
* Quota burn reaching 0 % (with ``exhaust``, the default) is a real ``fail`` (HTTP 429, "quota
  exceeded", classified ``quota_exhausted``) with ``retry-after`` = the burn's ``resetAfter``.
* Caps, each checked from the sizes involved before the work they limit starts, each an error that
  names the total and the cap: :data:`MAX_STEPS` steps; :data:`MAX_STEP_EVALUATIONS` evaluations of
  routes evaluated at every step; :data:`MAX_PER_STEP_ROWS` rows when the caller lists every step
  (``per_step_rows``); the event script's occurrences
  (:data:`~policy_engine.simulate.events.MAX_OCCURRENCES`, a located :class:`PolicyError`); and the
  schedules' window openings and closings (:data:`~policy_engine.simulate.world.MAX_WINDOW_CHANGES`).
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterator, Sequence
from dataclasses import field
from datetime import datetime, timedelta, tzinfo

from policy_engine.common.records import dataclass
from policy_engine.compile.graph import Graph
from policy_engine.engine import Engine
from policy_engine.evaluate.decision import Decision
from policy_engine.simulate.events import EventScript, TimedEvent
from policy_engine.simulate.routes import RouteSpec, route_providers
from policy_engine.simulate.world import Change, World, pool_is_stable

__all__ = ["MAX_PER_STEP_ROWS", "MAX_STEPS", "MAX_STEP_EVALUATIONS", "Outcome", "RouteInfo", "Run",
           "SimulationResult", "period_end", "simulate"]

#: The most steps one simulation may take (a year at 1-minute steps is about 526,000).
MAX_STEPS = 1_100_000
#: The most evaluations of routes that are evaluated at every step (custom or plugin strategies, or
#: ``mode="naive"``): steps x such routes. A year at 1-minute steps of one such route fits.
MAX_STEP_EVALUATIONS = 600_000
#: The most rows a per-step listing may have (steps x routes): about 200 MB of CSV.
MAX_PER_STEP_ROWS = 2_000_000
_START_REASON = "start of the simulation"
_STRATEGY_REASON = "the pool's strategy chose differently"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a new turn on a route gets: a target (account, model, where from) or none with retryAfter."""

    provider: str | None
    model: str | None = None
    pool: str | None = None
    via: str | None = None
    chain: str | None = None
    preset: str | None = None
    entry: int | None = None
    retry_after: float | None = None  # epoch seconds, only when there is no target

    @property
    def label(self) -> str:
        """``anthropic · claude-sonnet-4-5`` (or ``none``)."""
        if self.provider is None:
            return "none"
        return f"{self.provider} · {self.model}" if self.model else self.provider


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A simulated route: what it is, the accounts it can reach, and whether it needed every step."""

    spec: RouteSpec
    providers: frozenset[str]
    per_step: bool

    @property
    def label(self) -> str:
        """``chain:main``."""
        return self.spec.label


@dataclass(slots=True)
class Run:
    """Consecutive steps ``[first, stop)`` of a route with the same outcome, and why it began."""

    route: str
    first: int
    stop: int
    outcome: Outcome
    reasons: tuple[str, ...]


@dataclass
class SimulationResult:
    """Everything a simulation found, with the times of its step grid."""

    start: datetime
    end: datetime
    period: timedelta
    step: timedelta
    steps: int
    tz: tzinfo
    revision: str
    routes: list[RouteInfo]
    runs: dict[str, list[Run]]
    changes: list[Change]
    events: list[TimedEvent]
    evaluations: int
    elapsed: float
    mode: str
    warnings: list[str] = field(default_factory=list)

    @property
    def tz_name(self) -> str:
        """The policy's time zone as written (``Europe/Vienna``), else its ``str``."""
        return getattr(self.tz, "key", None) or str(self.tz)

    @property
    def span(self) -> timedelta:
        """The elapsed time from start to end (a week across a DST change is 167 or 169 hours)."""
        return timedelta(seconds=self.end.timestamp() - self.start.timestamp())

    def time_of(self, index: int) -> datetime:
        """The instant of step ``index`` (``steps`` is the end), in the policy's zone."""
        if index >= self.steps:
            return self.end
        return datetime.fromtimestamp(self.start.timestamp() + self.step.total_seconds() * index, self.tz)

    def per_step(self, route: str) -> Iterator[tuple[int, Outcome]]:
        """``(step index, outcome)`` for every step of a route."""
        for run in self.runs[route]:
            for index in range(run.first, run.stop):
                yield index, run.outcome

    def accounts(self) -> list[str]:
        """Every account that is a target somewhere, in order of first use."""
        seen: dict[str, None] = {}
        for info in self.routes:
            for run in self.runs[info.label]:
                if run.outcome.provider is not None:
                    seen.setdefault(run.outcome.provider, None)
        return list(seen)

    def share(self, route: str) -> list[tuple[str | None, int]]:
        """Steps per account on a route (``None``: nothing usable), most used first."""
        counts: dict[str | None, int] = {}
        for run in self.runs[route]:
            counts[run.outcome.provider] = counts.get(run.outcome.provider, 0) + run.stop - run.first
        return sorted(counts.items(), key=lambda item: (-item[1], item[0] or ""))


def period_end(start: datetime, period: timedelta, tz: tzinfo) -> datetime:
    """The end of a period: whole days as calendar days in ``tz``, the rest as elapsed time.

    So a week from Monday 00:00 ends on Monday 00:00 also across a DST change (167 or 169
    hours), while ``90m`` is always 90 minutes.
    """
    days = period.days
    local = start.astimezone(tz)
    wall = datetime.combine(local.date() + timedelta(days=days), local.time(), tzinfo=tz)
    rest = (period - timedelta(days=days)).total_seconds()
    return datetime.fromtimestamp(wall.timestamp() + rest, tz)


def _outcome(decision: Decision) -> Outcome:
    target = decision.target
    if target is None:
        retry = decision.retry_after
        return Outcome(None, retry_after=retry.timestamp() if retry is not None else None)
    return Outcome(target.provider, target.model, target.pool, target.via, target.chain, target.preset, target.entry)


def _route_info(graph: Graph, spec: RouteSpec) -> RouteInfo:
    segments = spec.segments(graph)
    pools = {seg.pool for seg in segments if seg.kind == "pool" and seg.pool}
    for seg in segments:
        if seg.kind == "provider" and seg.provider is not None:
            home = graph.pool_of(seg.provider)
            if home is not None:
                pools.add(home.name)
    per_step = any(not pool_is_stable(graph.pools[name]) for name in pools if name in graph.pools)
    return RouteInfo(spec, route_providers(graph, segments), per_step)


def simulate(
    engine: Engine,
    routes: Sequence[RouteSpec],
    *,
    start: datetime,
    period: timedelta,
    step: timedelta = timedelta(minutes=1),
    script: EventScript | None = None,
    fresh: bool = False,
    mode: str = "fast",
    per_step_rows: bool = False,
) -> SimulationResult:
    """Simulate ``routes`` from ``start`` over ``period`` (see the module docstring).

    ``engine`` gives the compiled policy, the credentials and the starting state; it is not
    changed. ``mode`` is ``"fast"`` (evaluate where something changed) or ``"naive"`` (every step).
    ``per_step_rows``: the caller will list every step of every route (the size is checked first).
    Raises ``ValueError`` for a period or step that cannot be simulated or a simulation over one of
    the caps, and :class:`~policy_engine.common.diagnostics.PolicyError` for an event script that repeats
    more than a simulation applies.
    """
    if mode not in ("fast", "naive"):
        raise ValueError(f"mode must be 'fast' or 'naive', got {mode!r}")
    if start.tzinfo is None:
        raise ValueError("start must be a timezone-aware datetime")
    if step < timedelta(seconds=1):
        raise ValueError(f"the step must be at least 1s, got {step}")
    if period < step:
        raise ValueError(f"the period ({period}) must be at least one step ({step})")
    if period > timedelta(days=3660):
        raise ValueError(f"the period ({period}) is too long (at most ten years)")
    graph = engine.graph
    end = period_end(start, period, graph.tz)
    step_s = step.total_seconds()
    count = -(-(end.timestamp() - start.timestamp()) // step_s)  # ceiling: the last step may be cut short
    steps = int(count)
    if steps > MAX_STEPS:
        raise ValueError(f"{steps:,} steps is too many (at most {MAX_STEPS:,}); use a longer step or a shorter period")
    if per_step_rows and steps * len(routes) > MAX_PER_STEP_ROWS:
        raise ValueError(f"listing every step would be {steps:,} steps x {len(routes):,} route(s) = "
                         f"{steps * len(routes):,} rows (at most {MAX_PER_STEP_ROWS:,}); use a longer step, "
                         "a shorter period or fewer routes, or list runs instead of steps")
    started = _time.perf_counter()
    infos = [_route_info(graph, spec) for spec in routes]
    naive = mode == "naive"
    always = [naive or info.per_step for info in infos]
    every_step = sum(always)
    if steps * every_step > MAX_STEP_EVALUATIONS:
        what = "routes" if naive else "routes through a custom or plugin strategy (evaluated at every step)"
        raise ValueError(f"{steps:,} steps x {every_step:,} {what} = {steps * every_step:,} evaluations "
                         f"(at most {MAX_STEP_EVALUATIONS:,}); use a longer step, a shorter period or fewer routes")
    events, warnings = script.occurrences(start, end, graph.tz) if script is not None else ([], [])
    world = World.create(engine, start, end, fresh=fresh, auth=script.auth if script else None,
                         quota=script.quota if script else None, events=events)
    requests = [spec.request() for spec in routes]
    select = world.engine.select
    start_ts = start.timestamp()
    runs: dict[str, list[Run]] = {info.label: [] for info in infos}
    current: list[Outcome | None] = [None] * len(infos)
    evaluations = 0
    any_always = any(always)
    for k in range(steps):
        at = start_ts + k * step_s
        told = world.advance(at)
        if not (told or k == 0 or any_always):
            continue
        touched: set[str] = set()
        everything = k == 0
        for change in told:
            if change.providers:
                touched.update(change.providers)
            else:
                everything = True
        world.set_time(at)
        world.refresh_quota(at)  # a no-op unless some quota is burning
        for r, info in enumerate(infos):
            if not (everything or always[r] or not touched.isdisjoint(info.providers)):
                continue
            outcome = _outcome(select(**requests[r], dry_run=True))
            evaluations += 1
            before = current[r]
            if outcome == before:
                continue
            current[r] = outcome
            label = info.label
            route_runs = runs[label]
            if route_runs:
                route_runs[-1].stop = k
            route_runs.append(Run(label, k, steps, outcome, _reasons(k, told, info, before, outcome)))
    elapsed = _time.perf_counter() - started
    return SimulationResult(
        start=start.astimezone(graph.tz), end=end, period=period, step=step, steps=steps, tz=graph.tz,
        revision=graph.revision, routes=infos, runs=runs, changes=world.changes, events=events,
        evaluations=evaluations, elapsed=elapsed, mode=mode, warnings=[w.format() for w in warnings],
    )


def _reasons(k: int, told: list[Change], info: RouteInfo, before: Outcome | None, after: Outcome) -> tuple[str, ...]:
    """Why a run begins: the changes concerning the old or new account, else those concerning the route."""
    if k == 0:
        return (_START_REASON,)
    relevant = [c for c in told if not c.providers or not c.providers.isdisjoint(info.providers)]
    involved = {o.provider for o in (before, after) if o is not None and o.provider is not None}
    direct = [c for c in relevant if not c.providers.isdisjoint(involved)]
    chosen = direct or relevant
    return tuple(dict.fromkeys(c.text for c in chosen)) or (_STRATEGY_REASON,)
