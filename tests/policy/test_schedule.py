"""Schedules: windows, days, date ranges, cron windows, contiguity and DST (DESIGN §3, §4)."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import CroniterBadDateError, croniter

from policy_engine.policy.schedule import HORIZON_DAYS, Schedule, ScheduleState, Window, parse_days

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
HOUR = timedelta(hours=1)


def at(text: str) -> datetime:
    """An aware datetime from ISO text (with its offset)."""
    return datetime.fromisoformat(text)


def same(got: datetime | None, expected: str) -> bool:
    """Whether ``got`` is the instant written in ``expected``."""
    return got is not None and got.timestamp() == at(expected).timestamp()


def expect(schedule: Schedule, now: str, active: bool, until: str | None) -> None:
    """Check ``schedule.state(now)``, comparing instants."""
    state = schedule.state(at(now))
    assert state.active is active
    if until is None:
        assert state.until is None
    else:
        assert same(state.until, until), f"{state.until} != {until}"


def real(start: datetime, end: datetime) -> timedelta:
    """Elapsed time between two instants."""
    return timedelta(seconds=end.timestamp() - start.timestamp())


def sched(*windows: dict, tz: ZoneInfo = VIENNA) -> Schedule:
    """A schedule of the given window mappings (Vienna unless told)."""
    return Schedule.from_windows(list(windows), tz)


def occ(window: dict, start: str, end: str, tz: ZoneInfo = VIENNA) -> list[tuple[datetime, datetime]]:
    """A window's occurrences as UTC pairs, so that they compare and subtract as instants."""
    got = Window.from_dict(window).occurrences(at(start), at(end), tz)
    return [(o.astimezone(UTC), c.astimezone(UTC)) for o, c in got]


# --------------------------------------------------------------- conformance (scheduled.test.yaml)

OFFICE = {"hours": [9, 17], "days": ["mon", "tue", "wed", "thu", "fri"]}
EVENING = {"hours": [17, 9]}
FRIDAY_NIGHT = {"cron": "0 22 * * fri", "duration": "10h"}


def test_office_hours_active_on_a_tuesday_morning() -> None:
    expect(sched(OFFICE), "2026-11-24T10:30:00+01:00", True, "2026-11-24T17:00:00+01:00")


def test_office_hours_in_the_evening_open_next_morning() -> None:
    expect(sched(OFFICE), "2026-11-24T20:00:00+01:00", False, "2026-11-25T09:00:00+01:00")


def test_office_hours_on_saturday_open_on_monday() -> None:
    expect(sched(OFFICE), "2026-11-28T10:30:00+01:00", False, "2026-11-30T09:00:00+01:00")


def test_wrapping_window_closed_in_the_morning_opens_at_17() -> None:
    expect(sched(EVENING), "2026-11-24T10:30:00+01:00", False, "2026-11-24T17:00:00+01:00")
    expect(sched(EVENING), "2026-11-28T10:30:00+01:00", False, "2026-11-28T17:00:00+01:00")


def test_wrapping_window_in_the_evening_lasts_until_next_morning() -> None:
    expect(sched(EVENING), "2026-11-24T20:00:00+01:00", True, "2026-11-25T09:00:00+01:00")


def test_of_two_members_the_one_closing_first_is_known() -> None:
    burn_1, burn_2 = sched({"hours": [8, 20]}), sched({"hours": [9, 12]})
    expect(burn_1, "2026-11-24T10:00:00+01:00", True, "2026-11-24T20:00:00+01:00")
    expect(burn_2, "2026-11-24T10:00:00+01:00", True, "2026-11-24T12:00:00+01:00")
    assert burn_1.is_active(at("2026-11-24T12:30:00+01:00"))
    expect(burn_2, "2026-11-24T12:30:00+01:00", False, "2026-11-25T09:00:00+01:00")


def test_cron_window_opens_friday_night_for_ten_hours() -> None:
    night = sched(FRIDAY_NIGHT)
    expect(night, "2026-11-28T07:00:00+01:00", True, "2026-11-28T08:00:00+01:00")
    expect(night, "2026-11-28T09:00:00+01:00", False, "2026-12-04T22:00:00+01:00")


# -------------------------------------------------------------------------------------- days


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["mon-fri"], {0, 1, 2, 3, 4}),
        (["fri-mon"], {4, 5, 6, 0}),
        (["mon-sun"], set(range(7))),
        (["sun-sat"], set(range(7))),
        (["tue-mon"], set(range(7))),
        (["mon-mon"], {0}),
        (["mon-fri", "sun"], {0, 1, 2, 3, 4, 6}),
        (["sat", "sat", "sun"], {5, 6}),
        ([], set(range(7))),
    ],
)
def test_parse_days(items: list[str], expected: set[int]) -> None:
    assert parse_days(items) == frozenset(expected)


@pytest.mark.parametrize(
    ("items", "named"),
    [
        (["Mon"], "'Mon'"),
        (["monday"], "'monday'"),
        (["mon-xyz"], "'mon-xyz'"),
        (["mon-"], "'mon-'"),
        ([""], "''"),
        (["mon", 3], "3"),
        (["MON-FRI"], "'MON-FRI'"),
    ],
)
def test_bad_days_are_rejected_naming_the_item(items: list, named: str) -> None:
    with pytest.raises(ValueError, match="bad day") as info:
        parse_days(items)
    assert named in str(info.value)


def test_uppercase_day_gets_a_lowercase_hint() -> None:
    with pytest.raises(ValueError, match="lowercase: 'mon'"):
        parse_days(["Mon"])


def test_days_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="list"):
        parse_days("mon")  # type: ignore[arg-type]


def test_day_range_fri_mon_in_a_window() -> None:
    long_weekend = sched({"hours": [10, 12], "days": ["fri-mon"]})
    assert long_weekend.is_active(at("2026-11-30T11:00:00+01:00"))  # Monday
    expect(long_weekend, "2026-11-24T11:00:00+01:00", False, "2026-11-27T10:00:00+01:00")


def test_mon_sun_is_the_whole_week() -> None:
    week = sched({"hours": [10, 12], "days": ["mon-sun"]})
    for day in range(23, 30):
        assert week.is_active(at(f"2026-11-{day}T11:00:00+01:00"))


# ------------------------------------------------------------------------------------- hours


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([9, 9], "empty window"),
        ([0, 0], "empty window"),
        ([24, 6], "start must be 0-23"),
        ([9, 25], "end 0-24"),
        ([-1, 5], "start must be 0-23"),
        ([9.5, 17], "whole hours"),
        ([9], "whole hours"),
        ("9-17", "whole hours"),
        ([True, 5], "whole hours"),
    ],
)
def test_bad_hours_are_rejected(hours: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window.from_dict({"hours": hours})


def test_whole_day_never_closes() -> None:
    for window in ({"hours": [0, 24]}, {}, {"days": []}, {"hours": [0, 24], "days": ["mon-sun"]}):
        schedule = sched(window)
        now = at("2026-11-24T10:30:00+01:00")
        assert schedule.state(now) == (True, None)
        assert schedule.active_until(now) is None
        assert schedule.next_opening(now) is None


def test_no_windows_is_always_active() -> None:
    schedule = Schedule.from_windows([], VIENNA)
    expect(schedule, "2026-11-24T10:30:00+01:00", True, None)
    assert schedule.next_opening(at("2026-11-24T10:30:00+01:00")) is None


def test_end_hour_is_exclusive_and_start_inclusive() -> None:
    schedule = sched({"hours": [9, 17]})
    expect(schedule, "2026-11-24T09:00:00+01:00", True, "2026-11-24T17:00:00+01:00")
    assert schedule.state(at("2026-11-24T16:59:59+01:00")).active
    expect(schedule, "2026-11-24T17:00:00+01:00", False, "2026-11-25T09:00:00+01:00")


def test_end_zero_means_midnight() -> None:
    got = occ({"hours": [22, 0]}, "2026-11-24T00:00:00+01:00", "2026-11-25T00:00:00+01:00")
    assert got == [(at("2026-11-24T22:00:00+01:00"), at("2026-11-25T00:00:00+01:00"))]
    assert got == occ({"hours": [22, 24]}, "2026-11-24T00:00:00+01:00", "2026-11-25T00:00:00+01:00")


def test_wrap_with_days_belongs_to_the_opening_day() -> None:
    schedule = sched({"hours": [22, 6], "days": ["fri"]})
    expect(schedule, "2026-11-27T23:00:00+01:00", True, "2026-11-28T06:00:00+01:00")
    expect(schedule, "2026-11-28T03:00:00+01:00", True, "2026-11-28T06:00:00+01:00")
    expect(schedule, "2026-11-28T23:00:00+01:00", False, "2026-12-04T22:00:00+01:00")
    # Friday 03:00 belongs to Thursday's (absent) window.
    expect(schedule, "2026-11-27T03:00:00+01:00", False, "2026-11-27T22:00:00+01:00")


# ------------------------------------------------------------------------------- contiguity


@pytest.mark.parametrize(
    ("windows", "now", "until"),
    [
        ([{"hours": [9, 12]}, {"hours": [12, 17]}], "2026-11-24T10:00", "2026-11-24T17:00"),
        ([{"hours": [9, 13]}, {"hours": [11, 17]}], "2026-11-24T10:00", "2026-11-24T17:00"),
        ([{"hours": [9, 12]}, {"hours": [13, 17]}], "2026-11-24T10:00", "2026-11-24T12:00"),
        ([{"hours": [22, 24]}, {"hours": [0, 6]}], "2026-11-24T23:00", "2026-11-25T06:00"),
        ([{"hours": [0, 24], "days": ["mon-fri"]}], "2026-11-25T12:00", "2026-11-28T00:00"),
        (
            [{"days": ["mon-fri"]}, {"hours": [0, 12], "days": ["sat"]}],
            "2026-11-25T12:00",
            "2026-11-28T12:00",
        ),
        ([{"hours": [17, 9]}, {"hours": [9, 17], "days": ["tue"]}], "2026-11-24T10:00", "2026-11-25T09:00"),
        (
            [{"hours": [9, 17]}, {"cron": "0 17 * * mon-fri", "duration": "2h"}],
            "2026-11-24T10:00",
            "2026-11-24T19:00",
        ),
    ],
)
def test_active_until_merges_touching_and_overlapping_intervals(windows: list, now: str, until: str) -> None:
    assert same(sched(*windows).active_until(at(now + "+01:00")), until + "+01:00")


def test_hours_and_cron_together_never_close() -> None:
    windows = ({"hours": [9, 17]}, {"cron": "0 17 * * *", "duration": "16h"})
    now = at("2026-11-24T10:00:00+01:00")
    assert sched(*windows, tz=UTC).state(now) == (True, None)
    assert sched(*windows, tz=UTC).next_opening(now) is None
    # In Vienna the chain breaks on the next fall-back night: a duration is real time, so
    # 17:00 CEST + 16 h ends at 08:00 CET, an hour before the 09:00 window opens.
    vienna = sched(*windows)
    expect(vienna, "2026-11-24T10:00:00+01:00", True, "2027-10-31T08:00:00+01:00")
    assert same(vienna.next_opening(now), "2027-10-31T09:00:00+01:00")


def test_active_until_raises_when_inactive() -> None:
    with pytest.raises(ValueError, match="not active"):
        sched(OFFICE).active_until(at("2026-11-28T10:30:00+01:00"))


def test_next_opening_when_active_is_the_opening_after_this_period() -> None:
    assert same(sched(OFFICE).next_opening(at("2026-11-24T10:30:00+01:00")), "2026-11-25T09:00:00+01:00")
    assert same(sched(OFFICE).next_opening(at("2026-11-28T10:30:00+01:00")), "2026-11-30T09:00:00+01:00")


def test_state_is_a_named_pair() -> None:
    state = sched(OFFICE).state(at("2026-11-24T10:30:00+01:00"))
    assert isinstance(state, ScheduleState)
    active, until = state
    assert (active, until) == (state.active, state.until)


# -------------------------------------------------------------------------------- dateRange


def test_date_range_is_inclusive_at_both_ends() -> None:
    schedule = sched({"hours": [9, 17], "dateRange": {"from": "2026-11-24", "to": "2026-11-26"}})
    expect(schedule, "2026-11-23T10:00:00+01:00", False, "2026-11-24T09:00:00+01:00")
    expect(schedule, "2026-11-24T09:00:00+01:00", True, "2026-11-24T17:00:00+01:00")
    expect(schedule, "2026-11-26T16:59:00+01:00", True, "2026-11-26T17:00:00+01:00")
    expect(schedule, "2026-11-26T17:00:00+01:00", False, None)


def test_date_range_in_the_past_never_opens() -> None:
    schedule = sched({"hours": [9, 17], "dateRange": {"to": "2026-01-31"}})
    expect(schedule, "2026-11-24T10:30:00+01:00", False, None)
    assert schedule.next_opening(at("2026-11-24T10:30:00+01:00")) is None


def test_future_date_range_opens_on_its_first_day_at_the_start_hour() -> None:
    schedule = sched({"hours": [9, 17], "days": ["mon-fri"], "dateRange": {"from": "2027-01-11"}})
    expect(schedule, "2026-11-24T10:30:00+01:00", False, "2027-01-11T09:00:00+01:00")


def test_date_range_beyond_the_horizon_reports_never() -> None:
    start = date(2026, 11, 24) + timedelta(days=HORIZON_DAYS + 5)
    schedule = sched({"hours": [9, 17], "dateRange": {"from": start.isoformat()}})
    assert schedule.next_opening(at("2026-11-24T10:30:00+01:00")) is None


def test_date_range_applies_to_the_opening_date() -> None:
    schedule = sched({"hours": [22, 6], "dateRange": {"to": "2026-11-24"}})
    expect(schedule, "2026-11-25T03:00:00+01:00", True, "2026-11-25T06:00:00+01:00")
    expect(schedule, "2026-11-25T23:00:00+01:00", False, None)


def test_date_range_accepts_yaml_dates() -> None:
    window = Window.from_dict({"dateRange": {"from": date(2026, 1, 1), "to": "2026-12-31"}})
    assert (window.date_from, window.date_to) == (date(2026, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("date_range", "message"),
    [
        ({"from": "2026-12-01", "to": "2026-11-01"}, "after"),
        ({"from": "2026-1-5"}, "YYYY-MM-DD"),
        ({"to": "2026-02-30"}, "YYYY-MM-DD"),
        ({"until": "2026-02-01"}, "unknown key 'until'"),
        ("2026-01-01..2026-02-01", "mapping"),
    ],
)
def test_bad_date_ranges_are_rejected(date_range: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window.from_dict({"dateRange": date_range})


# -------------------------------------------------------------------------------------- cron


def test_cron_date_range_applies_to_the_fire_date() -> None:
    ended = sched({**FRIDAY_NIGHT, "dateRange": {"to": "2026-11-27"}})
    expect(ended, "2026-11-28T07:00:00+01:00", True, "2026-11-28T08:00:00+01:00")
    expect(ended, "2026-11-28T09:00:00+01:00", False, None)
    later = sched({**FRIDAY_NIGHT, "dateRange": {"from": "2026-12-05"}})
    expect(later, "2026-11-28T07:00:00+01:00", False, "2026-12-11T22:00:00+01:00")


def test_cron_with_special_day_fields() -> None:
    last_day = sched({"cron": "0 0 L * *", "duration": "1h"})
    expect(last_day, "2026-11-24T10:30:00+01:00", False, "2026-11-30T00:00:00+01:00")
    third_friday = sched({"cron": "0 8 * * 5#3", "duration": "1h"})
    assert same(third_friday.next_opening(at("2026-11-24T10:30:00+01:00")), "2026-12-18T08:00:00+01:00")
    with_seconds = sched({"cron": "0 8 * * * 30", "duration": "90s"})
    expect(with_seconds, "2026-11-24T08:01:00+01:00", True, "2026-11-24T08:02:00+01:00")


def test_cron_longer_than_a_day_is_seen_from_later_days() -> None:
    schedule = sched({"cron": "0 0 1 * *", "duration": "3d"})
    expect(schedule, "2026-12-03T12:00:00+01:00", True, "2026-12-04T00:00:00+01:00")
    expect(schedule, "2026-12-04T00:00:00+01:00", False, "2027-01-01T00:00:00+01:00")


def test_frequent_cron_merges_into_one_period() -> None:
    schedule = sched({"cron": "*/15 9-16 * * mon-fri", "duration": "15m"})
    expect(schedule, "2026-11-24T10:07:00+01:00", True, "2026-11-24T17:00:00+01:00")
    every_minute = {"cron": "* * * * *", "duration": "5m"}
    assert sched(every_minute, tz=UTC).state(at("2026-11-24T10:07:00+01:00")) == (True, None)
    # The repeated wall hour of a fall-back night fires once (its first pass), leaving a hole.
    until = sched(every_minute).active_until(at("2026-11-24T10:07:00+01:00"))
    assert same(until, "2027-10-31T02:04:00+01:00")


@pytest.mark.parametrize(
    "cron",
    [
        "0 0 1,15 * mon",
        "0 0 */2 jan-mar *",
        "0 0 * * 1/2",
        "0 0 13 * fri",
        "30 12 ? * sun",
        "0 0 1-7 * mon",
        "0 6 * * 7",
        "0 */6 * * 5-7",
        "@weekly",
        "@monthly",
        "0 0 29 2 *",
        "0 0 1 1 * 0 2027",
        "0 0 15W * *",
        "0 0 L * *",
        "0 0 * * 5#3",
        "0 0 * * L5",
    ],
)
def test_cron_fires_agree_with_croniter_where_there_is_no_dst(cron: str) -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    ours = [o for o, _ in Window.from_dict({"cron": cron, "duration": "1m"}).occurrences(start, end, UTC)]
    theirs = []
    fires = croniter(cron, start - timedelta(seconds=1))
    with contextlib.suppress(CroniterBadDateError):
        while (fire := fires.get_next(datetime)) < end:
            theirs.append(fire)
    assert ours == theirs
    assert ours or cron == "0 0 29 2 *"


def test_cron_that_never_fires_never_opens() -> None:
    never = sched({"cron": "0 0 30 2 *", "duration": "1h"})
    assert never.state(at("2026-11-24T10:30:00+01:00")) == (False, None)


def test_cron_occurrences_include_the_one_open_at_start() -> None:
    got = occ(FRIDAY_NIGHT, "2026-11-28T07:00:00+01:00", "2026-12-12T00:00:00+01:00")
    assert got == [
        (at("2026-11-27T22:00:00+01:00"), at("2026-11-28T08:00:00+01:00")),
        (at("2026-12-04T22:00:00+01:00"), at("2026-12-05T08:00:00+01:00")),
        (at("2026-12-11T22:00:00+01:00"), at("2026-12-12T08:00:00+01:00")),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cron": "0 22 * * fri"}, "needs a duration"),
        ({"duration": "1h"}, "only goes with cron"),
        ({"cron": "0 22 * * fri", "duration": "1h", "hours": [9, 17]}, "no hours or days"),
        ({"cron": "0 22 * * fri", "duration": "1h", "days": ["fri"]}, "no hours or days"),
        ({"cron": "0 25 * * *", "duration": "1h"}, "bad cron expression '0 25"),
        ({"cron": "H 3 * * *", "duration": "1h"}, "bad cron expression"),
        ({"cron": "every friday", "duration": "1h"}, "bad cron expression"),
        ({"cron": "0 22 * * fri", "duration": 0}, "positive duration"),
        ({"cron": "0 22 * * fri", "duration": "soon"}, "duration"),
        ({"cron": 5, "duration": "1h"}, "cron must be"),
    ],
)
def test_bad_cron_windows_are_rejected(raw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Window.from_dict(raw)


# ---------------------------------------------------------------------------- window parsing


def test_unknown_window_key_gets_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"unknown key 'hour'.*did you mean 'hours'"):
        Window.from_dict({"hour": [9, 17]})


def test_window_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        Window.from_dict([9, 17])  # type: ignore[arg-type]


def test_schedule_errors_name_the_window() -> None:
    with pytest.raises(ValueError, match=r"window 1: hours \[9, 9\]"):
        Schedule.from_windows([{"hours": [9, 17]}, {"hours": [9, 9]}], VIENNA)


def test_windows_must_be_a_list() -> None:
    with pytest.raises(ValueError, match="list of windows"):
        Schedule.from_windows({"hours": [9, 17]}, VIENNA)  # type: ignore[arg-type]


def test_windows_are_immutable_and_comparable() -> None:
    window = Window.from_dict(OFFICE)
    assert window == Window(hours=(9, 17), days=frozenset(range(5)))
    assert hash(window) == hash(Window.from_dict({"hours": [9, 17], "days": ["mon-fri"]}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        window.hours = (8, 16)  # type: ignore[misc]


# ------------------------------------------------------------------------------ time zones


def test_utc_now_is_read_in_the_schedule_zone() -> None:
    state = sched(OFFICE).state(at("2026-11-24T09:30:00+00:00"))
    assert state.active and same(state.until, "2026-11-24T17:00:00+01:00")
    assert state.until is not None and state.until.tzinfo == VIENNA


def test_utc_now_on_another_local_date() -> None:
    # 23:30 UTC on Tuesday is 00:30 on Wednesday in Vienna.
    schedule = sched({"hours": [0, 6], "days": ["wed"]})
    state = schedule.state(datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
    assert state.active and same(state.until, "2026-11-25T06:00:00+01:00")


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sched(OFFICE).state(datetime(2026, 11, 24, 10, 30))
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule.from_windows([], VIENNA).state(datetime(2026, 11, 24, 10, 30))


def test_new_york_office_hours() -> None:
    schedule = sched(OFFICE, tz=NEW_YORK)
    expect(schedule, "2026-11-24T10:30:00-05:00", True, "2026-11-24T17:00:00-05:00")
    expect(schedule, "2026-11-24T14:00:00+01:00", False, "2026-11-24T09:00:00-05:00")


# -------------------------------------------------------------------------------------- DST


def test_spring_forward_gap_start_opens_after_the_gap() -> None:
    # Europe/Vienna 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    got = occ({"hours": [2, 4]}, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00")
    assert got == [(at("2026-03-29T03:00:00+02:00"), at("2026-03-29T04:00:00+02:00"))]
    schedule = sched({"hours": [2, 4]})
    expect(schedule, "2026-03-29T01:30:00+01:00", False, "2026-03-29T03:00:00+02:00")


def test_spring_forward_windows_keep_wall_times() -> None:
    day = ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00")
    ((o, c),) = occ({"hours": [9, 17]}, *day)
    assert (o, c) == (at("2026-03-29T09:00:00+02:00"), at("2026-03-29T17:00:00+02:00"))
    assert c - o == 8 * HOUR
    ((o, c),) = occ({"hours": [0, 24]}, *day)
    assert c - o == 23 * HOUR
    ((o, c),) = occ({"hours": [1, 4]}, *day)
    assert (o, c - o) == (at("2026-03-29T01:00:00+01:00"), 2 * HOUR)


def test_window_wholly_inside_the_gap_does_not_occur_that_day() -> None:
    assert occ({"hours": [2, 3]}, "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00") == []
    schedule = sched({"hours": [2, 3]})
    expect(schedule, "2026-03-29T00:30:00+01:00", False, "2026-03-30T02:00:00+02:00")


def test_cron_in_the_spring_gap_fires_once_after_it() -> None:
    for cron in ("30 2 * * *", "0,30 2 * * *"):
        got = occ({"cron": cron, "duration": "30m"}, "2026-03-29T00:00:00+01:00", "2026-03-29T12:00:00+02:00")
        assert [o for o, _ in got] == [at("2026-03-29T03:00:00+02:00")]


def test_fall_back_whole_day_lasts_25_hours() -> None:
    ((o, c),) = occ({"days": ["sun"]}, "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00")
    assert (o, c) == (at("2026-10-25T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00"))
    assert c - o == 25 * HOUR
    schedule = sched({"days": ["sun"]})
    assert same(schedule.active_until(at("2026-10-25T12:00:00+01:00")), "2026-10-26T00:00:00+01:00")


def test_fall_back_ambiguous_hour_uses_the_first_occurrence() -> None:
    # Europe/Vienna 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:xx happens twice.
    ((o, c),) = occ({"hours": [2, 3]}, "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00")
    assert (o, c) == (at("2026-10-25T02:00:00+02:00"), at("2026-10-25T03:00:00+01:00"))


@pytest.mark.parametrize(
    ("tz", "cron", "first_fire"),
    [
        (VIENNA, "30 2 * * *", "2026-10-25T02:30:00+02:00"),  # ambiguous in Vienna
        (VIENNA, "30 1 * * *", "2026-10-25T01:30:00+02:00"),
        (NEW_YORK, "30 1 * * *", "2026-11-01T01:30:00-04:00"),  # ambiguous in New York
    ],
)
def test_daily_cron_fires_once_on_the_fall_back_day(tz: ZoneInfo, cron: str, first_fire: str) -> None:
    fire = at(first_fire).astimezone(tz)
    day_start = fire.replace(hour=0, minute=0)
    got = list(
        Window.from_dict({"cron": cron, "duration": "30m"}).occurrences(
            day_start - timedelta(days=1), day_start + timedelta(days=2), tz
        )
    )
    opens = [o.timestamp() for o, _ in got]
    assert len(opens) == len(set(opens)) == 3
    assert opens[1] == fire.timestamp()
    assert [real(o, c) for o, c in got] == [timedelta(minutes=30)] * 3


def test_fall_back_cron_state_in_the_repeated_hour() -> None:
    schedule = sched({"cron": "30 2 * * *", "duration": "30m"})
    expect(schedule, "2026-10-25T02:45:00+02:00", True, "2026-10-25T03:00:00+02:00")
    expect(schedule, "2026-10-25T02:45:00+01:00", False, "2026-10-26T02:30:00+01:00")


def test_cron_duration_is_real_time_across_a_transition() -> None:
    schedule = sched({"cron": "0 22 * * sat", "duration": "10h"})
    # Saturday 22:00 CEST + 10 h = Sunday 07:00 CET (the clock went back one hour).
    assert same(schedule.active_until(at("2026-10-24T23:00:00+02:00")), "2026-10-25T07:00:00+01:00")


def test_new_york_transitions() -> None:
    ((o, c),) = occ({"hours": [2, 4]}, "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", NEW_YORK)
    assert (o, c) == (at("2026-03-08T03:00:00-04:00"), at("2026-03-08T04:00:00-04:00"))
    ((o, c),) = occ({}, "2026-11-01T00:00:00-04:00", "2026-11-01T12:00:00-05:00", NEW_YORK)
    assert c - o == 25 * HOUR
    schedule = sched({"hours": [1, 2]}, tz=NEW_YORK)
    # Wall 01:00 (first pass, EDT) to wall 02:00 (EST): both passes through 01:xx, 2 real hours.
    expect(schedule, "2026-11-01T01:30:00-04:00", True, "2026-11-01T02:00:00-05:00")
    expect(schedule, "2026-11-01T01:30:00-05:00", True, "2026-11-01T02:00:00-05:00")
    expect(schedule, "2026-11-01T02:00:00-05:00", False, "2026-11-02T01:00:00-05:00")
