"""``custom``: a user's selector script orders the pool's eligible members.

The script (``selectorScript``: ``.py`` for sandboxed Python, ``.js``/``.mjs``/``.cjs`` for node)
gets the pi-multi-pass context — ``members`` (eligible, rotation order), ``currentProvider``,
``modelId``, ``pool`` ({name, baseProvider, members}), ``timestamp`` (ms), ``hour``, ``day``,
``prompt`` — plus ``quota`` ({member: remaining percent}) and ``cooldowns`` ({member: {until,
reason}}), and returns a provider name, an ordered list of names, or null. The named eligible
members go first in that order, the rest keep rotation order.

Whatever goes wrong — no script, a missing file, a compile error, an exception, a timeout
(``settings.selectorTimeout``), a crash, a wrong type, an answer naming no member, ``node`` not
installed — the pool keeps rotation order with ``fallback: true`` and a note saying why. A
selector that keeps timing out or crashing is paused by a circuit breaker
(:mod:`policy_engine.sandbox.breaker`), so decisions stop paying its timeout. Hours and days are
those of the pool's time zone (``settings.timezone`` or the pool's own).

Notes are written for people and partly by the script (its exception messages, its answer): they
are cut to :data:`~policy_engine.sandbox.redact.MAX_NOTE_CHARS` on one line, with memory
addresses and install paths removed (:mod:`policy_engine.sandbox.redact`). Each pool's script
keeps its module state under the pool's own scope, never another pool's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policy_engine.common.diagnostics import Diagnostic
from policy_engine.hookspecs import hookimpl
from policy_engine.sandbox.redact import MAX_NOTE_CHARS, for_note
from policy_engine.strategies.base import StrategyContext, StrategyResult

if TYPE_CHECKING:
    from policy_engine.compile.graph import CompiledPool
    from policy_engine.sandbox.selector import Selector

__all__ = ["Custom", "selector_context"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_COSTLY = {"timeout", "crash", "unavailable"}


def selector_context(ctx: StrategyContext) -> dict[str, Any]:
    """The context a selector script receives (pi-multi-pass compatible, plus quota and cooldowns)."""
    pool = ctx.pool
    local = ctx.now.astimezone(pool.tz)
    quota = {m: snap.remaining for m, snap in ctx.quota.items() if m in pool.member_set and snap.remaining is not None}
    cooldowns = {m: {"until": cd.until.astimezone(pool.tz).isoformat(), "reason": cd.reason}
                 for m, cd in ctx.cooldowns.items() if m in pool.member_set and cd.until > ctx.now}
    return {
        "members": list(ctx.members),
        "currentProvider": ctx.current_provider,
        "modelId": ctx.model,
        "pool": {"name": pool.name, "baseProvider": pool.base, "members": list(pool.members)},
        "timestamp": int(ctx.now.timestamp() * 1000),
        "hour": local.hour,
        "day": _DAYS[local.weekday()],
        "prompt": ctx.prompt,
        "quota": quota,
        "cooldowns": cooldowns,
    }


class Custom:
    """Selector-script strategy; falls back to rotation order whenever the script cannot answer."""

    name = "custom"
    options_schema: Mapping[str, Any] | None = None
    skips_members = False  # never passes a member over, so a named provider needs no strategy check

    def __repr__(self) -> str:
        return "Custom()"

    def prepare(self, pool: CompiledPool) -> Selector:
        """Resolve the script and start a worker of its language in the background."""
        from policy_engine.sandbox.selector import Selector  # only for pools that use a selector script

        selector = Selector.for_pool(pool.name, pool.selector_script, pool.source_dir)
        text, problem = selector.source()
        if text is not None and problem is None and selector.unavailable() is None:
            selector.runner.warm()
        return selector

    def diagnose(self, pool: CompiledPool, deep: bool = False) -> Sequence[Diagnostic]:
        """Warnings about the pool's script: missing, unreadable, not compiling (with its line), no runtime.

        ``deep`` also compiles JavaScript (this starts ``node``; ``mp-policy validate`` does it).
        """
        from policy_engine.sandbox.selector import Selector

        selector = pool.prepared if isinstance(pool.prepared, Selector) else self.prepare(pool)
        _, problem = selector.source()
        if problem is not None:
            return [Diagnostic(code="selector-script", severity="warning",
                               message=f"pool {pool.name!r}: {problem}; the pool will use rotation order",
                               hint="fix selectorScript (relative paths start at the policy file's folder)")]
        unavailable = selector.unavailable()
        if unavailable is not None:
            return [Diagnostic(code="selector-runtime", severity="warning",
                               message=f"pool {pool.name!r}: {unavailable}; the pool will use rotation order")]
        return [Diagnostic(code="selector-compile", severity="warning", file=str(selector.path), line=p.line,
                           col=p.column,
                           message=f"pool {pool.name!r}: {for_note(p.message)}; the pool will use rotation order")
                for p in selector.problems(deep=deep)[:20]]

    def order(self, ctx: StrategyContext) -> StrategyResult:
        """Ask the script; any failure means rotation order with ``fallback: true``."""
        from policy_engine.sandbox.selector import Selector, interpret

        selector = ctx.pool.prepared
        if not isinstance(selector, Selector):
            return self._fallback(ctx, "the selector was not prepared")
        text, problem = selector.source()
        if text is None:
            return self._fallback(ctx, problem or "the selector script cannot be read")
        paused = selector.breaker.allow()
        if paused is not None:
            return self._fallback(ctx, paused)
        runner = selector.runner
        payload = json.dumps(selector_context(ctx), separators=(",", ":"), ensure_ascii=False)
        outcome = runner.call(text, str(selector.path), payload, ctx.pool.selector_timeout.total_seconds(),
                              scope=selector.scope)
        if not outcome.ok:
            selector.breaker.failure(outcome.kind, costly=outcome.kind in _COSTLY)
            return self._fallback(ctx, f"selector {selector.script}: {outcome.detail or outcome.kind}")
        order, note = interpret(outcome.value, list(ctx.members), ctx.pool.member_set)
        selector.breaker.success()
        if order is None:
            return self._fallback(ctx, f"selector {selector.script}: {note}")
        return StrategyResult(ordered=order, note=for_note(note))

    @staticmethod
    def _fallback(ctx: StrategyContext, why: str) -> StrategyResult:
        note = for_note(f"{why}; rotation order")
        if not note.endswith("; rotation order"):  # cut short: keep the verdict readable
            note = for_note(why, limit=MAX_NOTE_CHARS - len("; rotation order")) + "; rotation order"
        return StrategyResult(ordered=ctx.members, fallback=True, note=note)

    def available_at(self, pool: CompiledPool, member: str, at: datetime) -> datetime | None:
        """Never excludes a member."""
        return at


@hookimpl
def mp_policy_strategies() -> list[Custom]:
    """Register ``custom``."""
    return [Custom()]
