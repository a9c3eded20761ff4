"""Plain words for the comments of an imported policy: strategies, schedules, chains and presets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy_engine.policy.days import expand_days
from policy_engine.policy.schedule import DAY_NAMES

__all__ = ["describe_days", "describe_hours", "describe_member", "describe_strategy", "describe_window",
           "entry_route"]

_TITLES = {name: name.capitalize() for name in DAY_NAMES}

_STRATEGIES = {
    "round-robin": "round-robin: stays on one account (and its prompt cache) until it fails, then moves to the "
                   "next member in order",
    "quota-first": "quota-first: the member with the most quota left first, every member ranked (5% or less "
                   "left goes last); without quota data, plain rotation order",
    "scheduled": "scheduled: preferred members while one of their windows is open (the one closing soonest "
                 "first), then default members, then overflow members",
}


def describe_strategy(pool: Mapping[str, Any]) -> str:
    """One line on how the pool orders its members."""
    name = pool.get("strategy") or "round-robin"
    if name == "custom":
        script = pool.get("selectorScript")
        return (f"custom: the selector script {script} orders the members (if it fails or times out: rotation "
                "order)" if script else "custom, but without a selectorScript: rotation order")
    return _STRATEGIES.get(name, f"{name}: a plugin strategy")


def describe_days(days: Sequence[str] | None) -> str:
    """``Mon-Fri``, ``Fri-Mon``, ``Mon, Wed, Fri`` or ``every day`` (for a window's opening days)."""
    if not days:
        return "every day"
    try:
        chosen = {DAY_NAMES.index(d) for d in expand_days(list(days))}
    except ValueError:
        return ", ".join(days)
    if len(chosen) == 7:
        return "every day"
    runs: list[str] = []
    starts = [d for d in range(7) if d in chosen and (d - 1) % 7 not in chosen]
    for start in starts:
        end = start
        while (end + 1) % 7 in chosen:
            end = (end + 1) % 7
        first, last = _TITLES[DAY_NAMES[start]], _TITLES[DAY_NAMES[end]]
        runs.append(first if start == end else f"{first}-{last}")
    return ", ".join(runs)


def describe_hours(hours: Sequence[int] | None) -> str:
    """``09:00-17:00``, ``22:00 to 06:00 the next day`` or ``all day``."""
    if not hours or list(hours) == [0, 24]:
        return "all day"
    start, end = hours
    if start > end:
        return f"{start:02d}:00 to {end:02d}:00 the next day"
    return f"{start:02d}:00-{end:02d}:00"


def describe_window(window: Mapping[str, Any]) -> str:
    """A window in words: ``Mon-Fri 09:00-17:00``, ``at each "0 17 * * *" for 16h``, with its date range."""
    if "cron" in window:
        text = f'from each "{window["cron"]}" fire, for {window.get("duration")}'
    else:
        text = f"{describe_days(window.get('days'))} {describe_hours(window.get('hours'))}"
    date_range = window.get("dateRange") or {}
    if date_range.get("from") and date_range.get("to"):
        text += f", {date_range['from']} to {date_range['to']}"
    elif date_range.get("from"):
        text += f", from {date_range['from']}"
    elif date_range.get("to"):
        text += f", until {date_range['to']}"
    return text


def describe_member(member: str, schedule: Mapping[str, Any] | None) -> str:
    """A scheduled member's role and windows: ``openai-codex: preferred, Mon-Fri 09:00-17:00``."""
    role = (schedule or {}).get("role", "default")
    windows = (schedule or {}).get("windows") or []
    if role == "preferred":
        when = "; or ".join(describe_window(w) for w in windows) if windows else "always (no windows)"
        return f"{member}: preferred, {when}"
    if role == "overflow":
        return f"{member}: overflow, used last"
    return f"{member}: default, used after the active preferred members"


def entry_route(entries: Sequence[Mapping[str, Any]], target: str) -> str:
    """A chain's or preset's entries as ``claude/claude-sonnet-4 → codex/gpt-5`` (disabled ones marked)."""
    parts = []
    for entry in entries:
        text = f"{entry[target]}/{entry['model']}"
        if entry.get("enabled") is False:
            text += " (off)"
        parts.append(text)
    return " → ".join(parts)
