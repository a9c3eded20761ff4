"""Plugins extend the engine through the same hooks as the built-ins: strategies, providers, rules."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from policy_engine.classify import ErrorInfo, ParsedError
from policy_engine.engine import Engine
from policy_engine.hookspecs import hookimpl
from policy_engine.plugins import build_registry, make_plugin_manager
from policy_engine.providers.families import ProviderSpec
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
    from policy_engine.providers.pi_providers import PI_PROVIDERS

    assert {"anthropic", "openai-codex", "github-copilot", "google-gemini-cli", "google-antigravity",
            "acme", *PI_PROVIDERS} == set(registry.providers)
    assert {"openai", "openrouter", "zai"} <= set(PI_PROVIDERS)


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
    from policy_engine.common.diagnostics import PolicyError

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


# --- quota checkers, state stores, credentials, options schemas, discovery controls ---------------


class AcmeChecker:
    """A quota checker for the acme family (never called here: registration only)."""

    base = "acme"

    async def check(self, account: str, credential: Any, ctx: Any) -> Any:
        raise AssertionError("not called")


def _store_plugin(name: str, scheme: str) -> types.ModuleType:
    from policy_engine.state import MemoryStore, StoreSpec

    module = types.ModuleType(name)

    @hookimpl
    def mp_policy_state_stores() -> list[Any]:
        def factory(url: str, *, agent_dir: Any, readonly: bool, namespace: str) -> Any:
            return MemoryStore(f"{scheme}-{url.split('://', 1)[1]}", readonly=readonly, namespace=namespace)

        return [StoreSpec(scheme, factory, "test store")]

    @hookimpl
    def mp_policy_quota_checkers() -> list[Any]:
        return [AcmeChecker()]

    module.mp_policy_state_stores = mp_policy_state_stores  # type: ignore[attr-defined]
    module.mp_policy_quota_checkers = mp_policy_quota_checkers  # type: ignore[attr-defined]
    return module


def test_state_stores_and_quota_checkers_are_registered_by_plugins() -> None:
    from policy_engine.quota import QuotaChecker
    from policy_engine.state import MemoryStore

    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin(), name="test_plugin")
    pm.register(_store_plugin("store_plugin", "fleet"), name="store_plugin")
    registry = build_registry(pm, problems)
    assert {"memory", "sqlite", "fleet"} <= set(registry.stores)
    assert registry.owners[("state-stores", "sqlite")] == "policy_engine.state.builtin"
    assert isinstance(registry.quota_checkers["acme"], QuotaChecker)
    assert registry.contributions("store_plugin") == {"quota-checkers": ["acme"], "state-stores": ["fleet"]}
    # The engine opens a state URL with the plugin's scheme through the registry.
    engine = Engine.from_documents(POLICY, auth={"acme"}, clock=lambda: NOW, registry=registry,
                                   state="fleet://shared")
    assert isinstance(engine.store, MemoryStore)
    # A policy naming a scheme no plugin provides is an error that points at settings.state.
    from policy_engine.common.diagnostics import PolicyError

    with pytest.raises(PolicyError) as info:
        Engine.from_documents({**POLICY, "settings": {"state": "nowhere://x"}}, auth={"acme"}, registry=registry)
    assert any(d.code == "state-url" and "nowhere" in d.message for d in info.value.diagnostics)


def test_conflicting_stores_and_checkers_name_both_plugins() -> None:
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_store_plugin("first_stores", "fleet"), name="first_stores")
    pm.register(_store_plugin("second_stores", "fleet"), name="second_stores")
    pm.register(_store_plugin("sqlite_thief", "sqlite"), name="sqlite_thief")
    registry = build_registry(pm, problems)
    messages = [p.message for p in registry.problems]
    assert any("'fleet'" in m and "first_stores" in m and "second_stores" in m for m in messages), messages
    assert any("'acme'" in m and "first_stores" in m and "second_stores" in m for m in messages), messages
    assert any("'sqlite'" in m and "policy_engine.state.builtin" in m and "sqlite_thief" in m for m in messages)
    assert registry.owners[("state-stores", "sqlite")] == "policy_engine.state.builtin"


def test_a_provider_plugin_decides_which_credentials_count(tmp_path: Any) -> None:
    import json as _json

    from policy_engine.providers.families import Credential

    def needs_refresh(entry: Any) -> Credential | None:
        """Acme logins are only usable with a refresh token."""
        if isinstance(entry, dict) and entry.get("refresh"):
            return Credential(kind="oauth", expires_at=entry.get("expires", 0) / 1000, secret=entry)
        return None

    module = types.ModuleType("acme_creds")

    @hookimpl
    def mp_policy_providers() -> list[ProviderSpec]:
        return [ProviderSpec(base="acme", display_name="Acme", read_credential=needs_refresh)]

    module.mp_policy_providers = mp_policy_providers  # type: ignore[attr-defined]
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin(), name="test_plugin")
    pm.register(module, name="acme_creds")
    registry = build_registry(pm, problems)
    (tmp_path / "auth.json").write_text(_json.dumps({
        "acme": {"type": "oauth", "access": "a", "refresh": "r", "expires": 1_800_000_000_000},
        "acme-2": {"type": "oauth", "access": "only-access"},
        "anthropic": {"type": "api_key", "key": "k"},
    }))
    (tmp_path / "multi-pass.yaml").write_text(_json.dumps(POLICY))
    engine = Engine.load(agent_dir=tmp_path, registry=registry, state="memory://", clock=lambda: NOW,
                         search_project=False)
    assert engine.auth.providers() == {"acme", "anthropic"}
    assert engine.auth.expires_at("acme") == 1_800_000_000
    assert "only-access" not in repr(engine.auth.credential("acme"))
    d = engine.select(pool="acme", model="acme-1")
    assert d.target is not None and d.target.provider == "acme"
    assert [(s.provider, s.reason) for s in d.skipped] == [("acme-2", "no-auth")]


class Knobs:
    """A strategy with options: ``{"reverse": bool}`` (required), validated by its schema."""

    name = "knobs"
    skips_members = False
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"reverse": {"type": "boolean"}, "limit": {"type": "integer", "minimum": 1}},
        "required": ["reverse"],
        "additionalProperties": False,
    }

    def prepare(self, pool: Any) -> bool:
        return bool(pool.options.get("reverse"))

    def order(self, ctx: StrategyContext) -> StrategyResult:
        members = list(reversed(ctx.members)) if ctx.pool.prepared else list(ctx.members)
        return StrategyResult(ordered=members)

    def available_at(self, pool: Any, member: str, at: datetime) -> datetime:
        return at


@pytest.fixture
def knobs_registry() -> Any:
    module = types.ModuleType("knobs_plugin")

    @hookimpl
    def mp_policy_strategies() -> list[Any]:
        return [Knobs()]

    module.mp_policy_strategies = mp_policy_strategies  # type: ignore[attr-defined]
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin(), name="test_plugin")
    pm.register(module, name="knobs_plugin")
    return build_registry(pm, problems)


def test_plugin_options_are_validated_by_the_plugins_schema(knobs_registry: Any) -> None:
    from policy_engine.common.diagnostics import PolicyError
    from policy_engine.policy.loader import load_text

    good = {**POLICY, "pools": [{**POLICY["pools"][0], "strategy": "knobs", "options": {"reverse": True}}]}
    engine = Engine.from_documents(good, auth={"acme", "acme-2"}, clock=lambda: NOW, registry=knobs_registry)
    assert engine.select(pool="acme").target.provider == "acme-2"  # type: ignore[union-attr]

    text = (
        "subscriptions:\n  - {provider: acme, index: 2}\n"
        "pools:\n"
        "  - name: acme\n    baseProvider: acme\n    members: [acme, acme-2]\n    strategy: knobs\n"
        "    options:\n      reverse: yes please\n      limt: 3\n"
    )
    with pytest.raises(PolicyError) as info:
        Engine.from_documents(load_text(text, "policy.yaml"), auth={"acme"}, registry=knobs_registry)
    found = {(d.code, d.path, d.line) for d in info.value.diagnostics}
    assert ("strategy-options", ("pools", 0, "options", "reverse"), 9) in found
    assert ("strategy-options", ("pools", 0, "options", "limt"), 10) in found
    hints = [d.hint for d in info.value.diagnostics if d.path == ("pools", 0, "options", "limt")]
    assert len(hints) == 1 and "limit" in (hints[0] or "")

    missing = {**POLICY, "pools": [{**POLICY["pools"][0], "strategy": "knobs"}]}
    with pytest.raises(PolicyError) as info:
        Engine.from_documents(missing, auth={"acme"}, registry=knobs_registry)
    assert any("reverse" in d.message and d.code == "strategy-options" for d in info.value.diagnostics)


def test_options_for_a_strategy_without_options_are_a_warning(registry: Any) -> None:
    policy = {**POLICY, "pools": [{**POLICY["pools"][0], "options": {"x": 1}}]}
    engine = Engine.from_documents(policy, auth={"acme"}, registry=registry)
    assert [d.code for d in engine.graph.diagnostics if d.severity == "warning"] == ["unused-options"]


class FakeDist:
    def __init__(self, name: str, version: str = "1.0") -> None:
        self.metadata = {"Name": name}
        self.version = version


class FakeEntryPoint:
    def __init__(self, name: str, value: str, dist: str, module: types.ModuleType | None = None) -> None:
        self.name, self.value, self.dist = name, value, FakeDist(dist)
        self.module = module
        self.loaded = False

    def load(self) -> Any:
        self.loaded = True
        if self.module is None:
            raise ImportError(f"No module named {self.value!r}")
        return self.module


def test_two_distributions_with_one_entry_point_name_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    first = FakeEntryPoint("fancy", "fancy_a.plugin", "fancy-a", _plugin("fancy_a"))
    second = FakeEntryPoint("fancy", "fancy_b.plugin", "fancy-b", _plugin("fancy_b"))
    monkeypatch.setattr("policy_engine.plugins.entry_points", lambda group: [first, second])
    pm, problems = make_plugin_manager(autoload=True)
    assert first.loaded and not second.loaded
    assert len(problems) == 1
    assert "fancy-a" in problems[0].message and "fancy-b" in problems[0].message
    registry = build_registry(pm, problems)
    info = {p.name: p for p in registry.plugins}
    assert info["fancy"].distribution == "fancy-a" and info["fancy"].version == "1.0" and not info["fancy"].builtin


def test_the_allow_list_loads_only_the_plugins_named(monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = FakeEntryPoint("wanted", "wanted.plugin", "wanted-dist", _plugin("wanted"))
    by_dist = FakeEntryPoint("other-name", "other.plugin", "allowed-dist", _store_plugin("other", "x"))
    unwanted = FakeEntryPoint("unwanted", "unwanted.plugin", "unwanted-dist", None)
    monkeypatch.setattr("policy_engine.plugins.entry_points", lambda group: [wanted, by_dist, unwanted])
    monkeypatch.setenv("MP_POLICY_LOAD_PLUGINS", "wanted, allowed-dist")
    pm, problems = make_plugin_manager()
    assert problems == [] and wanted.loaded and by_dist.loaded and not unwanted.loaded
    monkeypatch.setenv("MP_POLICY_LOAD_PLUGINS", "")
    wanted.loaded = by_dist.loaded = False
    pm, problems = make_plugin_manager()
    assert not wanted.loaded and not by_dist.loaded
    assert [n for n, _ in pm.list_name_plugin() if not n.startswith("policy_engine")] == []


def test_a_policy_using_a_strategy_two_plugins_claim_is_an_error() -> None:
    from policy_engine.common.diagnostics import PolicyError

    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin("first_plugin"), name="first_plugin")
    pm.register(_plugin("second_plugin"), name="second_plugin")
    registry = build_registry(pm, problems)
    assert registry.conflicts[("strategies", "last-first")] == ("first_plugin", "second_plugin")
    with pytest.raises(PolicyError) as info:
        Engine.from_documents(POLICY, auth={"acme"}, registry=registry)
    [diag] = [d for d in info.value.diagnostics if d.code == "strategy-conflict"]
    assert "first_plugin" in diag.message and "second_plugin" in diag.message
    assert diag.path == ("pools", 0, "strategy")
    # A policy that does not use the contested name is fine.
    plain = {**POLICY, "pools": [{**POLICY["pools"][0], "strategy": "round-robin"}]}
    Engine.from_documents(plain, auth={"acme"}, registry=registry)


def test_a_plugin_with_a_broken_options_schema_is_reported_not_a_crash() -> None:
    from policy_engine.common.diagnostics import PolicyError

    class Broken(Knobs):
        name = "broken-knobs"
        options_schema: ClassVar[dict[str, Any]] = {"type": "no-such-type"}

    module = types.ModuleType("broken_knobs")

    @hookimpl
    def mp_policy_strategies() -> list[Any]:
        return [Broken()]

    module.mp_policy_strategies = mp_policy_strategies  # type: ignore[attr-defined]
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(_plugin(), name="test_plugin")
    pm.register(module, name="broken_knobs")
    registry = build_registry(pm, problems)
    policy = {**POLICY, "pools": [{**POLICY["pools"][0], "strategy": "broken-knobs", "options": {"reverse": 1}}]}
    with pytest.raises(PolicyError) as info:
        Engine.from_documents(policy, auth={"acme"}, registry=registry)
    [diag] = info.value.diagnostics
    assert diag.code == "strategy-options" and "schema is itself invalid" in diag.message and "plugin" in diag.hint
