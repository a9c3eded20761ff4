"""Status views of a set-up: accounts, pools, chains, presets and the project, as the engine sees them now.

Every view is built from a loaded :class:`~policy_engine.engine.Engine` (the effective policy:
global policy, project overlay and ``MULTI_SUB``), its credentials (``auth.json``; only whether a
credential exists and when an OAuth token expires, never the token) and one snapshot of its
state store (cooldowns, cursors, quota snapshots), read-only. ``*_status`` functions return
JSON-able dicts (the ``--format json`` output); ``render_*`` functions lay them out as text.

A member is *available* when it is a known account, allowed by the project, logged in, not
cooling down, and (in a scheduled pool) not a preferred member outside its windows: exactly what
the engine checks before its strategy orders a pool, so "available" here means "could be chosen
now". Chain and preset views add the engine's own decision for a new turn (a dry run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from policy_engine.common.durations import format_duration
from policy_engine.common.timezones import isoformat, supported_epoch
from policy_engine.edit.schedule_text import format_window

if TYPE_CHECKING:
    from policy_engine.compile.graph import CompiledPool
    from policy_engine.engine import Engine
    from policy_engine.policy.merge import Subscription
    from policy_engine.state import StateSnapshot

__all__ = [
    "account_status",
    "chain_status",
    "human_duration",
    "pool_status",
    "preset_status",
    "project_status",
    "render_accounts",
    "render_chains",
    "render_pools",
    "render_presets",
    "render_project",
]


def human_duration(seconds: float) -> str:
    """``42s``, ``42m``, ``3h05m``, ``2d4h``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{rest:02d}m" if rest else f"{hours}h"
    days, rest_hours = divmod(hours, 24)
    return f"{days}d{rest_hours}h" if rest_hours else f"{days}d"


def _when(moment: datetime | None, now: datetime, tz: tzinfo) -> str:
    """``10:35 (in 4m)``, ``Mon 2026-11-30 09:00 (in 2d4h)``; ``never`` for None."""
    if moment is None:
        return "never"
    local = moment.astimezone(tz)
    same_day = local.date() == now.astimezone(tz).date()
    text = local.strftime("%H:%M") if same_day else local.strftime("%a %Y-%m-%d %H:%M")
    delta = (moment - now).total_seconds()
    return f"{text} (in {human_duration(delta)})" if delta > 0 else text


def _login(engine: Engine, name: str, now: datetime) -> dict[str, Any]:
    """Login state from ``auth.json``: ``{"loggedIn", "auth", "expiresAt"}`` (never a token)."""
    if not engine.auth.has(name):
        return {"loggedIn": False, "auth": "not logged in", "expiresAt": None}
    read = getattr(engine.auth, "credential", None)  # auth.json knows expiry; a static source does not
    credential = read(name) if read is not None else None
    if credential is None:
        return {"loggedIn": True, "auth": "logged in", "expiresAt": None}
    if credential.kind == "api_key":
        return {"loggedIn": True, "auth": "logged in (api key)", "expiresAt": None}
    if credential.expires_at is None:
        return {"loggedIn": True, "auth": "logged in", "expiresAt": None}
    moment = supported_epoch(credential.expires_at)  # None for NaN, Infinity, 2^63 ms (from any auth source)
    if moment is None:
        return {"loggedIn": True, "auth": "logged in (token expiry unknown)", "expiresAt": None}
    expires = moment.astimezone(now.tzinfo)
    left = (expires - now).total_seconds()
    text = f"logged in (expires in {human_duration(left)})" if left > 0 else "logged in (token expired, will refresh)"
    return {"loggedIn": True, "auth": text, "expiresAt": isoformat(expires, engine.graph.tz)}


def _subscriptions(engine: Engine) -> list[Subscription]:
    from policy_engine.policy.merge import merge_policy

    sources = engine.sources
    merged = merge_policy(sources.global_doc if sources else None, sources.project_doc if sources else None,
                          dict(os.environ), engine.graph.bases)
    return [s for s in merged.subscriptions if s.provider in engine.graph.bases]


# -------------------------------------------------------------------------------------- accounts


def account_status(engine: Engine, *, include_bases: bool = True) -> list[dict[str, Any]]:
    """Every extra account (declared or ``MULTI_SUB``), and the base accounts that are used or logged in.

    Each: name, provider, index, label, source (``policy``, ``env`` or ``base``), login state,
    token expiry, whether the project allows it, and the pools that list it.
    """
    graph = engine.graph
    now = engine.now()
    rows: list[dict[str, Any]] = []
    pools_of: dict[str, list[str]] = {}
    for pool in graph.pools.values():
        for member in pool.written_members:
            pools_of.setdefault(member, []).append(pool.name)
    presets_of = {e.provider for p in graph.presets.values() for e in p.entries if e.provider}
    if include_bases:
        for base in sorted(graph.bases):
            if base in pools_of or base in presets_of or engine.auth.has(base):
                rows.append({"name": base, "provider": base, "index": 1, "label": None, "source": "base"})
    for sub in _subscriptions(engine):
        rows.append({"name": sub.name, "provider": sub.provider, "index": sub.index, "label": sub.label,
                     "source": sub.source})
    for row in rows:
        row.update(_login(engine, row["name"], now))
        row["allowed"] = graph.allowed is None or row["name"] in graph.allowed
        row["pools"] = pools_of.get(row["name"], [])
    return rows


def render_accounts(rows: Sequence[Mapping[str, Any]], *, detail: bool) -> str:
    """``openai-codex-2 (work) | logged in (expires in 42m) | policy | pools: codex``."""
    if not rows:
        return "no accounts: add one with `mp-policy subs add PROVIDER`"
    lines = []
    for row in rows:
        name = f"{row['name']} ({row['label']})" if row.get("label") else row["name"]
        parts = [name, row["auth"] if detail else ("logged in" if row["loggedIn"] else "not logged in"),
                 {"base": "base account", "env": "MULTI_SUB", "policy": "policy"}[row["source"]]]
        if not row["allowed"]:
            parts.append("not allowed in this project")
        if detail:
            parts.append(f"pools: {', '.join(row['pools'])}" if row["pools"] else "in no pool")
        lines.append(" | ".join(parts))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- pools


def _source(engine: Engine, section: str) -> str:
    sources = engine.sources
    project = sources.project_doc if sources else None
    if project is not None and isinstance(project.data, Mapping) and isinstance(project.data.get(section), list):
        return "project"
    return "global"


def _member(engine: Engine, pool: CompiledPool, member: str, snapshot: StateSnapshot, now: datetime
            ) -> dict[str, Any]:
    graph = engine.graph
    state: dict[str, Any] = {"name": member, "known": member in graph.accounts,
                             "allowed": graph.allowed is None or member in graph.allowed}
    state.update(_login(engine, member, now))
    cooldown = snapshot.cooldowns.get(member)
    running = cooldown is not None and cooldown.until > now
    state["cooldown"] = ({"until": isoformat(cooldown.until, graph.tz), "reason": cooldown.reason}
                         if running else None)
    plans = pool.prepared if pool.strategy_name == "scheduled" and isinstance(pool.prepared, Mapping) else {}
    plan = plans.get(member)
    raw = pool.member_schedule.get(member) if isinstance(pool.member_schedule, Mapping) else None
    state["role"] = plan.role if plan is not None else (raw.get("role", "default") if isinstance(raw, Mapping)
                                                        else None)
    window = None
    if plan is not None and plan.schedule is not None:
        active, until = plan.schedule.state(now)
        window = {"active": active, "until": isoformat(until, graph.tz),
                  "windows": [format_window(w) for w in (raw or {}).get("windows", [])]}
    state["window"] = window
    quota = snapshot.quota.get(member)
    state["quota"] = ({"remaining": quota.remaining, "fetchedAt": isoformat(quota.fetched_at, graph.tz)}
                      if quota is not None else None)
    reasons = []
    if not state["known"]:
        reasons.append("unknown account")
    if not state["allowed"]:
        reasons.append("not allowed in this project")
    if not state["loggedIn"]:
        reasons.append("not logged in")
    if running:
        reasons.append("cooling down")
    if window is not None and not window["active"]:
        reasons.append("outside its windows")
    state["available"] = not reasons
    state["unavailable"] = reasons
    return state


def pool_status(engine: Engine, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Each pool (or the named ones): its settings, each member's availability, and the next pick.

    The next pick is the engine's answer to a new turn on the pool (a dry run), ``None`` when the
    pool is disabled or nothing is available.
    """
    graph = engine.graph
    now = engine.now()
    dry = engine.dry_run()  # reads the state once; its memory copy serves the views below too
    snapshot = dry.store.snapshot()
    source = _source(engine, "pools")
    rows = []
    for pool in graph.pools.values():
        if names and pool.name not in names:
            continue
        members = [_member(engine, pool, m, snapshot, now) for m in pool.written_members]
        available = sum(1 for m in members if m["available"]) if pool.enabled else 0
        pick = None
        if pool.enabled and not pool.dropped:
            decision = dry.select(pool=pool.name)
            pick = decision.target.provider if decision.target is not None else None
        rows.append({
            "name": pool.name, "source": source, "baseProvider": pool.base, "enabled": pool.enabled,
            "strategy": pool.strategy_name, "selectorScript": pool.selector_script,
            "cooldown": format_duration(pool.cooldown), "cursor": snapshot.cursors.get(pool.name),
            "dropped": pool.dropped, "available": available, "members": members, "next": pick,
        })
    return rows


def _availability(row: Mapping[str, Any]) -> str:
    count = len(row["members"])
    text = f"{row['available']}/{count} available"
    if not row["enabled"]:
        return text + " | pool disabled"
    if row["dropped"]:
        return text + " | no member is allowed in this project"
    if row["available"] == 0:
        if not any(m["loggedIn"] for m in row["members"]):
            return text + " | no member is logged in"
        return text + " | cooling down or outside windows"
    return text


def render_pools(rows: Sequence[Mapping[str, Any]], *, detail: bool, now: datetime, tz: tzinfo) -> str:
    """The ``pool list`` lines, or with ``detail`` the ``pool status`` blocks."""
    if not rows:
        return "no pools: create one with `mp-policy pool create NAME --provider BASE --members A,B`"
    lines: list[str] = []
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        logged = sum(1 for m in row["members"] if m["loggedIn"])
        if not detail:
            lines.append(f"{row['name']} | {row['baseProvider']} | {len(row['members'])} member(s) ({logged} logged "
                         f"in, {row['available']} available) | {state} | {row['strategy']}"
                         + (" | project" if row["source"] == "project" else ""))
            continue
        lines.append(f"=== {row['name']} ({state}, {row['source']}) ===")
        lines.append(f"provider: {row['baseProvider']} | strategy: {row['strategy']} | cooldown: {row['cooldown']}")
        if row["selectorScript"]:
            lines.append(f"selector: {row['selectorScript']}")
        lines.append(f"availability: {_availability(row)}")
        if row["next"]:
            lines.append(f"next: {row['next']}" + (f" (cursor: {row['cursor']})" if row["cursor"] else ""))
        for member in row["members"]:
            lines.append(f"  {member['name']} -- {_member_text(member, now, tz)}")
    return "\n".join(lines)


def _member_text(member: Mapping[str, Any], now: datetime, tz: tzinfo) -> str:
    parts = [member["auth"]]
    if not member["known"]:
        parts.append("unknown account")
    if not member["allowed"]:
        parts.append("not allowed in this project")
    cooldown = member["cooldown"]
    if cooldown is not None:
        parts.append(f"cooling down until {_when(datetime.fromisoformat(cooldown['until']), now, tz)} "
                     f"({cooldown['reason']})")
    if member["role"] is not None:
        role = member["role"]
        window = member["window"]
        if window is not None:
            until = datetime.fromisoformat(window["until"]) if window["until"] else None
            spans = "; ".join(window["windows"])
            if window["active"]:
                role += f", in its window ({spans}) until {_when(until, now, tz)}"
            else:
                role += f", outside its window ({spans}) until {_when(until, now, tz)}"
        parts.append(role)
    quota = member["quota"]
    if quota is not None and quota["remaining"] is not None:
        parts.append(f"quota {quota['remaining']:.0f}% left")
    parts.append("available" if member["available"] else "unavailable")
    return " | ".join(parts)


# ---------------------------------------------------------------------------------------- chains


def chain_status(engine: Engine, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Each chain (or the named ones): every entry with why it can or cannot be used now, and the decision."""
    graph = engine.graph
    now = engine.now()
    dry = engine.dry_run()  # reads the state once; its memory copy serves the views below too
    snapshot = dry.store.snapshot()
    source = _source(engine, "chains")
    rows = []
    for chain in graph.chains.values():
        if names and chain.name not in names:
            continue
        entries = []
        for entry in chain.entries:
            pool = graph.pools.get(entry.pool or "")
            issue = None
            available = 0
            if pool is None:
                issue = f"invalid pool: {entry.pool} missing"
            elif not pool.enabled:
                issue = f"invalid pool: {pool.name} disabled"
            elif entry.dropped or pool.dropped:
                issue = f"pool {pool.name} has no member allowed in this project"
            else:
                available = sum(1 for m in pool.written_members
                                if _member(engine, pool, m, snapshot, now)["available"])
            usable = chain.enabled and entry.enabled and issue is None and available > 0
            entries.append({"index": entry.index, "pool": entry.pool, "model": entry.model, "enabled": entry.enabled,
                            "issue": issue, "available": available,
                            "members": len(pool.written_members) if pool is not None else 0, "usable": usable})
        target = None
        retry = None
        if chain.enabled:
            decision = dry.select(chain=chain.name)
            target = decision.target.to_dict() if decision.target is not None else None
            retry = isoformat(decision.retry_after, graph.tz)
        rows.append({"name": chain.name, "source": source, "enabled": chain.enabled, "entries": entries,
                     "usable": sum(1 for e in entries if e["usable"]),
                     "invalid": sum(1 for e in entries if e["issue"]), "target": target, "retryAfter": retry})
    return rows


def render_chains(rows: Sequence[Mapping[str, Any]], *, detail: bool) -> str:
    """The ``chain list`` lines, or with ``detail`` the ``chain status`` blocks."""
    if not rows:
        return "no chains: create one with `mp-policy chain create NAME --entry POOL:MODEL`"
    lines: list[str] = []
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        count = len(row["entries"])
        summary = f"{row['usable']}/{count}"
        if not detail:
            invalid = f" | {row['invalid']} invalid" if row["invalid"] else ""
            lines.append(f"{row['name']} | {count} entr{'y' if count == 1 else 'ies'} | {state}{invalid} | "
                         f"{summary} usable now"
                         + (" | project" if row["source"] == "project" else ""))
            continue
        lines.append(f"=== {row['name']} ({state}, {row['source']}) ===")
        lines.append(f"usable entries now: {summary}"
                     + (f" | invalid entries: {row['invalid']} (skipped until fixed)" if row["invalid"] else ""))
        if row["target"]:
            target = row["target"]
            lines.append(f"now: {target['provider']} · {target['model']} (entry {target['entry']}, pool "
                         f"{target['pool']})")
        elif row["enabled"]:
            lines.append("now: no target" + (f"; retry after {row['retryAfter']}" if row["retryAfter"] else ""))
        for entry in row["entries"]:
            parts = ["enabled" if entry["enabled"] else "disabled"]
            if entry["issue"]:
                parts += [entry["issue"], "skipped"]
            else:
                parts.append(f"{entry['available']}/{entry['members']} available")
            if entry["usable"]:
                parts.append("usable")
            lines.append(f"  {entry['index']}. {entry['pool']} -> {entry['model']} ({' | '.join(parts)})")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- presets


def preset_status(engine: Engine) -> list[dict[str, Any]]:
    """Each preset with its entries, and whether each entry's provider is logged in."""
    graph = engine.graph
    source = _source(engine, "presets")
    return [{"name": p.name, "source": source, "enabled": p.enabled,
             "entries": [{"index": e.index, "provider": e.provider, "model": e.model, "enabled": e.enabled,
                          "loggedIn": bool(e.provider and engine.auth.has(e.provider)),
                          "known": e.provider in graph.accounts} for e in p.entries]}
            for p in graph.presets.values()]


def render_presets(rows: Sequence[Mapping[str, Any]]) -> str:
    """``+ coding-premium: anthropic / claude-sonnet-4-5 -> openai-codex / o3`` (``-`` when disabled)."""
    if not rows:
        return "no presets: create one with `mp-policy preset create NAME --entry PROVIDER:MODEL`"
    lines = []
    for row in rows:
        entries = " -> ".join(f"{e['provider']} / {e['model']}" + ("" if e["enabled"] else " (disabled)")
                              + ("" if e["loggedIn"] else " (not logged in)") for e in row["entries"])
        lines.append(f"{'+' if row['enabled'] else '-'} {row['name']}: {entries}"
                     + (" [project]" if row["source"] == "project" else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- project


def project_status(engine: Engine) -> dict[str, Any]:
    """The effective policy of this directory: the overlay, the allow-list, pools, chains, presets, accounts."""
    graph = engine.graph
    sources = engine.sources
    project_path = sources.project_path if sources else None
    pools, chains, presets = (_source(engine, section) for section in ("pools", "chains", "presets"))
    return {
        "project": str(project_path) if project_path else None,
        "global": str(sources.global_path) if sources and sources.global_path else None,
        "allowedSubs": sorted(graph.allowed) if graph.allowed is not None else None,
        "pools": [{"name": p.name, "source": pools, "enabled": p.enabled,
                   "members": list(p.members), "written": list(p.written_members), "dropped": p.dropped}
                  for p in graph.pools.values()],
        "chains": [{"name": c.name, "source": chains, "enabled": c.enabled,
                    "entries": [{"pool": e.pool, "model": e.model, "enabled": e.enabled, "dropped": e.dropped}
                                for e in c.entries]} for c in graph.chains.values()],
        "presets": [{"name": p.name, "source": presets, "enabled": p.enabled}
                    for p in graph.presets.values()],
        "accounts": [{"name": a["name"], "loggedIn": a["loggedIn"], "allowed": a["allowed"]}
                     for a in account_status(engine)],
    }


def render_project(info: Mapping[str, Any]) -> str:
    """The ``project info`` text."""
    lines = [f"Project config: {info['project'] or 'none (using global)'}",
             f"Global policy: {info['global'] or 'none'}",
             "Allowed subs: " + (", ".join(info["allowedSubs"]) if info["allowedSubs"] else "all (no restriction)")]
    lines.append("Pools:" if info["pools"] else "Pools: none")
    for pool in info["pools"]:
        state = "enabled" if pool["enabled"] else "disabled"
        members = ", ".join(pool["members"]) if pool["members"] else "no allowed member (dropped)"
        lines.append(f"  {pool['name']} [{pool['source']}] -- {members} ({state})")
    lines.append("Chains:" if info["chains"] else "Chains: none")
    for chain in info["chains"]:
        state = "enabled" if chain["enabled"] else "disabled"
        entries = " -> ".join(f"{e['pool']}:{e['model']}" + (" (dropped)" if e["dropped"] else "")
                              + ("" if e["enabled"] else " (disabled)") for e in chain["entries"])
        lines.append(f"  {chain['name']} [{chain['source']}] -- {entries} ({state})")
    lines.append("Presets: " + (", ".join(f"{p['name']} [{p['source']}]" + ("" if p["enabled"] else " (disabled)")
                                          for p in info["presets"]) or "none"))
    accounts = [a for a in info["accounts"] if a["allowed"]]
    lines.append("Accounts: " + (", ".join(f"{a['name']} ({'logged in' if a['loggedIn'] else 'not logged in'})"
                                           for a in accounts) or "none"))
    return "\n".join(lines)
