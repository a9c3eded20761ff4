"""End-to-end tests of ``mp-policy select | fail | succeed``: one-shot calls that write state and share turns."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from cli_support import SCRIPT, STATE_FILE, Cli, Run, check_invariants, clean_env

from policy_engine.state import open_store

#: Codex's "usage limit reached" body: quota exhaustion with a reset in 30 minutes (read from the body only).
USAGE_LIMIT = {"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                         "resets_in_seconds": 1800}}


def _state(db: Path) -> dict[str, Any]:
    with open_store(f"sqlite:///{db}", agent_dir=db.parent, readonly=True) as store:
        return store.dump()


def _json(run: Run) -> dict[str, Any]:
    assert run.returncode == 0, run.describe()
    return run.json()


def test_select_then_fail_on_the_printed_turn_continues_that_turn(cli: Cli, agent: Path, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    common = ("--agent-dir", agent, "--state", f"sqlite:///{db}", "--format", "json")
    first = _json(cli("select", "--chain", "main", *common))
    turn = first["turn"]
    assert first["target"]["provider"] == "anthropic" and first["target"]["chain"] == "main"
    stored = _state(db)
    assert stored["turns"][turn]["data"]["target"]["provider"] == "anthropic"
    assert stored["cursors"] == {"claude": "anthropic"}

    second = _json(cli("fail", "--turn", turn, "--status", "429", "--message", "rate_limit_error", *common))
    assert second["turn"] == turn and second["target"]["provider"] == "anthropic-2"
    assert second["error"]["kind"] == "rate_limit" and second["error"]["rotate"] is True
    stored = _state(db)
    assert set(stored["cooldowns"]) == {"anthropic"}
    assert stored["turns"][turn]["data"]["attempted"] == ["anthropic"]

    third = _json(cli("fail", "--turn", turn, "--status", "429", *common))  # the turn's current target failed
    assert third["turn"] == turn and third["target"]["chain"] == "main" and third["target"]["entry"] == 1
    assert third["target"]["pool"] == "codex" and third["target"]["model"] == "gpt-5"
    assert _state(db)["turns"][turn]["data"]["attempted"] == ["anthropic", "anthropic-2"]

    done = _json(cli("succeed", "--turn", turn, *common))
    assert done == {"turn": turn}
    assert turn not in _state(db)["turns"]
    assert set(_state(db)["cooldowns"]) == {"anthropic", "anthropic-2"}  # cooldowns stay


def test_the_default_state_is_the_sqlite_file_in_the_agent_directory(cli: Cli, agent: Path) -> None:
    run = cli("select", "--pool", "claude", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    assert lines[0] == "target: anthropic (pool claude, via pool)" and lines[-1].startswith("turn: ")
    turn = lines[-1].removeprefix("turn: ")
    failed = cli("fail", "--turn", turn, "--status", "429", "--agent-dir", agent)
    assert failed.returncode == 0, failed.describe()
    assert "error: rate_limit (rotates)" in failed.stdout
    assert "target: anthropic-2 (pool claude, via pool)" in failed.stdout
    assert failed.stdout.splitlines()[-1] == f"turn: {turn}"
    assert "anthropic" in _state(agent / STATE_FILE)["cooldowns"]


def test_repeated_headers_all_reach_the_engine(cli: Cli, agent: Path, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    common = ("--agent-dir", agent, "--state", f"sqlite:///{db}", "--format", "json")
    turn = _json(cli("select", "--pool", "claude", *common))["turn"]
    reset = int(time.time()) + 3 * 3600
    run = cli("fail", "--turn", turn, "--status", "429", "--header", "retry-after: 900",
              "--header", "anthropic-ratelimit-unified-5h-utilization:0.97",
              "--header", f"anthropic-ratelimit-unified-5h-reset:{reset}", *common)
    failed = _json(run)
    assert "retry-after" in (failed["error"]["retrySource"] or "")  # 15 minutes, longer than the pool's 5
    quota = _state(db)["quota"]["anthropic"]
    assert quota["source"] == "headers" and round(quota["remaining"]) == 3


def test_body_from_a_file_and_from_stdin(cli: Cli, agent: Path, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    common = ("--agent-dir", agent, "--state", f"sqlite:///{db}", "--format", "json")
    body = tmp_path / "body.json"
    body.write_text(json.dumps(USAGE_LIMIT))
    turn = _json(cli("select", "--pool", "claude", *common))["turn"]
    from_file = _json(cli("fail", "--turn", turn, "--status", "429", "--body", body, *common))
    assert from_file["error"]["kind"] == "quota_exhausted"
    assert from_file["error"]["retrySource"] == "body error.resets_in_seconds"

    turn = _json(cli("select", "--pool", "claude", *common))["turn"]
    proc = subprocess.run([str(SCRIPT), "fail", "--turn", turn, "--status", "429", "--body", "-",
                           *map(str, common)], input=json.dumps(USAGE_LIMIT), capture_output=True, text=True,
                          env=clean_env(cli.home), timeout=60, check=False)
    run = Run(("fail", "--body", "-"), proc.returncode, proc.stdout, proc.stderr)
    check_invariants(run)
    from_stdin = _json(run)
    assert from_stdin["error"]["kind"] == "quota_exhausted" and from_stdin["turn"] == turn

    plain = tmp_path / "body.txt"
    plain.write_text("You're out of extra usage. Add more at claude.ai/settings")  # text, not JSON
    turn = _json(cli("select", "--pool", "claude", *common))["turn"]
    assert _json(cli("fail", "--turn", turn, "--status", "429", "--body", plain, *common))["error"]["kind"] == \
        "quota_exhausted"


def test_a_body_nested_too_deeply_to_parse_is_passed_as_text(cli: Cli, agent: Path, tmp_path: Path) -> None:
    """JSON 100,000 levels deep is not a reason for an internal error: the engine gets the text."""
    common = ("--agent-dir", agent, "--state", f"sqlite:///{tmp_path / 'state.db'}", "--format", "json")
    body = tmp_path / "deep.json"
    body.write_text("[" * 100_000 + "]" * 100_000)
    run = cli("fail", "--provider", "anthropic", "--status", "429", "--body", body, *common)
    assert run.returncode == 0, run.describe()[:2000]
    assert _json(run)["error"]["kind"] == "rate_limit"


def test_fail_without_a_turn_starts_one_at_the_provider(cli: Cli, agent: Path, tmp_path: Path) -> None:
    common = ("--agent-dir", agent, "--state", f"sqlite:///{tmp_path / 'state.db'}", "--format", "json")
    started = _json(cli("fail", "--provider", "anthropic", "--status", "429", *common))
    assert started["target"]["provider"] == "anthropic-2"
    then = _json(cli("fail", "--turn", started["turn"], "--status", "529", *common))
    assert then["turn"] == started["turn"] and then["error"]["kind"] == "overloaded"
    assert then["target"] is None or then["target"]["provider"] not in ("anthropic", "anthropic-2")


def test_exit_codes(cli: Cli, agent: Path, tmp_path: Path) -> None:
    common = ("--agent-dir", agent, "--state", f"sqlite:///{tmp_path / 'state.db'}")
    unknown_turn = cli("fail", "--turn", "0123456789abcdef", "--status", "429", *common)
    assert unknown_turn.returncode == 2, unknown_turn.describe()
    assert "turn '0123456789abcdef' is unknown or expired" in unknown_turn.stderr
    assert "--provider" in unknown_turn.stderr and unknown_turn.stdout == ""

    nothing = cli("fail", "--status", "429", *common)
    assert nothing.returncode == 2 and "--turn" in nothing.stderr and "--provider" in nothing.stderr

    typo = cli("select", "--pool", "claud", *common)
    assert typo.returncode == 2 and "did you mean 'claude'" in typo.stderr

    two = cli("select", "--pool", "claude", "--chain", "main", *common)
    assert two.returncode == 2 and "exactly one of" in two.stderr

    for bad in (("--header", "retry-after"), ("--header", ":30"), ("--status", "42")):
        run = cli("fail", "--turn", "t", *bad, *common)
        assert run.returncode == 2, run.describe()
    binary = tmp_path / "body.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    run = cli("fail", "--turn", "t", "--body", binary, *common)
    assert run.returncode == 2 and "not UTF-8" in run.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "multi-pass.yaml").write_text("pools: 3\n")
    invalid = cli("select", "--pool", "claude", "--agent-dir", broken)
    assert invalid.returncode == 1 and "invalid policy" in invalid.stderr

    ok = cli("succeed", "--turn", "never-started", *common)  # ending an unknown turn changes nothing
    assert ok.returncode == 0 and ok.stdout.strip() == "turn never-started ended"


def test_a_turn_id_with_terminal_escapes_is_printed_escaped(cli: Cli, agent: Path, tmp_path: Path) -> None:
    common = ("--agent-dir", agent, "--state", f"sqlite:///{tmp_path / 'state.db'}")
    hostile = "t\x1b[2J\x07\r"
    for run in (cli("succeed", "--turn", hostile, *common), cli("fail", "--turn", hostile, "--status", "429", *common),
                cli("select", "--pool", "claude", "--turn", hostile, *common)):
        assert not any(c in run.output for c in "\x1b\x07\r"), run.describe()
        assert "\\x1b" in run.output, run.describe()
