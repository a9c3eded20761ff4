"""Tests of :mod:`policy_engine.simulate.timeline`: the compact text timeline and the hours grid."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file, load_text
from policy_engine.simulate.event_reader import parse_events
from policy_engine.simulate.routes import RouteSpec
from policy_engine.simulate.run import SimulationResult, simulate
from policy_engine.simulate.timeline import hour_cells, hour_grid, letters, render_timeline

REPO = Path(__file__).resolve().parents[2]
VIENNA = ZoneInfo("Europe/Vienna")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=VIENNA)
ACCOUNTS = {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli"}
EVENTS = """\
events:
  - {at: tue 10:30, fail: {provider: anthropic, status: 429, message: rate_limit_error, retryAfter: 1h}}
  - {at: wed 12:00, fail: {provider: google-gemini-cli, status: 529, retryAfter: 3h}}
"""


@pytest.fixture(scope="module")
def week() -> SimulationResult:
    """The demo week with two failures, on three routes."""
    engine = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml"), auth=ACCOUNTS)
    routes = [RouteSpec("chain", "main"), RouteSpec("pool", "codex"), RouteSpec("pool", "gemini")]
    return simulate(engine, routes, start=MONDAY, period=timedelta(days=7),
                    script=parse_events(load_text(EVENTS, "events.yaml")))


def test_runs_are_lines_with_times_length_target_and_reason(week: SimulationResult) -> None:
    text = render_timeline(week)
    lines = text.splitlines()
    assert lines[0] == ("simulation Mon 2026-11-23 00:00 → Mon 2026-11-30 00:00 Europe/Vienna (7d, step 1m) · "
                        f"policy {week.revision}")
    assert lines[1].startswith("3 route(s), 2 event(s), ")
    chain = text.split("\nchain:main  ", 1)[1].split("\n\n", 1)[0].splitlines()
    assert chain[0] == "(anthropic-2 79%, anthropic 21%)"
    assert chain[1] == ("  Mon 11-23 00:00 – Tue 11-24 10:30   1d10h30m  anthropic · claude-sonnet-4-5    "
                        "start of the simulation")
    assert chain[2] == ("  Tue 11-24 10:30 – Mon 11-30 00:00   5d13h30m  anthropic-2 · claude-sonnet-4-5  "
                        "anthropic: 429 rate_limit, cooling down until Tue 11:30")
    gemini = text.split("\npool:gemini  ", 1)[1].split("\n\n", 1)[0].splitlines()
    assert gemini[0] == "(google-gemini-cli 98%, none 2%)"
    assert gemini[2] == ("  Wed 11-25 12:00 –           15:00         3h  none (retry after Wed 15:00)  "
                         "google-gemini-cli: 529 overloaded, cooling down until Wed 15:00")


def test_the_grid_has_a_letter_per_hour_and_a_legend(week: SimulationResult) -> None:
    chars = letters(week)
    assert chars == {"anthropic": "A", "anthropic-2": "B", "openai-codex-2": "C", "openai-codex": "D",
                     "openai-codex-3": "E", "google-gemini-cli": "F"}  # in order of first use, route by route
    rows = hour_grid(week, "pool:codex", chars)
    assert rows is not None and len(rows) == 8  # header + 7 days
    assert rows[0].split() == ["0", "6", "12", "18"]
    assert rows[1] == "  Mon 11-23 " + "C" * 9 + "D" * 8 + "C" * 7
    assert rows[6] == "  Sat 11-28 " + "C" * 9 + "E" * 8 + "C" * 7  # weekend: overflow between the windows
    gemini = hour_grid(week, "pool:gemini", chars)
    assert gemini is not None and gemini[3] == "  Wed 11-25 " + "F" * 12 + "···" + "F" * 9
    text = render_timeline(week)
    assert "legend: A anthropic  B anthropic-2  C openai-codex-2  D openai-codex  E openai-codex-3  " \
           "F google-gemini-cli" in text
    assert "· nothing usable" in text


def test_limit_and_no_grid(week: SimulationResult) -> None:
    text = render_timeline(week, limit=2, grid=False)
    assert "  … 13 more run(s) (--limit, or --format json / csv for all)" in text
    assert "legend:" not in text and "Mon 11-23 CCC" not in text


def test_a_grid_row_per_local_day_across_dst_and_none_for_long_periods() -> None:
    engine = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml"), auth=ACCOUNTS)
    start = datetime(2026, 10, 24, 0, 0, tzinfo=VIENNA)  # the night of the 25th has 25 hours
    result = simulate(engine, [RouteSpec("pool", "codex")], start=start, period=timedelta(days=2),
                      step=timedelta(minutes=30))
    assert result.span == timedelta(hours=49)
    rows = hour_grid(result, "pool:codex", letters(result))
    assert rows is not None and [r[2:11] for r in rows[1:]] == ["Sat 10-24", "Sun 10-25"]
    assert [len(r) for r in rows[1:]] == [12 + 24, 12 + 24]  # the 25-hour day still has one cell per hour
    long = simulate(engine, [RouteSpec("pool", "gemini")], start=start, period=timedelta(days=40),
                    step=timedelta(hours=1))
    assert hour_grid(long, "pool:gemini", letters(long)) is None
    coarse = simulate(engine, [RouteSpec("pool", "gemini")], start=start, period=timedelta(days=2),
                      step=timedelta(hours=2))
    assert hour_grid(coarse, "pool:gemini", letters(coarse)) is None


def test_per_step_routes_are_marked(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("def select(ctx):\n    return None\n", encoding="utf-8")
    engine = Engine.from_documents({"pools": [{"name": "c", "baseProvider": "anthropic", "members": ["anthropic"],
                                               "strategy": "custom", "selectorScript": str(script)}]},
                                   auth={"anthropic"})
    result = simulate(engine, [RouteSpec("pool", "c")], start=MONDAY, period=timedelta(hours=1),
                      step=timedelta(minutes=20))
    assert "(a custom or plugin strategy on this route: evaluated at every step)" in render_timeline(result)
    assert result.evaluations == 3


def _grid_step_by_step(result: SimulationResult, route: str, chars: dict[str, str]) -> list[str]:
    """The grid as one lookup per step would draw it (the reference for the one-pass-per-run grid)."""
    from collections import Counter

    cells: dict[tuple[Any, int], Counter[str | None]] = {}
    for index, outcome in result.per_step(route):
        local = result.time_of(index)
        cells.setdefault((local.date(), local.hour), Counter())[outcome.provider] += 1
    rows = []
    day, last = result.start.date(), (result.end - timedelta(microseconds=1)).date()
    while day <= last:
        line = ""
        for hour in range(24):
            counter = cells.get((day, hour))
            provider = counter.most_common(1)[0][0] if counter else " "
            line += " " if not counter else "·" if provider is None else chars.get(provider, "?")
        rows.append(f"  {day:%a %m-%d} " + line.rstrip())
        day += timedelta(days=1)
    return rows


@pytest.mark.parametrize(("zone", "start", "step"), [
    ("Europe/Vienna", datetime(2026, 10, 24, 0, 13), timedelta(minutes=7)),  # autumn: 02:00 twice
    ("Europe/Vienna", datetime(2026, 3, 28, 22, 0), timedelta(seconds=97)),  # spring: no 02:00
    ("Asia/Kolkata", datetime(2026, 11, 23, 5, 29), timedelta(minutes=13)),  # +05:30
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 0, 0), timedelta(minutes=10)),  # a 30-minute DST change
    ("UTC", datetime(2026, 11, 23, 0, 0, 30), timedelta(hours=1)),
])
def test_the_grid_is_what_a_lookup_per_step_gives(zone: str, start: datetime, step: timedelta) -> None:
    """Cells are cut from runs with a few time conversions per hour; the result is the per-step one."""
    tz = ZoneInfo(zone)
    policy = load_file(REPO / "policies" / "demo" / "multi-pass.yaml").data
    engine = Engine.from_documents({**policy, "settings": {"timezone": zone}}, auth=ACCOUNTS)
    events = parse_events(load_text(EVENTS.replace("tue 10:30", "+5h").replace("wed 12:00", "+31h"), "e.yaml"))
    result = simulate(engine, [RouteSpec("chain", "main"), RouteSpec("pool", "codex"), RouteSpec("pool", "gemini")],
                      start=start.replace(tzinfo=tz), period=timedelta(days=3), step=step, script=events)
    chars = letters(result)
    cells = hour_cells(result)
    for route in ("chain:main", "pool:codex", "pool:gemini"):
        rows = hour_grid(result, route, chars, cells)
        assert rows is not None and rows[1:] == _grid_step_by_step(result, route, chars), route
    assert [key for _, key in cells] == list(dict.fromkeys(
        (result.time_of(i).date(), result.time_of(i).hour) for i in range(result.steps)))
