"""``quota-first``: the member with the most remaining quota first; blocked members last."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policy_engine.hookspecs import hookimpl
from policy_engine.strategies.base import StrategyContext, StrategyResult

if TYPE_CHECKING:
    from policy_engine.compile.graph import CompiledPool

__all__ = ["BLOCKED_PERCENT", "QuotaFirst"]

BLOCKED_PERCENT = 5.0
_NOTE_MEMBERS = 8  # members with their percentage in the note (the full order is in the candidates)


class QuotaFirst:
    """Order by the bottleneck remaining percent from the quota cache.

    Three groups: members above 5% remaining (highest first), members without a snapshot,
    members at or below 5% (highest first); ties keep rotation order. With no snapshot for any
    eligible member the order is plain rotation order and ``fallback`` is true. Snapshots older
    than the policy's ``quotaTtl`` are still used, and the note says they are stale.
    """

    name = "quota-first"
    options_schema: Mapping[str, Any] | None = None
    skips_members = False  # never passes a member over, so a named provider needs no strategy check

    def prepare(self, pool: CompiledPool) -> None:
        """Nothing to prepare."""
        return None

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Rank the eligible members by remaining quota."""
        good: list[tuple[float, int, str]] = []
        unknown: list[str] = []
        blocked: list[tuple[float, int, str]] = []
        stale: list[str] = []
        ttl = ctx.pool.quota_ttl
        stale_before = ctx.now - ttl if ttl is not None else None
        quota = ctx.quota
        for position, member in enumerate(ctx.members):
            snap = quota.get(member)
            remaining = snap.remaining if snap is not None else None
            if remaining is None:
                unknown.append(member)
                continue
            if stale_before is not None and snap is not None and snap.fetched_at < stale_before:
                stale.append(member)
            bucket = good if remaining > BLOCKED_PERCENT else blocked
            bucket.append((-remaining, position, member))
        if not good and not blocked:
            missing = ", ".join(ctx.members) if ctx.members else "no eligible member"
            return StrategyResult(
                ordered=ctx.members, fallback=True, note=f"no quota data for {missing}; rotation order"
            )
        good.sort()
        blocked.sort()
        ordered = [m for _, _, m in good] + unknown + [m for _, _, m in blocked]
        known = good + blocked
        parts = [f"{m} {-r:g}%" for r, _, m in known[:_NOTE_MEMBERS]]
        if len(known) > _NOTE_MEMBERS:
            parts.append(f"... {len(known) - _NOTE_MEMBERS} more")
        note = "remaining quota: " + ", ".join(parts)
        if unknown:
            note += f"; no data: {', '.join(unknown)}"
        if blocked:
            note += f"; blocked (<= {BLOCKED_PERCENT:g}%): {', '.join(m for _, _, m in blocked)}"
        if stale:
            note += f"; stale data for {', '.join(stale)}"
        return StrategyResult(ordered=ordered, note=note)

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """Quota ordering never excludes a member."""
        return at


@hookimpl
def mp_policy_strategies() -> list[QuotaFirst]:
    """Register ``quota-first``."""
    return [QuotaFirst()]
