"""Test helpers: a compiled pool built by hand and a strategy context, as the engine would make them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from policy_engine.graph import CompiledPool
from policy_engine.strategies.base import StrategyContext

from mp_policy_weighted import Weighted

T0 = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)


def make_pool(
    members: Sequence[str],
    options: Mapping[str, Any] | None = None,
    *,
    name: str = "pool",
    allowed: Sequence[str] | None = None,
    prepare: bool = True,
) -> CompiledPool:
    """A compiled pool using ``weighted``, prepared as the compiler would (unless ``prepare`` is false)."""
    strategy = Weighted()
    kept = tuple(m for m in members if allowed is None or m in allowed)
    pool = CompiledPool(
        name=name,
        base=members[0] if members else "",
        members=kept,
        written_members=tuple(members),
        enabled=True,
        strategy_name=strategy.name,
        strategy=strategy,
        cooldown=timedelta(minutes=5),
        tz=UTC,
        options=dict(options or {}),
        position={m: i for i, m in enumerate(members)},
        member_set=frozenset(kept),
    )
    if prepare:
        pool.prepared = strategy.prepare(pool)
    return pool


def make_ctx(pool: CompiledPool, members: Sequence[str] | None = None, *, now: datetime = T0,
             phase: str = "select", current: str | None = None) -> StrategyContext:
    """A context ordering ``members`` (default: all the pool's members) at ``now``."""
    return StrategyContext(
        pool=pool, members=list(pool.members if members is None else members), now=now,
        phase=phase,  # type: ignore[arg-type]
        model=None, current_provider=current, prompt=None, quota={}, cooldowns={},
    )
