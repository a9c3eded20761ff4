"""Plugins extend the engine through the same hooks as the built-ins: strategies, providers, rules."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any

import pytest

from policy_engine.classify import ErrorInfo, ParsedError
from policy_engine.engine import Engine
from policy_engine.hookspecs import hookimpl
from policy_engine.plugins import build_registry, make_plugin_manager
from policy_engine.providers import ProviderSpec
from policy_engine.strategies.base import StrategyContext, StrategyResult

NOW = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)


class LastFirst:
    """A test strategy: reverse rotation order."""

    name = "last-first"
    options_schema = None
    skips_members = False

    def prepare(self, pool: Any) -> None:
        return None

    def order(self, ctx: StrategyContext) -> StrategyResult:
        return StrategyResult(ordered=list(reversed(ctx.members)), note="reversed")

    def available_at(self, pool: Any, member: str, at: datetime) -> datetime:
        return at


def acme_rule(info: ErrorInfo, parsed: ParsedError) -> tuple[str, str] | None:
    """Acme says 'bucket empty' when its quota is gone."""
    return ("quota_exhausted", "acme bucket empty") if "bucket empty" in info.message else None


def _plugin(name: str = "test_plugin") -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def mp_policy_strategies() -> list[Any]:
        return [LastFirst()]

    @hookimpl
    def mp_policy_providers() -> list[ProviderSpec]:
        return [ProviderSpec(base="acme", display_name="Acme AI", error_rules=(acme_rule,),
                             models=frozenset({"acme-1"}))]

    module.mp_policy_strategies = mp_policy_strategies  # type: ignore[attr-defined]
    module.mp_policy_providers = mp_policy_providers  # type: ignore[attr-defined]
    return module


@pytest.fixture
def registry() -> Any:
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin(), name="test_plugin")
    return build_registry(pm, problems)


POLICY = {
    "subscriptions": [{"provider": "acme", "index": 2}],
    "pools": [
        {"name": "acme", "baseProvider": "acme", "members": ["acme", "acme-2"], "strategy": "last-first"},
    ],
}


def test_builtins_are_registered_through_the_hooks(registry: Any) -> None:
    assert {"round-robin", "quota-first", "scheduled", "custom", "last-first"} <= set(registry.strategies)
    assert registry.strategy_owner["round-robin"] == "policy_engine.strategies.round_robin"
    assert registry.strategy_owner["last-first"] == "test_plugin"
    assert {"anthropic", "openai-codex", "github-copilot", "google-gemini-cli", "google-antigravity",
            "acme"} == set(registry.providers)


def test_a_plugin_strategy_and_provider_work_end_to_end(registry: Any) -> None:
    engine = Engine.from_documents(POLICY, auth={"acme", "acme-2"}, clock=lambda: NOW, registry=registry)
    d = engine.select(pool="acme", model="acme-1")
    assert d.target is not None and d.target.provider == "acme-2"
    assert d.to_dict()["strategy"] == [{"pool": "acme", "name": "last-first", "fallback": False, "note": "reversed"}]
    # The plugin's error rule classifies a message no built-in rule knows.
    d = engine.fail(d.turn, status=400, message="bucket empty, come back tomorrow")
    assert d.error is not None and d.error.kind == "quota_exhausted" and d.error.rotate
    assert d.target is not None and d.target.provider == "acme"
    # The plugin's model catalogue drives the no-model skip (acme-2 is cooling down by now).
    d = engine.select(pool="acme", model="gpt-5")
    assert d.target is None
    assert {(s.provider, s.reason) for s in d.skipped} == {("acme", "no-model"), ("acme-2", "cooldown")}


def test_an_unknown_strategy_without_the_plugin_is_a_policy_error() -> None:
    from policy_engine.diagnostics import PolicyError

    pm, problems = make_plugin_manager(autoload=False)
    plain = build_registry(pm, problems)
    with pytest.raises(PolicyError) as info:
        Engine.from_documents(POLICY, auth={"acme"}, registry=plain)
    codes = {d.code for d in info.value.diagnostics}
    assert "unknown-strategy" in codes


def test_two_plugins_claiming_one_strategy_name_are_reported_with_both_names() -> None:
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin("first_plugin"), name="first_plugin")
    pm.register(_plugin("second_plugin"), name="second_plugin")
    registry = build_registry(pm, problems)
    messages = [p.message for p in registry.problems]
    assert any("first_plugin" in m and "second_plugin" in m and "last-first" in m for m in messages), messages


def test_a_plugin_that_fails_to_import_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenEntryPoint:
        name = "broken"
        value = "broken_pkg.plugin"

        def load(self) -> Any:
            raise ImportError("No module named 'broken_pkg'")

    monkeypatch.setattr("policy_engine.plugins.entry_points", lambda group: [BrokenEntryPoint()])
    pm, problems = make_plugin_manager(autoload=True)
    assert [p.plugin for p in problems] == ["broken"]
    assert "broken_pkg" in problems[0].message
    registry = build_registry(pm, problems)
    assert "round-robin" in registry.strategies


def test_autoload_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr("policy_engine.plugins.entry_points", lambda group: calls.append(group) or [])
    monkeypatch.setenv("MP_POLICY_DISABLE_PLUGIN_AUTOLOAD", "1")
    make_plugin_manager()
    assert calls == []
    monkeypatch.delenv("MP_POLICY_DISABLE_PLUGIN_AUTOLOAD")
    make_plugin_manager()
    assert calls == ["mp_policy"]
