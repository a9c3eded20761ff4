"""Compile an effective policy into an immutable :class:`~policy_engine.compile.graph.Graph`.

Stages, each collecting diagnostics instead of stopping at the first: settings, accounts, pools
(strategies prepared; members of the pool's family), chains, presets, indexes (provider -> pool,
pool -> chain position), static checks. Errors (missing references, unknown strategies, duplicate
names, a member of another family) make the policy unusable; warnings (a provider in two enabled
pools, an unknown pool member, an entry that can never be reached, a chain that is entirely
disabled) do not.

Settings are compiled in :mod:`~policy_engine.compile.settings`, pools in
:mod:`~policy_engine.compile.pools`; diagnostics are gathered by :mod:`~policy_engine.compile.collector`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import tzinfo
from typing import Any

from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.digests import sha256
from policy_engine.compile.allow_list_checks import emptied_by_allow_list
from policy_engine.compile.collector import Collector, did_you_mean_hint
from policy_engine.compile.graph import (
    CompiledChain,
    CompiledEntry,
    CompiledPool,
    CompiledPreset,
    Graph,
)
from policy_engine.compile.pools import check_pool_families, compile_pools
from policy_engine.compile.settings import compile_settings
from policy_engine.plugins import Registry
from policy_engine.policy.merge import MAX_EXTRA_ACCOUNTS, EffectivePolicy

__all__ = ["compile_policy", "policy_revision"]

_CACHE: OrderedDict[str, Graph] = OrderedDict()
_CACHE_SIZE = 64


def policy_revision(*parts: Any) -> str:
    """A short content hash of the inputs of a compilation (``policyRevision``)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return sha256(blob.encode()).hexdigest()[:16]


def _entries(
    kind: str, raw_list: Sequence[Mapping[str, Any]], pools: Mapping[str, CompiledPool], accounts: frozenset[str],
    out: Collector,
) -> dict[str, tuple[bool, tuple[CompiledEntry, ...]]]:
    section = "chains" if kind == "chain" else "presets"
    result: dict[str, tuple[bool, tuple[CompiledEntry, ...]]] = {}
    for i, raw in enumerate(raw_list):
        name = raw.get("name")
        if not isinstance(name, str):
            continue
        if name in result:
            out.add(section, [i, "name"], "duplicate-name", f"{kind} {name!r} is declared twice")
            continue
        enabled = raw.get("enabled", True) is not False
        entries: list[CompiledEntry] = []
        for j, entry in enumerate(raw.get("entries") or []):
            if not isinstance(entry, Mapping):
                continue
            entry_enabled = entry.get("enabled", True) is not False
            model = entry.get("model") if isinstance(entry.get("model"), str) else None
            if kind == "chain":
                pool_name = entry.get("pool")
                pool = pools.get(pool_name) if isinstance(pool_name, str) else None
                if pool is None:
                    out.add(section, [i, "entries", j, "pool"], "unknown-pool",
                            f"chain {name!r} entry {j}: there is no pool {pool_name!r}",
                            hint=did_you_mean_hint(str(pool_name), sorted(pools)) or "declare the pool or fix the name")
                    continue
                entries.append(CompiledEntry(j, model, entry_enabled, pool=pool.name, dropped=pool.dropped))
                if enabled and entry_enabled:
                    if not pool.enabled:
                        out.add(section, [i, "entries", j], "unreachable-entry",
                                f"chain {name!r} entry {j}: pool {pool.name!r} is disabled; "
                                "the entry is always skipped", "warning")
                    elif not any(m in accounts for m in pool.members) and not pool.dropped:
                        out.add(section, [i, "entries", j], "unreachable-entry",
                                f"chain {name!r} entry {j}: pool {pool.name!r} has no known account", "warning")
            else:
                provider = entry.get("provider")
                if not isinstance(provider, str):
                    continue
                entries.append(CompiledEntry(j, model, entry_enabled, provider=provider))
                if enabled and entry_enabled and provider not in accounts:
                    out.add(section, [i, "entries", j, "provider"], "unreachable-entry",
                            f"preset {name!r} entry {j}: {provider!r} is not a known account; "
                            "the entry is skipped as unknown", "warning",
                            hint=did_you_mean_hint(provider, sorted(accounts)))
        if enabled and entries and not any(
            e.enabled and (kind != "chain" or (pools[e.pool].enabled if e.pool else False)) for e in entries
        ):
            out.add(section, [i], "all-disabled",
                    f"{kind} {name!r} is enabled but every entry is disabled (or points at a disabled pool)",
                    "warning", hint=f"enable an entry, or set enabled: false on the {kind}")
        result[name] = (enabled, tuple(entries))
    return result


def compile_policy(
    policy: EffectivePolicy,
    registry: Registry,
    *,
    revision: str,
    default_tz: tzinfo,
    models: Mapping[str, Sequence[str]] | None = None,
    base_dir: str | None = None,
    use_cache: bool = True,
    cache_key: str | None = None,
) -> Graph:
    """Compile (or fetch from the cache) the graph; raise PolicyError on errors.

    The cache key is ``revision`` plus ``cache_key`` (the source files and their text), so a
    graph's diagnostics always point at the file that was loaded, at its current lines.
    """
    key = f"{revision}:{cache_key}" if cache_key else revision
    if use_cache and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    out = Collector(policy)
    settings, tz = compile_settings(policy.settings, default_tz, out)
    bases = registry.bases
    for sub in policy.subscriptions:
        if sub.provider not in bases and sub.position is not None:
            out.add("subscriptions", [sub.position, "provider"], "unknown-provider",
                    f"unknown provider {sub.provider!r}; this subscription is ignored", "warning",
                    hint=did_you_mean_hint(sub.provider, sorted(bases)) or f"known: {', '.join(sorted(bases))}")
    for part in policy.unknown_env:
        provider = part.partition(":")[0].strip()
        hint = did_you_mean_hint(provider, sorted(bases)) if provider not in bases else None
        why = ("unknown provider" if provider not in bases
               else f"the count must be a whole number from 1 to {MAX_EXTRA_ACCOUNTS}")
        out.items.append(Diagnostic(
            code="multi-sub", message=f"MULTI_SUB part {part!r} is ignored ({why})", severity="warning",
            file="$MULTI_SUB",
            hint=hint or f"write provider[:count], e.g. openai-codex:2; known: {', '.join(sorted(bases))}",
        ))
    names = [s.name for s in policy.subscriptions if s.provider in bases]
    seen_names: set[str] = set()
    for sub in policy.subscriptions:
        if sub.name in seen_names and sub.position is not None:
            out.add("subscriptions", [sub.position], "duplicate-subscription",
                    f"{sub.name} is declared twice", "warning")
        seen_names.add(sub.name)
    accounts = frozenset(bases) | frozenset(names)
    if policy.allowed:
        for j, name in enumerate(policy.allowed):
            if name not in accounts:
                out.add("allowedSubs", [j], "unknown-account",
                        f"allowedSubs names {name!r}, which is not a known account", "warning",
                        hint=did_you_mean_hint(name, sorted(accounts)))
    if settings.state is not None:
        from policy_engine.state import StateURLError, check_store_url

        try:
            check_store_url(settings.state, registry.store_factories)
        except StateURLError as exc:
            out.add("settings", ["state"], "state-url", str(exc).split("\n")[0],
                    hint=exc.hint)
    pools = compile_pools(policy, registry, settings, tz, accounts, out, base_dir)
    check_pool_families(policy, bases, out)
    chain_data = _entries("chain", policy.chains, pools, accounts, out)
    preset_data = _entries("preset", policy.presets, pools, accounts, out)
    chains = {n: CompiledChain(n, en, entries) for n, (en, entries) in chain_data.items()}
    presets = {n: CompiledPreset(n, en, entries) for n, (en, entries) in preset_data.items()}

    provider_pool: dict[str, str] = {}
    for i, raw in enumerate(policy.pools):
        pool = pools.get(raw.get("name", ""))
        if pool is None or pool is not pools.get(pool.name) or not pool.enabled:
            continue
        for j, member in enumerate(pool.written_members):
            owner = provider_pool.get(member)
            if owner is None:
                provider_pool[member] = pool.name
            elif owner != pool.name:
                out.add("pools", [i, "members", j], "provider-in-two-pools",
                        f"{member!r} is in enabled pools {owner!r} and {pool.name!r}; it belongs to {owner!r} "
                        "(the first)", "warning")
    allowed = frozenset(policy.allowed) if policy.allowed else None
    for found in emptied_by_allow_list(allowed, pools, chains, presets, provider_pool):
        items = getattr(policy, found.section)
        index = next((i for i, raw in enumerate(items) if raw.get("name") == found.name), None)
        out.add(found.section, [] if index is None else [index, "name"], "emptied-by-allow-list", found.message,
                "warning", hint="allow one of its accounts in allowedSubs, or stop using it in this project")
    pool_chain: dict[str, tuple[str, int]] = {}
    for chain in chains.values():
        if not chain.enabled:
            continue
        for entry in chain.entries:
            if entry.pool is not None:
                pool_chain.setdefault(entry.pool, (chain.name, entry.index))

    rules: list[Any] = []
    if policy.error_rules:
        from policy_engine.classify.policy_rules import PolicyErrorRule  # the classifier is built on first use
        from policy_engine.classify.rule_patterns import RulePatternError, total_size_problem

        pattern_sizes: list[tuple[int, int]] = []  # (errorRules index, RE2 program size) of each match
        for i, raw_rule in enumerate(policy.error_rules):
            try:
                rules.append(PolicyErrorRule.from_dict(raw_rule))
            except RulePatternError as exc:
                out.add("errorRules", [i, "match"], "regex", str(exc), hint=exc.hint)
                continue
            except (ValueError, KeyError, TypeError) as exc:
                out.add("errorRules", [i], "error-rule", f"cannot use this error rule: {exc}")
                continue
            if rules[-1].match is not None:
                pattern_sizes.append((i, rules[-1].match.size))
            if not any(key in raw_rule for key in ("provider", "status", "type", "code", "match")):
                out.add("errorRules", [i], "error-rule-matches-all",
                        f"this error rule has no condition: every error becomes {raw_rule.get('kind')!r}",
                        "warning", hint="add provider, status, type, code or match")
            named = raw_rule.get("provider")
            if isinstance(named, str) and named not in accounts and named not in bases:
                out.add("errorRules", [i, "provider"], "unknown-provider",
                        f"this error rule names {named!r}, which is not a known provider or account", "warning",
                        hint=did_you_mean_hint(named, sorted(accounts)))
        too_large = total_size_problem(pattern_sizes)
        if too_large is not None:
            index, message, hint = too_large
            out.add("errorRules", [index, "match"], "regex-size", message, hint=hint)
    catalogue: dict[str, frozenset[str]] = {
        base: spec.models for base, spec in registry.providers.items() if spec.models is not None
    }
    for base, items in (models or {}).items():
        catalogue[base] = frozenset(items)

    errors = [d for d in out.items if d.severity == "error"]
    if errors:
        raise PolicyError(out.items)
    graph = Graph(
        revision=revision,
        settings=settings,
        tz=tz,
        accounts=accounts,
        bases=bases,
        allowed=frozenset(policy.allowed) if policy.allowed else None,
        pools=pools,
        chains=chains,
        presets=presets,
        provider_pool=provider_pool,
        pool_chain=pool_chain,
        error_rules=tuple(rules),
        provider_rules={base: tuple(spec.error_rules) for base, spec in registry.providers.items()},
        models=catalogue,
        labels={s.name: s.label for s in policy.subscriptions if s.label},
        diagnostics=tuple(out.items),
        base_dir=base_dir,
    )
    if use_cache:
        _CACHE[key] = graph
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return graph
