"""The import of pi-multi-pass set-ups (``policy_engine.pi_import``).

The central claim: the YAML the import writes means exactly what the pi JSON already means to
mp-policy. It is proved by loading both set-ups with the real engine and comparing the compiled
graphs and a whole series of decisions (select on every pool, chain, preset and account, then
rate limits until nothing is left), at several times of the week; nothing is hard-coded.
Values mp-policy rejects are checked against pi-multi-pass's own rules (its hours arithmetic, its
exact day-name match, its subscription numbering), re-implemented here as oracles.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.compile.graph import Graph
from policy_engine.engine import Engine
from policy_engine.pi_import import (
    Difference,
    InvalidResult,
    OutputExists,
    PiImportError,
    plan_import,
    write_import,
)
from policy_engine.pi_import.behaviour import pi_labels
from policy_engine.policy.loader import load_file, load_text
from policy_engine.policy.schedule import Schedule
from policy_engine.policy.validation import validate_document
from policy_engine.sandbox.selector import resolve_script

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pi_import"
VIENNA = ZoneInfo("Europe/Vienna")
MULTI_SUB = "anthropic:2"
ACCOUNTS = {
    "anthropic", "anthropic-2", "anthropic-3", "openai-codex", "openai-codex-2", "openai-codex-3",
    "google-gemini-cli", "google-gemini-cli-2", "github-copilot", "github-copilot-2",
}
#: A Monday morning, a Wednesday evening, a Saturday night and a Sunday noon (UTC; Vienna is +1/+2).
MOMENTS = [datetime(2026, 4, 6, 8, 30, tzinfo=UTC), datetime(2026, 4, 8, 19, 45, tzinfo=UTC),
           datetime(2026, 4, 11, 22, 10, tzinfo=UTC), datetime(2026, 4, 12, 11, 0, tzinfo=UTC)]


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A private copy of the realistic pi set-up (agent directory and a project)."""
    target = tmp_path / "setup"
    shutil.copytree(FIXTURES / "realistic", target)
    return target


def _import(setup: Path, **kwargs: Any) -> Any:
    report = plan_import(agent_dir=setup / "agent", project=setup / "work-repo",
                         env={"MULTI_SUB": MULTI_SUB}, **kwargs)
    write_import(report)
    return report


# --------------------------------------------------------------------------- the engine's view


class _Clock:
    def __init__(self) -> None:
        self.now = MOMENTS[0]

    def __call__(self) -> datetime:
        return self.now


def _engine(setup: Path, *, json_files: bool, project: bool, clock: _Clock) -> Engine:
    agent = setup / "agent"
    nowhere = setup / "no-project"
    nowhere.mkdir(exist_ok=True)
    if json_files:
        policy: Path | None = agent / "multi-pass.json"
        overlay = setup / "work-repo" / ".pi" / "multi-pass.json" if project else nowhere
    else:
        policy = None  # <agentDir>/multi-pass.yaml comes first
        overlay = setup / "work-repo" if project else nowhere
    return Engine.load(agent_dir=agent, project=overlay, policy=policy, state="memory://", search_project=False,
                       env={"MULTI_SUB": MULTI_SUB, "MP_POLICY_QUOTA_REFRESH": "0"}, auth=ACCOUNTS, clock=clock,
                       timezone_default=VIENNA)


def _graph_summary(graph: Graph) -> dict[str, Any]:
    """Everything in a compiled graph that changes a decision (not where it was read from)."""
    pools = {}
    for name, pool in graph.pools.items():
        script = resolve_script(pool.selector_script, pool.source_dir) if pool.selector_script else None
        pools[name] = {
            "base": pool.base, "members": pool.members, "written": pool.written_members, "enabled": pool.enabled,
            "strategy": pool.strategy_name, "cooldown": pool.cooldown, "tz": str(pool.tz),
            "schedule": json.loads(json.dumps(pool.member_schedule)), "dropped": pool.dropped,
            "script": str(script.resolve()) if script else None, "timeout": pool.selector_timeout,
            "options": dict(pool.options),
        }
    return {
        "settings": graph.settings, "accounts": sorted(graph.accounts), "allowed": graph.allowed,
        "pools": pools, "chains": dict(graph.chains), "presets": dict(graph.presets),
        "provider_pool": dict(graph.provider_pool), "pool_chain": dict(graph.pool_chain),
        "labels": dict(graph.labels), "rules": len(graph.error_rules),
        "diagnostics": sorted((d.code, d.severity, d.message) for d in graph.diagnostics),
    }


def _warm_selectors(engine: Engine) -> None:
    """Start the custom pools' selector workers, so that no decision below pays a cold start."""
    for name, pool in engine.graph.pools.items():
        if pool.strategy_name != "custom" or not pool.enabled or pool.dropped:
            continue
        for _ in range(50):
            decision = engine.select(pool=name, dry_run=True)
            if not any(s.fallback for s in decision.strategy):
                break
            time.sleep(0.1)


def _decisions(engine: Engine, clock: _Clock) -> Iterator[dict[str, Any]]:
    """Every pool, chain, preset and account selected, then rate-limited until no target is left."""
    graph = engine.graph
    requests: list[dict[str, Any]] = [{"pool": p, "model": "model-x"} for p in graph.pools]
    requests += [{"chain": c} for c in graph.chains] + [{"preset": p} for p in graph.presets]
    requests += [{"provider": a, "model": "model-y"} for a in sorted(graph.accounts)]
    for moment in MOMENTS:
        clock.now = moment
        for request in requests:
            decision = engine.select(**request)
            yield _comparable(decision)
            for _ in range(12):
                if decision.target is None:
                    break
                decision = engine.fail(decision.turn, status=429, message="rate_limit_error")
                yield _comparable(decision)
            engine.succeed(decision.turn)
            clock.now += timedelta(minutes=1)


def _comparable(decision: Any) -> dict[str, Any]:
    data = decision.to_dict()
    for key in ("turn", "elapsedUs", "policyRevision", "trace"):
        data.pop(key, None)
    return data


@pytest.mark.parametrize("with_project", [False, True], ids=["global", "global+project"])
def test_the_imported_yaml_means_what_the_json_means(setup: Path, with_project: bool) -> None:
    _import(setup)
    clocks = _Clock(), _Clock()
    from_json = _engine(setup, json_files=True, project=with_project, clock=clocks[0])
    from_yaml = _engine(setup, json_files=False, project=with_project, clock=clocks[1])
    try:
        assert [p.suffix for p in from_yaml.sources.files] == [".yaml"] * (2 if with_project else 1)
        assert [p.suffix for p in from_json.sources.files] == [".json"] * (2 if with_project else 1)
        assert _graph_summary(from_yaml.graph) == _graph_summary(from_json.graph)
        _warm_selectors(from_json)
        _warm_selectors(from_yaml)
        left, right = list(_decisions(from_json, clocks[0])), list(_decisions(from_yaml, clocks[1]))
        assert len(left) > 50
        assert sum(1 for d in left if d["target"] is None) > 10  # the sequences really run dry
        for a, b in zip(left, right, strict=True):
            assert a == b
    finally:
        from_json.close()
        from_yaml.close()


def test_the_yaml_is_commented_and_reads_back_as_the_converted_data(setup: Path) -> None:
    report = _import(setup)
    policy, project = report.files
    assert load_file(policy.target).data == policy.data
    assert load_file(project.target).data == project.data
    text = policy.target.read_text(encoding="utf-8")
    # Each pool and chain has its own comment, and scheduled members their windows in words.
    for pool in policy.data["pools"]:
        assert f"# {pool['name']} ({pool['baseProvider']}): " in text
    for chain in policy.data["chains"]:
        assert f"# {chain['name']}: " in text
    assert "# openai-codex: preferred, Mon-Fri 09:00-17:00" in text
    assert "# openai-codex-2: preferred, every day 17:00 to 09:00 the next day; or Sat-Sun all day" in text
    assert "MULTI_SUB=anthropic:2 adds: anthropic-3" in text
    assert validate_document(load_file(policy.target), "policy") == []
    assert validate_document(load_file(project.target), "project") == []


# --------------------------------------------------------------------------- the differences report


def _codes(differences: list[Difference]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for d in differences:
        found.setdefault(d.code, []).append(d.json_path)
    return found


def test_the_report_lists_what_applies_to_this_set_up(setup: Path) -> None:
    report = plan_import(agent_dir=setup / "agent", project=setup / "work-repo", env={"MULTI_SUB": MULTI_SUB})
    global_file = str(setup / "agent" / "multi-pass.json")
    codes = _codes([d for d in report.differences if d.file == global_file])
    raw = json.loads((setup / "agent" / "multi-pass.json").read_text())
    # anthropic-2 is in the enabled pools claude and claude-burst: reported where pi took it (the last).
    burst = next(i for i, p in enumerate(raw["pools"]) if p["name"] == "claude-burst")
    members = raw["pools"][burst]["members"]
    assert codes["two-pools"] == [f"$.pools[{burst}].members[{members.index('anthropic-2')}]"]
    # One report per pool of each strategy that behaves differently.
    for strategy, code, key in (("quota-first", "quota-first", "strategy"), ("custom", "custom-selector", "strategy"),
                                ("scheduled", "preferred-window", "memberSchedule")):
        expected = [f"$.pools[{i}].{key}" for i, p in enumerate(raw["pools"]) if p.get("strategy") == strategy]
        assert codes[code] == expected
    # Enabled presets and chains, once each; the disabled chain 'budget' is not reported.
    assert codes["presets-failover"] == [f"$.presets[{i}]" for i, p in enumerate(raw["presets"]) if p["enabled"]]
    assert codes["chain-route"] == [f"$.chains[{i}]" for i, c in enumerate(raw["chains"]) if c["enabled"]]
    # anthropic-3 exists only through MULTI_SUB.
    assert codes["multi-sub-only"] == [f"$.pools[{burst}].members[{members.index('anthropic-3')}]"]
    # Preset entries whose provider the project does not allow.
    allowed = set(json.loads((setup / "work-repo/.pi/multi-pass.json").read_text())["allowedSubs"])
    outside = [f"$.presets[{i}].entries[{j}]" for i, p in enumerate(raw["presets"])
               for j, e in enumerate(p["entries"]) if e["provider"] not in allowed]
    assert codes["preset-allow-list"] == outside
    # The differences of every failover, once.
    for code in ("cooldowns", "error-classification", "turn-cascade", "select-checks-provider"):
        assert codes[code] == ["$.pools"]
    # The project's own: its scheduled pool and its chain.
    project_codes = _codes([d for d in report.differences if d.file != global_file])
    assert set(project_codes) == {"preferred-window", "chain-route"}
    # Nothing had to be rewritten or left out of this well-formed set-up.
    assert [d for d in report.differences if d.kind != "behaviour"] == []
    # Every difference points at a line of its file.
    assert all(d.line is not None and d.file for d in report.differences)


def test_without_multi_sub_nothing_is_said_about_it(setup: Path) -> None:
    (setup / "agent" / "multi-pass.json").write_text(json.dumps({
        "subscriptions": [{"provider": "anthropic", "index": 2}],
        "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"],
                   "enabled": True}]}))
    report = plan_import(agent_dir=setup / "agent", env={})
    codes = _codes(report.differences)
    assert "multi-sub-only" not in codes and "multi-sub-labels" not in codes
    assert {"two-pools", "quota-first", "presets-failover", "chain-route"}.isdisjoint(codes)
    assert "MULTI_SUB (an environment variable) can still add accounts" in report.files[0].text
    with_env = plan_import(agent_dir=setup / "agent", env={"MULTI_SUB": "anthropic:3"})
    assert "MULTI_SUB=anthropic:3 adds: anthropic-3, anthropic-4." in with_env.files[0].text
    assert with_env.files[0].data == report.files[0].data  # never written into the YAML


def test_a_set_up_without_pools_reports_no_failover_differences(tmp_path: Path) -> None:
    (tmp_path / "multi-pass.json").write_text(json.dumps({"subscriptions": [{"provider": "anthropic", "index": 2}]}))
    report = plan_import(tmp_path / "multi-pass.json", env={})
    assert report.differences == []
    assert report.files[0].data["subscriptions"] == [{"provider": "anthropic", "index": 2}]


# --------------------------------------------------------------------------- values mp-policy rejects


def _pi_hour_active(start: float, end: float, hour: int) -> bool:
    """pi-multi-pass's isInScheduleWindow, hours part (an integer hour of the local clock)."""
    return start <= hour < end if start <= end else (hour >= start or hour < end)


def _scheduled_pool(windows: list[dict[str, Any]], role: str = "preferred") -> dict[str, Any]:
    return {"pools": [{"name": "p", "baseProvider": "openai-codex", "members": ["openai-codex", "openai-codex-2"],
                       "enabled": True, "strategy": "scheduled",
                       "memberSchedule": {"openai-codex": {"role": role, "windows": windows}}}]}


def _convert(tmp_path: Path, data: dict[str, Any]) -> Any:
    source = tmp_path / "agent" / "multi-pass.json"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(json.dumps(data, indent=2))
    return plan_import(source, env={})


@pytest.mark.parametrize("hours", [[9, 9], [0, 0], [9.5, 17], [22, 6.5], [-3, 5], [20, 30], [7, 25], [0, 24],
                                   [23, 0], [17, 9], [30, 40], [5, -1]])
def test_hours_keep_the_hours_pi_multi_pass_found_active(tmp_path: Path, hours: list[float]) -> None:
    report = _convert(tmp_path, _scheduled_pool([{"hours": hours}]))
    data = report.files[0].data
    schedule = data["pools"][0]["memberSchedule"]["openai-codex"]
    expected = {h for h in range(24) if _pi_hour_active(hours[0], hours[1], h)}
    if not expected:
        # Never open in pi: the window goes, and a preferred member without any window is used last.
        assert schedule == {"role": "overflow"}
        assert {d.code for d in report.differences} >= {"hours", "never-active"}
        return
    compiled = Schedule.from_windows(schedule["windows"], VIENNA)
    monday = datetime(2026, 4, 6, tzinfo=VIENNA)
    active = {h for h in range(24) if compiled.is_active(monday + timedelta(hours=h, minutes=30))}
    assert active == expected
    changed = hours != schedule["windows"][0].get("hours")
    assert any(d.code == "hours" for d in report.differences) == changed


def test_days_are_matched_the_way_pi_multi_pass_did_or_made_obvious(tmp_path: Path) -> None:
    windows = [{"days": ["Mon", "Tuesday", "wed", "xyz", 3]}, {"days": ["Sun"]}, {"days": ["funday"]},
               {"days": ["mon-fri"]}]
    report = _convert(tmp_path, _scheduled_pool(windows))
    written = report.files[0].data["pools"][0]["memberSchedule"]["openai-codex"]["windows"]
    assert written == [{"days": ["mon", "tue", "wed"]}, {"days": ["sun"]}, {"days": ["mon-fri"]}]
    by_path = {d.json_path: d for d in report.differences}
    base = '$.pools[0].memberSchedule["openai-codex"].windows'
    assert by_path[f"{base}[0].days[0]"].kind == "rewritten"
    assert by_path[f"{base}[0].days[3]"].kind == "dropped"
    assert by_path[f"{base}[2].days"].code == "never-active"  # no day of it ever matched: the window is gone
    assert by_path[f"{base}[3].days[0]"].code == "days-range"  # valid here, never matched in pi


def test_subscription_numbers_are_written_as_pi_multi_pass_gave_them(tmp_path: Path) -> None:
    subs = [{"provider": "anthropic", "label": "spare"}, {"provider": "anthropic", "index": 2},
            {"provider": "openai-codex", "index": 0, "label": "zero"}, {"provider": "openai-codex", "index": 3},
            {"provider": "anthropic", "index": 1}]
    report = _convert(tmp_path, {"subscriptions": subs})
    written = report.files[0].data["subscriptions"]
    assert {f"{s['provider']}-{s['index']}": s.get("label") for s in written if s.get("label")} == \
        pi_labels(subs, {})
    assert all(isinstance(s["index"], int) and s["index"] >= 2 for s in written)
    assert len({(s["provider"], s["index"]) for s in written}) == len(written)


def test_multi_sub_moving_labels_is_reported(tmp_path: Path) -> None:
    subs = [{"provider": "openai-codex", "label": "work"}]
    source = tmp_path / "multi-pass.json"
    source.write_text(json.dumps({"subscriptions": subs}))
    report = plan_import(source, multi_sub="openai-codex:2", env={})
    pi = pi_labels(subs, {"openai-codex": 2})
    ours = {f"{s['provider']}-{s['index']}": s["label"] for s in report.files[0].data["subscriptions"]}
    assert pi != ours  # pi numbered the env account first
    moved = [d for d in report.differences if d.code == "multi-sub-labels"]
    assert len(moved) == 1 and all(name in moved[0].message for name in (*pi, *ours))
    quiet = plan_import(source, env={})
    assert not [d for d in quiet.differences if d.code == "multi-sub-labels"]


def test_the_quirks_of_a_hand_edited_file_are_all_reported_and_the_result_validates(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "quirks", tmp_path / "agent")
    report = plan_import(agent_dir=tmp_path / "agent", env={})
    write_import(report)
    target = tmp_path / "agent" / "multi-pass.yaml"
    doc = load_file(target)
    assert validate_document(doc, "policy") == []
    codes = _codes(report.differences)
    expected = {"subscription-index", "duplicate-member", "unknown-strategy", "unknown-key", "base-provider",
                "hours", "never-active", "unknown-role", "days", "days-range", "date", "enabled-missing",
                "selector-script", "empty-pool", "chain-missing-pool"}
    assert expected <= set(codes)
    assert "$.notes" in codes["unknown-key"] and "$.pools[0].currentIndex" in codes["unknown-key"]
    # The chain keeps only entries into pools that exist, and the entry without 'enabled' stays without it.
    raw = json.loads((tmp_path / "agent" / "multi-pass.json").read_text())
    pools = {p["name"] for p in doc.data["pools"]}
    kept = [e for e in raw["chains"][0]["entries"] if e["pool"] in pools]
    assert doc.data["chains"][0]["entries"] == kept
    engine = Engine.load(agent_dir=tmp_path / "agent", project=tmp_path, search_project=False, state="memory://",
                         env={"MP_POLICY_QUOTA_REFRESH": "0"}, auth=ACCOUNTS, timezone_default=VIENNA)
    try:
        assert engine.graph.pools["claude"].strategy_name == "round-robin"
    finally:
        engine.close()


# --------------------------------------------------------------------------- projects and paths


def test_a_project_that_replaces_pools_gets_the_chains_its_pools_can_serve(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    pool = {"baseProvider": "anthropic", "members": ["anthropic"], "enabled": True}
    (agent / "multi-pass.json").write_text(json.dumps({
        "pools": [{"name": "claude", **pool}, {"name": "spare", **pool}],
        "chains": [{"name": "main", "enabled": True, "entries": [
            {"pool": "claude", "model": "m1", "enabled": True}, {"pool": "work", "model": "m2", "enabled": True},
            {"pool": "spare", "model": "m3", "enabled": True}]}],
    }))
    repo = tmp_path / "repo"
    (repo / ".pi").mkdir(parents=True)
    (repo / ".pi" / "multi-pass.json").write_text(json.dumps({
        "pools": [{"name": "work", **pool}, {"name": "spare", **pool}]}))
    report = plan_import(agent_dir=agent, project=repo, env={})
    write_import(report)
    glob, project = report.files
    # Globally the entry into 'work' never worked; inside the project the one into 'claude' does not.
    assert [e["pool"] for e in glob.data["chains"][0]["entries"]] == ["claude", "spare"]
    assert [e["pool"] for e in project.data["chains"][0]["entries"]] == ["work", "spare"]
    assert "copied here" in project.text
    engine = Engine.load(agent_dir=agent, project=repo, state="memory://", search_project=False,
                         env={"MP_POLICY_QUOTA_REFRESH": "0"}, auth={"anthropic"}, timezone_default=VIENNA)
    try:
        decision = engine.select(chain="main")
        assert decision.target is not None and decision.target.pool == "work"
    finally:
        engine.close()
    codes = _codes(report.differences)
    assert codes["project-chains"] == ["$.chains[0].entries[0]"]


def test_a_project_file_can_be_imported_on_its_own(setup: Path) -> None:
    report = plan_import(setup / "work-repo" / ".pi" / "multi-pass.json", agent_dir=setup / "agent",
                         env={"MULTI_SUB": MULTI_SUB})
    assert [f.kind for f in report.files] == ["project"]
    assert report.files[0].target == setup / "work-repo" / ".pi" / "multi-pass.yaml"
    # The global file was read to understand the project: its presets meet the project's allow-list.
    assert any(d.code == "preset-allow-list" for d in report.differences)
    assert not any(d.file and d.file.endswith("agent/multi-pass.json") and d.code == "two-pools"
                   for d in report.differences)


def test_a_project_imported_on_its_own_knows_the_accounts_of_the_global_file(setup: Path) -> None:
    project_file = setup / "work-repo" / ".pi" / "multi-pass.json"
    # anthropic-2 is declared in the global file; with MULTI_SUB=anthropic:2 only anthropic-3 comes from it.
    report = plan_import(project_file, agent_dir=setup / "agent", env={"MULTI_SUB": MULTI_SUB})
    assert [d for d in report.differences if d.code == "multi-sub-only"] == []
    data = json.loads(project_file.read_text())
    claude = next(i for i, p in enumerate(data["pools"]) if "anthropic-2" in p["members"])
    data["pools"][claude]["members"].append("anthropic-3")
    project_file.write_text(json.dumps(data, indent=2))
    report = plan_import(project_file, agent_dir=setup / "agent", env={"MULTI_SUB": MULTI_SUB})
    only = [d for d in report.differences if d.code == "multi-sub-only"]
    assert [(d.file, d.json_path) for d in only] == [(str(project_file), f"$.pools[{claude}].members[1]")]


def test_selector_paths_follow_the_yaml_to_another_folder(setup: Path) -> None:
    out = setup / "elsewhere" / "deep"
    out.mkdir(parents=True)
    report = plan_import(agent_dir=setup / "agent", output=str(out), env={"MULTI_SUB": MULTI_SUB})
    write_import(report)
    written = load_file(out / "multi-pass.yaml")
    copilot = next(p for p in written.data["pools"] if p["name"] == "copilot")
    original = setup / "agent" / "selectors" / "copilot.js"
    assert resolve_script(copilot["selectorScript"], str(out)).resolve() == original.resolve()
    assert copilot["selectorScript"] != "selectors/copilot.js"
    assert any(d.code == "selector-path-moved" for d in report.differences)


def test_a_project_selector_that_pi_found_in_the_agent_directory_is_reported(setup: Path) -> None:
    project_file = setup / "work-repo" / ".pi" / "multi-pass.json"
    data = json.loads(project_file.read_text())
    data["pools"].append({"name": "work-copilot", "baseProvider": "github-copilot", "members": ["github-copilot"],
                          "enabled": True, "strategy": "custom", "selectorScript": "selectors/copilot.js"})
    project_file.write_text(json.dumps(data, indent=2))
    report = plan_import(agent_dir=setup / "agent", project=setup / "work-repo", env={"MULTI_SUB": MULTI_SUB})
    found = [d for d in report.differences if d.code == "selector-path"]
    assert len(found) == 1 and found[0].file == str(project_file)
    assert str(setup / "agent" / "selectors" / "copilot.js") in found[0].message


def test_strings_a_yaml_1_1_reader_would_misread_are_quoted(tmp_path: Path) -> None:
    data = {"subscriptions": [{"provider": "anthropic", "index": 2, "label": "yes"}],
            "pools": [{"name": "off", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"],
                       "enabled": True}],
            "chains": [{"name": "null", "enabled": True, "entries": [{"pool": "off", "model": "1e3",
                                                                       "enabled": True}]}],
            "presets": [{"name": "0x10", "enabled": True, "entries": [{"provider": "anthropic", "model": "~",
                                                                         "enabled": True}]}]}
    report = _convert(tmp_path, data)
    text = report.files[0].text
    back = load_text(text, "check.yaml")
    assert back.data == report.files[0].data
    assert back.data["pools"][0]["name"] == "off" and back.data["presets"][0]["entries"][0]["model"] == "~"
    assert validate_document(back, "policy") == []


# --------------------------------------------------------------------------- bad input, outputs


def test_input_that_does_not_parse_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(PiImportError) as caught:
        plan_import(FIXTURES / "broken" / "multi-pass.json", env={})
    assert caught.value.line == 7 and caught.value.col is not None
    assert "multi-pass.json:7:" in caught.value.format()
    assert "comma" in (caught.value.hint or "")


@pytest.mark.parametrize(("content", "needle"), [
    ("[1, 2]", "the document is a list"),
    ('"text"', "the document is a string"),
    ('{"name": "my-app", "version": "1.0.0"}', "none of its keys"),
])
def test_input_that_is_not_a_pi_config_is_refused(tmp_path: Path, content: str, needle: str) -> None:
    source = tmp_path / "multi-pass.json"
    source.write_text(content)
    with pytest.raises(PiImportError, match=needle):
        plan_import(source, env={})


def test_auth_json_is_recognised_and_its_content_is_never_shown(tmp_path: Path) -> None:
    with pytest.raises(PiImportError) as caught:
        plan_import(FIXTURES / "not-pi" / "auth.json", env={})
    assert "auth.json" in (caught.value.hint or "")
    assert "fixture-not-a-real" not in caught.value.format()


def test_outputs_are_never_overwritten_without_force_and_never_half_written(setup: Path) -> None:
    _import(setup)
    target = setup / "agent" / "multi-pass.yaml"
    target.write_text("# my edits\n")
    project_target = setup / "work-repo" / ".pi" / "multi-pass.yaml"
    project_target.unlink()
    again = plan_import(agent_dir=setup / "agent", project=setup / "work-repo", env={"MULTI_SUB": MULTI_SUB})
    with pytest.raises(OutputExists) as caught:
        write_import(again)
    assert caught.value.paths == [target]
    assert target.read_text() == "# my edits\n" and not project_target.exists()  # all checked before any write
    write_import(again, force=True)
    assert load_file(target).data == again.files[0].data
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []  # no temporary files


def test_the_pi_file_itself_and_non_yaml_outputs_are_refused(setup: Path) -> None:
    with pytest.raises(PiImportError, match="overwrite the pi-multi-pass file"):
        plan_import(agent_dir=setup / "agent", output=str(setup / "agent" / "multi-pass.json"), env={})
    with pytest.raises(PiImportError, match=r"\.yaml or \.yml"):
        plan_import(agent_dir=setup / "agent", output=str(setup / "out.json"), env={})


def test_invalid_mp_policy_keys_in_the_input_stop_the_import(tmp_path: Path) -> None:
    source = tmp_path / "multi-pass.json"
    source.write_text(json.dumps({"settings": {"cooldown": "five minutes"}, "pools": []}))
    with pytest.raises(InvalidResult) as caught:
        plan_import(source, env={})
    assert any(d.code == "duration" for d in caught.value.diagnostics)
