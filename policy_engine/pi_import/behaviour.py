"""What will behave differently under mp-policy for one particular pi-multi-pass set-up (DESIGN §10).

Only what applies to the set-up is reported: a provider in two enabled pools, each quota-first,
scheduled and custom pool, each enabled chain and preset, day ranges that pi never matched,
objects without ``enabled`` (pi read that as off), accounts that exist only through ``MULTI_SUB``,
labels that ``MULTI_SUB`` moves to another account, and the differences every failover has
(cooldowns, error classification, turns, the start of a turn) once, when the set-up has pools.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.pi_import.convert import Converted
from policy_engine.pi_import.model import Difference
from policy_engine.policy.days import check_days, expand_days
from policy_engine.policy.loader import from_object
from policy_engine.policy.merge import merge_policy, parse_multi_sub
from policy_engine.sandbox.selector import LANGUAGES, resolve_script

__all__ = ["SetupContext", "behaviour_differences", "env_accounts", "pi_labels"]

#: Base providers pi-multi-pass 1.3.0 had quota checkers for (quota-first did something only there).
PI_QUOTA_BASES = frozenset({"openai-codex", "google-gemini-cli", "google-antigravity"})


@dataclass(frozen=True)
class SetupContext:
    """What the analysis needs beyond the files: accounts, quota checkers, MULTI_SUB, where scripts are."""

    bases: frozenset[str]
    quota_bases: frozenset[str]
    multi_sub: str | None
    env_accounts: tuple[str, ...]  # the accounts MULTI_SUB adds to the global file's (see env_accounts)
    agent_dir: Path  # pi-multi-pass resolved relative selector scripts here
    output_dirs: Mapping[str, Path]  # file kind -> the folder its YAML goes to (relative scripts start there)


class _Out:
    def __init__(self) -> None:
        self.items: list[Difference] = []

    def add(self, conv: Converted, code: str, path: tuple[str | int, ...], message: str) -> None:
        self.items.append(Difference(code=code, message=message, kind="behaviour", file=conv.label, path=path,
                                     line=conv.position(path)))


def behaviour_differences(global_: Converted | None, project: Converted | None, ctx: SetupContext, *,
                          global_imported: bool = True) -> list[Difference]:
    """Every DESIGN §10 deviation (and pi-multi-pass quirk) that applies to this set-up, in file order.

    With ``global_imported=False`` (only a project is imported) the global file is context: its
    own differences are not reported, only what it means inside the project.
    """
    out = _Out()
    files = [c for c in (global_ if global_imported else None, project) if c is not None]
    for conv in files:
        _enabled_missing(conv, out)
        _pools(conv, ctx, out)
        _day_ranges(conv, out)
        _chains(conv, out)
        _presets(conv, out)
    if project is not None:
        _project(global_, project, out)
    _multi_sub(files, global_ if global_imported else None, ctx, out)
    with_pools = next((c for c in files if c.data.get("pools")), None)
    if with_pools is None and files and global_ is not None and global_.data.get("pools"):
        with_pools = files[0]  # a project without pools of its own uses the global ones
    if with_pools is not None:
        _every_failover(with_pools, out)
    return out.items


# --------------------------------------------------------------------------- enabled


def _enabled_missing(conv: Converted, out: _Out) -> None:
    """pi-multi-pass read a missing ``enabled`` as false (``if (!pool.enabled)``); mp-policy as true."""
    for section, kind, origins in (("pools", "pool", [(i, []) for i in conv.origins.pools]),
                                   ("chains", "chain", conv.origins.chains),
                                   ("presets", "preset", conv.origins.presets)):
        if section == "chains" and conv.chains_from_global:
            continue
        for k, item in enumerate(conv.data.get(section) or []):
            original, entry_origin = origins[k]
            missing_entries = [entry_origin[j] for j, e in enumerate(item.get("entries") or []) if "enabled" not in e]
            parts = []
            if "enabled" not in item:
                parts.append(f"{kind} {item['name']!r}")
            if missing_entries:
                parts.append(f"{'entry' if len(missing_entries) == 1 else 'entries'} "
                             f"{', '.join(map(str, missing_entries))} of {kind} {item['name']!r}")
            if parts:
                plural = len(parts) > 1 or len(missing_entries) > 1
                out.add(conv, "enabled-missing", (section, original),
                        f"{' and '.join(parts)} {'have' if plural else 'has'} "
                        "no 'enabled' key: pi-multi-pass read that as disabled (off), mp-policy as enabled; "
                        "write enabled: false to keep it off")


# --------------------------------------------------------------------------- pools


def _pool_path(conv: Converted, k: int, *rest: str | int) -> tuple[str | int, ...]:
    return ("pools", conv.origins.pools[k], *rest)


def _pools(conv: Converted, ctx: SetupContext, out: _Out) -> None:
    pools = conv.data.get("pools") or []
    owners: dict[str, list[int]] = {}
    for k, pool in enumerate(pools):
        if pool.get("enabled", True) is not False:
            for member in pool["members"]:
                owners.setdefault(member, []).append(k)
    for member, ks in owners.items():
        if len(ks) > 1:
            names = [pools[k]["name"] for k in ks]
            last = ks[-1]
            j = conv.origins.members[last][pools[last]["members"].index(member)]
            out.add(conv, "two-pools", _pool_path(conv, last, "members", j),
                    f"{member} is in the enabled pools {', '.join(map(repr, names))}: pi-multi-pass gave it to the "
                    f"last one ({names[-1]!r}), mp-policy to the first ({names[0]!r}); a request for {member}, "
                    f"or a rate limit on it, now rotates within {names[0]!r} and follows that pool's chain")
    for k, pool in enumerate(pools):
        strategy = pool.get("strategy") or "round-robin"
        if strategy == "quota-first":
            _quota_first(conv, k, pool, ctx, out)
        elif strategy == "scheduled":
            _scheduled(conv, k, pool, out)
        elif strategy == "custom":
            _custom(conv, k, pool, ctx, out)


def _quota_first(conv: Converted, k: int, pool: Mapping[str, Any], ctx: SetupContext, out: _Out) -> None:
    base = pool["baseProvider"]
    if base in ctx.quota_bases:
        data = ("quota comes from cached snapshots (settings.quotaTtl) and a decision never waits on the network "
                "longer than settings.quotaBudget (pi: live calls on every failover, with no timeout)")
        if base not in PI_QUOTA_BASES:
            data += f"; pi-multi-pass had no quota checker for {base}, so this pool was plain round-robin there"
    elif base in PI_QUOTA_BASES:
        data = (f"no quota checker for {base} is installed in mp-policy, so until one is, this pool uses plain "
                "rotation order (pi-multi-pass called the quota endpoint on every failover)")
    else:
        data = (f"there is no quota checker for {base} (in pi-multi-pass neither, so the pool was round-robin "
                "there), so it uses plain rotation order")
    out.add(conv, "quota-first", _pool_path(conv, k, "strategy"),
            f"pool {pool['name']!r} (quota-first): mp-policy ranks every member by the quota it has left and puts "
            "members with 5% or less last; pi-multi-pass only moved the single best member to the front (even one "
            f"at 5% or less), and only during a failover with two or more candidates; {data}")


def _scheduled(conv: Converted, k: int, pool: Mapping[str, Any], out: _Out) -> None:
    schedule = pool.get("memberSchedule") or {}
    windowed = [m for m in pool["members"]
                if (schedule.get(m) or {}).get("role") == "preferred" and (schedule.get(m) or {}).get("windows")]
    if not windowed:
        return
    text = (f"pool {pool['name']!r} (scheduled): outside their windows the preferred "
            f"member{'s' if len(windowed) > 1 else ''} {', '.join(windowed)} "
            f"{'are' if len(windowed) > 1 else 'is'} not used at all (skipped as outside-window); pi-multi-pass "
            f"still used {'them' if len(windowed) > 1 else 'it'} as a last resort, when nothing else was left in "
            "the pool")
    if len(windowed) == len(pool["members"]):
        text += ("; since every member has windows, the pool has no account while they are all closed, and a "
                 "request waits (retryAfter) or moves on along its chain")
    preferred = [m for m in pool["members"] if (schedule.get(m) or {}).get("role") == "preferred"]
    if len(preferred) > 1:
        text += ("; among open preferred members the one whose open time ends soonest (across all its windows) goes "
                 "first (pi looked only at today's end hour)")
    out.add(conv, "preferred-window", _pool_path(conv, k, "memberSchedule"), text)


def _custom(conv: Converted, k: int, pool: Mapping[str, Any], ctx: SetupContext, out: _Out) -> None:
    script = pool.get("selectorScript")
    if not script:
        return  # mp-policy warns: custom without a script is rotation order, as pi's round-robin fallback
    out.add(conv, "custom-selector", _pool_path(conv, k, "strategy"),
            f"pool {pool['name']!r} (custom): the selector now runs sandboxed (node without file, network or child "
            "processes; Python through RestrictedPython), must answer within settings.selectorTimeout (250ms by "
            "default; pi: no timeout, a hanging selector hung the failover), is read again when the file changes "
            "(pi: only after a restart), and is also asked when a turn starts, not only after a failure")
    where = _pool_path(conv, k, "selectorScript")
    suffix = Path(script).suffix.lower()
    if suffix not in LANGUAGES:
        out.add(conv, "selector-language", where,
                f"pool {pool['name']!r}: mp-policy runs .py, .js, .mjs and .cjs selectors, not {suffix or 'this'} "
                "files; the pool will use rotation order")
        return
    mp_path = resolve_script(script, str(ctx.output_dirs[conv.kind]))
    pi_path = resolve_script(script, str(ctx.agent_dir))
    if os.path.normpath(mp_path) == os.path.normpath(pi_path):
        if not mp_path.is_file():
            out.add(conv, "selector-missing", where,
                    f"pool {pool['name']!r}: the selector {script} does not exist ({mp_path}); pi-multi-pass fell "
                    "back to round-robin and mp-policy uses rotation order too")
        return
    if pi_path.is_file() and not mp_path.is_file():
        out.add(conv, "selector-path", where,
                f"pool {pool['name']!r}: pi-multi-pass found {script} in the agent directory ({pi_path}); mp-policy "
                f"reads a relative path from the folder of the file that declares the pool ({mp_path}), where it "
                "does not exist, so the pool would use rotation order; copy the script there, or write the path "
                "from your home folder (~/...)")
    elif not mp_path.is_file():
        out.add(conv, "selector-missing", where,
                f"pool {pool['name']!r}: the selector {script} exists neither at {mp_path} (where mp-policy looks) "
                f"nor at {pi_path} (where pi-multi-pass looked); the pool uses rotation order")


def _day_ranges(conv: Converted, out: _Out) -> None:
    """Day ranges mp-policy reads (``mon-fri``, ``mon-sun``) that pi-multi-pass compared as plain text."""
    raw = conv.doc.data if isinstance(conv.doc.data, Mapping) else {}
    pools = raw.get("pools") if isinstance(raw.get("pools"), list) else []
    for i, pool in enumerate(pools):
        schedule = pool.get("memberSchedule") if isinstance(pool, Mapping) else None
        if not isinstance(schedule, Mapping):
            continue
        for member, entry in schedule.items():
            windows = entry.get("windows") if isinstance(entry, Mapping) else None
            for j, window in enumerate(windows if isinstance(windows, list) else []):
                days = window.get("days") if isinstance(window, Mapping) else None
                if not isinstance(days, list):
                    continue
                bad = {p.index for p in check_days(days)}
                for d, item in enumerate(days):
                    if isinstance(item, str) and "-" in item and d not in bad:
                        whole = " (the whole week)" if _full_week(item) else ""
                        out.add(conv, "days-range", ("pools", i, "memberSchedule", member, "windows", j, "days", d),
                                f"pool {pool.get('name')!r}, member {member!r}: pi-multi-pass compared day names "
                                f"exactly, so {item!r} never matched and this window never opened on those days; "
                                f"mp-policy reads it as a range of days{whole}")


def _full_week(item: str) -> bool:
    return len(expand_days([item])) == 7


# --------------------------------------------------------------------------- chains and presets


def _chains(conv: Converted, out: _Out) -> None:
    if conv.chains_from_global:
        return  # reported for the global file's chains
    for k, chain in enumerate(conv.data.get("chains") or []):
        if chain.get("enabled", True) is False:
            continue
        original = conv.origins.chains[k][0]
        out.add(conv, "chain-route", ("chains", original),
                f"chain {chain['name']!r}: a turn keeps the route it started on and goes on to the next entry after "
                "the last member of an entry's pool, whichever account failed (pi-multi-pass worked the chain out "
                "again from the failing account's pool at every failure); a pool reached through the chain starts "
                "at its cursor and is ordered by its own strategy (pi: its first member, in listed order)")


def _presets(conv: Converted, out: _Out) -> None:
    for k, preset in enumerate(conv.data.get("presets") or []):
        if preset.get("enabled", True) is False:
            continue
        original = conv.origins.presets[k][0]
        out.add(conv, "presets-failover", ("presets", original),
                f"preset {preset['name']!r} now takes part in failover: a turn started from it (select --preset) "
                "begins at its first usable entry (skipping accounts that are cooling down, not logged in or not "
                "allowed), and after a rate limit rotates within that entry's pool before the next entry; "
                "pi-multi-pass only used presets when you ran /mp-preset, and never again after the switch")


def _project(global_: Converted | None, project: Converted, out: _Out) -> None:
    if "presets" in project.data:
        out.add(project, "project-presets", ("presets",),
                "pi-multi-pass ignored presets in a project file (presets were always global); mp-policy uses these "
                "inside this project instead of the global presets")
    allowed = project.data.get("allowedSubs") or []
    allowed_set = {a.strip() for a in allowed if a.strip()}
    if not allowed_set:
        return
    owner = project if "presets" in project.data else global_
    if owner is None:
        return
    for k, preset in enumerate(owner.data.get("presets") or []):
        original, entry_origin = owner.origins.presets[k]
        outside = [(entry_origin[j], e["provider"]) for j, e in enumerate(preset["entries"])
                   if e["provider"] not in allowed_set]
        for j, provider in outside:
            out.add(owner, "preset-allow-list", ("presets", original, "entries", j),
                    f"preset {preset['name']!r} entry {j} ({provider}): inside the project "
                    f"({project.label}), whose allowedSubs does not list {provider}, mp-policy skips this entry "
                    "(not-allowed); pi-multi-pass ignored the allow-list for presets and switched to it, then "
                    "moved away again at the next prompt")


# --------------------------------------------------------------------------- accounts


def _multi_sub(files: Sequence[Converted], global_: Converted | None, ctx: SetupContext, out: _Out) -> None:
    """Members of ``files``' pools that only MULTI_SUB creates; labels it moves (``global_``: the imported global)."""
    env_only = set(ctx.env_accounts)
    for conv in files:
        for k, pool in enumerate(conv.data.get("pools") or []):
            for m, member in enumerate(pool["members"]):
                if member in env_only:
                    out.add(conv, "multi-sub-only", _pool_path(conv, k, "members", conv.origins.members[k][m]),
                            f"pool {pool['name']!r}: {member} exists only through MULTI_SUB={ctx.multi_sub}; "
                            "mp-policy reads MULTI_SUB at run time as pi-multi-pass did, so keep it set wherever "
                            "mp-policy runs (or declare the account under subscriptions)")
    counts, _ = parse_multi_sub(ctx.multi_sub, ctx.bases)
    if global_ is not None and counts:
        pi = pi_labels(global_.doc.data.get("subscriptions") if isinstance(global_.doc.data, Mapping) else None,
                       counts)
        ours = {f"{s['provider']}-{s['index']}": s["label"] for s in global_.data.get("subscriptions") or []
                if s.get("label")}
        if pi != ours:
            moved = ", ".join(f"{label!r} is on {name}" for name, label in sorted(ours.items())
                              if pi.get(name) != label)
            out.add(global_, "multi-sub-labels", ("subscriptions",),
                    f"with MULTI_SUB={ctx.multi_sub}, pi-multi-pass numbered the subscriptions without an index after "
                    f"the ones MULTI_SUB added, so their labels landed on other accounts ({_labels(pi)}); in "
                    f"mp-policy {moved}")


def _labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{label!r} on {name}" for name, label in sorted(labels.items())) or "no labels"


def env_accounts(declared: Sequence[Mapping[str, Any]], multi_sub: str | None, bases: frozenset[str]) -> list[str]:
    """The accounts ``multi_sub`` adds to the declared subscriptions, as mp-policy's merge adds them."""
    if not multi_sub:
        return []
    merged = merge_policy(from_object({"subscriptions": list(declared)}), None, {"MULTI_SUB": multi_sub}, bases)
    return [s.name for s in merged.subscriptions if s.source == "env"]


def pi_labels(raw: Any, counts: Mapping[str, int]) -> dict[str, str]:
    """Which account each label lands on in pi-multi-pass 1.3.0 (``mergeConfigs`` then ``normalizeEntries``)."""
    entries: list[list[Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("provider"), str) and item["provider"]:
            index = item.get("index")
            usable = isinstance(index, int | float) and not isinstance(index, bool) and index > 0
            label = item.get("label") if isinstance(item.get("label"), str) else None
            entries.append([item["provider"], index if usable else 0, label.strip() if label else None])
    for provider, wanted in counts.items():
        while sum(1 for e in entries if e[0] == provider) < wanted:
            used = {e[1] for e in entries if e[0] == provider}
            index = 2
            while index in used:
                index += 1
            entries.append([provider, index, None])
    for provider in dict.fromkeys(e[0] for e in entries):
        group = [e for e in entries if e[0] == provider]
        used = {e[1] for e in group if e[1] > 0}
        for entry in group:
            if entry[1] <= 0:
                index = 2
                while index in used:
                    index += 1
                used.add(index)
                entry[1] = index
    return {f"{p}-{int(i) if float(i).is_integer() else i}": label for p, i, label in entries if label}


# --------------------------------------------------------------------------- every failover


def _every_failover(conv: Converted, out: _Out) -> None:
    where = ("pools",)
    out.add(conv, "cooldowns", where,
            "after a rate limit an account rests for settings.cooldown (5m, as in pi-multi-pass) or until the time "
            "the error asks for (retry-after, reset headers) when that is later; cooldowns live in the state store "
            "(SQLite in the agent directory), so they survive restarts and every agent process sees them "
            "(pi-multi-pass: a fixed 5 minutes, in memory, per pi process)")
    out.add(conv, "error-classification", where,
            "errors are classified by HTTP status and error type first: 'Context limit reached' and a request id "
            "that merely contains 429 no longer rotate, while Anthropic's 'out of extra usage' and 'credit balance "
            "is too low' now do (pi-multi-pass matched words in the message only)")
    out.add(conv, "turn-cascade", where,
            "the accounts tried for a prompt are remembered per turn (a turn id) and forgotten when the turn ends; "
            "pi-multi-pass keyed this on the prompt text, so sending the same text again later still skipped the "
            "accounts tried before")
    out.add(conv, "select-checks-provider", where,
            "a new turn skips the account it names when that account has no credentials or is cooling down "
            "(pi-multi-pass started on it anyway and only moved after an error)")
