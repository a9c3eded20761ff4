"""Text layouts of decisions: one line for scripts, a readable explanation for people.

Every name, message and note is passed through :func:`~policy_engine.common.terminal_text.printable`:
account names come from ``auth.json`` and ``MULTI_SUB`` too, error reasons from a provider's
response and notes from selector scripts, none of which a schema checks.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import click

from policy_engine.common.terminal_text import printable
from policy_engine.evaluate.decision import Decision, Target

__all__ = ["render_decision", "render_target"]


def _when(moment: datetime | None, tz: tzinfo, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    local = moment.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S%z")
    if now is not None:
        delta = (moment - now).total_seconds()
        if delta >= 0:
            text += f" (in {_human(delta)})"
    return text


def _human(value: float) -> str:
    seconds = round(value)
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s" if s else f"{minutes}m"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d{h}h"


def render_target(target: Target) -> str:
    """``anthropic-2 · claude-sonnet-4 (pool primary, via pool)``."""
    where = []
    if target.pool:
        where.append(f"pool {target.pool}")
    if target.chain:
        where.append(f"chain {target.chain}#{target.entry}")
    if target.preset:
        where.append(f"preset {target.preset}#{target.entry}")
    where.append(f"via {target.via}")
    model = f" · {target.model}" if target.model else ""
    return printable(f"{target.provider}{model} ({', '.join(where)})")


def why_no_target(decision: Decision, empty: str | None = None) -> str:
    """Why a decision has no target, in one line: the skips by reason, else ``empty`` (why the route is empty)."""
    if not decision.skipped:
        return f"why: {empty or 'nothing is on this route'}"
    by_reason: dict[str, list[str]] = {}
    for s in decision.skipped:
        who = s.provider or s.pool or s.chain or s.preset or "?"
        names = by_reason.setdefault(s.reason, [])
        if who not in names:
            names.append(who)
    parts = []
    for reason, names in by_reason.items():
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        parts.append(f"{reason} ({shown})")
    return printable("why: everything on the route was skipped: " + "; ".join(parts))


def render_decision(decision: Decision, *, explain: bool = False, color: bool = True,
                    why_empty: str | None = None) -> str:
    """The decision as text; with ``explain``, the route, every candidate and skip, and the reasoning.

    A decision without a target always says why (``why_empty``: why the route itself is empty, when known).
    """
    tz = decision.tz
    lines: list[str] = []

    def style(text: str, **kw: object) -> str:
        return click.style(text, **kw) if color else text  # type: ignore[arg-type]

    if decision.error is not None:
        err = decision.error
        rotate = "rotates" if err.rotate else "does not rotate"
        lines.append(printable(f"error: {err.kind} ({rotate}) — {err.reason}"))
        if err.retry_after is not None:
            lines.append(f"  the error asks to retry after {_when(err.retry_after, tz, decision.at)}"
                         + (printable(f" [{err.retry_source}]") if err.retry_source else ""))
        if err.cooldown_until is not None:
            lines.append(f"  cooldown until {_when(err.cooldown_until, tz, decision.at)}")
    if decision.target is not None:
        lines.append(style("target: ", bold=True) + style(render_target(decision.target), fg="green", bold=True))
    else:
        retry = _when(decision.retry_after, tz, decision.at) if decision.retry_after else \
            "unknown (nothing predictable would help)"
        lines.append(style("target: none", fg="red", bold=True) + f" — retry after {retry}")
        lines.append(why_no_target(decision, why_empty))
    if not explain:
        return "\n".join(lines)
    lines.append(printable(f"at {_when(decision.at, tz)} · turn {decision.turn} · policy {decision.policy_revision} · "
                           f"{decision.elapsed_us:.0f} µs"))
    if decision.route:
        lines.append(style("route:", bold=True))
        lines += [printable(f"  {i}. {step}") for i, step in enumerate(decision.route)]
    if decision.strategy:
        lines.append(style("strategies:", bold=True))
        for s in decision.strategy:
            fb = " (fallback)" if s.fallback else ""
            lines.append(printable(f"  {s.pool}: {s.name}{fb}" + (f" — {s.note}" if s.note else "")))
    lines.append(style("candidates (in order):", bold=True))
    if decision.candidates:
        for i, c in enumerate(decision.candidates):
            mark = "→" if i == 0 else " "
            lines.append(f"  {mark} {render_target(c)}")
    else:
        lines.append("  (none)")
    if decision.skipped:
        lines.append(style("skipped:", bold=True))
        for s in decision.skipped:
            who = s.provider or s.pool or s.chain or s.preset or "?"
            where = []
            if s.pool and s.provider:
                where.append(f"pool {s.pool}")
            if s.chain:
                where.append(f"chain {s.chain}#{s.entry}")
            if s.preset:
                where.append(f"preset {s.preset}#{s.entry}")
            ctx = f" [{', '.join(where)}]" if where else ""
            until = f"; usable again {_when(s.until, tz, decision.at)}" if s.until else ""
            lines.append(printable(f"  ✗ {who}{ctx}: ") + style(printable(s.reason), fg="yellow")
                         + printable(f" — {s.detail}{until}"))
    if decision.target is None:
        lines.append(f"retry after: {_when(decision.retry_after, tz, decision.at)}")
    return "\n".join(lines)
