"""The supported years of clocks, starts and expiries, and reading epoch times defensively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from policy_engine.common.timezones import SUPPORTED_YEARS, check_supported, parse_instant, supported_epoch


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
