"""Durations: the forms a policy may write, and the values it may not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from policy_engine.common.durations import MAX_DURATION, DurationError, format_duration, parse_duration


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("5m", timedelta(minutes=5)), ("1h30m", timedelta(hours=1, minutes=30)),
    ("2d", timedelta(days=2)), ("250ms", timedelta(milliseconds=250)), (120, timedelta(minutes=2)),
    ("0.5", timedelta(milliseconds=500)), ("3650d", MAX_DURATION),
])
def test_forms(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("bad", ["", "5", "5x", "m5", "-5m", -1, True, None, "99999999999d", 1e30,
                                 float("inf"), float("nan"), "3651d"])
def test_rejected_with_a_readable_message(bad: object) -> None:
    if bad == "5":  # a bare number string is seconds
        assert parse_duration("5") == timedelta(seconds=5)
        return
    with pytest.raises(DurationError) as info:
        parse_duration(bad)  # type: ignore[arg-type]
    assert "duration" in str(info.value)
