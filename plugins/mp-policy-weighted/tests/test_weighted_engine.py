"""End to end: the plugin registered on a plugin manager, a real engine, and the policy test file."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest
from policy_engine import Engine, PolicyError
from policy_engine.plugins import Registry, build_registry, make_plugin_manager
from policy_engine.policy_tests import run_file

import mp_policy_weighted.strategy as weighted_module

HERE = Path(__file__).parent
T0 = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
AUTH = ["anthropic", "anthropic-2", "anthropic-3", "openai-codex"]


def policy(options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Three Claude accounts in a weighted pool, then a Codex account through a chain."""
    return {
        "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
        "pools": [
            {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2", "anthropic-3"],
             "strategy": "weighted",
             "options": {"weights": {"anthropic": 6, "anthropic-2": 3}, "seed": 1} if options is None else options},
            {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"]},
        ],
        "chains": [{"name": "main", "entries": [{"pool": "claude", "model": "claude-sonnet-4-5"},
                                                {"pool": "codex", "model": "gpt-5"}]}],
    }


class Clock:
    """A settable clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _installed() -> bool:
    try:
        distribution("mp-policy-weighted")
    except PackageNotFoundError:
        return False
    return True


needs_install = pytest.mark.skipif(not _installed(), reason="mp-policy-weighted is not installed")


@pytest.fixture
def registry() -> Registry:
    """The built-ins plus this plugin, registered explicitly (independent of what is installed)."""
    pm, problems = make_plugin_manager(autoload=False)
    pm.register(weighted_module, name="weighted")
    return build_registry(pm, problems)


def engine(registry: Registry, clock: Clock, doc: dict[str, Any] | None = None, **kwargs: Any) -> Engine:
    return Engine.from_documents(doc or policy(), state="memory://", auth=kwargs.pop("auth", AUTH), clock=clock,
                                 registry=registry, **kwargs)


def test_the_registry_holds_the_strategy(registry: Registry) -> None:
    assert registry.strategies["weighted"].name == "weighted"
    assert registry.strategy_owner["weighted"] == "weighted"
    assert not registry.problems


def test_a_decision_uses_the_weighted_order(registry: Registry) -> None:
    clock = Clock(T0)
    eng = engine(registry, clock)
    assert not [d for d in eng.diagnostics if d.severity == "error"]
    decision = eng.select(chain="main").to_dict()
    expected = list(weighted_module.Weighted().order(_ctx(eng, T0)).ordered)
    assert [c["provider"] for c in decision["candidates"]] == [*expected, "openai-codex"]
    assert decision["target"]["provider"] == expected[0]
    note = decision["strategy"][0]
    assert note["pool"] == "claude" and note["name"] == "weighted" and note["fallback"] is False
    assert note["note"].startswith(f"weighted: {expected[0]} (w=")
    assert note["note"].endswith("first of 3")


def _ctx(eng: Engine, now: datetime) -> Any:
    from policy_engine.strategies.base import StrategyContext

    pool = eng.graph.pools["claude"]
    return StrategyContext(pool=pool, members=list(pool.members), now=now, phase="select", model=None,
                           current_provider=None, prompt=None, quota={}, cooldowns={})


def test_turns_spread_over_the_accounts_in_proportion_to_the_weights(registry: Registry) -> None:
    clock = Clock(T0)
    eng = engine(registry, clock)
    firsts: Counter[str] = Counter()
    turns = 4_000
    for i in range(turns):
        clock.at = T0 + timedelta(milliseconds=i)
        decision = eng.select(pool="claude", model="claude-sonnet-4-5")
        firsts[decision.target.provider] += 1
        eng.succeed(decision.turn)
    got = {member: count / turns for member, count in firsts.items()}
    # 6/3/1 of 10; 4,000 hash-based draws (the same on every run): within 3 points
    assert got["anthropic"] == pytest.approx(0.6, abs=0.03)
    assert got["anthropic-2"] == pytest.approx(0.3, abs=0.03)
    assert got["anthropic-3"] == pytest.approx(0.1, abs=0.03)


def test_a_failure_moves_to_the_next_member_of_the_draw_then_the_chain(registry: Registry) -> None:
    clock = Clock(T0)
    eng = engine(registry, clock)
    first = eng.select(chain="main")
    order = [c.provider for c in first.candidates]
    second = eng.fail(first.turn, status=429, message="rate_limit_error")
    assert second.target.provider == order[1]
    third = eng.fail(second.turn, status=429, message="rate_limit_error")
    assert third.target.provider == order[2]
    fourth = eng.fail(third.turn, status=429, message="rate_limit_error")
    assert (fourth.target.provider, fourth.target.model) == ("openai-codex", "gpt-5")


def test_members_without_credentials_stay_out(registry: Registry) -> None:
    clock = Clock(T0)
    eng = engine(registry, clock, auth=["anthropic-3", "openai-codex"])
    for i in range(50):
        clock.at = T0 + timedelta(milliseconds=i)
        decision = eng.select(pool="claude", model="claude-sonnet-4-5").to_dict()
        assert [c["provider"] for c in decision["candidates"]] == ["anthropic-3", "openai-codex"]
        assert {(s["provider"], s["reason"]) for s in decision["skipped"]} == {
            ("anthropic", "no-auth"), ("anthropic-2", "no-auth")}


def test_weights_naming_a_non_member_make_the_policy_invalid(registry: Registry) -> None:
    doc = policy({"weights": {"anthropic": 2, "antropic-3": 1}})
    with pytest.raises(PolicyError) as info:
        engine(registry, Clock(T0), doc)
    assert "options.weights: 'antropic-3' is not a member of the pool" in str(info.value)
    assert "did you mean 'anthropic-3'?" in str(info.value)


@pytest.mark.parametrize("bad", [0, -2, "heavy"])
def test_a_bad_weight_makes_the_policy_invalid_and_names_the_option(registry: Registry, bad: Any) -> None:
    # Checked by the core against Weighted.options_schema; prepare leaves it to the core, so it is said once.
    doc = policy({"weights": {"anthropic": bad}})
    with pytest.raises(PolicyError) as info:
        engine(registry, Clock(T0), doc)
    assert "weights" in str(info.value)
    assert "anthropic" in str(info.value)
    errors = info.value.errors
    assert len(errors) == 1, [e.format() for e in errors]
    assert errors[0].json_path.startswith("$.pools[0].options")


def test_an_infinite_weight_is_caught_by_prepare(registry: Registry) -> None:
    # What the schema cannot express (a YAML .inf gets past "number") is reported by prepare, once.
    doc = policy({"weights": {"anthropic": float("inf")}})
    with pytest.raises(PolicyError) as info:
        engine(registry, Clock(T0), doc)
    assert [e.message for e in info.value.errors] == [
        "pool 'claude': options.weights.anthropic: must be a finite number greater than 0, got inf"]


@needs_install
def test_the_installed_entry_point_is_discovered() -> None:
    pm, problems = make_plugin_manager(autoload=True)
    registry = build_registry(pm, problems)
    assert registry.strategy_owner.get("weighted") == "weighted"
    assert not [p for p in registry.problems if p.plugin == "weighted"]


@needs_install
@pytest.mark.skipif(bool(os.environ.get("MP_POLICY_DISABLE_PLUGIN_AUTOLOAD")), reason="plugin autoload is disabled")
def test_the_policy_test_file_passes() -> None:
    # What `mp-policy test plugins/mp-policy-weighted/tests` runs (the engine finds the installed plugin).
    result = run_file(HERE / "weighted.test.yaml")
    assert not [d for d in result.diagnostics if d.severity == "error"], [d.format() for d in result.diagnostics]
    failures = {case.name: case.failures for case in result.cases if not case.passed}
    assert not failures
    assert result.passed == len(result.cases) == 7
