"""The tolerant readers of numbers and times in usage payloads and headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from policy_engine.quota.values import from_epoch, from_iso, number, number_text


@pytest.mark.parametrize(("value", "expected"), [(42, 42.0), (0.5, 0.5), (True, None), ("42", None), (None, None),
                                                 (float("nan"), None), (float("inf"), None)])
def test_number(value: object, expected: float | None) -> None:
    assert number(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("42", 42.0), (" 0.31 ", 0.31), ("", None), ("  ", None),
                                                 (None, None), ("abc", None), ("nan", None), ("inf", None)])
def test_number_text(value: str | None, expected: float | None) -> None:
    assert number_text(value) == expected


def test_from_epoch() -> None:
    moment = datetime(2026, 5, 4, 22, 16, 8, tzinfo=UTC)
    assert from_epoch(moment.timestamp()) == moment
    assert from_epoch(str(int(moment.timestamp()))) == moment
    for junk in (0, -5, "", "soon", None, True, 1e20):
        assert from_epoch(junk) is None


def test_from_iso() -> None:
    assert from_iso("2026-09-23T06:40:00.056602+00:00") == datetime(2026, 9, 23, 6, 40, 0, 56602, tzinfo=UTC)
    assert from_iso("2026-04-05T12:00:00Z") == datetime(2026, 4, 5, 12, tzinfo=UTC)
    assert from_iso("2026-01-30T10:00:46-05:00") == datetime(2026, 1, 30, 10, 0, 46,
                                                            tzinfo=timezone(timedelta(hours=-5)))
    assert from_iso("2026-04-05T12:00:00") == datetime(2026, 4, 5, 12, tzinfo=UTC)  # no offset: UTC
    assert from_iso("2026-10-01") == datetime(2026, 10, 1, tzinfo=UTC)  # a bare date: midnight UTC
    for junk in ("", "tomorrow", None, 5, "2026-13-01"):
        assert from_iso(junk) is None
