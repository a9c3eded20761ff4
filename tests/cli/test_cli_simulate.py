"""End-to-end tests of ``mp-policy simulate``: text, JSON, CSV, charts, event scripts, state, usage errors."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cli_support import DEMO, STATE_FILE, Cli, file_signature, invoke, make_cooldown_state

MONDAY = "2026-11-23T00:00"
DEMO_ARGS = ("--agent-dir", str(DEMO), "--project", str(DEMO), "--start", MONDAY)
EXAMPLE = DEMO / "events.example.yaml"
VIENNA = ZoneInfo("Europe/Vienna")


def events_file(tmp_path: Path, text: str) -> Path:
    """An event script in ``tmp_path``."""
    path = tmp_path / "events.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- output ----------------------------------------------------------------------------------------------


def test_text_timeline_of_the_demo_week() -> None:
    run = invoke("simulate", *DEMO_ARGS, "--events", EXAMPLE)
    assert run.returncode == 0, run.describe()
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert lines[0].startswith("simulation Mon 2026-11-23 00:00 → Mon 2026-11-30 00:00 Europe/Vienna (7d, step 1m)")
    assert lines[1].startswith("6 route(s), 15 event(s), ")
    out = run.stdout
    for route in ("chain:main", "preset:coding-premium", "preset:coding-budget", "pool:claude", "pool:codex",
                  "pool:gemini"):
        assert f"\n{route}  (" in out, route
    assert ("  Mon 11-23 10:30 – Tue 11-24 14:00    1d3h30m  anthropic-2 · claude-sonnet-4-5  "
            "anthropic: 429 rate_limit, cooling down until Mon 11:15") in out
    assert "  Sat 11-28 15:00 –           18:00         3h  none (retry after Sat 18:00)" in out
    assert "  Mon 11-23 AAAAAAAAAAABBBBBBBBBBBBB" in out  # chain:main's grid: A until 10:30, then B
    assert out.rstrip().splitlines()[-1].startswith("legend: A anthropic  B anthropic-2  C openai-codex")


def test_json(tmp_path: Path) -> None:
    run = invoke("simulate", *DEMO_ARGS, "--events", EXAMPLE, "--period", "2d", "--format", "json",
                 "--route", "chain:main", "--route", "pool:codex@gpt-5")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert (data["start"], data["end"], data["stepCount"]) == ("2026-11-23T00:00:00+01:00",
                                                               "2026-11-25T00:00:00+01:00", 2880)
    assert [r["route"] for r in data["routes"]] == ["chain:main", "pool:codex@gpt-5"]
    codex = [r for r in data["runs"] if r["route"] == "pool:codex@gpt-5"]
    assert [(r["start"][11:16], r["provider"], r["model"]) for r in codex[:3]] == [
        ("00:00", "openai-codex-2", "gpt-5"), ("09:00", "openai-codex", "gpt-5"), ("16:09", "openai-codex-3", "gpt-5")]
    assert "quota is used up" in codex[2]["reason"]
    assert sum(r["seconds"] for r in codex) == 2 * 86400
    assert len(data["events"]) == 5  # the events of Monday and Tuesday
    assert "perStep" not in data


def test_csv_per_run_and_per_step() -> None:
    run = invoke("simulate", *DEMO_ARGS, "--period", "1d", "--step", "15m", "--format", "csv")
    assert run.returncode == 0, run.describe()
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert {r["route"] for r in rows} == {"chain:main", "preset:coding-premium", "preset:coding-budget",
                                          "pool:claude", "pool:codex", "pool:gemini"}
    codex = [(r["start"], r["end"], r["provider"]) for r in rows if r["route"] == "pool:codex"]
    assert codex == [("2026-11-23T00:00:00+01:00", "2026-11-23T09:00:00+01:00", "openai-codex-2"),
                     ("2026-11-23T09:00:00+01:00", "2026-11-23T17:00:00+01:00", "openai-codex"),
                     ("2026-11-23T17:00:00+01:00", "2026-11-24T00:00:00+01:00", "openai-codex-2")]
    per_step = invoke("simulate", *DEMO_ARGS, "--period", "1d", "--step", "15m", "--format", "csv", "--per-step",
                      "--route", "pool:codex")
    lines = per_step.stdout.splitlines()
    assert lines[0] == "at,route,provider,model,pool,chain,preset,entry,via,retryAfter"
    assert len(lines) == 1 + 96
    assert lines[37].startswith("2026-11-23T09:00:00+01:00,pool:codex,openai-codex,")


def test_json_per_step() -> None:
    run = invoke("simulate", *DEMO_ARGS, "--period", "2h", "--step", "30m", "--format", "json", "--per-step",
                 "--route", "chain:main")
    steps = run.json()["perStep"]
    assert [s["at"][11:16] for s in steps] == ["00:00", "00:30", "01:00", "01:30"]
    assert {s["provider"] for s in steps} == {"anthropic"}


def test_a_png_chart(cli: Cli, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the chart needs the optional extra mp-policy[plot]")
    chart = tmp_path / "charts" / "week.png"
    run = cli("simulate", *DEMO_ARGS, "--events", EXAMPLE, "--plot", chart, "--format", "json")
    assert run.returncode == 0, run.describe()
    assert run.json()["stepCount"] == 10080  # stdout stays pure JSON
    assert run.stderr.strip() == f"chart written to {chart}"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_chart_must_be_svg_or_png(tmp_path: Path) -> None:
    run = invoke("simulate", *DEMO_ARGS, "--plot", tmp_path / "week.jpg")
    assert run.returncode == 2
    assert "'week.jpg': the chart's file name must end in .svg or .png" in run.stderr
    assert not (tmp_path / "week.jpg").exists()


# -- the event script ----------------------------------------------------------------------------------------


def test_the_scripts_defaults_and_the_options_that_win(tmp_path: Path) -> None:
    script = events_file(tmp_path, """\
start: 2026-11-24T06:00
period: 6h
step: 30m
routes: [pool:claude]
events:
  - {at: +1h, fail: {provider: anthropic, status: 429, retryAfter: 2h}}
""")
    run = invoke("simulate", "--agent-dir", DEMO, "--project", DEMO, "--events", script, "--format", "json")
    data = run.json()
    assert (data["start"], data["end"], data["step"]) == ("2026-11-24T06:00:00+01:00", "2026-11-24T12:00:00+01:00",
                                                          "30m")
    assert [r["route"] for r in data["routes"]] == ["pool:claude"]
    assert [(r["start"][11:16], r["provider"]) for r in data["runs"]] == [("06:00", "anthropic"),
                                                                          ("07:00", "anthropic-2")]
    run = invoke("simulate", *DEMO_ARGS, "--events", script, "--period", "1h", "--step", "20m", "--route",
                 "pool:gemini", "--format", "json")
    data = run.json()
    assert (data["start"], data["stepCount"]) == ("2026-11-23T00:00:00+01:00", 3)
    assert [r["route"] for r in data["routes"]] == ["pool:gemini"]
    assert "outside-period" in run.stderr  # the +1h event of a 1h period


def test_a_scripts_relative_start_counts_from_now(tmp_path: Path) -> None:
    script = events_file(tmp_path, "start: mon 09:00\nperiod: 1h\nroutes: [pool:gemini]\n")
    run = invoke("simulate", "--agent-dir", DEMO, "--project", DEMO, "--events", script, "--format", "json")
    assert run.returncode == 0, run.describe()
    start = datetime.fromisoformat(run.json()["start"])
    assert (start.weekday(), start.hour, start.minute) == (0, 9, 0)
    assert -timedelta(minutes=2) < start - datetime.now(VIENNA) <= timedelta(days=7)  # the next Monday 09:00


def test_an_invalid_script_lists_every_problem_with_its_place(tmp_path: Path) -> None:
    script = events_file(tmp_path, "events:\n  - {at: tue 10:30, fial: {provider: anthropic}}\n"
                                   "  - {at: someday, logout: anthropic}\n")
    run = invoke("simulate", *DEMO_ARGS, "--events", script)
    assert run.returncode == 1
    assert run.stdout == ""
    assert f"{script}:2:21: unknown-key: unknown key 'fial' in event 0 (at $.events[0].fial)" in run.stderr
    assert "hint: did you mean 'fail'?" in run.stderr
    assert f"{script}:3:10: time: 'someday' is not a time" in run.stderr
    assert run.stderr.rstrip().endswith("invalid event script: 3 error(s)")
    as_json = invoke("simulate", *DEMO_ARGS, "--events", script, "--format", "json")
    assert as_json.returncode == 1
    data = as_json.json()
    assert data["valid"] is False and len(data["diagnostics"]) == 3
    assert data["diagnostics"][0]["path"] == "$.events[0]"


def test_a_script_naming_accounts_the_policy_lacks(tmp_path: Path) -> None:
    script = events_file(tmp_path, "events:\n  - {at: +1h, fail: {provider: anthropic-3}}\n")
    run = invoke("simulate", *DEMO_ARGS, "--events", script)
    assert run.returncode == 1
    assert "unknown-account: 'anthropic-3' is not an account of this policy (at $.events[0].fail.provider)" \
           in run.stderr
    assert "hint: did you mean 'anthropic-2'?" in run.stderr


def test_a_missing_script_is_a_usage_error(tmp_path: Path) -> None:
    run = invoke("simulate", *DEMO_ARGS, "--events", tmp_path / "nope.yaml")
    assert run.returncode == 2 and "does not exist" in run.stderr


# -- state --------------------------------------------------------------------------------------------------


def test_it_starts_from_the_stores_state_unless_fresh_and_never_writes_it(cli: Cli, agent: Path,
                                                                          tmp_path: Path) -> None:
    db = tmp_path / STATE_FILE
    at = datetime(2026, 11, 24, 10, 30, tzinfo=VIENNA)
    make_cooldown_state(db, at=at, retry_after=3600)  # anthropic cools down until 11:30; cursor on anthropic-2
    before = file_signature(db)
    base = ("simulate", "--agent-dir", agent, "--project", agent, "--state", f"sqlite:///{db}",
            "--start", "2026-11-24T10:30", "--period", "2h", "--route", "pool:claude", "--format", "json")
    seeded, fresh = cli.many([(base, {}), ((*base, "--fresh"), {})])
    assert [(r["start"][11:16], r["provider"]) for r in seeded.json()["runs"]] == [("10:30", "anthropic-2")]
    assert [(r["start"][11:16], r["provider"]) for r in fresh.json()["runs"]] == [("10:30", "anthropic")]
    assert file_signature(db) == before


# -- time ---------------------------------------------------------------------------------------------------


def test_the_default_start_is_now_rounded_down_to_the_minute() -> None:
    run = invoke("simulate", "--agent-dir", DEMO, "--project", DEMO, "--period", "10m", "--format", "json")
    start = datetime.fromisoformat(run.json()["start"])
    assert start.second == 0 and start.microsecond == 0
    assert abs(datetime.now(VIENNA) - start) < timedelta(minutes=2)
    assert start.utcoffset() == datetime.now(VIENNA).utcoffset()


def test_start_keywords() -> None:
    today = datetime.now(VIENNA).date()
    starts = {}
    for word in ("today", "week"):
        run = invoke("simulate", "--agent-dir", DEMO, "--project", DEMO, "--start", word, "--period", "10m",
                     "--format", "json")
        starts[word] = datetime.fromisoformat(run.json()["start"])
    assert starts["today"].replace(tzinfo=None) == datetime.combine(today, datetime.min.time())
    assert starts["week"].date() == today - timedelta(days=today.weekday())
    assert (starts["week"].hour, starts["week"].minute) == (0, 0)


# -- usage errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (("--route", "chain:mian"), "there is no chain named 'mian'; did you mean 'main'?"),
    (("--route", "main"), "is not a route: write KIND:NAME"),
    (("--period", "forever"), "expected a duration"),
    (("--period", "0"), "must be more than 0"),
    (("--step", "500ms"), "the step must be at least 1s"),
    (("--period", "30s"), "is shorter than one step"),
    (("--start", "someday"), "or now, today (00:00) or week"),
    (("--per-step",), "--per-step goes with --format json or csv"),
    (("--period", "3000d", "--step", "1s"), "too many"),
    (("--format", "dot"), "'dot' is not one of 'text', 'json', 'csv'"),
])
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    run = invoke("simulate", "--agent-dir", DEMO, "--project", DEMO, *args)
    assert run.returncode == 2, run.describe()
    assert message in run.stderr


def test_an_invalid_policy_exits_1(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.yaml"
    policy.write_text("pools:\n  - {name: a, baseProvider: anthropic, members: [anthropic], strategy: fastest}\n",
                      encoding="utf-8")
    run = invoke("simulate", "--agent-dir", tmp_path, "--project", tmp_path)
    assert run.returncode == 1
    assert "unknown-strategy" in run.stderr


def test_a_policy_with_nothing_to_simulate(tmp_path: Path) -> None:
    run = invoke("simulate", "--agent-dir", tmp_path, "--project", tmp_path)
    assert run.returncode == 2
    assert "nothing to simulate" in run.stderr and "--route provider:NAME" in run.stderr
    ok = invoke("simulate", "--agent-dir", tmp_path, "--project", tmp_path, "--route", "provider:anthropic",
                "--period", "1h", "--format", "json")
    assert ok.returncode == 0 and ok.json()["runs"][0]["provider"] is None  # not logged in


def test_help_documents_the_semantics(cli: Cli) -> None:
    run = cli("simulate", "--help")
    assert run.returncode == 0
    for phrase in ("Engine.select as a dry run", "never moves a round-robin cursor", "through the engine's real fail",
                   "custom or plugin strategy are evaluated at every step", "--per-step", "mp-policy[plot]",
                   "Examples:", "mp-policy simulate --start week"):
        assert phrase in run.stdout, phrase
