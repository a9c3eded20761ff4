"""The scenarios of ``bench_engine.py``: pools of n accounts with a few cooling down, at a fixed clock,
and a generated ~1,000-line team policy (the load section's input)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["CLI_AT", "NOW", "TZ_NAME", "cooling", "generate_policy", "make_engine", "member_schedule", "members_of",
           "pool_policy", "seed_state"]

TZ_NAME = "Europe/Vienna"
#: The fixed clock of every latency case: a Tuesday morning (schedules are partly open, partly closed).
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo(TZ_NAME))
CLI_AT = "2026-11-24T10:30:00+01:00"


def members_of(count: int, base: str = "anthropic") -> list[str]:
    """Account names of one provider family: ``base``, ``base-2`` .. ``base-count``."""
    return [base] + [f"{base}-{i}" for i in range(2, count + 1)]


def pool_policy(count: int, strategy: str = "round-robin") -> dict[str, Any]:
    """A policy with one pool of ``count`` accounts (``scheduled``: with realistic member schedules)."""
    members = members_of(count)
    pool: dict[str, Any] = {"name": "bench", "baseProvider": "anthropic", "members": members,
                            "strategy": strategy, "cooldown": "5m"}
    if strategy == "scheduled":
        pool["memberSchedule"] = member_schedule(members)
    return {
        "version": 1,
        "settings": {"timezone": TZ_NAME, "cooldown": "5m"},
        "subscriptions": [{"provider": "anthropic", "index": i, "label": f"seat {i}"} for i in range(2, count + 1)],
        "pools": [pool],
        "chains": [{"name": "main", "entries": [{"pool": "bench", "model": "claude-sonnet-4-5"}]}],
    }


_SHIFTS: list[list[dict[str, Any]]] = [
    [{"hours": [9, 17], "days": ["mon-fri"]}],
    [{"hours": [17, 9]}],
    [{"hours": [8, 12], "days": ["mon", "wed", "fri"]}, {"hours": [13, 18], "days": ["tue", "thu"]}],
    [{"hours": [22, 6], "days": ["fri-sun"]}],
    [{"hours": [6, 14]}, {"hours": [14, 22], "days": ["sat", "sun"]}],
    [{"cron": "0 9 * * mon-fri", "duration": "4h"}],
    [{"cron": "30 18 * * *", "duration": "90m"}],
    [{"hours": [0, 24], "days": ["tue"], "dateRange": {"from": "2026-01-01", "to": "2027-12-31"}}],
]


def member_schedule(members: Sequence[str]) -> dict[str, Any]:
    """Roles for a scheduled pool: ~30% preferred (with windows; a few always), ~40% default, the rest overflow."""
    plan: dict[str, Any] = {}
    n = len(members)
    for i, member in enumerate(members):
        if i < max(1, n * 3 // 10):
            if i % 10 == 9:
                plan[member] = {"role": "preferred"}  # no windows: always active
            else:
                plan[member] = {"role": "preferred", "windows": _SHIFTS[i % len(_SHIFTS)]}
        elif i < n * 7 // 10:
            plan[member] = {"role": "default"}
        else:
            plan[member] = {"role": "overflow"}
    return plan


def cooling(members: Sequence[str]) -> list[str]:
    """A few members that are cooling down (never the first, so the cursor member stays usable)."""
    count = min(max(1, len(members) // 25), 20)
    step = max(1, (len(members) - 1) // count)
    return [members[1 + k * step] for k in range(count) if 1 + k * step < len(members)]


def seed_state(engine: Any, members: Sequence[str], *, quota: bool) -> None:
    """Write the cooldowns (and quota snapshots) a running agent would have."""
    from policy_engine.state import Cooldown, QuotaSnapshot, QuotaWindow, StateChanges

    cooldowns = [Cooldown(p, NOW + timedelta(days=3650), "rate_limit: 429 (bench)", NOW - timedelta(minutes=1),
                          "bench") for p in cooling(members)]
    snaps = []
    if quota:
        for i, member in enumerate(members):
            if i % 8 == 7:
                continue  # no snapshot for some members
            remaining = 3.0 if i % 12 == 5 else float((i * 37) % 100) + 0.5  # a few blocked (<= 5%)
            windows = (QuotaWindow("5h", remaining, NOW + timedelta(hours=2)),
                       QuotaWindow("weekly", min(100.0, remaining + 20), NOW + timedelta(days=4)))
            snaps.append(QuotaSnapshot(member, remaining, NOW - timedelta(seconds=30), "bench", None, windows,
                                       f"{remaining:g}% left"))
    engine.store.apply(StateChanges(cooldowns=cooldowns, quota=snaps))


def make_engine(count: int, strategy: str = "round-robin", state: str = "memory://") -> Any:
    """An engine over one pool of ``count`` accounts, all logged in, a few cooling down, at a fixed clock."""
    from policy_engine.engine import Engine

    members = members_of(count)
    engine = Engine.from_documents(pool_policy(count, strategy), state=state, auth=set(members),
                                   clock=lambda: NOW)
    seed_state(engine, members, quota=strategy == "quota-first")
    return engine


_FAMILIES: list[tuple[str, int, list[str]]] = [
    ("anthropic", 40, ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]),
    ("openai-codex", 40, ["gpt-5", "gpt-5-codex", "o3", "gpt-4.1-mini"]),
    ("google-gemini-cli", 16, ["gemini-2.5-pro", "gemini-2.5-flash"]),
    ("github-copilot", 16, ["gpt-4.1", "claude-sonnet-4"]),
]


def generate_policy(pool_size: int = 8) -> tuple[str, list[str]]:
    """A realistic large policy as YAML text (block style, comments), and every account name in it.

    Shapes: ~110 subscriptions with labels; each provider family split into pools of
    ``pool_size`` (round-robin, scheduled with member windows, quota-first, in turn); chains over
    pools of different families; presets over providers; a few error rules.
    """
    lines = [
        "# Generated by benchmarks/engine_cases.py: a large team policy.",
        "version: 1",
        "settings:",
        "  cooldown: 5m",
        f"  timezone: {TZ_NAME}",
        "  turnTtl: 2h",
        "  quotaTtl: 90s",
        "  selectorTimeout: 250ms",
        "  rotateOn: [rate_limit, quota_exhausted, overloaded]",
        "",
        "subscriptions:",
    ]
    accounts: list[str] = []
    pools: list[tuple[str, str, list[str]]] = []
    for base, count, _models in _FAMILIES:
        accounts += members_of(count, base)
        lines.append(f"  # {base}: {count} seats")
        for i in range(2, count + 1):
            lines += [f"  - provider: {base}", f"    index: {i}", f"    label: {'team' if i % 3 else 'personal'}-{i}"]
    lines += ["", "pools:"]
    strategies = ["round-robin", "scheduled", "quota-first"]
    pool_no = 0
    for base, count, _models in _FAMILIES:
        family = members_of(count, base)
        for g in range(0, len(family), pool_size):
            group = family[g:g + pool_size]
            name = f"{base.split('-')[0]}-{g // pool_size + 1}"
            strategy = strategies[pool_no % len(strategies)]
            pool_no += 1
            pools.append((name, base, group))
            lines += [f"  - name: {name}", f"    baseProvider: {base}", "    enabled: true",
                      f"    strategy: {strategy}", f"    cooldown: {3 + pool_no % 5}m", "    members:"]
            lines += [f"      - {m}" for m in group]
            if strategy == "scheduled":
                lines.append("    memberSchedule:")
                plan = member_schedule(group)
                for member in group:
                    entry = plan[member]
                    lines += [f"      {member}:", f"        role: {entry['role']}"]
                    if entry.get("windows"):
                        lines.append("        windows:")
                        lines += [f"          - {json.dumps(w)}" for w in entry["windows"]]
    lines += ["", "chains:"]
    by_family: dict[str, list[str]] = {}
    for name, base, _group in pools:
        by_family.setdefault(base, []).append(name)
    families = list(by_family)
    for c in range(12):
        lines += [f"  - name: chain-{c + 1}", "    enabled: true", "    entries:"]
        for k in range(4):
            base = families[(c + k) % len(families)]
            pool_name = by_family[base][(c + k) % len(by_family[base])]
            model = next(m for b, _n, ms in _FAMILIES if b == base for m in [ms[(c + k) % len(ms)]])
            lines += [f"      - pool: {pool_name}", f"        model: {model}", "        enabled: true"]
    lines += ["", "presets:"]
    for p in range(12):
        lines += [f"  - name: preset-{p + 1}", "    enabled: true", "    entries:"]
        for k in range(4):
            base, count, models = _FAMILIES[(p + k) % len(_FAMILIES)]
            provider = members_of(count, base)[(p * 5 + k) % count]
            lines += [f"      - provider: {provider}", f"        model: {models[(p + k) % len(models)]}",
                      "        enabled: true"]
    lines += [
        "", "errorRules:",
        "  - {provider: anthropic, match: 'out of extra usage', kind: quota_exhausted}",
        "  - {provider: openai-codex, type: usage_limit_reached, kind: quota_exhausted}",
        "  - {status: 529, kind: overloaded}",
        "  - {status: [500, 502], kind: other, rotate: false}",
        "  - {match: 'try again in \\d+ ?min', kind: rate_limit, retryAfter: 2m}",
        "  - {provider: google-gemini-cli, code: RESOURCE_EXHAUSTED, kind: rate_limit}",
    ]
    return "\n".join(lines) + "\n", accounts
