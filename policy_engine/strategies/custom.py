"""``custom``: a user selector script orders the members.

The sandboxed selector runner (Python through RestrictedPython, JS through node) is not part of
this release: a ``custom`` pool keeps rotation order, with ``fallback: true`` and a note saying
why, which is exactly the documented behaviour when a selector cannot run. ``mp-policy
validate`` warns about such pools.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policy_engine.hookspecs import hookimpl
from policy_engine.strategies.base import StrategyContext, StrategyResult

if TYPE_CHECKING:
    from policy_engine.graph import CompiledPool

__all__ = ["Custom"]

UNAVAILABLE_NOTE = "custom selectors are not available in this version; rotation order"


class Custom:
    """Selector-script strategy; falls back to rotation order whenever the script cannot run."""

    name = "custom"
    options_schema: Mapping[str, Any] | None = None
    skips_members = False  # never passes a member over, so a named provider needs no strategy check

    def prepare(self, pool: CompiledPool) -> None:
        """Nothing to prepare until the sandbox exists."""
        return None

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Rotation order, marked as a fallback."""
        return StrategyResult(ordered=ctx.members, fallback=True, note=UNAVAILABLE_NOTE)

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """Never excludes a member."""
        return at


@hookimpl
def mp_policy_strategies() -> list[Custom]:
    """Register ``custom``."""
    return [Custom()]
