"""``mp-policy pool ...``: edits of commented YAML, JSON and broken files; list and status against real state."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import AT, AT_DT, CORP, STATE_FILE, invoke, make_cooldown_state
from edit_support import PI_JSON, changed_lines


def edit(agent: Path, *args: str | Path) -> tuple[list[str], list[str], str]:
    """Run ``mp-policy pool ARGS --agent-dir AGENT``; return the changed lines of the policy and stdout."""
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("pool", *args, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    return (*changed_lines(before, policy.read_text(encoding="utf-8")), run.stdout)


def test_create_appends_a_pool_like_its_siblings(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    *_, out = edit(agent, "create", "copilot", "--provider", "github-copilot", "--members", "github-copilot",
                   "--strategy", "quota-first")
    gemini = "    members: [google-gemini-cli]\n    enabled: true\n"
    assert policy.read_text(encoding="utf-8") == before.replace(gemini, gemini + (
        "\n  - name: copilot\n    baseProvider: github-copilot\n    members: [github-copilot]\n    enabled: true\n"
        "    strategy: quota-first\n"))
    assert out.endswith("created pool copilot (github-copilot: github-copilot; quota-first)\n")


def test_remove_prunes_the_chain_and_takes_the_pool_s_comments(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    *_, out = edit(agent, "remove", "codex")
    codex = before[before.index("\n  # Office hours on the first"):before.index("\n  - name: gemini")]
    assert codex.count("\n") == 16  # a blank line, two comment lines, 13 lines of pool
    expected = before.replace(codex, "").replace("      - {pool: codex, model: gpt-5, enabled: true}\n", "")
    assert policy.read_text(encoding="utf-8") == expected
    assert out.splitlines() == [f"{policy}: removed pool codex",
                                f"{policy}: pruned the chain entries that used pool codex: main#1"]


def test_removing_a_pool_the_folders_overlay_uses_says_the_overlay_breaks(agent: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The edit writes the global policy only; run in a project whose overlay names the pool, it says so."""
    project = tmp_path / "p4"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text(
        "chains:\n  - name: gem-only\n    entries:\n      - {pool: gemini, model: gemini-2.5-pro}\n",
        encoding="utf-8")
    monkeypatch.chdir(project)
    run = invoke("pool", "remove", "gemini", "--agent-dir", agent)
    assert run.returncode == 0
    assert "note: the project overlay .pi/multi-pass.yaml (this folder's) is invalid with the edited policy" \
        in run.stderr
    assert ".pi/multi-pass.yaml:4:16: unknown-pool: chain 'gem-only' entry 0: there is no pool 'gemini'" in run.stderr
    quiet = invoke("pool", "toggle", "claude", "--agent-dir", agent)  # breaks nothing in the overlay
    assert quiet.returncode == 0 and "project overlay" not in quiet.stderr


def test_rename_rewrites_chain_entries(agent: Path) -> None:
    removed, added, out = edit(agent, "rename", "claude", "anthropic-pool")
    assert removed == ["  - name: claude", "      - {pool: claude, model: claude-sonnet-4-5, enabled: true}"]
    assert added == ["  - name: anthropic-pool",
                     "      - {pool: anthropic-pool, model: claude-sonnet-4-5, enabled: true}"]
    assert "updated 1 chain entry: main#0" in out


def test_toggle_reports_the_new_warning_it_causes(agent: Path) -> None:
    run = invoke("pool", "toggle", "codex", "--agent-dir", agent, "--format", "json")
    assert run.returncode == 0, run.describe()
    out = run.json()
    assert out["messages"] == ["disabled pool codex"]
    assert [(w["code"], w["path"]) for w in out["warnings"]] == [("unreachable-entry", "$.chains[0].entries[1]")]
    assert out["diff"].count("\n-") == 1 and "+    enabled: false\n" in out["diff"]
    again = invoke("pool", "toggle", "codex", "--off", "--agent-dir", agent)
    assert again.returncode == 0
    assert "pool codex is already disabled" in again.stdout
    assert "no change" in again.stderr


def test_members_and_strategy(agent: Path) -> None:
    removed, added, _ = edit(agent, "members", "codex", "--remove", "openai-codex-3")
    assert removed == ["    members: [openai-codex, openai-codex-2, openai-codex-3]",
                       "      openai-codex-3: {role: overflow}"]
    assert added == ["    members: [openai-codex, openai-codex-2]"]
    removed, added, _ = edit(agent, "members", "claude", "--set", "anthropic-2,anthropic")
    assert (removed, added) == (["    members: [anthropic, anthropic-2]"], ["    members: [anthropic-2, anthropic]"])
    removed, added, _ = edit(agent, "strategy", "claude", "quota-first")
    assert (removed, added) == ([], ["    strategy: quota-first"])
    removed, added, _ = edit(agent, "strategy", "claude", "round-robin")
    assert (removed, added) == (["    strategy: quota-first"], [])
    run = invoke("pool", "members", "gemini", "--remove", "google-gemini-cli", "--agent-dir", agent)
    assert run.returncode == 2 and "Pool needs at least 1 member." in run.stderr
    run = invoke("pool", "members", "gemini", "--agent-dir", agent)
    assert run.returncode == 2 and "give --set, --add or --remove" in run.output


def test_schedule_reads_human_windows(agent: Path) -> None:
    removed, added, out = edit(agent, "schedule", "codex", "openai-codex-3", "--role", "preferred",
                               "--window", "09:00-18:00 weekends", "--window", "2026-12-24..2026-12-31")
    assert removed == ["      openai-codex-3: {role: overflow}"]
    assert added == ["      openai-codex-3: {role: preferred, windows: [{hours: [9, 18], days: [sat, sun]}, "
                     "{dateRange: {from: \"2026-12-24\", to: \"2026-12-31\"}}]}"]
    assert "openai-codex-3 in pool codex: preferred in 9-18 sat,sun; 2026-12-24..2026-12-31" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "preferred", "--window", "09:30-18:00"], "windows run in whole hours"),
    (["--role", "preferred", "--window", "after lunch"], "cannot read 'after'"),
    (["--role", "overflow", "--window", "9-17"], "windows only apply to preferred members"),
    (["--window", "9-17"], "give --role preferred, default or overflow"),
    (["--clear", "--role", "overflow"], "--clear goes alone"),
])
def test_schedule_refuses_what_it_cannot_read(agent: Path, args: list[str], message: str) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_bytes()
    run = invoke("pool", "schedule", "codex", "openai-codex", *args, "--agent-dir", agent)
    assert run.returncode == 2, run.describe()
    assert message in run.output
    assert policy.read_bytes() == before


def test_unknown_names_exit_2_with_a_suggestion(agent: Path) -> None:
    run = invoke("pool", "remove", "codx", "--agent-dir", agent)
    assert (run.returncode, run.stderr) == (2, "error: there is no pool 'codx' in "
                                               f"{agent / 'multi-pass.yaml'}\n    hint: did you mean 'codex'?\n")
    run = invoke("pool", "create", "x", "--provider", "anthropic", "--members", "anthropc-2", "--agent-dir", agent)
    assert run.returncode == 2 and "did you mean 'anthropic-2'?" in run.stderr


def test_a_policy_with_errors_is_not_edited_further(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    text = policy.read_text(encoding="utf-8").replace("    members: [google-gemini-cli]",
                                                      "    members: [google-gemini-cli]\n    membrs: []")
    policy.write_text(text, encoding="utf-8")
    run = invoke("pool", "toggle", "claude", "--agent-dir", agent)
    assert run.returncode == 1, run.describe()
    assert "unknown-key: unknown key 'membrs'" in run.stderr
    assert "was not changed: the result would be invalid" in run.stderr
    assert "already had 1 error(s) before this edit" in run.stderr
    assert policy.read_text(encoding="utf-8") == text


def test_a_broken_file_is_left_alone(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.yaml"
    content = "pools:\n  - name: claude\n\tbaseProvider: anthropic\n"
    policy.write_text(content, encoding="utf-8")
    run = invoke("pool", "toggle", "claude", "--agent-dir", tmp_path, "--format", "json")
    assert run.returncode == 1
    out = run.json()
    assert out["written"] is False and out["diagnostics"][0]["line"] == 3
    assert out["diagnostics"][0]["code"] == "parse-error"
    assert policy.read_text(encoding="utf-8") == content


def test_json_policies_stay_json(tmp_path: Path) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    run = invoke("pool", "create", "gemini", "--provider", "google-gemini-cli", "--members", "google-gemini-cli",
                 "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    run = invoke("pool", "schedule", "codex-pool", "openai-codex", "--role", "preferred", "--window", "mon-fri 9-17",
                 "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    text = (agent / "multi-pass.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert data["pools"][2] == {"name": "gemini", "baseProvider": "google-gemini-cli",
                                "members": ["google-gemini-cli"], "enabled": True}
    assert data["pools"][0]["memberSchedule"] == {"openai-codex": {"role": "preferred", "windows": [
        {"hours": [9, 17], "days": ["mon", "tue", "wed", "thu", "fri"]}]}}  # day names pi-multi-pass can match
    assert invoke("test", agent.parent).returncode == 0


def test_project_edits_change_only_the_overlay(agent: Path) -> None:
    project = agent / "projects" / "corp"
    overlay = project / ".pi" / "multi-pass.yaml"
    global_before = (agent / "multi-pass.yaml").read_bytes()
    before = overlay.read_text(encoding="utf-8")
    run = invoke("pool", "toggle", "work-claude", "--off", "--project", project, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    removed, added = changed_lines(before, overlay.read_text(encoding="utf-8"))
    assert removed == ["  - {name: work-claude, baseProvider: anthropic, members: [anthropic, anthropic-2], "
                       "enabled: true}"]
    assert added == ["  - {name: work-claude, baseProvider: anthropic, members: [anthropic, anthropic-2], "
                     "enabled: false}"]
    assert (agent / "multi-pass.yaml").read_bytes() == global_before
    run = invoke("pool", "toggle", "claude", "--project", project, "--agent-dir", agent)
    assert run.returncode == 2 and "there is no pool 'claude'" in run.stderr  # the project has its own pools


def test_list_and_status_read_cooldowns_windows_and_quota(agent: Path) -> None:
    from policy_engine.state import QuotaSnapshot, StateChanges, open_store

    make_cooldown_state(agent / STATE_FILE)  # anthropic cooling down until 11:30, claude's cursor on anthropic-2
    with open_store(f"sqlite:///{agent / STATE_FILE}", agent_dir=agent) as store:
        store.apply(StateChanges(quota=[QuotaSnapshot("openai-codex", 58.0, AT_DT - timedelta(minutes=1))]))
    run = invoke("pool", "status", "--agent-dir", agent, "--project", agent, "--at", AT)
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    assert lines[:6] == [
        "=== claude (enabled, global) ===",
        "provider: anthropic | strategy: round-robin | cooldown: 5m",
        "availability: 1/2 available",
        "next: anthropic-2 (cursor: anthropic-2)",
        "  anthropic -- logged in (expires in 26700d14h) | cooling down until 11:30 (in 1h) "
        "(rate_limit: HTTP 429 with message prefix rate_limit_error) | unavailable",
        "  anthropic-2 -- logged in (expires in 26700d14h) | available",
    ]
    assert "  openai-codex -- logged in (expires in 26700d14h) | preferred, in its window (9-17 mon-fri) until 17:00 " \
           "(in 6h30m) | quota 58% left | available" in lines
    assert "  openai-codex-2 -- logged in (expires in 26700d14h) | preferred, outside its window (17-9) until 17:00 " \
           "(in 6h30m) | unavailable" in lines
    assert "  openai-codex-3 -- logged in (expires in 26700d14h) | overflow | available" in lines
    listed = invoke("pool", "list", "--agent-dir", agent, "--project", agent, "--at", AT)
    assert listed.stdout.splitlines() == [
        "claude | anthropic | 2 member(s) (2 logged in, 1 available) | enabled | round-robin",
        "codex | openai-codex | 3 member(s) (3 logged in, 2 available) | enabled | scheduled",
        "gemini | google-gemini-cli | 1 member(s) (1 logged in, 1 available) | enabled | round-robin",
    ]
    out = invoke("pool", "status", "codex", "--agent-dir", agent, "--project", agent, "--at", AT,
                 "--format", "json").json()
    codex = out["pools"][0]
    assert (codex["name"], codex["available"], codex["next"]) == ("codex", 2, "openai-codex")
    member = codex["members"][1]
    assert member["window"] == {"active": False, "until": "2026-11-24T17:00:00+01:00", "windows": ["17-9"]}
    assert member["unavailable"] == ["outside its windows"]
    assert codex["members"][0]["quota"]["remaining"] == 58.0


def test_status_of_a_project_shows_what_it_allows(agent: Path) -> None:
    run = invoke("pool", "status", "work-claude", "--agent-dir", agent, "--project", CORP, "--at", AT)
    assert run.returncode == 0, run.describe()
    assert "=== work-claude (enabled, project) ===" in run.stdout
    assert "  anthropic -- logged in (expires in 26700d14h) | not allowed in this project | unavailable" in run.stdout
    run = invoke("pool", "status", "nope", "--agent-dir", agent, "--project", CORP)
    assert run.returncode == 2 and "there is no pool 'nope'" in run.stderr


POOL_EDITS = [
    ["create", "solo", "--provider", "anthropic", "--members", "anthropic-2"],
    ["remove", "claude"],
    ["rename", "claude", "anthropic-pool"],
    ["toggle", "claude"],
    ["members", "claude", "--remove", "anthropic-2"],
    ["strategy", "claude", "quota-first"],
    ["schedule", "codex-pool", "openai-codex", "--role", "overflow"],
]


@pytest.mark.parametrize("args", POOL_EDITS, ids=lambda a: a[0])
def test_every_pool_edit_keeps_pi_json_in_pi_s_format(tmp_path: Path, args: list[str]) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    run = invoke("pool", *args, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    text = (agent / "multi-pass.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    assert invoke("validate", agent / "multi-pass.json").returncode == 0


@pytest.mark.parametrize("name", ["multi-pass.yaml", "multi-pass.json"])
@pytest.mark.parametrize("args", POOL_EDITS, ids=lambda a: a[0])
def test_every_pool_edit_leaves_a_broken_file_alone(tmp_path: Path, args: list[str], name: str) -> None:
    policy = tmp_path / name
    content = ('{"pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic"]},]}\n'
               if name.endswith(".json") else "pools:\n  - name: claude\n    members: [anthropic\n")
    policy.write_text(content, encoding="utf-8")
    run = invoke("pool", *args, "--agent-dir", tmp_path)
    assert run.returncode == 1, run.describe()
    assert f"{name}:" in run.stderr and "parse-error" in run.stderr
    assert policy.read_text(encoding="utf-8") == content
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("group", ["pool", "chain", "preset"])
def test_toggle_refuses_on_and_off_together(agent: Path, group: str) -> None:
    name = {"pool": "claude", "chain": "main", "preset": "coding-budget"}[group]
    policy = agent / "multi-pass.yaml"
    before = policy.read_bytes()
    run = invoke(group, "toggle", name, "--on", "--off", "--agent-dir", agent)
    assert run.returncode == 2, run.describe()
    assert "give --on or --off, not both" in run.stderr
    assert policy.read_bytes() == before


def test_status_shows_the_pool_cooldown_as_the_policy_writes_durations(tmp_path: Path) -> None:
    (tmp_path / "multi-pass.yaml").write_text(
        "settings: {timezone: Europe/Vienna}\n"
        "pools:\n  - {name: claude, baseProvider: anthropic, members: [anthropic], cooldown: 90s}\n", encoding="utf-8")
    out = invoke("pool", "status", "--agent-dir", tmp_path, "--project", tmp_path, "--at", AT, "--format", "json")
    assert out.returncode == 0, out.describe()
    assert out.json()["pools"][0]["cooldown"] == "1m30s"  # not rounded to 1m
    assert out.json()["at"] == "2026-11-24T10:30:00+01:00"
