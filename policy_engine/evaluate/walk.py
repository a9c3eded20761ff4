"""Walk a route against a state snapshot: eligibility, strategies, candidates, retry time.

A pure function of (graph, route, world): no I/O, no writes. Eligibility of a provider is
checked in this order, each failure a skip with a reason code (DESIGN §4): ``unknown``,
``not-allowed``, ``attempted``, ``no-auth``, ``cooldown``, ``no-model``, then the strategy's own
reasons (e.g. ``outside-window``). Disabled pools, chains, entries and presets are ``disabled``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.compile.graph import CompiledPool, Graph
from policy_engine.evaluate.decision import Candidates, SkipRecord, StrategyNote, Target
from policy_engine.evaluate.route import Segment
from policy_engine.providers.auth import AuthSource
from policy_engine.state import Cooldown, QuotaSnapshot
from policy_engine.strategies.base import StrategyContext, StrategyResult

__all__ = ["Walk", "World", "walk"]

_NEVER = frozenset({"unknown", "not-allowed", "no-auth", "no-model", "disabled"})


@dataclass(slots=True)
class World:
    """The inputs of one evaluation besides the graph and the route."""

    now: datetime
    auth: AuthSource
    cooldowns: Mapping[str, Cooldown]
    cursors: Mapping[str, str]
    quota: Mapping[str, QuotaSnapshot]
    attempted: Collection[str] = ()
    prompt: str | None = None
    explain: bool = False
    base_dir: str | None = None


@dataclass(slots=True)
class Walk:
    """The result of walking a route."""

    candidates: Candidates = field(default_factory=Candidates)
    skipped: list[SkipRecord] = field(default_factory=list)
    strategy: list[StrategyNote] = field(default_factory=list)
    retry_after: datetime | None = None
    trace: list[dict[str, Any]] | None = None
    # (skip, pool, model) kept to compute the retry time when no target is found
    _pending: list[tuple[SkipRecord, CompiledPool | None, str | None]] = field(default_factory=list)


@lru_cache(maxsize=1024)
def _fmt(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z").strip()


class _Walker:
    __slots__ = ("attempted", "cooldowns", "graph", "logged_in", "now", "out", "world")

    def __init__(self, graph: Graph, world: World) -> None:
        self.graph = graph
        self.world = world
        self.now = world.now
        self.attempted = world.attempted
        self.cooldowns = world.cooldowns
        self.logged_in = world.auth.providers()
        self.out = Walk(trace=[] if world.explain else None)

    # -- eligibility ---------------------------------------------------------------------------

    def check(self, provider: str, model: str | None) -> tuple[str, str, datetime | None] | None:
        """None when eligible, else (reason, detail, until)."""
        graph = self.graph
        if provider not in graph.accounts:
            return "unknown", f"{provider} is not a known account (not a base provider nor a subscription)", None
        if graph.allowed is not None and provider not in graph.allowed:
            return "not-allowed", f"{provider} is not in this project's allowedSubs", None
        if provider in self.attempted:
            return "attempted", f"{provider} was already tried in this turn", None
        if provider not in self.logged_in:
            return "no-auth", f"{provider} has no stored credentials (log in with pi's /login)", None
        cd = self.cooldowns.get(provider)
        if cd is not None and cd.until > self.now:  # stores keep UTC: compared as instants
            return "cooldown", f"{provider} is cooling down until {_fmt(cd.until, graph.tz)} ({cd.reason})", cd.until
        if self.lacks_model(provider, model):
            return "no-model", f"{provider} does not offer the model {model}", None
        return None

    def lacks_model(self, provider: str, model: str | None) -> bool:
        """Whether the provider's known catalogue leaves out ``model``."""
        graph = self.graph
        if model is None or not graph.models:
            return False
        base = graph.base_of(provider)
        catalogue = graph.models.get(base) if base else None
        return catalogue is not None and model not in catalogue

    def ready_at(self, skip: SkipRecord, pool: CompiledPool | None, model: str | None) -> datetime | None:
        """When a new turn on the same route could use what this skip passed over.

        A provider that would still be skipped for a later check when its cooldown ends (the
        model it is asked for is not in its catalogue) does not count (DESIGN §4, "No target").
        """
        reason = skip.reason
        if reason in _NEVER or skip.provider is None:
            return None
        if reason == "outside-window":
            return skip.until
        if reason in ("cooldown", "attempted") and self.lacks_model(skip.provider, model):
            return None
        at = self.now
        if reason == "cooldown":
            at = skip.until or self.now
        elif reason == "attempted":
            provider = skip.provider
            if provider not in self.logged_in:
                return None
            cd = self.world.cooldowns.get(provider)
            if cd is not None and cd.until.timestamp() > at.timestamp():
                at = cd.until
        if pool is not None and skip.provider in pool.member_set:
            return pool.strategy.available_at(pool, skip.provider, at)
        return at

    # -- walking -------------------------------------------------------------------------------

    def skip(self, seg: Segment, provider: str | None, pool: CompiledPool | None, reason: str, detail: str,
             until: datetime | None) -> None:
        record = SkipRecord(reason=reason, detail=detail, provider=provider, pool=pool.name if pool else seg.pool,
                            chain=seg.chain, preset=seg.preset, entry=seg.entry, until=until)
        self.out.skipped.append(record)
        self.out._pending.append((record, pool, seg.model))
        if self.out.trace is not None:
            self.out.trace.append({"step": "skip", "provider": provider, "pool": record.pool, "reason": reason,
                                   "detail": detail})

    def add(self, seen: set[tuple[str, str | None]], target: Target) -> None:
        """One candidate (provider segments, and every candidate when tracing)."""
        key = (target.provider, target.model)
        if key in seen:
            if self.out.trace is not None:
                self.out.trace.append({"step": "duplicate", "provider": target.provider, "model": target.model})
            return
        seen.add(key)
        self.out.candidates.add_run((target.provider,), target.model, target.pool, target.via, target.chain,
                                    target.preset, target.entry, target.segment)
        if self.out.trace is not None:
            self.out.trace.append({"step": "candidate", "provider": target.provider, "model": target.model,
                                   "pool": target.pool, "via": target.via})

    def provider_segment(self, k: int, seg: Segment, seen: set[tuple[str, str | None]]) -> None:
        provider = seg.provider or ""
        # A segment may name the pool through which the turn reached the provider (a late
        # failure keeps the current target with its pool); else the provider's own pool.
        home = self.graph.pools.get(seg.pool) if seg.pool is not None else self.graph.pool_of(provider)
        problem = self.check(provider, seg.model)
        if problem is None and home is not None and provider in home.member_set \
                and getattr(home.strategy, "skips_members", True):
            # The named provider answers to its pool's strategy too (e.g. outside its window).
            result = self.run_strategy(home, [provider], seg, "select", provider)
            problem = next(((s.reason, s.detail, s.until) for s in result.skipped if s.member == provider), None)
        if problem is not None:
            self.skip(seg, provider, home, *problem)
            return
        self.add(seen, Target(provider, seg.model, home.name if home else None, seg.via, seg.chain, seg.preset,
                              seg.entry, k))

    def pool_segment(self, k: int, seg: Segment, seen: set[tuple[str, str | None]], phase: str,
                     current: str | None) -> None:
        pool = self.graph.pools.get(seg.pool or "")
        if pool is None:  # a turn's stored route names a pool this policy does not have
            self.skip(seg, None, None, "disabled", f"pool {seg.pool} is not in the policy in force (renamed or "
                      "removed since the turn started, or the turn started with another project's overlay)", None)
            return
        if seg.after is not None:
            order = pool.rotation_after(seg.after)
        else:
            order = pool.rotation_from(self.world.cursors.get(pool.name))
        eligible = self.eligible(order, seg, pool)
        if not eligible:
            return
        if getattr(pool.strategy, "keeps_order", False):
            result = StrategyResult(ordered=eligible)  # e.g. round-robin: rotation order as it is
        else:
            result = self.run_strategy(pool, eligible, seg, phase, current)
        self.out.strategy.append(StrategyNote(pool.name, pool.strategy_name, result.fallback, result.note))
        if self.out.trace is not None:
            self.out.trace.append({"step": "strategy", "pool": pool.name, "name": pool.strategy_name,
                                   "input": list(eligible), "order": list(result.ordered),
                                   "fallback": result.fallback, "note": result.note})
        for s in result.skipped:
            self.skip(seg, s.member, pool, s.reason, s.detail, s.until)
        if self.out.trace is not None:
            for member in result.ordered:
                self.add(seen, Target(member, seg.model, pool.name, seg.via, seg.chain, seg.preset, seg.entry, k))
            return
        # Large pools: one run of members, built into targets only when the list is read.
        model = seg.model
        ordered = [m for m in result.ordered if (m, model) not in seen] if seen else list(result.ordered)
        seen.update((m, model) for m in ordered)
        self.out.candidates.add_run(ordered, model, pool.name, seg.via, seg.chain, seg.preset, seg.entry, k)

    def eligible(self, order: Sequence[str], seg: Segment, pool: CompiledPool) -> list[str]:
        """The members of ``order`` that pass every eligibility check; the others are skipped with a reason."""
        graph = self.graph
        accounts, allowed, attempted, cooldowns, now = (graph.accounts, graph.allowed, self.attempted,
                                                        self.cooldowns, self.now)
        logged_in = self.logged_in
        model = seg.model
        plain = model is None or not graph.models  # no catalogue: the no-model check cannot fail
        out: list[str] = []
        for member in order:
            # Fast path: every check passes (the common case), without building a reason.
            if (member in accounts and (allowed is None or member in allowed) and member not in attempted
                    and member in logged_in and plain):
                cd = cooldowns.get(member)
                if cd is None or not cd.until > now:
                    out.append(member)
                    continue
            problem = self.check(member, model)
            if problem is None:
                out.append(member)
            else:
                self.skip(seg, member, pool, *problem)
        return out

    def run_strategy(self, pool: CompiledPool, eligible: list[str], seg: Segment, phase: str,
                     current: str | None) -> StrategyResult:
        ctx = StrategyContext(
            pool=pool, members=eligible, now=self.now, phase=phase, model=seg.model,  # type: ignore[arg-type]
            current_provider=current if current is not None else self.world.cursors.get(pool.name),
            prompt=self.world.prompt, quota=self.world.quota,
            cooldowns=self.world.cooldowns, base_dir=self.world.base_dir,
        )
        try:
            result = pool.strategy.order(ctx)
        except Exception as exc:  # a strategy must never break a decision
            return StrategyResult(ordered=eligible, fallback=True,
                                  note=f"strategy {pool.strategy_name} failed ({exc!r}); rotation order")
        return _sanitize(result, eligible)


def _sanitize(result: StrategyResult, eligible: Sequence[str]) -> StrategyResult:
    """Keep only eligible members, each once; eligible members the strategy forgot go last."""
    if not result.skipped and result.ordered is eligible:
        return result  # the common case: rotation order handed back unchanged
    allowed = set(eligible)
    skipped = {s.member for s in result.skipped}
    placed: set[str] = set()
    ordered: list[str] = []
    for member in result.ordered:
        if member in allowed and member not in skipped and member not in placed:
            placed.add(member)
            ordered.append(member)
    if len(placed) + len(skipped & allowed) < len(allowed):
        ordered.extend(m for m in eligible if m not in placed and m not in skipped)
    if ordered == list(result.ordered):
        return result
    return StrategyResult(ordered=ordered, skipped=result.skipped, fallback=result.fallback, note=result.note)


def walk(graph: Graph, route: Sequence[Segment], world: World, *, phase: str = "select",
         current: str | None = None, offset: int = 0) -> Walk:
    """Evaluate ``route`` (segment indexes start at ``offset``); fill candidates, skips, retry time."""
    walker = _Walker(graph, world)
    seen: set[tuple[str, str | None]] = set()
    for k, seg in enumerate(route, start=offset):
        if walker.out.trace is not None:
            walker.out.trace.append({"step": "segment", "index": k, "segment": seg.describe()})
        if seg.kind == "provider":
            walker.provider_segment(k, seg, seen)
        elif seg.kind == "pool":
            walker.pool_segment(k, seg, seen, phase, current)
        else:
            walker.skip(seg, seg.provider, graph.pools.get(seg.pool) if seg.pool else None,
                        seg.reason or "disabled", seg.detail or "disabled", None)
    out = walker.out
    if not out.candidates:
        times = [t for t in (walker.ready_at(s, p, m) for s, p, m in out._pending) if t is not None]
        if times:
            earliest = min(times, key=datetime.timestamp)
            if earliest.timestamp() < world.now.timestamp():
                earliest = world.now
            out.retry_after = earliest.astimezone(graph.tz)
    return out


UTC = UTC
