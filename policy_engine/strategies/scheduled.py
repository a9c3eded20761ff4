"""``scheduled``: preferred members inside their windows first, then default, then overflow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policy_engine.common.records import dataclass
from policy_engine.hookspecs import hookimpl
from policy_engine.strategies.base import Skip, StrategyContext, StrategyResult

if TYPE_CHECKING:
    from policy_engine.compile.graph import CompiledPool
    from policy_engine.policy.schedule import Schedule

__all__ = ["MemberPlan", "Scheduled"]

_ROLE_RANK = {"preferred": 0, "default": 1, "overflow": 2}


@dataclass(frozen=True, slots=True)
class MemberPlan:
    """A member's role and (for windows) its compiled schedule."""

    role: str
    schedule: Schedule | None


def _fmt(when: datetime | None, tz: Any) -> str:
    if when is None:
        return "never"
    return when.astimezone(tz).strftime("%a %Y-%m-%d %H:%M")


class Scheduled:
    """Order by role and time windows (DESIGN §4, ``scheduled``).

    Active ``preferred`` members come first, the one whose contiguous active period ends
    soonest first (one that never closes last among them); then ``default`` members, then
    ``overflow``, each group in rotation order. A ``preferred`` member outside all its windows
    is passed over as ``outside-window`` with ``until`` = its next opening.
    """

    name = "scheduled"
    options_schema: Mapping[str, Any] | None = None

    def prepare(self, pool: CompiledPool) -> dict[str, MemberPlan]:
        """Compile each member's schedule in the pool's time zone."""
        from policy_engine.policy.schedule import Schedule  # only policies with scheduled pools pay for it

        plans: dict[str, MemberPlan] = {}
        for member, raw in pool.member_schedule.items():
            role = raw.get("role", "default")
            windows = raw.get("windows") or []
            schedule = Schedule.from_windows(windows, pool.tz, pi_tolerant=pool.pi_tolerant) \
                if windows and role == "preferred" else None
            plans[member] = MemberPlan(role=role, schedule=schedule)
        return plans

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Group and sort the eligible members by role and window end."""
        plans: dict[str, MemberPlan] = ctx.pool.prepared or {}
        preferred: list[tuple[float, int, str]] = []
        default: list[str] = []
        overflow: list[str] = []
        skipped: list[Skip] = []
        notes: list[str] = []
        tz = ctx.pool.tz
        for position, member in enumerate(ctx.members):
            plan = plans.get(member)
            role = plan.role if plan else "default"
            if role == "overflow":
                overflow.append(member)
            elif role != "preferred":
                default.append(member)
            elif plan is None or plan.schedule is None:
                preferred.append((float("inf"), position, member))
                notes.append(f"{member} preferred (always)")
            else:
                active, when = plan.schedule.state(ctx.now)
                if active:
                    preferred.append((when.timestamp() if when else float("inf"), position, member))
                    notes.append(f"{member} preferred until {_fmt(when, tz)}")
                else:
                    skipped.append(Skip(member, "outside-window", "a preferred member outside its windows", when))
        preferred.sort()
        ordered = [m for _, _, m in preferred] + default + overflow
        if default:
            notes.append("default: " + ", ".join(default))
        if overflow:
            notes.append("overflow: " + ", ".join(overflow))
        return StrategyResult(ordered=ordered, skipped=skipped, note="; ".join(notes))

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """A preferred member is usable inside its windows; everyone else always."""
        plan = (pool.prepared or {}).get(member)
        if plan is None or plan.role != "preferred" or plan.schedule is None:
            return at
        active, when = plan.schedule.state(at)
        return at if active else when


@hookimpl
def mp_policy_strategies() -> list[Scheduled]:
    """Register ``scheduled``."""
    return [Scheduled()]
