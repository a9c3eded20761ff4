"""Compiling an effective policy into the evaluation graph (DESIGN §2 "compile", §4 "Routes").

Indexes (provider → pool, pool → chain position), allow-list narrowing, static diagnostics with
their codes, severities and source positions, and graph caching by content (``policyRevision``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.compile.graph import CompiledPool, Graph
from policy_engine.engine import Engine

SUBS: list[dict[str, Any]] = [
    {"provider": "anthropic", "index": 2},
    {"provider": "anthropic", "index": 3},
    {"provider": "openai-codex", "index": 2},
    {"provider": "openai-codex", "index": 3},
]


def pool(name: str, members: list[str], base: str = "anthropic", **extra: Any) -> dict[str, Any]:
    """A pool document."""
    return {"name": name, "baseProvider": base, "members": members, **extra}


def chain(name: str, *entries: tuple[str, str], **extra: Any) -> dict[str, Any]:
    """A chain document from (pool, model) pairs."""
    return {"name": name, "entries": [{"pool": p, "model": m} for p, m in entries], **extra}


def compile_doc(policy: dict[str, Any], project: dict[str, Any] | None = None, **kwargs: Any) -> Graph:
    """Compile through the public engine constructor."""
    return Engine.from_documents(policy, project, **kwargs).graph


def compile_errors(policy: dict[str, Any], project: dict[str, Any] | None = None) -> list[Diagnostic]:
    """The error diagnostics of a policy that must not compile."""
    with pytest.raises(PolicyError) as caught:
        Engine.from_documents(policy, project)
    return caught.value.errors


def warning_codes(graph: Graph) -> list[str]:
    """Codes of the graph's compile warnings."""
    return [d.code for d in graph.warnings]


# --- provider -> pool index ----------------------------------------------------------------------


def test_provider_maps_to_the_first_enabled_pool_listing_it() -> None:
    graph = compile_doc({
        "subscriptions": SUBS,
        "pools": [pool("a", ["anthropic", "anthropic-2"]), pool("b", ["anthropic-3", "anthropic"])],
    })
    assert graph.provider_pool["anthropic"] == "a"
    assert graph.provider_pool["anthropic-3"] == "b"
    assert graph.pool_of("anthropic") is graph.pools["a"]


def test_provider_in_two_enabled_pools_gives_a_warning_at_the_later_pool() -> None:
    graph = compile_doc({
        "subscriptions": SUBS,
        "pools": [pool("a", ["anthropic", "anthropic-2"]), pool("b", ["anthropic-3", "anthropic"])],
    })
    (warning,) = [d for d in graph.warnings if d.code == "provider-in-two-pools"]
    assert warning.severity == "warning"
    assert warning.path == ("pools", 1, "members", 1)
    assert "'a'" in warning.message and "'b'" in warning.message


def test_disabled_pools_do_not_own_providers_and_do_not_warn() -> None:
    graph = compile_doc({
        "subscriptions": SUBS,
        "pools": [pool("off", ["anthropic"], enabled=False), pool("on", ["anthropic", "anthropic-2"])],
    })
    assert graph.provider_pool["anthropic"] == "on"
    assert "provider-in-two-pools" not in warning_codes(graph)
    assert graph.pool_of("anthropic") is graph.pools["on"]


def test_provider_in_no_enabled_pool_has_no_pool() -> None:
    graph = compile_doc({"subscriptions": SUBS, "pools": [pool("off", ["anthropic"], enabled=False)]})
    assert graph.pool_of("anthropic") is None
    assert graph.pool_of("openai-codex") is None


def test_pool_ownership_is_decided_before_the_allow_list_narrows_pools() -> None:
    # "the first enabled pool in document order that lists it, as written before an allow-list narrows it"
    graph = compile_doc(
        {"subscriptions": SUBS,
         "pools": [pool("a", ["anthropic", "anthropic-2"]), pool("b", ["anthropic-2", "anthropic-3"])]},
        {"allowedSubs": ["anthropic-2", "anthropic-3"]},
    )
    assert graph.pools["a"].members == ("anthropic-2",)
    assert graph.provider_pool["anthropic-2"] == "a"


# --- pool -> chain index -------------------------------------------------------------------------


def test_pool_maps_to_its_position_in_the_first_enabled_chain_containing_it() -> None:
    graph = compile_doc({
        "subscriptions": SUBS,
        "pools": [pool("claude", ["anthropic"]), pool("codex", ["openai-codex"], base="openai-codex")],
        "chains": [
            chain("off", ("codex", "x"), ("claude", "y"), enabled=False),
            chain("first", ("claude", "y"), ("codex", "x")),
            chain("second", ("codex", "x"), ("claude", "y")),
        ],
    })
    assert graph.pool_chain["claude"] == ("first", 0)
    assert graph.pool_chain["codex"] == ("first", 1)


def test_pool_chain_position_is_the_first_occurrence_of_the_pool() -> None:
    graph = compile_doc({
        "subscriptions": SUBS,
        "pools": [pool("claude", ["anthropic"]), pool("codex", ["openai-codex"], base="openai-codex")],
        "chains": [chain("c", ("codex", "x"), ("claude", "y"), ("codex", "z"))],
    })
    assert graph.pool_chain["codex"] == ("c", 0)
    assert graph.pool_chain["claude"] == ("c", 1)


def test_a_pool_in_no_enabled_chain_has_no_chain_position() -> None:
    graph = compile_doc({"subscriptions": SUBS, "pools": [pool("claude", ["anthropic"])]})
    assert "claude" not in graph.pool_chain


# --- allow-list narrowing ---------------------------------------------------------------------------

NARROW: dict[str, Any] = {
    "subscriptions": SUBS,
    "pools": [
        pool("claude", ["anthropic", "anthropic-2", "anthropic-3"]),
        pool("codex", ["openai-codex", "openai-codex-2"], base="openai-codex"),
        pool("gem", ["google-gemini-cli"], base="google-gemini-cli"),
    ],
    "chains": [chain("main", ("claude", "s"), ("codex", "g"), ("gem", "p"))],
}


def test_allow_list_keeps_allowed_members_in_written_order() -> None:
    graph = compile_doc(NARROW, {"allowedSubs": ["anthropic-3", "anthropic", "google-gemini-cli"]})
    assert graph.pools["claude"].members == ("anthropic", "anthropic-3")
    assert graph.pools["claude"].written_members == ("anthropic", "anthropic-2", "anthropic-3")
    assert not graph.pools["claude"].dropped


def test_allow_list_drops_emptied_pools_and_their_chain_entries_keeping_entry_indexes() -> None:
    graph = compile_doc(NARROW, {"allowedSubs": ["anthropic", "google-gemini-cli"]})
    assert graph.pools["codex"].members == ()
    assert graph.pools["codex"].dropped
    entries = graph.chains["main"].entries
    assert [(e.index, e.pool, e.dropped) for e in entries] == [
        (0, "claude", False), (1, "codex", True), (2, "gem", False),
    ]
    engine = Engine.from_documents(NARROW, {"allowedSubs": ["anthropic", "google-gemini-cli"]},
                                   auth={"google-gemini-cli"})
    decision = engine.select(chain="main").to_dict()
    assert decision["target"]["provider"] == "google-gemini-cli"
    assert decision["target"]["entry"] == 2
    assert all(s["entry"] != 1 for s in decision["skipped"])


def test_without_an_allow_list_nothing_is_narrowed() -> None:
    graph = compile_doc(NARROW)
    assert graph.allowed is None
    assert graph.pools["codex"].members == ("openai-codex", "openai-codex-2")
    assert not any(p.dropped for p in graph.pools.values())


def test_duplicate_members_are_rejected_by_the_schema() -> None:
    errors = compile_errors({"pools": [pool("p", ["anthropic", "anthropic"])]})
    assert errors and errors[0].path[:3] == ("pools", 0, "members")


# --- diagnostics ------------------------------------------------------------------------------------


def test_unknown_pool_in_a_chain_is_an_error_with_did_you_mean() -> None:
    errors = compile_errors({"pools": [pool("claude", ["anthropic"])], "chains": [chain("c", ("claud", "m"))]})
    (error,) = errors
    assert error.code == "unknown-pool"
    assert error.path == ("chains", 0, "entries", 0, "pool")
    assert error.hint is not None and "did you mean 'claude'" in error.hint


def test_unknown_strategy_is_an_error_with_did_you_mean() -> None:
    (error,) = compile_errors({"pools": [pool("p", ["anthropic"], strategy="quota-frist")]})
    assert error.code == "unknown-strategy"
    assert error.path == ("pools", 0, "strategy")
    assert error.hint is not None and "quota-first" in error.hint


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        ({"pools": [pool("p", ["anthropic"]), pool("p", ["openai-codex"], base="openai-codex")]},
         ("pools", 1, "name")),
        ({"pools": [pool("p", ["anthropic"])], "chains": [chain("c", ("p", "m")), chain("c", ("p", "n"))]},
         ("chains", 1, "name")),
        ({"presets": [{"name": "x", "entries": [{"provider": "anthropic", "model": "m"}]},
                      {"name": "x", "entries": [{"provider": "openai-codex", "model": "m"}]}]},
         ("presets", 1, "name")),
    ],
    ids=["pool", "chain", "preset"],
)
def test_duplicate_names_are_errors(policy: dict[str, Any], path: tuple[Any, ...]) -> None:
    (error,) = compile_errors(policy)
    assert error.code == "duplicate-name"
    assert error.severity == "error"
    assert error.path == path


def test_unknown_member_is_only_a_warning_and_is_skipped_as_unknown() -> None:
    engine = Engine.from_documents({"pools": [pool("p", ["anthropic", "anthropic-7"])]}, auth={"anthropic-7"})
    (warning,) = [d for d in engine.graph.warnings if d.code == "unknown-member"]
    assert warning.path == ("pools", 0, "members", 1)
    decision = engine.select(pool="p", model="m").to_dict()
    assert decision["target"] is None
    assert [(s["provider"], s["reason"]) for s in decision["skipped"]] == [
        ("anthropic", "no-auth"), ("anthropic-7", "unknown"),
    ]


def test_a_member_known_through_multi_sub_is_not_warned_about() -> None:
    graph = compile_doc({"pools": [pool("p", ["anthropic", "anthropic-2"])]}, env={"MULTI_SUB": "anthropic:1"})
    assert "unknown-member" not in warning_codes(graph)


def test_chain_entry_into_a_disabled_pool_is_an_unreachable_entry_warning() -> None:
    graph = compile_doc({
        "pools": [pool("on", ["anthropic"]), pool("off", ["openai-codex"], base="openai-codex", enabled=False)],
        "chains": [chain("c", ("on", "m"), ("off", "n"))],
    })
    (warning,) = [d for d in graph.warnings if d.code == "unreachable-entry"]
    assert warning.path == ("chains", 0, "entries", 1)


def test_preset_entry_with_an_unknown_provider_is_an_unreachable_entry_warning() -> None:
    graph = compile_doc({"presets": [{"name": "p", "entries": [
        {"provider": "anthropic", "model": "m"}, {"provider": "anthropic-9", "model": "m"},
    ]}]})
    (warning,) = [d for d in graph.warnings if d.code == "unreachable-entry"]
    assert warning.path == ("presets", 0, "entries", 1, "provider")


def test_disabled_entries_and_disabled_chains_are_not_reported_unreachable() -> None:
    graph = compile_doc({
        "pools": [pool("on", ["anthropic"]), pool("off", ["openai-codex"], base="openai-codex", enabled=False)],
        "chains": [
            {"name": "c", "entries": [{"pool": "on", "model": "m"}, {"pool": "off", "model": "n", "enabled": False}]},
            {"name": "d", "enabled": False, "entries": [{"pool": "off", "model": "n"}]},
        ],
        "presets": [{"name": "p", "enabled": False, "entries": [{"provider": "nobody", "model": "m"}]}],
    })
    assert "unreachable-entry" not in warning_codes(graph)
    assert "all-disabled" not in warning_codes(graph)


def test_enabled_chain_with_every_entry_disabled_is_a_warning() -> None:
    graph = compile_doc({
        "pools": [pool("on", ["anthropic"])],
        "chains": [{"name": "c", "entries": [{"pool": "on", "model": "m", "enabled": False}]}],
    })
    (warning,) = [d for d in graph.warnings if d.code == "all-disabled"]
    assert warning.severity == "warning"
    assert warning.path == ("chains", 0)


def test_enabled_preset_with_every_entry_disabled_is_a_warning() -> None:
    graph = compile_doc({"presets": [{"name": "p", "entries": [
        {"provider": "anthropic", "model": "m", "enabled": False},
    ]}]})
    assert "all-disabled" in warning_codes(graph)


def test_allowed_subs_naming_an_unknown_account_is_a_warning_with_did_you_mean() -> None:
    graph = compile_doc({"subscriptions": SUBS}, {"allowedSubs": ["anthropic-2", "antropic-3"]})
    (warning,) = [d for d in graph.warnings if d.code == "unknown-account"]
    assert warning.path == ("allowedSubs", 1)
    assert warning.hint is not None and "anthropic-3" in warning.hint


def test_a_policy_with_only_warnings_still_compiles_and_evaluates() -> None:
    engine = Engine.from_documents(
        {"pools": [pool("a", ["anthropic", "ghost"]), pool("b", ["anthropic"])]}, auth={"anthropic"})
    assert {"unknown-member", "provider-in-two-pools"} <= set(warning_codes(engine.graph))
    assert engine.select(pool="b", model="m").target is not None


def test_all_errors_are_reported_together() -> None:
    errors = compile_errors({
        "pools": [pool("p", ["anthropic"], strategy="nope"), pool("p", ["anthropic"])],
        "chains": [chain("c", ("q", "m"))],
    })
    assert sorted(e.code for e in errors) == ["duplicate-name", "unknown-pool", "unknown-strategy"]


def test_diagnostics_carry_file_line_and_column_when_loaded_from_yaml(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(
        "pools:\n"
        "  - name: claude\n"
        "    baseProvider: anthropic\n"
        "    members: [anthropic]\n"
        "chains:\n"
        "  - name: main\n"
        "    entries:\n"
        "      - {pool: claud, model: m}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as caught:
        Engine.load(agent_dir=agent, project=tmp_path / "no-project", state="memory://", env={})
    (error,) = caught.value.errors
    assert error.code == "unknown-pool"
    assert error.file == str(agent / "multi-pass.yaml")
    assert (error.line, error.col) == (8, 16)
    assert error.format().startswith(f"{agent / 'multi-pass.yaml'}:8:16: unknown-pool:")


def test_warnings_from_a_project_overlay_point_at_the_project_file(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text("subscriptions: [{provider: anthropic, index: 2}]\n", encoding="utf-8")
    project = tmp_path / "proj"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text(
        "pools:\n"
        "  - name: p\n"
        "    baseProvider: anthropic\n"
        "    members: [anthropic, antropic-2]\n",
        encoding="utf-8",
    )
    engine = Engine.load(agent_dir=agent, project=project, state="memory://", env={})
    (warning,) = [d for d in engine.diagnostics if d.code == "unknown-member"]
    assert warning.file == str(project / ".pi" / "multi-pass.yaml")
    assert (warning.line, warning.col) == (4, 26)
    assert warning.hint is not None and "anthropic-2" in warning.hint


# --- caching and immutability --------------------------------------------------------------------


def test_same_content_gives_the_same_revision_and_the_same_graph_object() -> None:
    doc = {"subscriptions": SUBS, "pools": [pool("claude", ["anthropic", "anthropic-2"])]}
    a = compile_doc(doc)
    b = compile_doc(copy.deepcopy(doc))
    assert a.revision == b.revision
    assert a is b


def test_changed_content_gives_a_different_revision_and_graph() -> None:
    doc = {"subscriptions": SUBS, "pools": [pool("claude", ["anthropic", "anthropic-2"])]}
    changed = copy.deepcopy(doc)
    changed["pools"][0]["members"] = ["anthropic-2", "anthropic"]
    a, b = compile_doc(doc), compile_doc(changed)
    assert a.revision != b.revision
    assert a is not b
    assert b.pools["claude"].members == ("anthropic-2", "anthropic")


def test_a_project_overlay_changes_the_revision() -> None:
    doc = {"subscriptions": SUBS, "pools": [pool("claude", ["anthropic", "anthropic-2"])]}
    assert compile_doc(doc).revision != compile_doc(doc, {"allowedSubs": ["anthropic"]}).revision


def test_the_revision_does_not_depend_on_how_the_policy_path_is_spelled(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy's folder is part of the revision (selector scripts are found from it), as an absolute path."""
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "multi-pass.yaml").write_text("pools: [{name: claude, baseProvider: anthropic, members: [anthropic]}]\n",
                                            encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    revisions = set()
    for spelled in ("agent/multi-pass.yaml", "./agent/multi-pass.yaml", str(folder / "multi-pass.yaml")):
        with Engine.load(agent_dir=folder, policy=spelled, state="memory://", env={}, auth={"anthropic"},
                         search_project=False, quota_refresh=False) as engine:
            revisions.add(engine.graph.revision)
    assert len(revisions) == 1


def test_the_decision_reports_the_graph_revision() -> None:
    engine = Engine.from_documents({"pools": [pool("claude", ["anthropic"])]}, auth={"anthropic"})
    assert engine.select(pool="claude", model="m").to_dict()["policyRevision"] == engine.graph.revision


def _pool_state(p: CompiledPool) -> dict[str, Any]:
    return {f.name: copy.deepcopy(getattr(p, f.name)) for f in fields(p) if f.name not in ("strategy", "tz")}


def test_evaluation_never_mutates_the_graph() -> None:
    now = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
    doc = {
        "settings": {"timezone": "UTC"},
        "subscriptions": SUBS,
        "pools": [
            pool("claude", ["anthropic", "anthropic-2", "anthropic-3"]),
            pool("codex", ["openai-codex", "openai-codex-2", "openai-codex-3"], base="openai-codex",
                 strategy="scheduled",
                 memberSchedule={"openai-codex": {"role": "preferred", "windows": [{"hours": [8, 12]}]},
                                 "openai-codex-3": {"role": "overflow"}}),
        ],
        "chains": [chain("main", ("claude", "s"), ("codex", "g"))],
        "presets": [{"name": "p", "entries": [{"provider": "anthropic-2", "model": "o"}]}],
    }
    clock_at = [now]
    engine = Engine.from_documents(doc, {"allowedSubs": ["anthropic", "anthropic-2", "openai-codex",
                                                         "openai-codex-3"]},
                                   auth={"anthropic", "anthropic-2", "openai-codex", "openai-codex-3"},
                                   clock=lambda: clock_at[0])
    graph = engine.graph
    before_pools = {n: _pool_state(p) for n, p in graph.pools.items()}
    before = (dict(graph.provider_pool), dict(graph.pool_chain), dict(graph.chains), dict(graph.presets),
              graph.accounts, graph.allowed, graph.diagnostics)
    d = engine.select(chain="main", explain=True)
    while d.target is not None:
        d = engine.fail(d.turn, status=429, message="rate_limit_error")
        clock_at[0] += timedelta(minutes=1)
    engine.select(preset="p")
    engine.select("openai-codex", model="g", dry_run=True)
    assert engine.graph is graph
    assert {n: _pool_state(p) for n, p in graph.pools.items()} == before_pools
    assert (dict(graph.provider_pool), dict(graph.pool_chain), dict(graph.chains), dict(graph.presets),
            graph.accounts, graph.allowed, graph.diagnostics) == before


# --- known bugs ----------------------------------------------------------------------------------


def test_cached_graphs_report_warnings_at_the_file_that_was_loaded(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text("subscriptions: [{provider: anthropic, index: 2}]\n", encoding="utf-8")
    overlay = "pools:\n  - {name: p, baseProvider: anthropic, members: [anthropic, antropic-2]}\n"
    found = []
    for name in ("first", "second"):
        (tmp_path / name / ".pi").mkdir(parents=True)
        (tmp_path / name / ".pi" / "multi-pass.yaml").write_text(overlay, encoding="utf-8")
        engine = Engine.load(agent_dir=agent, project=tmp_path / name, state="memory://", env={})
        (warning,) = [d for d in engine.diagnostics if d.code == "unknown-member"]
        found.append(warning.file)
    assert found == [str(tmp_path / "first" / ".pi" / "multi-pass.yaml"),
                     str(tmp_path / "second" / ".pi" / "multi-pass.yaml")]


def test_warnings_follow_the_current_layout_of_the_file(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    policy_file = agent / "multi-pass.yaml"
    body = "pools:\n  - {name: p, baseProvider: anthropic, members: [anthropic, ghost-account]}\n"
    policy_file.write_text(body, encoding="utf-8")
    first = Engine.load(agent_dir=agent, project=tmp_path / "none", state="memory://", env={})
    assert [d.line for d in first.diagnostics if d.code == "unknown-member"] == [2]
    policy_file.write_text("# routing for my accounts\n# second comment line\n" + body, encoding="utf-8")
    second = Engine.load(agent_dir=agent, project=tmp_path / "none", state="memory://", env={})
    assert [d.line for d in second.diagnostics if d.code == "unknown-member"] == [4]


def _codes(doc: dict[str, Any]) -> dict[str, str]:
    from policy_engine.common.diagnostics import PolicyError

    try:
        engine = Engine.from_documents(doc, auth=set())
    except PolicyError as exc:
        return {d.code: d.severity for d in exc.diagnostics}
    return {d.code: d.severity for d in engine.diagnostics}


def test_error_rules_that_match_everything_or_name_unknown_providers_are_warned_about() -> None:
    codes = _codes({"errorRules": [{"kind": "other"}, {"provider": "antropic", "status": 400, "kind": "auth"}]})
    assert codes == {"error-rule-matches-all": "warning", "unknown-provider": "warning"}


def test_error_rule_patterns_are_re2_so_nested_repeats_are_fine_and_lookaround_is_refused() -> None:
    assert _codes({"errorRules": [{"match": "(a+)+$", "kind": "quota_exhausted"}]}) == {}
    codes = _codes({"errorRules": [{"match": "(?<=x)y", "kind": "quota_exhausted"}]})
    assert codes.get("regex") == "error"


def test_an_unknown_state_url_in_settings_is_an_error() -> None:
    assert _codes({"settings": {"state": "foo://x"}}).get("state-url") == "error"
    assert "state-url" not in _codes({"settings": {"state": "sqlite:///tmp/x.db"}})


# --- the pool family rule (DESIGN §3) --------------------------------------------------------------


def test_a_member_of_another_family_is_an_error_at_the_member() -> None:
    policy = {"subscriptions": SUBS, "pools": [pool("claude", ["anthropic", "openai-codex-2", "anthropic-2"])]}
    error = only_error(policy, "member-family")
    assert error.path == ("pools", 0, "members", 1) and error.severity == "error"
    assert error.message == ("pool 'claude': 'openai-codex-2' is an account of the openai-codex family, not of the "
                             "pool's baseProvider 'anthropic'")
    assert error.hint is not None and "move 'openai-codex-2' to a pool of the openai-codex family" in error.hint


def test_the_family_comes_from_the_name_even_for_an_undeclared_account() -> None:
    """``openai-codex-7`` is no declared account (a warning: it may come from MULTI_SUB), but its family is
    plain, and it is not anthropic."""
    policy = {"subscriptions": SUBS, "pools": [pool("claude", ["anthropic", "openai-codex-7"])]}
    assert only_error(policy, "member-family").path == ("pools", 0, "members", 1)
    # a member of no known family stays an unknown-member warning
    graph = compile_doc({"pools": [pool("claude", ["anthropic", "zzz-4", "anthropic-9"])]})
    assert warning_codes(graph) == ["unknown-member", "unknown-member"]


def test_a_base_account_of_another_family_is_an_error_too() -> None:
    policy = {"pools": [pool("mixed", ["github-copilot", "google-gemini-cli"], base="github-copilot")]}
    assert only_error(policy, "member-family").path == ("pools", 0, "members", 1)


def test_a_misspelt_base_provider_names_the_families() -> None:
    error = only_error({"pools": [pool("claude", ["anthropic"], base="antropic")]}, "member-family")
    assert error.hint is not None and error.hint.endswith("did you mean 'anthropic'?")


def test_in_a_multi_pass_json_a_member_of_another_family_is_a_warning(tmp_path: Path) -> None:
    """pi-multi-pass does not check this, and a multi-pass.json is read with pi's tolerance."""
    (tmp_path / "multi-pass.json").write_text(json.dumps(
        {"subscriptions": SUBS, "pools": [pool("claude", ["anthropic", "openai-codex-2"])]}, indent=2),
        encoding="utf-8")
    engine = Engine.load(agent_dir=tmp_path, state="memory://", auth=["anthropic"])
    try:
        found = [d for d in engine.graph.warnings if d.code == "member-family"]
        assert len(found) == 1 and found[0].path == ("pools", 0, "members", 1)
        assert found[0].file is not None and found[0].file.endswith("multi-pass.json") and found[0].line == 26
        assert "mp-policy import" in (found[0].hint or "")
        assert engine.select(pool="claude").target is not None
    finally:
        engine.close()


def test_a_project_overlay_pool_is_checked_where_it_is_written() -> None:
    errors = compile_errors({"subscriptions": SUBS}, {"pools": [pool("p", ["openai-codex"])]})
    assert [(e.code, e.path) for e in errors] == [("member-family", ("pools", 0, "members", 0))]


def only_error(policy: dict[str, Any], code: str) -> Diagnostic:
    """The one error of a policy that must not compile, with its code."""
    errors = compile_errors(policy)
    assert [e.code for e in errors] == [code], [e.format() for e in errors]
    return errors[0]


def test_loading_the_engine_does_not_import_the_validator() -> None:
    """Validation results are cached (validation_cache): a cached run never needs the validator's module."""
    import subprocess
    import sys

    code = "import sys; import policy_engine.engine; print('policy_engine.policy.validation' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
