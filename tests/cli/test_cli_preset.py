"""``mp-policy preset create|remove|toggle|list|activate``: edits, JSON files, broken files, the decision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import AT, STATE_FILE, invoke, make_cooldown_state
from edit_support import PI_JSON


def test_create_toggle_remove_on_a_commented_policy(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("preset", "create", "fast", "--entry", "google-gemini-cli:gemini-2.5-flash", "--entry",
                 "openai-codex-2:gpt-5-mini", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert "created preset fast: google-gemini-cli:gemini-2.5-flash → openai-codex-2:gpt-5-mini" in run.stdout
    added = ("  - name: fast\n    enabled: true\n    entries:\n"
             "      - {provider: google-gemini-cli, model: gemini-2.5-flash, enabled: true}\n"
             "      - {provider: openai-codex-2, model: gpt-5-mini, enabled: true}\n")
    assert policy.read_text(encoding="utf-8") == before + added
    run = invoke("preset", "toggle", "fast", "--entry", "0", "--agent-dir", agent)
    assert run.returncode == 0 and "disabled preset fast entry 0" in run.stdout
    assert policy.read_text(encoding="utf-8") == before + added.replace("gemini-2.5-flash, enabled: true",
                                                                        "gemini-2.5-flash, enabled: false")
    assert invoke("preset", "remove", "fast", "--agent-dir", agent).returncode == 0
    assert policy.read_text(encoding="utf-8") == before


def test_create_refuses_unknown_accounts(agent: Path) -> None:
    run = invoke("preset", "create", "x", "--entry", "anthropic-3:claude-opus-4", "--agent-dir", agent)
    assert run.returncode == 2
    assert "error: preset x: 'anthropic-3' is not a known account" in run.stderr
    assert "hint: did you mean" in run.stderr
    run = invoke("preset", "remove", "coding-premum", "--agent-dir", agent)
    assert run.returncode == 2 and "did you mean 'coding-premium'?" in run.stderr


def test_json_policy_and_dry_run(tmp_path: Path) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    policy = agent / "multi-pass.json"
    before = policy.read_text(encoding="utf-8")
    run = invoke("preset", "toggle", "coding-budget", "--dry-run", "--agent-dir", agent, "--format", "json")
    out = run.json()
    assert out["changed"] is True and out["written"] is False
    assert '-      "enabled": true,\n+      "enabled": false,\n' in out["diff"]
    assert policy.read_text(encoding="utf-8") == before
    run = invoke("preset", "toggle", "coding-budget", "--agent-dir", agent)
    assert run.returncode == 0
    data = json.loads(policy.read_text(encoding="utf-8"))
    assert data["presets"][0]["enabled"] is False
    assert policy.read_text(encoding="utf-8") == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def test_a_broken_policy_is_left_alone(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.yaml"
    content = "presets:\n  - name: a\n    entries: [{provider: anthropic, model: x}\n"
    policy.write_text(content, encoding="utf-8")
    run = invoke("preset", "create", "b", "--entry", "anthropic:y", "--agent-dir", tmp_path)
    assert run.returncode == 1 and "multi-pass.yaml:4:" in run.stderr
    assert policy.read_text(encoding="utf-8") == content


def test_list(agent: Path) -> None:
    run = invoke("preset", "list", "--agent-dir", agent, "--project", agent)
    assert run.stdout.splitlines() == [
        "+ coding-premium: anthropic / claude-sonnet-4-5 -> openai-codex / o3 -> google-gemini-cli / gemini-2.5-pro",
        "+ coding-budget: openai-codex / gpt-4.1-mini -> google-gemini-cli / gemini-2.5-flash",
    ]
    assert invoke("preset", "toggle", "coding-budget", "--agent-dir", agent).returncode == 0
    rows = invoke("preset", "list", "--agent-dir", agent, "--project", agent, "--format", "json").json()["presets"]
    assert [(r["name"], r["enabled"]) for r in rows] == [("coding-premium", True), ("coding-budget", False)]


def test_activate_prints_the_decision_eval_gives(agent: Path) -> None:
    make_cooldown_state(agent / STATE_FILE)  # anthropic cooling down: the preset's first entry rotates in its pool
    common = ["--agent-dir", agent, "--project", agent, "--at", AT]
    run = invoke("preset", "activate", "coding-premium", *common)
    assert run.returncode == 0, run.describe()
    assert run.stdout == "target: anthropic-2 · claude-sonnet-4-5 (pool claude, preset coding-premium#0, via pool)\n"
    activated = invoke("preset", "activate", "coding-premium", *common, "--format", "json").json()
    evaluated = invoke("eval", "--preset", "coding-premium", *common, "--format", "json").json()
    for key in ("target", "candidates", "skipped", "retryAfter", "strategy"):
        assert activated[key] == evaluated[key], key
    state = invoke("state", "show", "--agent-dir", agent, "--format", "json").json()
    assert list(state["cooldowns"]) == ["anthropic"] and len(state["turns"]) == 1  # a dry run: nothing recorded
    assert state["cursors"] == {"claude": "anthropic-2"}
    explained = invoke("preset", "activate", "coding-premium", "--explain", *common)
    assert "✗ anthropic [pool claude, preset coding-premium#0]: cooldown" in explained.stdout


def test_activate_an_unknown_preset(agent: Path) -> None:
    run = invoke("preset", "activate", "coding-premum", "--agent-dir", agent, "--project", agent)
    assert run.returncode == 2
    assert "did you mean 'coding-premium'?" in run.stderr


PRESET_EDITS = [
    ["create", "fast", "--entry", "anthropic:claude-haiku-4"],
    ["remove", "coding-budget"],
    ["toggle", "coding-budget"],
    ["toggle", "coding-budget", "--entry", "0"],
]


@pytest.mark.parametrize("args", PRESET_EDITS, ids=lambda a: " ".join(a[:2]))
def test_every_preset_edit_keeps_pi_json_in_pi_s_format(tmp_path: Path, args: list[str]) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    run = invoke("preset", *args, "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    text = (agent / "multi-pass.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    assert invoke("validate", agent / "multi-pass.json").returncode == 0


@pytest.mark.parametrize("name", ["multi-pass.yaml", "multi-pass.json"])
@pytest.mark.parametrize("args", PRESET_EDITS, ids=lambda a: " ".join(a[:2]))
def test_every_preset_edit_leaves_a_broken_file_alone(tmp_path: Path, args: list[str], name: str) -> None:
    policy = tmp_path / name
    content = '{"presets": [], "presets": []}\n' if name.endswith(".json") else "presets: []\npresets: []\n"
    policy.write_text(content, encoding="utf-8")
    run = invoke("preset", *args, "--agent-dir", tmp_path)
    assert run.returncode == 1, run.describe()
    assert f"{name}:" in run.stderr and "duplicate-key" in run.stderr
    assert policy.read_text(encoding="utf-8") == content
