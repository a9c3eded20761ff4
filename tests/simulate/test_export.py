"""Tests of :mod:`policy_engine.simulate.export`: the JSON document and the CSV tables."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file, load_text
from policy_engine.simulate.event_reader import parse_events
from policy_engine.simulate.export import RUN_COLUMNS, STEP_COLUMNS, to_json, write_csv
from policy_engine.simulate.routes import RouteSpec
from policy_engine.simulate.run import SimulationResult, simulate

REPO = Path(__file__).resolve().parents[2]
VIENNA = ZoneInfo("Europe/Vienna")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=VIENNA)
ACCOUNTS = {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli"}


@pytest.fixture(scope="module")
def day() -> SimulationResult:
    """One demo day at 10-minute steps with a rate limit and an outage, on two routes."""
    engine = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml"), auth=ACCOUNTS)
    events = parse_events(load_text("""\
events:
  - {at: mon 10:30, fail: {provider: anthropic, status: 429, retryAfter: 1h}}
  - {at: mon 12:00, fail: {provider: google-gemini-cli, status: 529, retryAfter: 2h}}
""", "events.yaml"))
    return simulate(engine, [RouteSpec("chain", "main"), RouteSpec("pool", "gemini")], start=MONDAY,
                    period=timedelta(days=1), step=timedelta(minutes=10), script=events)


def test_json_document(day: SimulationResult) -> None:
    doc = json.loads(json.dumps(to_json(day)))  # JSON-able as it is
    assert {k: doc[k] for k in ("start", "end", "period", "step", "stepCount", "timezone", "mode")} == {
        "start": "2026-11-23T00:00:00+01:00", "end": "2026-11-24T00:00:00+01:00", "period": "1d", "step": "10m",
        "stepCount": 144, "timezone": "Europe/Vienna", "mode": "fast"}
    assert doc["policyRevision"] == day.revision and doc["evaluations"] == day.evaluations
    assert [r["route"] for r in doc["routes"]] == ["chain:main", "pool:gemini"]
    assert doc["routes"][1] == {"route": "pool:gemini", "kind": "pool", "name": "gemini", "model": None,
                                "perStep": False, "accounts": ["google-gemini-cli"],
                                "share": {"google-gemini-cli": 132, "none": 12}}
    assert doc["runs"][1] == {
        "route": "chain:main", "start": "2026-11-23T10:30:00+01:00", "end": "2026-11-24T00:00:00+01:00",
        "seconds": 48600, "provider": "anthropic-2", "model": "claude-sonnet-4-5", "pool": "claude", "chain": "main",
        "preset": None, "entry": 0, "via": "chain", "retryAfter": None,
        "reason": "anthropic: 429 rate_limit, cooling down until Mon 11:30"}
    outage = doc["runs"][3]
    assert (outage["provider"], outage["retryAfter"], outage["seconds"]) == (None, "2026-11-23T14:00:00+01:00", 7200)
    assert [e["action"] for e in doc["events"]] == ["fail anthropic 429", "fail google-gemini-cli 529"]
    assert doc["events"][0]["origin"] == "events.yaml:2"
    assert {c["kind"] for c in doc["changes"]} >= {"fail", "cooldown-end", "window-open", "window-close"}
    assert "perStep" not in doc


def test_json_per_step(day: SimulationResult) -> None:
    steps = to_json(day, per_step=True)["perStep"]
    assert len(steps) == 144 * 2
    assert steps[63] == {"at": "2026-11-23T10:30:00+01:00", "route": "chain:main", "provider": "anthropic-2",
                         "model": "claude-sonnet-4-5", "pool": "claude", "chain": "main", "preset": None, "entry": 0,
                         "via": "chain", "retryAfter": None}
    assert steps[144 + 72]["provider"] is None and steps[144 + 72]["at"] == "2026-11-23T12:00:00+01:00"


def test_csv_per_run_and_per_step(day: SimulationResult) -> None:
    out = io.StringIO()
    write_csv(day, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(RUN_COLUMNS)
    assert len(rows) == len(day.runs["chain:main"]) + len(day.runs["pool:gemini"]) == 5
    assert rows[3]["provider"] == "" and rows[3]["retryAfter"] == "2026-11-23T14:00:00+01:00"
    assert sum(int(r["seconds"]) for r in rows if r["route"] == "pool:gemini") == 86400
    out = io.StringIO()
    write_csv(day, out, per_step=True)
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(STEP_COLUMNS)
    assert len(lines) == 1 + 144 * 2
    assert lines[1] == "2026-11-23T00:00:00+01:00,chain:main,anthropic,claude-sonnet-4-5,claude,main,,0,chain,"
