"""Reading the trace: ``--since`` as an instant, or as a wall time in the zone each entry is shown in."""

from __future__ import annotations

from datetime import UTC, datetime

from policy_engine.trace.read import TraceFilter, since

# 2026-12-07 13:27:27 in Vienna (+01:00) is 12:27:27 UTC
ENTRY = {"v": 1, "turn": "t", "op": "select", "t": datetime(2026, 12, 7, 12, 27, 27, tzinfo=UTC).timestamp(),
         "tz": "Europe/Vienna"}


def test_a_time_with_an_offset_is_an_instant() -> None:
    assert since(ENTRY, datetime(2026, 12, 7, 12, 27, 27, tzinfo=UTC))
    assert not since(ENTRY, datetime(2026, 12, 7, 12, 27, 28, tzinfo=UTC))


def test_a_time_without_an_offset_is_read_in_the_entrys_zone_as_its_row_shows_it() -> None:
    assert since(ENTRY, datetime(2026, 12, 7, 13, 27, 27))  # the row shows 13:27:27
    assert not since(ENTRY, datetime(2026, 12, 7, 13, 27, 28))
    assert since({**ENTRY, "tz": "+05:30"}, datetime(2026, 12, 7, 17, 57, 27))
    assert not since({**ENTRY, "tz": None}, datetime(2026, 12, 7, 12, 27, 28))  # no zone: UTC


def test_the_filter_uses_it() -> None:
    assert TraceFilter(since=datetime(2026, 12, 7, 13, 27)).matches(ENTRY)
    assert not TraceFilter(since=datetime(2026, 12, 7, 13, 28)).matches(ENTRY)
