"""The "done when" of the editing commands, end to end through the installed ``mp-policy`` script.

1. pi-multi-pass's README scenarios (work and personal accounts, per-project restrictions, a
   scheduled Codex pool, a fallback chain, presets), built from an empty agent directory with the
   commands alone; then ``mp-policy test`` runs policy tests written for them, and the demo's own
   tests (``policies/demo``), which were written for a hand-made policy of the same set-up.
2. A realistic pi-multi-pass configuration imported with ``mp-policy import`` (commented YAML),
   then edited: every comment that does not belong to a removed entry stays, byte for byte.

The many editing steps run in-process (click's runner, the same ``cli`` group); the checks that
matter at the end (``validate``, ``test``) run the installed console script.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_support import DEMO, Cli, invoke, write_auth
from edit_support import PI_JSON, changed_lines

from policy_engine.policy.days import expand_days
from policy_engine.policy.loader import load_file

#: Policy tests for the README scenarios, written for the policy the commands build.
SCENARIO_TESTS = """\
# pi-multi-pass README scenarios, on the policy built by mp-policy's editing commands.
policy: multi-pass.yaml
given:
  at: "2026-11-24T10:30:00+01:00"     # a Tuesday morning
  auth: [anthropic, anthropic-2, openai-codex, openai-codex-2, openai-codex-3, google-gemini-cli]
cases:
  - name: a rate limit rotates within the pool, same model
    steps:
      - select: {provider: anthropic, model: claude-sonnet-4-5}
        expect: {target: {provider: anthropic, via: current}}
      - fail: {status: 429, message: rate_limit_error}
        expect: {target: {provider: anthropic-2, model: claude-sonnet-4-5, via: pool}}

  - name: the scheduled pool uses the office account in office hours
    steps:
      - select: {pool: codex, model: gpt-5}
        expect:
          target: {provider: openai-codex}
          skipped: {contains: [{provider: openai-codex-2, reason: outside-window}]}

  - name: at night the work account's window is open
    given: {at: "2026-11-24T23:00:00+01:00"}
    steps:
      - select: {pool: codex, model: gpt-5}
        expect: {target: {provider: openai-codex-2}}

  - name: the chain falls from Claude to Codex with its own model
    steps:
      - select: {chain: main}
      - fail: {status: 429, message: rate_limit_error}
      - fail: {status: 429, message: rate_limit_error}
        expect: {target: {provider: openai-codex, model: gpt-5, pool: codex, chain: main, entry: 1}}

  - name: the budget preset starts on its first entry
    steps:
      - select: {preset: coding-budget}
        expect: {target: {provider: openai-codex, model: gpt-4.1-mini, via: preset, entry: 0}}
"""

#: The corporate project: only the work accounts, whatever is asked for.
CORP_TESTS = """\
policy: ../../.pi/agent/multi-pass.yaml
project: .pi/multi-pass.yaml
given:
  at: "2026-11-24T10:30:00+01:00"
  auth: [anthropic, anthropic-2, openai-codex, openai-codex-2, openai-codex-3, google-gemini-cli]
cases:
  - name: a personal Codex account is never used here, not even when it is asked for
    steps:
      - select: {provider: openai-codex-3, model: gpt-5}
        expect:
          target: null
          skipped: [{provider: openai-codex-3, reason: not-allowed}]
      - select: {pool: work-codex, model: gpt-5}
        expect: {target: {provider: openai-codex-2}}
"""


def run_ok(cli: Cli, *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    run = cli(*args, cwd=cwd, env=env)
    assert run.returncode == 0, run.describe()
    return run


def test_the_readme_scenarios_from_an_empty_agent_directory(cli: Cli, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    agent = home / ".pi" / "agent"
    corp = home / "work" / "corp-project"
    side = home / "side-project"
    for folder in (agent, corp, side):
        folder.mkdir(parents=True)
    env = {"PI_CODING_AGENT_DIR": str(agent)}

    def mp(*args: str | Path, cwd: Path = side) -> Any:
        monkeypatch.chdir(cwd)
        run = invoke(*args, env=env)
        assert run.returncode == 0, run.describe()
        return run

    # Global: three Codex accounts (work, personal), two Claude accounts, Gemini.
    assert "added subscription openai-codex-2 (work)" in mp("subs", "add", "openai-codex", "--label", "work").stdout
    assert "openai-codex-3 (personal)" in mp("subs", "add", "openai-codex", "--label", "personal").stdout
    mp("subs", "add", "anthropic", "--label", "work")
    mp("pool", "create", "claude", "--provider", "anthropic", "--members", "anthropic,anthropic-2")
    mp("pool", "create", "codex", "--provider", "openai-codex", "--members",
       "openai-codex,openai-codex-2,openai-codex-3", "--strategy", "scheduled")
    mp("pool", "schedule", "codex", "openai-codex", "--role", "preferred", "--window", "9-17 mon-fri")
    mp("pool", "schedule", "codex", "openai-codex-2", "--role", "preferred", "--window", "17-9")
    mp("pool", "schedule", "codex", "openai-codex-3", "--role", "overflow")
    mp("pool", "create", "gemini", "--provider", "google-gemini-cli", "--members", "google-gemini-cli")
    mp("chain", "create", "main", "--entry", "claude:claude-sonnet-4-5", "--entry", "codex:gpt-5",
       "--entry", "gemini:gemini-2.5-pro")
    mp("preset", "create", "coding-premium", "--entry", "anthropic:claude-sonnet-4-5", "--entry", "openai-codex:o3",
       "--entry", "google-gemini-cli:gemini-2.5-pro")
    mp("preset", "create", "coding-budget", "--entry", "openai-codex:gpt-4.1-mini",
       "--entry", "google-gemini-cli:gemini-2.5-flash")

    # Corp project: restricted to the team accounts, with its own pools and chain.
    assert "restricted the project to openai-codex-2, anthropic-2" in mp(
        "project", "restrict", "openai-codex-2", "anthropic-2", cwd=corp).stdout
    copied = mp("pool", "create", "work-codex", "--provider", "openai-codex", "--members", "openai-codex-2",
                "--project", corp)
    assert "copied the 3 global pools into it first" in copied.stderr
    mp("pool", "create", "work-claude", "--provider", "anthropic", "--members", "anthropic,anthropic-2",
       "--project", corp)
    for pool in ("claude", "codex", "gemini"):
        mp("pool", "remove", pool, "--project", corp)
    mp("chain", "create", "work", "--entry", "work-codex:gpt-5", "--entry", "work-claude:claude-sonnet-4-5",
       "--project", corp)

    # What was built: a valid policy with the demo's content, and an overlay like the demo's.
    policy = agent / "multi-pass.yaml"
    overlay = corp / ".pi" / "multi-pass.yaml"
    assert sorted(p.name for p in agent.iterdir()) == ["multi-pass.yaml"]
    assert not (side / ".pi").exists()
    assert run_ok(cli, "validate", cwd=side, env=env).stdout.endswith("valid — 0 error(s), 0 warning(s)\n")
    in_corp = run_ok(cli, "validate", cwd=corp, env=env).stdout  # corp's allow-list leaves coding-budget nothing
    assert in_corp.endswith("valid — 0 error(s), 1 warning(s)\n")
    assert "warning: emptied-by-allow-list: preset 'coding-budget'" in in_corp
    built = load_file(policy).data
    demo = load_file(DEMO / "multi-pass.yaml").data
    for pool in demo["pools"]:
        for schedule in pool.get("memberSchedule", {}).values():
            for window in schedule.get("windows", []):
                if "days" in window:
                    window["days"] = list(expand_days(window["days"]))
    assert built == {k: v for k, v in demo.items() if k not in ("version", "settings")}
    assert load_file(overlay).data == load_file(DEMO / "projects" / "corp" / ".pi" / "multi-pass.yaml").data

    # The tests written for these scenarios pass, and so do the demo's own (written for the hand-made demo).
    (agent / "readme.test.yaml").write_text(SCENARIO_TESTS, encoding="utf-8")
    (corp / "corp.test.yaml").write_text(CORP_TESTS, encoding="utf-8")
    shutil.copy(DEMO / "multi-pass.test.yaml", agent / "demo.test.yaml")
    demo_corp = (DEMO / "projects" / "corp" / "corp.test.yaml").read_text(encoding="utf-8")
    (corp / "demo-corp.test.yaml").write_text(
        demo_corp.replace("policy: ../../multi-pass.yaml", "policy: ../../.pi/agent/multi-pass.yaml"),
        encoding="utf-8")
    tested = run_ok(cli, "test", agent, corp, cwd=side, env=env)
    assert tested.last_line == "15 passed, 0 failed"

    # The views agree with what the engine does.
    write_auth(agent)
    info = mp("project", "info", "--format", "json", cwd=corp).json()
    assert info["allowedSubs"] == ["anthropic-2", "openai-codex-2"]
    assert [(c["name"], c["source"]) for c in info["chains"]] == [("work", "project")]
    assert mp("project", "info", cwd=side).stdout.startswith("Project config: none (using global)\n")
    night = mp("pool", "status", "codex", "--at", "2026-11-24T23:00:00+01:00", "--format", "json").json()
    assert night["pools"][0]["next"] == "openai-codex-2"


def test_editing_an_imported_pi_multi_pass_configuration(cli: Cli, tmp_path: Path) -> None:
    shutil.copytree(PI_JSON, tmp_path / "pi")
    agent = tmp_path / "pi" / "agent"
    json_before = (agent / "multi-pass.json").read_bytes()
    run_ok(cli, "import", "--agent-dir", agent)
    policy = agent / "multi-pass.yaml"
    imported = policy.read_text(encoding="utf-8")
    comments = [line for line in imported.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) > 20  # the import explains every section in comments

    def edit(*args: str) -> tuple[list[str], list[str]]:
        before = policy.read_text(encoding="utf-8")
        run = invoke(*args, "--agent-dir", agent)
        assert run.returncode == 0, run.describe()
        return changed_lines(before, policy.read_text(encoding="utf-8"))

    removed, added = edit("subs", "add", "anthropic", "--label", "personal")
    assert (removed, added) == ([], ["  - {provider: anthropic, index: 3, label: personal}"])
    removed, added = edit("pool", "strategy", "codex-pool", "scheduled")
    assert (removed, added) == (["    strategy: quota-first"], ["    strategy: scheduled"])
    removed, added = edit("pool", "schedule", "codex-pool", "openai-codex-2", "--role", "preferred",
                          "--window", "18-8")
    assert (removed, added) == ([], ["    memberSchedule:",
                                     "      openai-codex-2: {role: preferred, windows: [{hours: [18, 8]}]}"])
    removed, added = edit("pool", "remove", "claude")
    assert added == []
    assert [line for line in removed if line.strip()] == [
        "  # claude (anthropic): round-robin: stays on one account (and its prompt cache) until it fails,",
        "  # then moves to the next member in order",
        "  - name: claude", "    baseProvider: anthropic", "    members: [anthropic, anthropic-2]",
        "    enabled: true", "      - {pool: claude, model: claude-sonnet-4-20250514, enabled: true}"]
    removed, added = edit("preset", "toggle", "coding-budget")
    assert (removed, added) == (["    enabled: true"], ["    enabled: false"])
    final = policy.read_text(encoding="utf-8")
    kept = [line for line in final.splitlines() if line.lstrip().startswith("#")]
    assert kept == [line for line in comments if "claude (anthropic)" not in line
                    and "then moves to the next member in order" not in line]
    assert run_ok(cli, "validate", policy).stdout.endswith("valid — 0 error(s), 0 warning(s)\n")
    assert (agent / "multi-pass.json").read_bytes() == json_before  # pi-multi-pass's own file is never touched
