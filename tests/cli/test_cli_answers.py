"""Clear answers where there were none or wrong ones (issue 15 item 4): each test asserts the exit code and
the located text of one answer."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from cli_support import SCRIPT, Cli

AT = "2026-04-06T10:00:00+02:00"
KEY = {"type": "api_key", "key": "sk-test-not-a-real-key"}

POLICY = """\
settings: {timezone: Asia/Tokyo}
subscriptions:
  - {provider: anthropic, index: 2}
pools:
  - {name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2]}
  - {name: codex, baseProvider: openai-codex, members: [openai-codex]}
chains:
  - name: main
    entries: [{pool: codex, model: gpt-5}]
presets:
  - name: gpt
    entries: [{provider: openai-codex, model: gpt-5}]
"""


def _agent(tmp_path: Path, policy: str = POLICY) -> Path:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(policy, encoding="utf-8")
    (agent / "auth.json").write_text(json.dumps({"anthropic": KEY, "anthropic-2": KEY}), encoding="utf-8")
    return agent


def _project(tmp_path: Path, allowed: list[str]) -> Path:
    project = tmp_path / "project"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text(json.dumps({"allowedSubs": allowed}), encoding="utf-8")
    return project


def test_one_fail_too_many_names_it_and_keeps_the_decisions_before_it(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    run = cli("eval", "--agent-dir", agent, "--state", "memory://", "--pool", "claude", "--at", AT,
              "--fail", ":429", "--fail", ":429", "--fail", ":429")
    assert run.returncode == 2, run.describe()
    assert run.stdout.count("— fail :429") == 2
    assert "target: anthropic-2 (pool claude, via pool)" in run.stdout
    assert "why: everything on the route was skipped: attempted (anthropic)" in run.stdout
    assert run.stderr.strip() == (
        "error: --fail #3 ':429' names no provider and there is no current target to fail: the turn has no "
        "target after --fail #2 (shown above); name the provider (P:STATUS) or drop this --fail")


def test_a_fail_on_another_provider_says_it_is_a_late_failure(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    run = cli("eval", "--agent-dir", agent, "--state", "memory://", "--pool", "claude", "--at", AT,
              "--fail", "anthropic-2:429", "--fail", "anthropic-2:400:bad request")
    assert run.returncode == 0, run.describe()
    assert ("anthropic-2 is not the current target (the current target is anthropic): a late failure; anthropic-2 "
            "is cooled down and left out of this turn, which goes on from where it was") in run.stdout
    assert ("anthropic-2 is not the current target (the current target is anthropic): a late failure that does "
            "not rotate changes nothing") in run.stdout


def test_an_unknown_provider_is_a_usage_error_with_did_you_mean(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    for command in ("eval", "select"):
        run = cli(command, "--agent-dir", agent, "--state", "memory://", "--provider", "antropic-2")
        assert run.returncode == 2, run.describe()
        assert run.stderr.startswith("error: there is no account named 'antropic-2'; did you mean 'anthropic-2'?\n"
                                     "hint: an account is a provider pi knows"), run.describe()
        assert run.stdout == ""


def test_an_empty_result_says_why_and_validate_warns(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    project = _project(tmp_path, ["anthropic"])
    chain = cli("eval", "--agent-dir", agent, "--project", project, "--state", "memory://", "--chain", "main")
    assert chain.returncode == 0, chain.describe()
    assert chain.stdout.splitlines()[1] == (
        "why: chain 'main': the project's allowedSubs (anthropic) empties the pool of every entry, so it gives "
        "no target here")
    preset = cli("eval", "--agent-dir", agent, "--project", project, "--state", "memory://", "--preset", "gpt")
    assert preset.stdout.splitlines()[1] == "why: everything on the route was skipped: not-allowed (openai-codex)"
    check = cli("validate", "--agent-dir", agent, "--project", project)
    assert check.returncode == 0, check.describe()
    found = [line.split(": warning: ", 1)[1] for line in check.stdout.splitlines() if ": warning: " in line]
    assert found == [
        "emptied-by-allow-list: pool 'codex': none of its members is allowed in this project (allowedSubs: "
        "anthropic), so it gives no target here (at $.pools[1].name)",
        "emptied-by-allow-list: chain 'main': the project's allowedSubs (anthropic) empties the pool of every "
        "entry, so it gives no target here (at $.chains[0].name)",
        "emptied-by-allow-list: preset 'gpt': no entry's provider (nor a pool sibling of it) is allowed by the "
        "project's allowedSubs (anthropic), so it gives no target here (at $.presets[0].name)",
    ]
    assert "multi-pass.yaml:6:12: warning: emptied-by-allow-list: pool 'codex'" in check.stdout


def test_state_show_on_a_missing_file_says_so(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    missing = tmp_path / "nowhere.db"
    run = cli("state", "show", "--agent-dir", agent, "--state", f"sqlite:///{missing}")
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines()[1] == (
        f"{missing} does not exist: nothing has been recorded yet (the engine creates it at the first decision "
        "that writes state)")
    assert not missing.exists()


def test_state_show_uses_the_policy_time_zone(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    db = tmp_path / "state.db"
    failed = cli("fail", "--agent-dir", agent, "--state", f"sqlite:///{db}", "--provider", "anthropic",
                 "--status", "429", "--header", "retry-after:600")
    assert failed.returncode == 0, failed.describe()
    shown = cli("state", "show", "--agent-dir", agent, "--state", f"sqlite:///{db}")
    line = next(line for line in shown.stdout.splitlines() if line.startswith("  anthropic: "))
    assert "+09:00" in line and "+00:00" not in line, line  # Asia/Tokyo, as eval shows times
    as_json = cli("state", "show", "--agent-dir", agent, "--state", f"sqlite:///{db}", "--format", "json").json()
    assert as_json["cooldowns"]["anthropic"]["until"].endswith("+09:00")
    with sqlite3.connect(db) as conn:  # the stored value itself is unchanged
        assert conn.execute("SELECT COUNT(*) FROM cooldowns").fetchone()[0] == 1


def test_edit_commands_show_earlier_errors_at_the_file_lines(cli: Cli, tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(
        "pools:\n  - name: c\n    baseProvider: anthropic\n    members: [anthropic]\n    strategy: round-robn\n",
        encoding="utf-8")
    run = cli("subs", "add", "anthropic", "--agent-dir", agent)
    assert run.returncode == 1, run.describe()
    assert "multi-pass.yaml:5:15: unknown-strategy: pool 'c': unknown strategy 'round-robn'" in run.stderr
    assert "already had 1 error(s) before this edit (shown at its own lines)" in run.stderr


def test_an_overlay_given_as_policy_says_it_is_an_overlay(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    for name in ("multi-pass.yaml", "multi-pass.json"):
        overlay = tmp_path / name
        overlay.write_text('{"allowedSubs": ["anthropic"]}', encoding="utf-8")
        run = cli("eval", "--agent-dir", agent, "--policy", overlay, "--pool", "claude")
        assert run.returncode == 1, run.describe()
        assert run.stderr.startswith(
            f"{overlay}:1:2: overlay-as-policy: {overlay} is a project overlay (it has allowedSubs), not a policy "
            "(at $.allowedSubs)\n    hint: pass it with --project"), run.describe()


def test_validate_counts_repeated_warnings(cli: Cli, tmp_path: Path) -> None:
    members = ["anthropic", *(f"ghost-{i}" for i in range(8))]
    policy = tmp_path / "many.yaml"
    policy.write_text(json.dumps({"pools": [{"name": "c", "baseProvider": "anthropic", "members": members}]}),
                      encoding="utf-8")
    run = cli("validate", policy)
    assert run.returncode == 0, run.describe()
    assert run.stdout.count("warning: unknown-member") == 5
    assert f"{policy}: … and 3 more unknown-member warnings (--all shows every one)" in run.stdout
    assert run.last_line == f"{policy}: valid — 0 error(s), 8 warning(s)"
    everything = cli("validate", policy, "--all")
    assert everything.stdout.count("warning: unknown-member") == 8


def test_no_arguments_prints_the_help_and_succeeds(cli: Cli, tmp_path: Path) -> None:
    run = cli(cwd=tmp_path)
    assert run.returncode == 0, run.describe()
    assert run.stdout.startswith("Usage: mp-policy [OPTIONS] COMMAND [ARGS]...")
    completion = cli(cwd=tmp_path, env={"_MP_POLICY_COMPLETE": "bash_source"})  # also called without arguments
    assert completion.returncode == 0 and "_mp_policy_completion()" in completion.stdout, completion.describe()


def test_one_plugin_is_singular(cli: Cli) -> None:
    run = cli("plugins", "--installed", env={"MP_POLICY_LOAD_PLUGINS": "weighted"})
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines()[0] == "1 plugin loaded (1 installed, 0 built-in)"
    assert os.path.exists(SCRIPT)
