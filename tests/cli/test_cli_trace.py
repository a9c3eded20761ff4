"""End-to-end: ``mp-policy trace`` after real ``select``/``fail``/``succeed`` runs, and ``trace --follow`` seeing
another process's writes (SQLite here; Redis in ``test_cli_trace_redis.py``)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

from cli_support import REPO, SCRIPT, UNIQUE_SECRET, Cli, clean_env


def run_turn(cli: Cli, agent: Path, *extra: str) -> str:
    """select on chain main, a 429 with retry-after on it, then succeed; the turn id."""
    turn = cli("select", "--agent-dir", agent, "--chain", "main", "--prompt", "CANARY-PROMPT do the thing",
               "--label", "pi/session-1", "--format", "json", *extra).json()["turn"]
    cli("fail", "--agent-dir", agent, "--turn", turn, "--status", "429", "--header", "retry-after:600",
        "--message", "CANARY-MESSAGE slow down", "--format", "json", *extra)
    cli("succeed", "--agent-dir", agent, "--turn", turn, *extra)
    return str(turn)


def test_trace_tells_each_turns_story(cli: Cli, agent: Path) -> None:
    turn = run_turn(cli, agent)
    table = cli("trace", "--agent-dir", agent)
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["TIME", "TURN", "OP", "ASKED", "OUTCOME", "SKIPPED"]
    assert [line.split()[2] for line in lines[1:]] == ["select", "fail", "succeed"]
    assert "anthropic rate-limited until" in lines[2] and "(retry-after) → anthropic-2" in lines[2]
    assert "anthropic-2 served" in lines[3]

    story = cli("trace", "--agent-dir", agent, turn).stdout.splitlines()
    assert story[0] == f"turn {turn}, label pi/session-1"
    assert story[1].startswith("  asked chain main (") or story[1].startswith("  asked chain main →")
    assert "→ anthropic rate-limited until" in story[1] and story[1].endswith("(retry-after) → anthropic-2 served")

    doc = cli("trace", "--agent-dir", agent, turn, "--format", "json").json()
    assert doc["turn"] == turn and [e["op"] for e in doc["entries"]] == ["select", "fail", "succeed"]
    fail = doc["entries"][1]
    assert fail["v"] == 1 and fail["failing"] == "anthropic" and fail["target"]["provider"] == "anthropic-2"
    assert fail["error"]["kind"] == "rate_limit" and fail["error"]["status"] == 429
    assert fail["error"]["headers"] == ["retry-after"] and fail["error"]["retrySource"] == "header retry-after"
    assert doc["entries"][0]["promptChars"] == len("CANARY-PROMPT do the thing")
    assert all(e["label"] == "pi/session-1" for e in doc["entries"][:1])


def test_no_credential_and_no_prompt_or_message_text_in_any_entry(cli: Cli, agent: Path) -> None:
    run_turn(cli, agent)
    exported = cli("trace", "--agent-dir", agent, "--format", "jsonl").stdout
    assert len(exported.splitlines()) == 3
    raw = (agent / "mp-policy-state.db").read_bytes()
    for text in (exported, raw.decode("latin-1")):
        for canary in (UNIQUE_SECRET, "CANARY-PROMPT", "CANARY-MESSAGE"):
            assert canary not in text


def test_filters_and_formats(cli: Cli, agent: Path) -> None:
    run_turn(cli, agent)
    other = cli("select", "--agent-dir", agent, "--pool", "codex", "--format", "json").json()["turn"]
    errors = cli("trace", "--agent-dir", agent, "--errors", "--format", "json").json()["entries"]
    assert [e["op"] for e in errors] == ["fail"]
    codex = cli("trace", "--agent-dir", agent, "--pool", "codex", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["turn"] for line in codex] == [other]
    by_account = cli("trace", "--agent-dir", agent, "--account", "anthropic-2", "--format", "json").json()["entries"]
    assert [e["op"] for e in by_account] == ["fail", "succeed"]  # anthropic-2 served after the failure
    for option in (("--pool", "claude"), ("--chain", "main")):
        rows = cli("trace", "--agent-dir", agent, *option, "--format", "json").json()["entries"]
        assert [e["op"] for e in rows] == ["select", "fail", "succeed"], option  # the succeed ended that turn
    rows = cli("trace", "--agent-dir", agent, "--account", "anthropic", "--format", "json").json()["entries"]
    assert [e["op"] for e in rows] == ["select", "fail"]  # anthropic-2 served the turn, not anthropic
    last = cli("trace", "--agent-dir", agent, "--account", "anthropic-2", "--last", "1", "--format", "json")
    assert [e["op"] for e in last.json()["entries"]] == ["succeed"]
    assert len(cli("trace", "--agent-dir", agent, "--last", "2", "--format", "json").json()["entries"]) == 2
    assert cli("trace", "--agent-dir", agent, "--since", "1h", "--format", "json").json()["entries"]
    assert cli("trace", "--agent-dir", agent, "--since", "2099-01-01T00:00+00:00", "--format",
               "json").json()["entries"] == []


def test_errors_are_located_with_exit_codes(cli: Cli, agent: Path) -> None:
    missing = cli("trace", "--agent-dir", agent, "0123456789abcdef", check=False)
    assert missing.returncode == 1 and "no trace entries for turn '0123456789abcdef'" in missing.stderr
    bad = cli("trace", "--agent-dir", agent, "--since", "yesterday-ish", check=False)
    assert bad.returncode == 2 and "--since" in bad.stderr
    both = cli("trace", "--agent-dir", agent, "abc", "--follow", check=False)
    assert both.returncode == 2


def test_the_eight_characters_the_table_shows_find_the_turn(cli: Cli, agent: Path) -> None:
    turn = run_turn(cli, agent)
    short = cli("trace", "--agent-dir", agent).stdout.splitlines()[1].split()[1]
    assert len(short) == 8 and turn.startswith(short)
    story = cli("trace", "--agent-dir", agent, short).stdout.splitlines()
    assert story[0] == f"turn {turn}, label pi/session-1"
    rows = cli("trace", "--agent-dir", agent, "--turn", short, "--format", "json").json()["entries"]
    assert [e["op"] for e in rows] == ["select", "fail", "succeed"]
    for extra in ("T-1", "T-2"):  # two turns whose ids start alike: the prefix is ambiguous
        cli("select", "--agent-dir", agent, "--chain", "main", "--turn", extra)
    both = cli("trace", "--agent-dir", agent, "T-", check=False)
    assert both.returncode == 2 and "'T-' starts several turn ids (T-2, T-1)" in both.stderr


def test_a_turn_and_filters_together_are_a_usage_error(cli: Cli, agent: Path) -> None:
    turn = run_turn(cli, agent)
    mixed = cli("trace", "--agent-dir", agent, turn, "--errors", check=False)
    assert mixed.returncode == 2 and "without TURN" in mixed.stderr


def test_trace_off_writes_no_entry(cli: Cli, agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace(
        "  timezone: Europe/Vienna", "  timezone: Europe/Vienna\n  trace: {enabled: false}"), encoding="utf-8")
    run_turn(cli, agent)
    assert cli("trace", "--agent-dir", agent, "--format", "json").json()["entries"] == []


def _lines(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def follow_sees_another_process(cli: Cli, agent: Path, state: str, home: Path) -> float:
    """Start ``trace --follow``, write from another process; return seconds from write to printed line."""
    proc = subprocess.Popen([str(SCRIPT), "trace", "--follow", "--agent-dir", str(agent), "--state", state,
                             "--format", "jsonl"], cwd=REPO, env=clean_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    reader = threading.Thread(target=_lines, args=(proc.stdout, seen), daemon=True)
    reader.start()
    try:
        time.sleep(1.5)  # the follower is up and has printed what was there (nothing)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert seen == []
        written = time.monotonic()
        turn = cli("select", "--agent-dir", agent, "--state", state, "--chain", "main",
                   "--format", "json").json()["turn"]
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        latency = time.monotonic() - written
        assert seen, "trace --follow printed nothing within 10 s of another process's write"
        assert json.loads(seen[0])["turn"] == turn and json.loads(seen[0])["op"] == "select"
        return latency
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.returncode in (0, -15)


def test_follow_sees_another_process_write_on_sqlite(cli: Cli, agent: Path, tmp_path: Path) -> None:
    follow_sees_another_process(cli, agent, f"sqlite:///{tmp_path / 'shared.db'}", tmp_path)


def test_follow_with_a_pool_filter_shows_the_succeed_that_ends_a_turn(cli: Cli, agent: Path, tmp_path: Path) -> None:
    """A succeed names no route: --follow --pool matches it by the turn's entry before it, also when that entry
    was written before the follower started."""
    state = f"sqlite:///{tmp_path / 'shared.db'}"
    early = cli("select", "--agent-dir", agent, "--state", state, "--chain", "main", "--format", "json").json()["turn"]
    proc = subprocess.Popen([str(SCRIPT), "trace", "--follow", "--pool", "claude", "--agent-dir", str(agent),
                             "--state", state, "--format", "jsonl"], cwd=REPO, env=clean_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    threading.Thread(target=_lines, args=(proc.stdout, seen), daemon=True).start()
    try:
        time.sleep(1.5)
        cli("succeed", "--agent-dir", agent, "--state", state, "--turn", early)
        late = cli("select", "--agent-dir", agent, "--state", state, "--chain", "main", "--format", "json").json()
        cli("succeed", "--agent-dir", agent, "--state", state, "--turn", late["turn"])
        deadline = time.monotonic() + 10
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(json.loads(line)["turn"], json.loads(line)["op"]) for line in seen] == [
            (early, "select"),  # the latest entries first, then the new ones
            (early, "succeed"), (late["turn"], "select"), (late["turn"], "succeed")]
    finally:
        proc.terminate()
        proc.wait(10)
