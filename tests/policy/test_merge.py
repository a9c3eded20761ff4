"""Merging the global policy, a project overlay and ``MULTI_SUB`` into the effective policy.

Covers DESIGN §3 ("MULTI_SUB ... final count = max(saved, env); new indexes are the smallest free
≥ 2"; the project overlay replacing sections whole; ``allowedSubs``) and the pi-multi-pass
behaviour reference §2.4 (``parseEnvConfig`` / ``mergeConfigs`` / ``normalizeEntries``) and §2.10
(effective config, allow-list normalisation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from policy_engine.engine import Engine
from policy_engine.plugins import get_registry
from policy_engine.policy.loader import from_object
from policy_engine.policy.merge import EffectivePolicy, Subscription, merge_policy, parse_multi_sub

BASES = get_registry().bases


def merged(
    policy: Mapping[str, Any] | None = None,
    project: Mapping[str, Any] | None = None,
    multi_sub: str | None = None,
) -> EffectivePolicy:
    """Merge in-memory documents (no validation: merge must cope with what pi writes by hand)."""
    global_doc = from_object(dict(policy), "<global>") if policy is not None else None
    project_doc = from_object(dict(project), "<project>") if project is not None else None
    env = {"MULTI_SUB": multi_sub} if multi_sub is not None else {}
    return merge_policy(global_doc, project_doc, env, BASES)


def names(policy: EffectivePolicy, provider: str | None = None) -> list[str]:
    """Account names of the extra subscriptions, in merged order (optionally of one provider)."""
    return [s.name for s in policy.subscriptions if provider is None or s.provider == provider]


# --- MULTI_SUB parsing -------------------------------------------------------------------------


def test_the_five_builtin_base_providers_are_known() -> None:
    assert {"anthropic", "openai-codex", "github-copilot", "google-gemini-cli", "google-antigravity"} <= BASES


def test_multi_sub_parses_provider_count_pairs() -> None:
    counts, ignored = parse_multi_sub("openai-codex:2,anthropic:1", BASES)
    assert counts == {"openai-codex": 2, "anthropic": 1}
    assert ignored == []


def test_multi_sub_count_defaults_to_one() -> None:
    counts, _ = parse_multi_sub("anthropic", BASES)
    assert counts == {"anthropic": 1}


def test_multi_sub_trims_parts_and_ignores_empty_parts() -> None:
    counts, ignored = parse_multi_sub(" openai-codex:2 , ,anthropic ,", BASES)
    assert counts == {"openai-codex": 2, "anthropic": 1}
    assert ignored == []


@pytest.mark.parametrize(
    ("count_text", "expected"),
    [("2abc", 2), ("3", 3), ("10x", 10), ("07", 7)],
)
def test_multi_sub_count_is_read_like_parse_int(count_text: str, expected: int) -> None:
    counts, ignored = parse_multi_sub(f"anthropic:{count_text}", BASES)
    assert counts == {"anthropic": expected}
    assert ignored == []


@pytest.mark.parametrize("part", ["anthropic:0", "anthropic:-1", "anthropic:abc", "anthropic:x2"])
def test_multi_sub_ignores_counts_below_one_or_not_a_number(part: str) -> None:
    counts, ignored = parse_multi_sub(f"{part},openai-codex:1", BASES)
    assert counts == {"openai-codex": 1}
    assert ignored == [part]


@pytest.mark.parametrize("part", ["foo:2", "Anthropic:1", "anthropic-2:1", "OpenAI:1"])
def test_multi_sub_ignores_unknown_providers_case_sensitively(part: str) -> None:
    counts, ignored = parse_multi_sub(f"{part},anthropic:1", BASES)
    assert counts == {"anthropic": 1}
    assert ignored == [part]


@pytest.mark.parametrize("value", [None, ""])
def test_multi_sub_unset_or_empty_gives_nothing(value: str | None) -> None:
    assert parse_multi_sub(value, BASES) == ({}, [])


def test_ignored_multi_sub_parts_are_reported_on_the_effective_policy() -> None:
    policy = merged({}, multi_sub="foo:2,anthropic:1")
    assert policy.unknown_env == ("foo:2",)
    assert policy.env_multi_sub == "foo:2,anthropic:1"
    assert names(policy) == ["anthropic-2"]


# --- MULTI_SUB merge: max(saved, env), smallest free index >= 2 -------------------------------


def test_multi_sub_example_from_the_behaviour_reference() -> None:
    # Saved [openai-codex-2] + MULTI_SUB="openai-codex:2,anthropic:1"
    # -> openai-codex-2 (saved), openai-codex-3 (env), anthropic-2 (env).
    policy = merged(
        {"subscriptions": [{"provider": "openai-codex", "index": 2}]}, multi_sub="openai-codex:2,anthropic:1"
    )
    assert sorted(names(policy)) == ["anthropic-2", "openai-codex-2", "openai-codex-3"]
    sources = {s.name: s.source for s in policy.subscriptions}
    assert sources == {"openai-codex-2": "policy", "openai-codex-3": "env", "anthropic-2": "env"}


def test_multi_sub_is_a_minimum_not_an_addition_when_saved_count_is_larger() -> None:
    saved = [{"provider": "anthropic", "index": i} for i in (2, 3, 4)]
    policy = merged({"subscriptions": saved}, multi_sub="anthropic:2")
    assert names(policy, "anthropic") == ["anthropic-2", "anthropic-3", "anthropic-4"]
    assert all(s.source == "policy" for s in policy.subscriptions)


def test_multi_sub_equal_to_saved_count_adds_nothing() -> None:
    policy = merged({"subscriptions": [{"provider": "anthropic", "index": 5}]}, multi_sub="anthropic:1")
    assert names(policy) == ["anthropic-5"]


def test_multi_sub_new_indexes_fill_the_smallest_free_slots_from_two() -> None:
    saved = [{"provider": "anthropic", "index": 3}, {"provider": "anthropic", "index": 5}]
    policy = merged({"subscriptions": saved}, multi_sub="anthropic:4")
    env = [s.name for s in policy.subscriptions if s.source == "env"]
    assert env == ["anthropic-2", "anthropic-4"]
    assert sorted(s.index for s in policy.subscriptions) == [2, 3, 4, 5]


def test_multi_sub_indexes_are_per_provider() -> None:
    saved = [{"provider": "anthropic", "index": 2}]
    policy = merged({"subscriptions": saved}, multi_sub="openai-codex:1,anthropic:2")
    assert sorted(names(policy)) == ["anthropic-2", "anthropic-3", "openai-codex-2"]


def test_multi_sub_parts_for_the_same_provider_add_up() -> None:
    counts, _ = parse_multi_sub("anthropic:1,anthropic:2", BASES)
    assert counts == {"anthropic": 3}
    assert names(merged({}, multi_sub="anthropic:1,anthropic:2")) == ["anthropic-2", "anthropic-3", "anthropic-4"]


def test_env_subscriptions_have_no_label_and_no_file_position() -> None:
    policy = merged({}, multi_sub="github-copilot:1")
    (sub,) = policy.subscriptions
    assert sub == Subscription("github-copilot", 2, None, "env", None)


def test_multi_sub_accounts_become_known_to_the_engine_but_not_to_the_documents() -> None:
    document: dict[str, Any] = {"pools": [{"name": "c", "baseProvider": "anthropic",
                                           "members": ["anthropic", "anthropic-2"]}]}
    without = Engine.from_documents(document, env={}, auth={"anthropic-2"})
    with_env = Engine.from_documents(document, env={"MULTI_SUB": "anthropic:1"}, auth={"anthropic-2"})
    assert "anthropic-2" not in without.graph.accounts
    assert "anthropic-2" in with_env.graph.accounts
    assert with_env.select(pool="c", model="m").target is not None
    assert with_env.select(pool="c", model="m").target.provider == "anthropic-2"  # type: ignore[union-attr]
    assert "subscriptions" not in document  # env entries are never written back


def test_multi_sub_changes_the_policy_revision() -> None:
    document: dict[str, Any] = {"pools": [{"name": "c", "baseProvider": "anthropic", "members": ["anthropic"]}]}
    a = Engine.from_documents(document, env={})
    b = Engine.from_documents(document, env={"MULTI_SUB": "anthropic:1"})
    assert a.graph.revision != b.graph.revision


# --- index allocation for saved entries -------------------------------------------------------


def test_saved_entry_without_index_gets_the_smallest_free_index() -> None:
    saved = [{"provider": "anthropic", "index": 2}, {"provider": "anthropic"}]
    assert names(merged({"subscriptions": saved})) == ["anthropic-2", "anthropic-3"]


def test_entry_without_index_does_not_take_an_index_declared_later() -> None:
    saved = [{"provider": "anthropic"}, {"provider": "anthropic", "index": 2}]
    policy = merged({"subscriptions": saved})
    assert sorted(names(policy)) == ["anthropic-2", "anthropic-3"]
    assert len(set(names(policy))) == 2


@pytest.mark.parametrize("bad_index", [0, -3, "2", None, 1.5])
def test_entry_with_index_not_a_positive_integer_is_renumbered(bad_index: Any) -> None:
    saved = [{"provider": "openai-codex", "index": bad_index}, {"provider": "openai-codex", "index": 2}]
    assert sorted(names(merged({"subscriptions": saved}))) == ["openai-codex-2", "openai-codex-3"]


def test_several_entries_without_index_each_get_a_new_index() -> None:
    saved = [{"provider": "anthropic"}, {"provider": "anthropic"}, {"provider": "anthropic", "index": 3}]
    assert sorted(names(merged({"subscriptions": saved}))) == ["anthropic-2", "anthropic-3", "anthropic-4"]


def test_labels_are_trimmed_and_empty_labels_dropped() -> None:
    saved = [
        {"provider": "openai-codex", "index": 2, "label": "  work "},
        {"provider": "openai-codex", "index": 3, "label": "   "},
    ]
    subs = merged({"subscriptions": saved}).subscriptions
    assert [(s.name, s.label) for s in subs] == [("openai-codex-2", "work"), ("openai-codex-3", None)]


def test_subscription_positions_point_at_the_policy_list() -> None:
    saved = [{"provider": "anthropic", "index": 2}, {"provider": "openai-codex", "index": 2}]
    assert [s.position for s in merged({"subscriptions": saved}).subscriptions] == [0, 1]


def test_unknown_provider_subscription_is_kept_but_never_becomes_an_account() -> None:
    engine = Engine.from_documents({"subscriptions": [{"provider": "foo", "index": 2}]})
    assert "foo-2" not in engine.graph.accounts
    codes = [(d.code, d.severity) for d in engine.diagnostics]
    assert ("unknown-provider", "warning") in codes


def test_malformed_subscription_items_are_ignored_by_merge() -> None:
    saved: list[Any] = ["anthropic-2", {"index": 2}, {"provider": "anthropic", "index": 4}]
    assert names(merged({"subscriptions": saved})) == ["anthropic-4"]


# --- project overlay ---------------------------------------------------------------------------

GLOBAL: dict[str, Any] = {
    "settings": {"cooldown": "5m", "timezone": "Europe/Vienna"},
    "subscriptions": [{"provider": "anthropic", "index": 2}],
    "pools": [{"name": "global-pool", "baseProvider": "anthropic", "members": ["anthropic"]}],
    "chains": [{"name": "global-chain", "entries": [{"pool": "global-pool", "model": "m"}]}],
    "presets": [{"name": "global-preset", "entries": [{"provider": "anthropic", "model": "m"}]}],
    "errorRules": [{"status": 418, "kind": "rate_limit"}],
}


def test_without_a_project_the_global_sections_are_used() -> None:
    policy = merged(GLOBAL)
    assert [p["name"] for p in policy.pools] == ["global-pool"]
    assert [c["name"] for c in policy.chains] == ["global-chain"]
    assert [p["name"] for p in policy.presets] == ["global-preset"]
    assert [r["status"] for r in policy.error_rules] == [418]
    assert policy.allowed is None
    assert dict(policy.settings) == {"cooldown": "5m", "timezone": "Europe/Vienna"}


def test_project_pools_replace_the_global_pools_whole() -> None:
    project = {"pools": [{"name": "p1", "baseProvider": "anthropic", "members": ["anthropic-2"]}]}
    policy = merged(GLOBAL, project)
    assert [p["name"] for p in policy.pools] == ["p1"]
    assert [c["name"] for c in policy.chains] == ["global-chain"]  # untouched
    assert policy.source_of("pools") is not None
    assert policy.source_of("pools").source == "<project>"  # type: ignore[union-attr]
    assert policy.source_of("chains").source == "<global>"  # type: ignore[union-attr]


def test_project_chains_presets_and_error_rules_replace_whole() -> None:
    project = {
        "chains": [{"name": "pc", "entries": [{"pool": "global-pool", "model": "x"}]}],
        "presets": [{"name": "pp", "entries": [{"provider": "anthropic-2", "model": "y"}]}],
        "errorRules": [{"status": 400, "kind": "auth"}, {"status": 401, "kind": "auth"}],
    }
    policy = merged(GLOBAL, project)
    assert [c["name"] for c in policy.chains] == ["pc"]
    assert [p["name"] for p in policy.presets] == ["pp"]
    assert [r["status"] for r in policy.error_rules] == [400, 401]
    assert [p["name"] for p in policy.pools] == ["global-pool"]


def test_an_empty_project_list_replaces_the_global_list_with_nothing() -> None:
    policy = merged(GLOBAL, {"chains": []})
    assert policy.chains == ()
    assert [p["name"] for p in policy.pools] == ["global-pool"]


def test_project_settings_override_global_settings_key_by_key() -> None:
    policy = merged(GLOBAL, {"settings": {"cooldown": "10m", "rotateOn": ["rate_limit"]}})
    assert dict(policy.settings) == {"cooldown": "10m", "timezone": "Europe/Vienna", "rotateOn": ["rate_limit"]}


def test_project_settings_take_effect_in_the_compiled_graph() -> None:
    engine = Engine.from_documents(GLOBAL, {"settings": {"cooldown": "10m"}})
    assert engine.graph.settings.cooldown.total_seconds() == 600
    assert engine.graph.settings.timezone_name == "Europe/Vienna"


def test_subscriptions_always_come_from_the_global_policy() -> None:
    policy = merged(GLOBAL, {"allowedSubs": ["anthropic"]})
    assert names(policy) == ["anthropic-2"]


def test_project_overlay_cannot_declare_subscriptions() -> None:
    from policy_engine.common.diagnostics import PolicyError

    with pytest.raises(PolicyError) as caught:
        Engine.from_documents(GLOBAL, {"subscriptions": [{"provider": "anthropic", "index": 3}]})
    assert any(d.code == "project-subscriptions" for d in caught.value.errors)


# --- allowedSubs -------------------------------------------------------------------------------


def test_allowed_subs_are_trimmed_and_deduplicated_in_first_occurrence_order() -> None:
    policy = merged(GLOBAL, {"allowedSubs": [" anthropic-2", "anthropic", "anthropic-2 ", "", "  "]})
    assert policy.allowed == ("anthropic-2", "anthropic")


@pytest.mark.parametrize("project", [{"allowedSubs": []}, {"allowedSubs": ["", "  "]}, {}])
def test_empty_allowed_subs_means_no_restriction(project: dict[str, Any]) -> None:
    assert merged(GLOBAL, project).allowed is None
    engine = Engine.from_documents(GLOBAL, project)
    assert engine.graph.allowed is None


def test_allowed_subs_is_an_exact_list_in_the_graph() -> None:
    engine = Engine.from_documents(GLOBAL, {"allowedSubs": ["anthropic-2"]}, auth={"anthropic", "anthropic-2"})
    assert engine.graph.allowed == frozenset({"anthropic-2"})
    decision = engine.select("anthropic", model="m").to_dict()
    assert decision["target"] is None
    assert decision["skipped"][0]["reason"] == "not-allowed"


def test_multi_sub_with_an_empty_count_is_ignored_like_parse_int() -> None:
    """pi reads the count with parseInt: "anthropic:" gives NaN and the part is skipped."""
    from policy_engine.policy.merge import parse_multi_sub

    counts, ignored = parse_multi_sub("anthropic:,openai-codex", frozenset({"anthropic", "openai-codex"}))
    assert counts == {"openai-codex": 1}
    assert ignored == ["anthropic:"]


def test_multi_sub_counts_above_the_cap_are_ignored() -> None:
    from policy_engine.policy.merge import MAX_EXTRA_ACCOUNTS, parse_multi_sub

    counts, ignored = parse_multi_sub(f"anthropic:{MAX_EXTRA_ACCOUNTS + 1},openai-codex:{MAX_EXTRA_ACCOUNTS}",
                                      frozenset({"anthropic", "openai-codex"}))
    assert counts == {"openai-codex": MAX_EXTRA_ACCOUNTS}
    assert ignored == [f"anthropic:{MAX_EXTRA_ACCOUNTS + 1}"]
