"""The strategy interface that built-in and plugin strategies implement.

A strategy orders the *eligible* members of one pool. The evaluator has already removed
members that are unknown, not allowed, attempted in this turn, without credentials, cooling
down or lacking the model; it hands the rest over in rotation order. The strategy returns
them reordered, may pass some over with a reason (e.g. ``outside-window``), and says whether
it had to fall back to plain rotation order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from policy_engine.common.records import dataclass

if TYPE_CHECKING:
    from policy_engine.compile.graph import CompiledPool
    from policy_engine.state import Cooldown, QuotaSnapshot

__all__ = ["Skip", "Strategy", "StrategyContext", "StrategyResult"]

Phase = Literal["select", "fail"]


@dataclass(slots=True)
class Skip:
    """A member the strategy passes over: reason code, human detail and when it may be usable."""

    member: str
    reason: str
    detail: str
    until: datetime | None = None


@dataclass(slots=True)
class StrategyContext:
    """Everything a strategy may look at to order one pool's eligible members."""

    pool: CompiledPool
    members: Sequence[str]
    now: datetime
    phase: Phase
    model: str | None
    current_provider: str | None
    prompt: str | None
    quota: Mapping[str, QuotaSnapshot]
    cooldowns: Mapping[str, Cooldown]
    base_dir: str | None = None


@dataclass(slots=True)
class StrategyResult:
    """The members in the order to try them, members passed over, and the strategy's reasoning."""

    ordered: Sequence[str]
    skipped: Sequence[Skip] = field(default_factory=tuple)
    fallback: bool = False
    note: str = ""


@runtime_checkable
class Strategy(Protocol):
    """A named pool strategy.

    ``prepare`` runs once when a policy is compiled and returns per-pool data (or raises
    ``ValueError`` with a message for the policy author); ``order`` runs per decision and must
    be fast and never raise; ``available_at`` tells when a member that is otherwise usable at
    ``at`` would be accepted by the strategy (for ``retryAfter``), ``None`` if never.
    ``options_schema`` is a JSON Schema for ``pools[].options`` (or ``None``). A strategy that
    never passes members over may set ``skips_members = False``; the evaluator then does not ask
    it about a provider named directly (a provider route or a preset entry); one whose order is
    always the rotation order unchanged, with no note, may set ``keeps_order = True`` and is then
    not called at all.
    """

    name: str
    options_schema: Mapping[str, Any] | None

    def prepare(self, pool: CompiledPool) -> Any:
        """Compile-time preparation for one pool; the result is stored on the compiled pool."""
        ...

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Order the eligible members of ``ctx.pool``."""
        ...

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """The earliest moment >= ``at`` at which this strategy would use ``member``."""
        ...
