"""Compiling ``settings``: durations, time zone, selector timeout, quota endpoints, with defaults applied."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from policy_engine.common.durations import format_duration, parse_duration
from policy_engine.compile.collector import Collector
from policy_engine.compile.graph import (
    Settings,
    TraceSettings,
)
from policy_engine.sandbox.limits import MAX_SELECTOR_TIMEOUT

__all__ = ["compile_settings"]


def compile_settings(raw: Mapping[str, Any], default_tz: tzinfo, out: Collector) -> tuple[Settings, tzinfo]:
    """The effective settings (defaults applied) and the policy's time zone; problems go to ``out``."""
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


def _trace(raw: Any, defaults: TraceSettings, out: Collector) -> TraceSettings:
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


def _selector_timeout(value: timedelta, defaults: Settings, out: Collector) -> timedelta:
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
