"""``round-robin``: rotation order, as handed over by the evaluator (cursor first on select)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policy_engine.hookspecs import hookimpl
from policy_engine.strategies.base import StrategyContext, StrategyResult

if TYPE_CHECKING:
    from policy_engine.compile.graph import CompiledPool

__all__ = ["RoundRobin"]


class RoundRobin:
    """Keep rotation order: the pool's cursor first on ``select``, the next member on ``fail``."""

    name = "round-robin"
    options_schema: Mapping[str, Any] | None = None
    skips_members = False  # never passes a member over, so a named provider needs no strategy check
    keeps_order = True  # returns rotation order unchanged: the evaluator need not call it

    def prepare(self, pool: CompiledPool) -> None:
        """Nothing to prepare."""
        return None

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Return the members as they are."""
        return StrategyResult(ordered=ctx.members)

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """Always usable."""
        return at


@hookimpl
def mp_policy_strategies() -> list[RoundRobin]:
    """Register ``round-robin``."""
    return [RoundRobin()]
