"""``mp-policy chain create|remove|toggle|list|status`` on commented YAML, JSON, broken files and projects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import AT, STATE_FILE, invoke, make_cooldown_state
from edit_support import PI_JSON


def test_create_appends_a_chain_in_the_file_s_style(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("chain", "create", "budget", "--entry", "codex:gpt-5-mini", "--entry", "gemini:gemini-2.5-flash",
                 "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert run.stdout.endswith("created chain budget: codex:gpt-5-mini → gemini:gemini-2.5-flash\n")
    last = "      - {pool: gemini, model: gemini-2.5-pro, enabled: true}\n"
    assert policy.read_text(encoding="utf-8") == before.replace(last, last + (
        "  - name: budget\n    enabled: true\n    entries:\n      - {pool: codex, model: gpt-5-mini, enabled: true}\n"
        "      - {pool: gemini, model: gemini-2.5-flash, enabled: true}\n"))
    assert invoke("eval", "--chain", "budget", "--agent-dir", agent, "--project", agent, "--at", AT).stdout == \
        "target: openai-codex · gpt-5-mini (pool codex, chain budget#0, via chain)\n"


def test_create_refuses_unknown_pools_and_existing_names(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_bytes()
    run = invoke("chain", "create", "x", "--entry", "clade:claude-sonnet-4-5", "--agent-dir", agent)
    assert run.returncode == 2
    assert "error: chain x: there is no pool 'clade'" in run.stderr and "did you mean 'claude'?" in run.stderr
    run = invoke("chain", "create", "main", "--entry", "gemini:gemini-2.5-pro", "--agent-dir", agent)
    assert run.returncode == 2 and "--replace" in run.stderr
    run = invoke("chain", "create", "x", "--entry", "claude", "--agent-dir", agent)
    assert run.returncode == 2 and "write POOL:MODEL" in run.stderr
    assert policy.read_bytes() == before


def test_replace_keeps_the_chain_s_place_and_comment(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("chain", "create", "main", "--entry", "gemini:gemini-2.5-pro", "--replace", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert "replaced chain main: gemini:gemini-2.5-pro" in run.stdout
    assert policy.read_text(encoding="utf-8") == before.replace(
        "      - {pool: claude, model: claude-sonnet-4-5, enabled: true}\n"
        "      - {pool: codex, model: gpt-5, enabled: true}\n", "")


def test_toggle_a_chain_and_an_entry(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("chain", "toggle", "main", "--entry", "1", "--agent-dir", agent)
    assert run.returncode == 0 and "disabled chain main entry 1" in run.stdout
    after = policy.read_text(encoding="utf-8")
    assert after == before.replace("{pool: codex, model: gpt-5, enabled: true}",
                                   "{pool: codex, model: gpt-5, enabled: false}")
    run = invoke("chain", "toggle", "main", "--off", "--agent-dir", agent, "--format", "json")
    assert run.json()["messages"] == ["disabled chain main"]
    assert policy.read_text(encoding="utf-8") == after.replace(
        "  - name: main\n    enabled: true\n", "  - name: main\n    enabled: false\n")
    run = invoke("chain", "toggle", "main", "--entry", "7", "--agent-dir", agent)
    assert run.returncode == 2 and "chain main has no entry 7" in run.stderr
    assert "entries are numbered from 0 to 2" in run.stderr


def test_remove_and_dry_run(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("chain", "remove", "main", "--dry-run", "--agent-dir", agent)
    assert run.returncode == 0
    assert "\n-  # Claude first; when every Claude account is cooling down" in run.stdout
    assert "+chains: []\n" in run.stdout
    assert policy.read_text(encoding="utf-8") == before
    run = invoke("chain", "remove", "main", "--agent-dir", agent)
    assert run.returncode == 0
    assert "chains: []\n\npresets:" in policy.read_text(encoding="utf-8")


def test_json_policy(tmp_path: Path) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    run = invoke("chain", "create", "codex-first", "--entry", "codex-pool:gpt-5", "--entry",
                 "claude:claude-sonnet-4-20250514", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    text = (agent / "multi-pass.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert [c["name"] for c in data["chains"]] == ["primary", "codex-first"]
    assert data["chains"][1]["entries"][1] == {"pool": "claude", "model": "claude-sonnet-4-20250514",
                                               "enabled": True}


def test_a_broken_overlay_is_left_alone(agent: Path) -> None:
    project = agent / "projects" / "corp"
    overlay = project / ".pi" / "multi-pass.yaml"
    broken = overlay.read_text(encoding="utf-8").replace("chains:", "chains: [")
    overlay.write_text(broken, encoding="utf-8")
    run = invoke("chain", "toggle", "work", "--project", project, "--agent-dir", agent)
    assert run.returncode == 1
    assert f"{overlay}:" in run.stderr and "parse-error" in run.stderr
    assert overlay.read_text(encoding="utf-8") == broken


def test_a_project_chain_edit_copies_the_global_chains_once(agent: Path, tmp_path: Path) -> None:
    project = tmp_path / "side"
    project.mkdir()
    run = invoke("chain", "toggle", "main", "--entry", "2", "--off", "--project", project, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert "the project had no chains of its own: copied the 1 global chain into it first" in run.stderr
    assert (project / ".pi" / "multi-pass.yaml").read_text(encoding="utf-8") == (
        "chains:\n  - name: main\n    enabled: true\n    entries:\n"
        "      - {pool: claude, model: claude-sonnet-4-5, enabled: true}\n"
        "      - {pool: codex, model: gpt-5, enabled: true}\n"
        "      - {pool: gemini, model: gemini-2.5-pro, enabled: false}\n")
    run = invoke("chain", "toggle", "main", "--entry", "2", "--on", "--project", project, "--agent-dir", agent)
    assert "note:" not in run.stderr


def test_list_and_status(agent: Path) -> None:
    make_cooldown_state(agent / STATE_FILE)  # anthropic cooling down until 11:30
    assert invoke("pool", "toggle", "gemini", "--off", "--agent-dir", agent).returncode == 0
    run = invoke("chain", "status", "main", "--agent-dir", agent, "--project", agent, "--at", AT)
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines() == [
        "=== main (enabled, global) ===",
        "usable entries now: 2/3 | invalid entries: 1 (skipped until fixed)",
        "now: anthropic-2 · claude-sonnet-4-5 (entry 0, pool claude)",
        "  0. claude -> claude-sonnet-4-5 (enabled | 1/2 available | usable)",
        "  1. codex -> gpt-5 (enabled | 2/3 available | usable)",
        "  2. gemini -> gemini-2.5-pro (enabled | invalid pool: gemini disabled | skipped)",
    ]
    listed = invoke("chain", "list", "--agent-dir", agent, "--project", agent, "--at", AT)
    assert listed.stdout == "main | 3 entries | enabled | 1 invalid | 2/3 usable now\n"
    out = invoke("chain", "status", "--agent-dir", agent, "--project", agent, "--at", AT, "--format", "json").json()
    chain = out["chains"][0]
    assert (chain["usable"], chain["invalid"], chain["target"]["provider"]) == (2, 1, "anthropic-2")
    assert [e["usable"] for e in chain["entries"]] == [True, True, False]


def test_status_in_a_restricted_project(agent: Path) -> None:
    run = invoke("chain", "status", "--agent-dir", agent, "--project", agent / "projects" / "corp", "--at", AT)
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines()[:3] == [
        "=== work (enabled, project) ===",
        "usable entries now: 2/2",
        "now: openai-codex-2 · gpt-5 (entry 0, pool work-codex)",
    ]
    run = invoke("chain", "status", "mian", "--agent-dir", agent, "--project", agent)
    assert run.returncode == 2


@pytest.mark.parametrize("command", ["list", "status"])
def test_no_chains(tmp_path: Path, command: str) -> None:
    run = invoke("chain", command, "--agent-dir", tmp_path, "--project", tmp_path)
    assert run.returncode == 0
    assert run.stdout == "no chains: create one with `mp-policy chain create NAME --entry POOL:MODEL`\n"


CHAIN_EDITS = [
    ["create", "backup", "--entry", "codex-pool:gpt-5"],
    ["remove", "primary"],
    ["toggle", "primary"],
    ["toggle", "primary", "--entry", "1", "--off"],
]


@pytest.mark.parametrize("args", CHAIN_EDITS, ids=lambda a: " ".join(a[:2]))
def test_every_chain_edit_keeps_pi_json_in_pi_s_format(tmp_path: Path, args: list[str]) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    run = invoke("chain", *args, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    text = (agent / "multi-pass.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    assert invoke("validate", agent / "multi-pass.json").returncode == 0


@pytest.mark.parametrize("name", ["multi-pass.yaml", "multi-pass.json"])
@pytest.mark.parametrize("args", CHAIN_EDITS, ids=lambda a: " ".join(a[:2]))
def test_every_chain_edit_leaves_a_broken_file_alone(tmp_path: Path, args: list[str], name: str) -> None:
    policy = tmp_path / name
    content = '{"chains": [}\n' if name.endswith(".json") else "chains:\n  - name: primary\n    entries: [\n"
    policy.write_text(content, encoding="utf-8")
    run = invoke("chain", *args, "--agent-dir", tmp_path)
    assert run.returncode == 1, run.describe()
    assert f"{name}:" in run.stderr and "parse-error" in run.stderr
    assert policy.read_text(encoding="utf-8") == content
