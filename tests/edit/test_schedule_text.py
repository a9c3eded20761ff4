"""Human schedule text → policy windows: what is accepted, what it means to the engine, what is refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.edit.schedule_text import FORMS_HINT, ScheduleTextError, format_window, parse_window
from policy_engine.policy.schedule import Schedule

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
ALL_DAYS = [*WEEKDAYS, "sat", "sun"]
VIENNA = ZoneInfo("Europe/Vienna")


@pytest.mark.parametrize(("text", "window"), [
    ("9-17 mon-fri", {"hours": [9, 17], "days": WEEKDAYS}),
    ("mon-fri 9-17", {"hours": [9, 17], "days": WEEKDAYS}),
    ("09:00-18:00", {"hours": [9, 18]}),
    ("9:00 - 18:00", {"hours": [9, 18]}),
    ("mon-sun", {"days": ALL_DAYS}),
    ("tue-mon", {"days": ALL_DAYS}),
    ("2026-06-01..2026-06-30", {"dateRange": {"from": "2026-06-01", "to": "2026-06-30"}}),
    ("2026-06-01..", {"dateRange": {"from": "2026-06-01"}}),
    ("..2026-06-30", {"dateRange": {"to": "2026-06-30"}}),
    ("2026-06-01", {"dateRange": {"from": "2026-06-01", "to": "2026-06-01"}}),
    ("22-6", {"hours": [22, 6]}),
    ("0-24 sat", {"hours": [0, 24], "days": ["sat"]}),
    ("9am-5pm weekdays", {"hours": [9, 17], "days": WEEKDAYS}),
    ("9 am - 5 pm", {"hours": [9, 17]}),
    ("9pm-12am", {"hours": [21, 24]}),
    ("12am-6am", {"hours": [0, 6]}),
    ("9 to 17", {"hours": [9, 17]}),
    ("9-17, sat,sun", {"hours": [9, 17], "days": ["sat", "sun"]}),
    ("weekends 10-14", {"hours": [10, 14], "days": ["sat", "sun"]}),
    ("Monday-Friday 9-17", {"hours": [9, 17], "days": WEEKDAYS}),
    ("fri-mon 22-6", {"hours": [22, 6], "days": ["mon", "fri", "sat", "sun"]}),
    ("wed mon", {"days": ["mon", "wed"]}),
    ("daily 8-12", {"hours": [8, 12], "days": ALL_DAYS}),
    ("9-17 mon-fri 2026-06-01..2026-06-30",
     {"hours": [9, 17], "days": WEEKDAYS, "dateRange": {"from": "2026-06-01", "to": "2026-06-30"}}),
    ("cron 0 17 * * * for 16h", {"cron": "0 17 * * *", "duration": "16h"}),
    ("cron: 0 22 * * fri for 10h 2026-01-01..2026-12-31",
     {"cron": "0 22 * * fri", "duration": "10h", "dateRange": {"from": "2026-01-01", "to": "2026-12-31"}}),
])
def test_accepted_forms(text: str, window: dict[str, Any]) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize(("text", "message"), [
    ("", "an empty window"),
    ("   ", "an empty window"),
    ("09:30-18:00", "whole hours"),
    ("9-9", "never opens"),
    ("17-17", "never opens"),
    ("foo", "cannot read 'foo'"),
    ("9", "needs a start and an end"),
    ("9-25", "ends at an hour from 0 to 24"),
    ("24-3", "starts at an hour from 0 to 23"),
    ("13pm-2pm", "am/pm hours are 1 to 12"),
    ("mon-xyz", "'xyz' is not a day"),
    ("2026-06-31..", "2026-06-31 is not a date"),
    ("2026-07-01..2026-06-01", "ends before it starts"),
    ("2026-6-1..2026-6-30", "YYYY-MM-DD"),
    ("9-17 10-12", "two hour ranges"),
    ("2026-01-01..2026-01-31 2026-03-01..2026-03-31", "two date ranges"),
    ("cron 0 17 * * *", "needs a duration"),
    ("cron 0 99 * * * for 1h", "not a valid cron expression"),
    ("cron 0 17 * * for 1h", "five fields"),
    ("cron 0 17 * * * for soon", "not a duration"),
    ("9-17 mon-fri lunch", "cannot read 'lunch'"),
])
def test_unreadable_text_is_an_error_never_an_always_open_window(text: str, message: str) -> None:
    with pytest.raises(ScheduleTextError) as caught:
        parse_window(text)
    assert message in caught.value.message
    assert caught.value.hint  # every error says what to write instead


def test_the_default_hint_lists_the_accepted_forms() -> None:
    with pytest.raises(ScheduleTextError) as caught:
        parse_window("whenever")
    assert caught.value.hint == FORMS_HINT
    for form in ("9-17", "09:00-18:00", "mon-fri", "2026-06-01..2026-06-30", "cron"):
        assert form in FORMS_HINT


@pytest.mark.parametrize(("text", "moment", "active"), [
    ("9-17 mon-fri", datetime(2026, 11, 24, 10, 30, tzinfo=VIENNA), True),   # a Tuesday morning
    ("9-17 mon-fri", datetime(2026, 11, 24, 17, 0, tzinfo=VIENNA), False),   # [start, end): 17:00 is out
    ("9-17 mon-fri", datetime(2026, 11, 28, 10, 30, tzinfo=VIENNA), False),  # Saturday
    ("mon-sun", datetime(2026, 11, 29, 3, 0, tzinfo=VIENNA), True),          # Sunday night: the whole week
    ("22-6", datetime(2026, 11, 25, 2, 0, tzinfo=VIENNA), True),             # past midnight
    ("22-6", datetime(2026, 11, 25, 12, 0, tzinfo=VIENNA), False),
    ("2026-06-01..2026-06-30", datetime(2026, 6, 30, 23, 0, tzinfo=VIENNA), True),   # inclusive
    ("2026-06-01..2026-06-30", datetime(2026, 7, 1, 0, 30, tzinfo=VIENNA), False),
    ("cron 0 17 * * * for 16h", datetime(2026, 11, 25, 8, 59, tzinfo=VIENNA), True),
    ("cron 0 17 * * * for 16h", datetime(2026, 11, 25, 9, 1, tzinfo=VIENNA), False),
])
def test_the_engine_reads_the_window_as_meant(text: str, moment: datetime, active: bool) -> None:
    schedule = Schedule.from_windows([parse_window(text)], VIENNA)
    assert schedule.is_active(moment) is active


@pytest.mark.parametrize("text", ["9-17 mon-fri", "22-6", "mon-sun", "2026-06-01..2026-06-30", "sat,sun 0-24",
                                  "cron 0 17 * * * for 16h", "mon,wed 8-12 2026-01-01..", "fri-mon"])
def test_format_window_reads_back_to_the_same_window(text: str) -> None:
    window = parse_window(text)
    assert parse_window(format_window(window)) == window


def test_format_window_compacts_day_runs() -> None:
    assert format_window({"hours": [9, 17], "days": WEEKDAYS}) == "9-17 mon-fri"
    assert format_window({"days": ["sat", "sun"]}) == "sat,sun"
    assert format_window({"days": ["mon-fri"]}) == "mon-fri"
    assert format_window({}) == "always"
