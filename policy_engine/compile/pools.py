"""Compiling ``pools``: members of the pool's family, strategies found and prepared, their options checked
against the strategy's schema."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from policy_engine.common.durations import parse_duration
from policy_engine.compile.collector import Collector, did_you_mean_hint
from policy_engine.compile.graph import (
    CompiledPool,
    Settings,
)
from policy_engine.plugins import Registry
from policy_engine.policy.document import pi_tolerant
from policy_engine.policy.merge import EffectivePolicy
from policy_engine.providers.families import base_of

__all__ = ["check_pool_families", "compile_pools"]


def _check_options(strategy: Any, strategy_name: str, pool: str, i: int, options: Mapping[str, Any],
                   written: bool, out: Collector) -> None:
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
                        hint=did_you_mean_hint(str(key), sorted(known)) or f"known: {', '.join(sorted(known))}")
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

def compile_pools(
    policy: EffectivePolicy, registry: Registry, settings: Settings, tz: tzinfo, accounts: frozenset[str],
    out: Collector, base_dir: str | None = None,
) -> dict[str, CompiledPool]:
    """The compiled pools by name: members checked against the accounts and the pool's family, strategies prepared."""
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
                    hint=did_you_mean_hint(strategy_name, sorted(registry.strategies))
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
                        hint=did_you_mean_hint(m, sorted(accounts))
                        or "declare it under subscriptions (or via MULTI_SUB), or remove it")
        schedule = raw.get("memberSchedule") if isinstance(raw.get("memberSchedule"), Mapping) else {}
        for member in schedule:
            if member not in position:
                out.add("pools", [i, "memberSchedule", member], "unknown-schedule-member",
                        f"pool {name!r}: memberSchedule names {member!r}, which is not a member", "warning",
                        hint=did_you_mean_hint(member, written))
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

def check_pool_families(policy: EffectivePolicy, bases: frozenset[str], out: Collector) -> None:
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
                close = did_you_mean_hint(base, sorted(bases))
                hint = (f"baseProvider names the family of the members, one of {', '.join(sorted(bases))}"
                        + (f"; {close}" if close else ""))
            message = (f"pool {raw.get('name')!r}: {member!r} is an account of the {family} family, not of the "
                       f"pool's baseProvider {base!r}")
            if tolerant:
                message += " (pi-multi-pass does not check this)"
                hint = f"{hint} (`mp-policy import` converts this file to YAML, where this is an error)"
            out.add("pools", [i, "members", j], "member-family", message, "warning" if tolerant else "error",
                    hint=hint)
