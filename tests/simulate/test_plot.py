"""Tests of :mod:`policy_engine.simulate.plot`: real PNG and SVG charts, and the errors."""

from __future__ import annotations

import importlib.util
import struct
import sys
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file
from policy_engine.simulate.event_reader import load_events
from policy_engine.simulate.plot import PlotError, plot_simulation
from policy_engine.simulate.routes import default_routes
from policy_engine.simulate.run import SimulationResult, simulate

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="the chart needs the optional extra mp-policy[plot]")

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "policies" / "demo"
VIENNA = ZoneInfo("Europe/Vienna")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=VIENNA)
ACCOUNTS = {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli"}


@pytest.fixture(scope="module")
def week() -> SimulationResult:
    """The demo week with the example events, on every route."""
    engine = Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), auth=ACCOUNTS)
    return simulate(engine, default_routes(engine.graph), start=MONDAY, period=timedelta(days=7),
                    script=load_events(DEMO / "events.example.yaml"))


@needs_matplotlib
def test_png(week: SimulationResult, tmp_path: Path) -> None:
    path = plot_simulation(week, tmp_path / "out" / "week.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1800 and 400 <= height <= 900  # 15 in at 120 dpi; one lane per route


@needs_matplotlib
def test_svg_names_routes_accounts_and_days(week: SimulationResult, tmp_path: Path) -> None:
    path = plot_simulation(week, tmp_path / "week.SVG")
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = path.read_text(encoding="utf-8")
    for label in ("chain:main", "preset:coding-budget", "pool:gemini", "anthropic-2", "openai-codex-3",
                  "google-gemini-cli", "nothing usable", "failure (event)", "Mon 23 Nov", "Sun 29 Nov",
                  "Europe/Vienna"):
        assert label in text, label


@needs_matplotlib
def test_short_periods_get_hour_ticks(tmp_path: Path) -> None:
    engine = Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), auth=ACCOUNTS)
    result = simulate(engine, default_routes(engine.graph)[:1], start=MONDAY, period=timedelta(hours=12))
    text = plot_simulation(result, tmp_path / "day.svg").read_text(encoding="utf-8")
    assert "Mon 03:00" in text and "Mon 09:00" in text
    assert "nothing usable" not in text  # no gap, no legend entry


def test_other_suffixes_are_refused(week: SimulationResult, tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"must end in \.svg or \.png"):
        plot_simulation(week, tmp_path / "week.pdf")
    assert not (tmp_path / "week.pdf").exists()


def test_without_matplotlib_the_error_says_how_to_install_it(week: SimulationResult, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib...` raise ImportError
    with pytest.raises(PlotError, match=r"pip install matplotlib \(mp-policy's extra \[plot\]"):
        plot_simulation(week, tmp_path / "week.png")
