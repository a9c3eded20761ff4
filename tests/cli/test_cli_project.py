"""``mp-policy project restrict|clear|info``: the project overlay, written, cleared and shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import AT, invoke
from edit_support import PI_JSON


def test_restrict_creates_the_overlay_of_the_current_directory(agent: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "side"
    project.mkdir()
    monkeypatch.chdir(project)
    run = invoke("project", "restrict", "openai-codex-2", "anthropic-2", "--agent-dir", agent, "--format", "json")
    assert run.returncode == 0, run.describe()
    out = run.json()
    assert (out["file"], out["kind"], out["created"]) == (".pi/multi-pass.yaml", "project", True)
    assert out["messages"] == ["restricted the project to openai-codex-2, anthropic-2"]
    assert out["notes"] == ["pool gemini has no allowed member: it is not used in this project"]
    assert (project / ".pi" / "multi-pass.yaml").read_text(encoding="utf-8") == (
        "allowedSubs: [openai-codex-2, anthropic-2]\n")
    decision = invoke("eval", "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--agent-dir", agent,
                      "--at", AT, "--format", "json").json()
    assert decision["target"]["provider"] == "anthropic-2"
    assert decision["skipped"][0]["reason"] == "not-allowed"


def test_restrict_from_a_subdirectory_edits_the_project_s_overlay(agent: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    corp = agent / "projects" / "corp"
    overlay = corp / ".pi" / "multi-pass.yaml"
    before = overlay.read_text(encoding="utf-8")
    (corp / "src").mkdir()
    monkeypatch.chdir(corp / "src")
    run = invoke("project", "restrict", "--add", "google-gemini-cli", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert run.stdout == f"{overlay}: restricted the project to openai-codex-2, anthropic-2, google-gemini-cli\n"
    assert overlay.read_text(encoding="utf-8") == before.replace(
        "allowedSubs: [openai-codex-2, anthropic-2]", "allowedSubs: [openai-codex-2, anthropic-2, google-gemini-cli]")
    assert not (corp / "src" / ".pi").exists()


def test_a_pi_json_overlay_stays_json(tmp_path: Path) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    repo = tmp_path / "pi" / "work-repo"
    overlay = repo / ".pi" / "multi-pass.json"
    run = invoke("project", "restrict", "openai-codex-2", "--project", repo, "--agent-dir", tmp_path / "pi" / "agent")
    assert run.returncode == 0, run.describe()
    text = overlay.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["allowedSubs"] == ["openai-codex-2"] and list(data) == ["allowedSubs", "pools", "chains"]
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert invoke("test", repo).returncode == 0


def test_restrict_refuses_unknown_accounts(agent: Path) -> None:
    corp = agent / "projects" / "corp"
    before = (corp / ".pi" / "multi-pass.yaml").read_bytes()
    run = invoke("project", "restrict", "openai-codex-5", "--project", corp, "--agent-dir", agent)
    assert run.returncode == 2
    assert "error: allowedSubs: 'openai-codex-5' is not a known account" in run.stderr
    assert (corp / ".pi" / "multi-pass.yaml").read_bytes() == before


def test_clear_removes_the_restriction_and_keeps_the_rest(agent: Path) -> None:
    corp = agent / "projects" / "corp"
    overlay = corp / ".pi" / "multi-pass.yaml"
    before = overlay.read_text(encoding="utf-8")
    run = invoke("project", "clear", "--project", corp, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert run.stdout.endswith("removed the project's restriction: every account may be used\n")
    assert overlay.read_text(encoding="utf-8") == before.replace("allowedSubs: [openai-codex-2, anthropic-2]\n", "")
    again = invoke("project", "clear", "--project", corp, "--agent-dir", agent)
    assert again.stdout == "the project has no restriction\n"


def test_clear_deletes_an_overlay_left_empty_and_says_so(agent: Path, tmp_path: Path) -> None:
    project = tmp_path / "side"
    overlay = project / ".pi" / "multi-pass.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text("# only a restriction\nallowedSubs: [anthropic-2]\n", encoding="utf-8")
    dry = invoke("project", "clear", "--dry-run", "--project", project, "--agent-dir", agent)
    assert dry.stdout == (f"--- a/{overlay}\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-# only a restriction\n"
                          "-allowedSubs: [anthropic-2]\n")
    assert "would: deleted" in dry.stderr and overlay.exists()
    out = invoke("project", "clear", "--project", project, "--agent-dir", agent, "--format", "json").json()
    assert out["deleted"] is True and out["written"] is True
    assert out["messages"][-1] == f"deleted {overlay} (nothing else was left in it)"
    assert not overlay.exists()


def test_clear_all_deletes_the_whole_overlay(agent: Path) -> None:
    corp = agent / "projects" / "corp"
    overlay = corp / ".pi" / "multi-pass.yaml"
    dry = invoke("project", "clear", "--all", "--dry-run", "--project", corp, "--agent-dir", agent)
    assert dry.returncode == 0 and "+++ /dev/null" in dry.stdout and overlay.exists()
    run = invoke("project", "clear", "--all", "--project", corp, "--agent-dir", agent)
    assert run.returncode == 0 and run.stdout.endswith(f"deleted {overlay}\n")
    assert not overlay.exists()
    again = invoke("project", "clear", "--all", "--project", corp, "--agent-dir", agent)
    assert again.returncode == 0 and "there is no project overlay" in again.stdout


@pytest.mark.parametrize("args", [["restrict", "anthropic-2"], ["clear"], ["clear", "--all"]])
def test_a_broken_overlay_is_never_changed_or_deleted(agent: Path, args: list[str]) -> None:
    corp = agent / "projects" / "corp"
    overlay = corp / ".pi" / "multi-pass.yaml"
    broken = "allowedSubs: [anthropic-2\n"
    overlay.write_text(broken, encoding="utf-8")
    run = invoke("project", *args, "--project", corp, "--agent-dir", agent)
    assert run.returncode == 1
    assert f"{overlay}:2:" in run.stderr and "cannot be read, so it was not changed" in run.stderr
    assert overlay.read_text(encoding="utf-8") == broken


def test_info_shows_the_effective_policy_with_chains(agent: Path) -> None:
    corp = agent / "projects" / "corp"
    run = invoke("project", "info", "--project", corp, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines() == [
        f"Project config: {corp / '.pi' / 'multi-pass.yaml'}",
        f"Global policy: {agent / 'multi-pass.yaml'}",
        "Allowed subs: anthropic-2, openai-codex-2",
        "Pools:",
        "  work-codex [project] -- openai-codex-2 (enabled)",
        "  work-claude [project] -- anthropic-2 (enabled)",
        "Chains:",
        "  work [project] -- work-codex:gpt-5 -> work-claude:claude-sonnet-4-5 (enabled)",
        "Presets: coding-premium [global], coding-budget [global]",
        "Accounts: openai-codex-2 (logged in), anthropic-2 (logged in)",
    ]
    info = invoke("project", "info", "--project", corp, "--agent-dir", agent, "--format", "json").json()
    assert info["allowedSubs"] == ["anthropic-2", "openai-codex-2"]
    assert info["chains"] == [{"name": "work", "source": "project", "enabled": True, "entries": [
        {"pool": "work-codex", "model": "gpt-5", "enabled": True, "dropped": False},
        {"pool": "work-claude", "model": "claude-sonnet-4-5", "enabled": True, "dropped": False}]}]


def test_info_without_an_overlay(agent: Path, tmp_path: Path) -> None:
    run = invoke("project", "info", "--project", tmp_path, "--agent-dir", agent)
    lines = run.stdout.splitlines()
    assert lines[0] == "Project config: none (using global)"
    assert lines[2] == "Allowed subs: all (no restriction)"
    assert "  main [global] -- claude:claude-sonnet-4-5 -> codex:gpt-5 -> gemini:gemini-2.5-pro (enabled)" in lines


def test_clear_on_a_pi_json_overlay_keeps_it_json(tmp_path: Path) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    repo = tmp_path / "pi" / "work-repo"
    overlay = repo / ".pi" / "multi-pass.json"
    run = invoke("project", "clear", "--project", repo, "--agent-dir", tmp_path / "pi" / "agent")
    assert run.returncode == 0, run.describe()
    text = overlay.read_text(encoding="utf-8")
    assert list(json.loads(text)) == ["pools", "chains"]
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
