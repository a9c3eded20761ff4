"""``mp-policy replay``: a recorded day of a scheduled pool replayed against a policy that differs in one window."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import Engine
from policy_engine.trace.replay import recorded_outcome

SCRIPT = Path(sys.executable).parent / "mp-policy"
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
ACCOUNTS = ("openai-codex", "openai-codex-2", "openai-codex-3")
POLICY = """\
settings: {timezone: UTC, cooldown: 5m}
subscriptions:
  - {provider: openai-codex, index: 2}
  - {provider: openai-codex, index: 3}
pools:
  - name: codex
    baseProvider: openai-codex
    members: [openai-codex, openai-codex-2, openai-codex-3]
    strategy: scheduled
    memberSchedule:
      openai-codex: {role: preferred, windows: [{hours: [9, OFFICE_END], days: [mon-fri]}]}
      openai-codex-2: {role: preferred, windows: [{hours: [OFFICE_END, 9]}]}
      openai-codex-3: {role: overflow}
"""


class Clock:
    def __init__(self) -> None:
        self.at = MONDAY

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def recorded(tmp_path: Path) -> dict[str, Any]:
    """A recorded Monday: one turn at half past every hour; at 10:30 openai-codex is rate-limited for 90 min."""
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(POLICY.replace("OFFICE_END", "17"), encoding="utf-8")
    (agent / "auth.json").write_text(json.dumps({a: {"type": "api_key", "key": "k"} for a in ACCOUNTS}),
                                     encoding="utf-8")
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(POLICY.replace("OFFICE_END", "18"), encoding="utf-8")  # office hours end at 18, not 17
    state = f"sqlite:///{tmp_path / 'state.db'}"
    clock = Clock()
    turns = {}
    with Engine.load(agent_dir=agent, state=state, env={}, clock=clock, quota_refresh=False) as engine:
        for hour in range(24):
            clock.at = MONDAY + timedelta(hours=hour, minutes=30)
            d = engine.select(pool="codex", model="gpt-5")
            turns[hour] = d.turn
            if hour == 10:
                clock.at += timedelta(seconds=3)
                d = engine.fail(d.turn, status=429, headers={"retry-after": "5400"})
            clock.at += timedelta(seconds=20)
            engine.succeed(d.turn)
    return {"agent": agent, "candidate": candidate, "state": state, "turns": turns, "tmp": tmp_path}


def mp_policy(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def replay_against(recorded: dict[str, Any], name: str, text: str) -> dict[str, Any]:
    """``replay --format json`` of the recorded day against a candidate policy ``text`` (written as ``name``)."""
    candidate = recorded["tmp"] / name
    candidate.write_text(text, encoding="utf-8")
    run = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", candidate, "--state", recorded["state"],
                    "--format", "json")
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def test_the_recording_is_what_the_schedule_says(recorded: dict[str, Any]) -> None:
    out = mp_policy("trace", "--agent-dir", recorded["agent"], "--state", recorded["state"], "--last", "1000",
                    "--format", "json")
    entries = json.loads(out.stdout)["entries"]
    served = {}
    for hour, turn in recorded["turns"].items():
        served[hour] = recorded_outcome([e for e in entries if e["turn"] == turn]).served_by
    assert served == {h: "openai-codex" if 9 <= h < 17 and h not in (10, 11) else
                      "openai-codex-3" if h in (10, 11) else "openai-codex-2" for h in range(24)}


def test_replay_against_a_policy_that_differs_in_one_window(recorded: dict[str, Any]) -> None:
    export = recorded["tmp"] / "day.jsonl"
    out = mp_policy("trace", "--agent-dir", recorded["agent"], "--state", recorded["state"], "--last", "1000",
                    "--format", "jsonl")
    export.write_text(out.stdout, encoding="utf-8")
    assert len(out.stdout.splitlines()) == 24 * 2 + 1

    for source in (("--from", export), ("--state", recorded["state"])):
        run = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["candidate"], *source,
                        "--format", "json")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["turns"] == 24 and report["different"] == 1
        (diff,) = report["differences"]
        assert diff["turn"] == recorded["turns"][17] and diff["at"].startswith("2026-11-23T17:30")
        assert diff["recorded"]["servedBy"] == "openai-codex-2" and diff["candidate"]["servedBy"] == "openai-codex"
        assert report["accounts"] == {
            "openai-codex": {"recordedServed": 6, "candidateServed": 7, "recordedFailed": 1, "candidateFailed": 1},
            "openai-codex-2": {"recordedServed": 16, "candidateServed": 15, "recordedFailed": 0,
                               "candidateFailed": 0},
            "openai-codex-3": {"recordedServed": 2, "candidateServed": 2, "recordedFailed": 0, "candidateFailed": 0},
        }
        assert any("never called" in a for a in report["assumptions"])

    same = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["agent"] / "multi-pass.yaml",
                     "--from", export, "--format", "json")
    assert json.loads(same.stdout)["different"] == 0  # the recording's own policy reproduces it exactly

    text = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["candidate"], "--from", export)
    assert "replayed 24 turn(s)" in text.stdout and "1 differ" in text.stdout
    assert "recorded openai-codex-2 served; candidate openai-codex served" in text.stdout
    assert "assumptions:" in text.stdout


def test_an_account_the_recording_saw_failing_then_fails_in_the_replay(recorded: dict[str, Any]) -> None:
    """Candidate: office hours from 11 (not 9). At 11:30 its first pick, openai-codex, was never called by the
    candidate before, but the recording saw it rate-limited until 12:00 (the 10:30 turn): the replay injects
    that failure, and the turn goes on to the overflow account."""
    report = replay_against(recorded, "late-office.yaml",
                            POLICY.replace("[9, OFFICE_END]", "[11, 17]").replace("[OFFICE_END, 9]", "[17, 11]"))
    by_hour = {int(d["at"][11:13]): d["candidate"] for d in report["differences"]}
    assert by_hour == {
        9: {"first": "openai-codex-2", "servedBy": "openai-codex-2", "ranOut": False, "retryAfter": None,
            "failed": [], "open": False, "error": None},
        10: {"first": "openai-codex-2", "servedBy": "openai-codex-2", "ranOut": False, "retryAfter": None,
             "failed": [], "open": False, "error": None},
        11: {"first": "openai-codex", "servedBy": "openai-codex-3", "ranOut": False, "retryAfter": None,
             "failed": ["openai-codex"], "open": False, "error": None},
    }


def test_a_broken_export_is_a_located_error(recorded: dict[str, Any]) -> None:
    bad = recorded["tmp"] / "bad.jsonl"
    bad.write_text('{"v": 1, "turn": "a", "op": "select", "t": 1}\nnot json\n', encoding="utf-8")
    run = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["candidate"], "--from", bad)
    assert run.returncode == 1 and f"{bad}:2: not a JSON line" in run.stderr
    missing = mp_policy("replay", "--agent-dir", recorded["agent"], "--from", bad)
    assert missing.returncode == 2 and "--policy" in missing.stderr


@pytest.mark.parametrize(("line", "problem"), [
    ('{"v": 1, "turn": "a", "op": "select", "request": {"pool": "codex"}}', "'t' must be a time"),
    ('{"v": 1, "turn": "a", "op": "select", "t": "abc"}', "'t' must be a time"),
    ('{"v": 1, "turn": "a", "op": "select", "t": 1e300}', "'t' must be a time"),
    ('{"v": 1, "turn": "a", "op": "select", "t": NaN}', "'t' must be a time"),
    ('{"v": 1, "turn": "a", "op": "select", "t": -1e12}', "'t' must be a time"),
    ('{"v": 1, "turn": "a", "op": "route", "t": 1}', "'op' must be one of select, fail, succeed"),
    ('{"v": 1, "turn": "a", "op": "select", "t": 1, "request": "main"}', "'request' must be an object"),
    ('{"v": 1, "turn": "a", "op": "select", "t": 1, "request": {"pool": 7}}', "'request.pool' must be a name"),
    ('{"v": 1, "turn": "a", "op": "fail", "t": 1, "error": {"status": "429"}}', "'error.status' must be an HTTP"),
    ('{"v": 1, "turn": "a", "op": "fail", "t": 1, "error": {"cooldownUntil": "soon"}}',
     "'error.cooldownUntil' 'soon' is not an ISO-8601 time"),
])
def test_an_entry_with_fields_the_engine_never_writes_is_a_located_error(recorded: dict[str, Any], line: str,
                                                                        problem: str) -> None:
    bad = recorded["tmp"] / "fields.jsonl"
    bad.write_text('{"v": 1, "turn": "b", "op": "select", "t": 1, "request": {"pool": "codex"}}\n' + line + "\n",
                   encoding="utf-8")
    run = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["candidate"], "--from", bad)
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert f"{bad}:2: not a trace entry as mp-policy writes it: {problem}" in run.stderr


def test_lines_that_are_no_entries_of_this_version_are_skipped_with_a_warning(recorded: dict[str, Any]) -> None:
    export = recorded["tmp"] / "mixed.jsonl"
    out = mp_policy("trace", "--agent-dir", recorded["agent"], "--state", recorded["state"], "--last", "1000",
                    "--format", "jsonl")
    export.write_text('[1, 2]\n42\n{}\n{"v": 2, "turn": "x"}\n' + out.stdout, encoding="utf-8")
    run = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["candidate"], "--from", export,
                    "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["turns"] == 24
    assert f"warning: {export}: skipped 4 line(s) that are not trace entries of this version (line 1, 2, 3, 4)" \
        in run.stderr


def test_a_candidate_without_the_recorded_route_reports_those_turns(recorded: dict[str, Any]) -> None:
    """Renaming a pool is a change people backtest: the turns that asked for it cannot be replayed, and say so."""
    report = replay_against(recorded, "renamed.yaml",
                            POLICY.replace("OFFICE_END", "17").replace("name: codex", "name: codex-accounts"))
    renamed = recorded["tmp"] / "renamed.yaml"
    assert report["turns"] == 24 and report["different"] == 24 and report["candidateCouldNot"] == 24
    assert report["differences"][0]["candidate"]["error"] == "there is no pool named 'codex'; known: codex-accounts"
    text = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", renamed, "--state", recorded["state"])
    assert "candidate could not replay it (there is no pool named 'codex'" in text.stdout
    assert "the candidate could not replay 24 turn(s)" in text.stdout


OVERLAY = """\
pools:
  - {name: work, baseProvider: openai-codex, members: [openai-codex-3]}
chains:
  - name: work
    entries: [{pool: work, model: gpt-5}]
"""


def test_a_turn_recorded_in_a_project_replays_with_that_projects_overlay(recorded: dict[str, Any]) -> None:
    project = recorded["tmp"] / "project"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text(OVERLAY, encoding="utf-8")
    clock = Clock()
    clock.at = MONDAY + timedelta(days=1, hours=10)
    with Engine.load(agent_dir=recorded["agent"], project=project, state=recorded["state"], env={}, clock=clock,
                     quota_refresh=False) as engine:
        work = engine.select(chain="work")
        engine.succeed(work.turn)
    assert work.target is not None and work.target.provider == "openai-codex-3"
    since = ("--since", "2026-11-24T00:00+00:00")
    same = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["agent"] / "multi-pass.yaml",
                     "--state", recorded["state"], *since, "--format", "json")
    assert same.returncode == 0, same.stderr
    report = json.loads(same.stdout)
    assert (report["turns"], report["different"]) == (1, 0)  # the chain exists in the project's overlay only

    (project / ".pi" / "multi-pass.yaml").write_text(OVERLAY.replace("members: [openai-codex-3]", "members: 7"),
                                                     encoding="utf-8")
    broken = mp_policy("replay", "--agent-dir", recorded["agent"], "--policy", recorded["agent"] / "multi-pass.yaml",
                       "--state", recorded["state"], *since, "--format", "json")
    assert broken.returncode == 0, broken.stderr
    (diff,) = json.loads(broken.stdout)["differences"]
    assert diff["turn"] == work.turn and diff["candidate"]["error"].startswith(f"project {project}: ")
    assert "multi-pass.yaml:2" in diff["candidate"]["error"]  # located: the overlay's line
