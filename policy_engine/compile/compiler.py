"""Compile an effective policy into an immutable :class:`~policy_engine.compile.graph.Graph`.

Stages, each collecting diagnostics instead of stopping at the first: settings, accounts, pools
(strategies prepared; members of the pool's family), chains, presets, indexes (provider -> pool,
pool -> chain position), static checks. Errors (missing references, unknown strategies, duplicate
names, a member of another family) make the policy unusable; warnings (a provider in two enabled
pools, an unknown pool member, an entry that can never be reached, a chain that is entirely
disabled) do not.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from policy_engine.common.diagnostics import Diagnostic, PolicyError, Severity
from policy_engine.common.durations import format_duration, parse_duration
from policy_engine.compile.allow_list_checks import emptied_by_allow_list
from policy_engine.compile.graph import (
    CompiledChain,
    CompiledEntry,
    CompiledPool,
    CompiledPreset,
    Graph,
    Settings,
    TraceSettings,
)
from policy_engine.plugins import Registry
from policy_engine.policy.loader import LoadedDocument, pi_tolerant
from policy_engine.policy.merge import MAX_EXTRA_ACCOUNTS, EffectivePolicy
from policy_engine.providers.families import base_of
from policy_engine.sandbox.base import MAX_SELECTOR_TIMEOUT

__all__ = ["compile_policy", "policy_revision"]

_CACHE: OrderedDict[str, Graph] = OrderedDict()
_CACHE_SIZE = 64


def policy_revision(*parts: Any) -> str:
    """A short content hash of the inputs of a compilation (``policyRevision``)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Collector:
    def __init__(self, policy: EffectivePolicy) -> None:
        self.policy = policy
        self.items: list[Diagnostic] = []

    def add(
        self,
        section: str,
        path: Sequence[str | int],
        code: str,
        message: str,
        severity: Severity = "error",
        hint: str | None = None,
        doc: LoadedDocument | None = None,  # where the value is written, when not the section's document
    ) -> None:
        doc = doc if doc is not None else self.policy.source_of(section)
        full = (section, *path)
        line = col = None
        file = None
        root: tuple[str | int, ...] = ()
        if doc is not None:
            file = doc.source
            root = tuple(doc.root)
            pos = doc.position(full)
            if pos is not None:
                line, col = pos
        self.items.append(
            Diagnostic(code=code, message=message, severity=severity, file=file, line=line, col=col,
                       path=root + full, hint=hint)
        )


def _did_you_mean(name: str, options: Sequence[str]) -> str | None:
    import difflib  # only for a diagnostic's "did you mean"

    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _settings(raw: Mapping[str, Any], default_tz: tzinfo, out: _Collector) -> tuple[Settings, tzinfo]:
    def dur(key: str, default: timedelta) -> timedelta:
        if key not in raw:
            return default
        try:
            return parse_duration(raw[key])
        except ValueError as exc:
            out.add("settings", [key], "duration", str(exc))
            return default

    tz: tzinfo = default_tz
    tz_name = raw.get("timezone")
    if isinstance(tz_name, str):
        try:
            tz = ZoneInfo(tz_name)
        except (KeyError, ValueError, OSError):
            out.add("settings", ["timezone"], "timezone", f"unknown time zone {tz_name!r}")
            tz_name = None
    rotate = raw.get("rotateOn")
    defaults = Settings()
    settings = Settings(
        cooldown=dur("cooldown", defaults.cooldown),
        timezone=tz,
        timezone_name=tz_name if isinstance(tz_name, str) else None,
        selector_timeout=_selector_timeout(dur("selectorTimeout", defaults.selector_timeout), defaults, out),
        turn_ttl=dur("turnTtl", defaults.turn_ttl),
        quota_ttl=dur("quotaTtl", defaults.quota_ttl),
        quota_budget=dur("quotaBudget", defaults.quota_budget),
        rotate_on=frozenset(rotate) if isinstance(rotate, list) else defaults.rotate_on,
        state=raw.get("state") if isinstance(raw.get("state"), str) else None,
        state_fallback="local" if raw.get("stateFallback") == "local" else "error",
        quota_endpoints=_quota_endpoints(raw.get("quotaEndpoints")),
        trace=_trace(raw.get("trace"), defaults.trace, out),
    )
    return settings, tz


def _trace(raw: Any, defaults: TraceSettings, out: _Collector) -> TraceSettings:
    """``settings.trace`` (the schema checked its shape): on/off and the retention bounds."""
    if not isinstance(raw, Mapping):
        return defaults
    age = defaults.age
    if "age" in raw:
        try:
            age = parse_duration(raw["age"])
        except ValueError as exc:
            out.add("settings", ["trace", "age"], "duration", str(exc))
    if age is not None and age <= timedelta(0):
        age = None

    def bound(key: str, default: int | None) -> int | None:
        value = raw.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    return TraceSettings(enabled=raw.get("enabled", True) is not False, entries=bound("entries", defaults.entries),
                         age=age, max_bytes=bound("bytes", defaults.max_bytes))


def _selector_timeout(value: timedelta, defaults: Settings, out: _Collector) -> timedelta:
    """``settings.selectorTimeout``: at most :data:`MAX_SELECTOR_TIMEOUT` (an error where it is
    written), and never above the global value when a project overlay sets it (clamped, a warning)."""
    policy = out.policy
    where = policy.settings_sources.get("selectorTimeout")
    limit = MAX_SELECTOR_TIMEOUT
    if value > limit:
        out.add("settings", ["selectorTimeout"], "selector-timeout",
                f"selectorTimeout {format_duration(value)} is longer than a selector may take "
                f"({format_duration(limit)})", hint=f"write at most {format_duration(limit)}; a selector answers "
                "in well under a millisecond, and every decision of the pool may wait this long", doc=where)
        return limit
    if "selectorTimeout" not in policy.project_settings:
        return value
    written = policy.global_settings.get("selectorTimeout")
    try:
        ceiling = defaults.selector_timeout if written is None else parse_duration(written)
    except ValueError:
        ceiling = defaults.selector_timeout
    ceiling = min(ceiling, limit)
    if value > ceiling:
        out.add("settings", ["selectorTimeout"], "selector-timeout-raised",
                f"the project's selectorTimeout {format_duration(value)} is longer than the global one "
                f"({format_duration(ceiling)}); {format_duration(ceiling)} is used", "warning",
                hint="a project may lower selectorTimeout, never raise it: the global policy decides how long "
                "a script from a repository may hold up a decision", doc=where)
        return ceiling
    return value


def _quota_endpoints(raw: Any) -> dict[str, tuple[str, ...]]:
    """``settings.quotaEndpoints``: base provider -> one URL or a list tried in order (schema-checked)."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for base, value in raw.items():
        urls = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        kept = tuple(u for u in urls if isinstance(u, str) and u.strip())
        if kept:
            out[str(base)] = kept
    return out


def _check_options(strategy: Any, strategy_name: str, pool: str, i: int, options: Mapping[str, Any],
                   written: bool, out: _Collector) -> None:
    """Check ``pools[i].options`` against the strategy's ``options_schema`` (a plugin contributes it)."""
    schema = getattr(strategy, "options_schema", None)
    if schema is None:
        if written and options:
            out.add("pools", [i, "options"], "unused-options",
                    f"pool {pool!r}: the {strategy_name!r} strategy takes no options; they are ignored", "warning")
        return
    try:
        validator = _options_validator(strategy)
    except Exception as exc:  # a plugin's broken schema must not stop the compiler
        out.add("pools", [i, "strategy"], "strategy-options",
                f"pool {pool!r}: the {strategy_name!r} strategy's options schema is itself invalid "
                f"({type(exc).__name__}: {str(exc).splitlines()[0]}); its options cannot be checked",
                hint="this is a bug in the plugin that registers the strategy (see mp-policy plugins)")
        return
    for error in sorted(validator.iter_errors(dict(options)), key=lambda e: [str(p) for p in e.absolute_path]):
        where = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
            for key in sorted(set(error.instance) - set(known), key=str):
                out.add("pools", [i, "options", *where, key], "strategy-options",
                        f"pool {pool!r}: unknown option {'.'.join(str(p) for p in [*where, key])!r} "
                        f"(the {strategy_name!r} strategy)",
                        hint=_did_you_mean(str(key), sorted(known)) or f"known: {', '.join(sorted(known))}")
            continue
        out.add("pools", [i, "options", *where], "strategy-options",
                f"pool {pool!r}: option {'.'.join(str(p) for p in where) or 'options'}: {error.message} "
                f"(the {strategy_name!r} strategy)")


_VALIDATORS: dict[int, Any] = {}


def _options_validator(strategy: Any) -> Any:
    """A validator for a strategy's options schema, built once per strategy object."""
    found = _VALIDATORS.get(id(strategy))
    if found is None or found[0] is not strategy:
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(strategy.options_schema)
        found = (strategy, Draft202012Validator(strategy.options_schema))
        _VALIDATORS[id(strategy)] = found
    return found[1]


def _pools(
    policy: EffectivePolicy, registry: Registry, settings: Settings, tz: tzinfo, accounts: frozenset[str],
    out: _Collector, base_dir: str | None = None,
) -> dict[str, CompiledPool]:
    pools: dict[str, CompiledPool] = {}
    allowed = frozenset(policy.allowed) if policy.allowed else None
    declared_in = policy.source_of("pools")
    source_dir = str(declared_in.path.parent) if declared_in is not None and declared_in.path else base_dir
    for i, raw in enumerate(policy.pools):
        name = raw.get("name")
        if not isinstance(name, str):
            continue
        if name in pools:
            out.add("pools", [i, "name"], "duplicate-name", f"pool {name!r} is declared twice",
                    hint="pool names must be unique; rename or remove one")
            continue
        listed = raw.get("members")
        written = tuple(m for m in listed if isinstance(m, str)) if isinstance(listed, list) else ()
        strategy_name = raw.get("strategy") or "round-robin"
        strategy = registry.strategies.get(strategy_name)
        if strategy is None:
            out.add("pools", [i, "strategy"], "unknown-strategy",
                    f"pool {name!r}: unknown strategy {strategy_name!r}",
                    hint=_did_you_mean(strategy_name, sorted(registry.strategies))
                    or f"known strategies: {', '.join(sorted(registry.strategies))}")
            strategy = registry.strategies["round-robin"]
        elif ("strategies", strategy_name) in registry.conflicts:
            claimants = registry.conflicts[("strategies", strategy_name)]
            out.add("pools", [i, "strategy"], "strategy-conflict",
                    f"pool {name!r}: the strategy {strategy_name!r} is registered by several plugins "
                    f"({', '.join(claimants)}); the pool could run either",
                    hint="uninstall one of them, or limit discovery with MP_POLICY_LOAD_PLUGINS "
                    "(see mp-policy plugins)")
        pool_tz = tz
        if isinstance(raw.get("timezone"), str):
            try:
                pool_tz = ZoneInfo(raw["timezone"])
            except (KeyError, ValueError, OSError):
                out.add("pools", [i, "timezone"], "timezone", f"unknown time zone {raw['timezone']!r}")
        cooldown = settings.cooldown
        if "cooldown" in raw:
            try:
                cooldown = parse_duration(raw["cooldown"])
            except ValueError as exc:
                out.add("pools", [i, "cooldown"], "duration", str(exc))
        members = tuple(dict.fromkeys(m for m in written if allowed is None or m in allowed))
        position: dict[str, int] = {}
        for p, m in enumerate(written):
            position.setdefault(m, p)
        for j, m in enumerate(written):
            if m not in accounts:
                out.add("pools", [i, "members", j], "unknown-member",
                        f"pool {name!r}: {m!r} is not a known account; it will be skipped as unknown",
                        "warning",
                        hint=_did_you_mean(m, sorted(accounts))
                        or "declare it under subscriptions (or via MULTI_SUB), or remove it")
        schedule = raw.get("memberSchedule") if isinstance(raw.get("memberSchedule"), Mapping) else {}
        for member in schedule:
            if member not in position:
                out.add("pools", [i, "memberSchedule", member], "unknown-schedule-member",
                        f"pool {name!r}: memberSchedule names {member!r}, which is not a member", "warning",
                        hint=_did_you_mean(member, written))
        if schedule and strategy_name != "scheduled":
            out.add("pools", [i, "memberSchedule"], "unused-schedule",
                    f"pool {name!r}: memberSchedule is only used by the 'scheduled' strategy", "warning")
        options = raw.get("options") if isinstance(raw.get("options"), Mapping) else {}
        _check_options(strategy, strategy_name, name, i, options, "options" in raw, out)
        pool = CompiledPool(
            name=name,
            base=str(raw.get("baseProvider", "")),
            members=members,
            written_members=written,
            enabled=raw.get("enabled", True) is not False,
            strategy_name=strategy_name,
            strategy=strategy,
            cooldown=cooldown,
            tz=pool_tz,
            member_schedule=schedule,
            selector_script=raw.get("selectorScript"),
            options=options,
            quota_ttl=settings.quota_ttl,
            selector_timeout=settings.selector_timeout,
            source_dir=source_dir,
            dropped=bool(written) and not members,
            position=position,
            member_set=frozenset(members),
            pi_tolerant=declared_in is not None and pi_tolerant(declared_in),
        )
        try:
            pool.prepared = strategy.prepare(pool)
        except ValueError as exc:
            where = "options" if options else "memberSchedule" if strategy_name == "scheduled" else "strategy"
            out.add("pools", [i, where], "strategy-options", f"pool {name!r}: {exc}")
        diagnose = getattr(strategy, "diagnose", None)
        for found in diagnose(pool) if diagnose is not None else ():
            if found.file:  # e.g. a selector script's own line
                out.items.append(found)
            else:
                out.add("pools", [i, "selectorScript"], found.code, found.message, found.severity, found.hint)
        pools[name] = pool
    return pools


def _check_pool_families(policy: EffectivePolicy, bases: frozenset[str], out: _Collector) -> None:
    """Every member of a pool must be of the pool's ``baseProvider`` family (DESIGN §3).

    A member's family is its subscription's provider, else its name's (``anthropic-2`` is an
    ``anthropic`` account); a member of no known family stays an ``unknown-member`` warning (it may
    come from MULTI_SUB elsewhere). A member of another family is an error, and a warning in a
    ``multi-pass.json``, which is read with pi-multi-pass's tolerance (pi does not check this).
    """
    declared = {s.name: s.provider for s in policy.subscriptions if s.provider in bases}
    source = policy.source_of("pools")
    tolerant = source is not None and pi_tolerant(source)
    for i, raw in enumerate(policy.pools):
        base = raw.get("baseProvider")
        members = raw.get("members")
        if not isinstance(base, str) or not isinstance(members, list):
            continue
        for j, member in enumerate(members):
            if not isinstance(member, str):
                continue
            family = declared.get(member) or base_of(member, bases)
            if family is None or family == base:
                continue
            if base in bases:
                hint = (f"a pool rotates accounts of one family: move {member!r} to a pool of the {family} family "
                        "(and chain the two pools), or remove it")
            else:
                close = _did_you_mean(base, sorted(bases))
                hint = (f"baseProvider names the family of the members, one of {', '.join(sorted(bases))}"
                        + (f"; {close}" if close else ""))
            message = (f"pool {raw.get('name')!r}: {member!r} is an account of the {family} family, not of the "
                       f"pool's baseProvider {base!r}")
            if tolerant:
                message += " (pi-multi-pass does not check this)"
                hint = f"{hint} (`mp-policy import` converts this file to YAML, where this is an error)"
            out.add("pools", [i, "members", j], "member-family", message, "warning" if tolerant else "error",
                    hint=hint)


def _entries(
    kind: str, raw_list: Sequence[Mapping[str, Any]], pools: Mapping[str, CompiledPool], accounts: frozenset[str],
    out: _Collector,
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
                            hint=_did_you_mean(str(pool_name), sorted(pools)) or "declare the pool or fix the name")
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
                            hint=_did_you_mean(provider, sorted(accounts)))
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
    out = _Collector(policy)
    settings, tz = _settings(policy.settings, default_tz, out)
    bases = registry.bases
    for sub in policy.subscriptions:
        if sub.provider not in bases and sub.position is not None:
            out.add("subscriptions", [sub.position, "provider"], "unknown-provider",
                    f"unknown provider {sub.provider!r}; this subscription is ignored", "warning",
                    hint=_did_you_mean(sub.provider, sorted(bases)) or f"known: {', '.join(sorted(bases))}")
    for part in policy.unknown_env:
        provider = part.partition(":")[0].strip()
        hint = _did_you_mean(provider, sorted(bases)) if provider not in bases else None
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
                        hint=_did_you_mean(name, sorted(accounts)))
    if settings.state is not None:
        from policy_engine.state import StateURLError, check_store_url

        try:
            check_store_url(settings.state, registry.store_factories)
        except StateURLError as exc:
            out.add("settings", ["state"], "state-url", str(exc).split("\n")[0],
                    hint=exc.hint)
    pools = _pools(policy, registry, settings, tz, accounts, out, base_dir)
    _check_pool_families(policy, bases, out)
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
                        hint=_did_you_mean(named, sorted(accounts)))
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
