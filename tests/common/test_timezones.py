"""The supported years of clocks, starts and expiries, and reading epoch times defensively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from policy_engine.common.timezones import SUPPORTED_YEARS, check_supported, isoformat, parse_instant, supported_epoch


@pytest.mark.parametrize("text", ["1970-01-01T00:00:00+14:00", "2026-11-24T10:30:00+01:00",
                                  "9000-12-31T23:59:59-12:00"])
def test_times_within_the_supported_years_pass_unchanged(text: str) -> None:
    moment = parse_instant(text)
    assert check_supported(moment) is moment


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59+00:00",
                                  "9001-01-01T00:00:00+00:00", "9999-12-31T23:00:00+00:00"])
def test_times_outside_the_supported_years_say_which_years_are(text: str) -> None:
    with pytest.raises(ValueError, match=f"between {SUPPORTED_YEARS[0]} and {SUPPORTED_YEARS[1]}"):
        check_supported(parse_instant(text))


def test_the_supported_years_leave_room_for_a_period_and_any_offset() -> None:
    last = datetime(SUPPORTED_YEARS[1], 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12)))
    assert (last + timedelta(days=3650)).astimezone(UTC).year < 9999


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), float("-inf"), 9223372036854775.808, 1e300, -1.0])
def test_epoch_times_that_are_no_supported_time_are_none(seconds: float) -> None:
    assert supported_epoch(seconds) is None


def test_an_ordinary_epoch_time_is_an_aware_utc_instant() -> None:
    assert supported_epoch(4102444800.0) == datetime(2100, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("microsecond", "text"), [
    (0, "2026-04-06T12:00:00+02:00"),
    (123000, "2026-04-06T12:00:00.123+02:00"),
    (123789, "2026-04-06T12:00:00.124+02:00"),  # up: a retry time shown is never before the real one
    (1, "2026-04-06T12:00:00.001+02:00"),
    (999500, "2026-04-06T12:00:01+02:00"),
])
def test_times_are_shown_to_the_millisecond_rounded_up(microsecond: int, text: str) -> None:
    moment = datetime(2026, 4, 6, 10, 0, 0, microsecond, tzinfo=UTC)
    shown = isoformat(moment, timezone(timedelta(hours=2)))
    assert shown == text and datetime.fromisoformat(shown) >= moment
