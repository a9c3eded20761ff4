"""Trace entries told as stories: the end of a failing account's cooldown names what set it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from policy_engine.engine import Engine
from policy_engine.trace.entry import with_at
from policy_engine.trace.story import story, table_rows

T0 = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
POLICY: dict[str, Any] = {
    "settings": {"timezone": "UTC"},
    "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
    "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2", "anthropic-3"],
               "cooldown": "5m"}],
    "chains": [{"name": "main", "entries": [{"pool": "claude", "model": "claude-sonnet-4"}]}],
}


def engine() -> Engine:
    return Engine.from_documents(POLICY, state="memory://", env={}, auth={"anthropic", "anthropic-2", "anthropic-3"},
                                 clock=lambda: T0)


def turn_story(e: Engine, turn: str) -> str:
    """The story of ``turn`` as ``mp-policy trace`` reads it (entries with their ``at``)."""
    return story([with_at(entry) for entry in e.store.dump()["log"] if entry["turn"] == turn])


@pytest.mark.parametrize(("retry_after", "told"), [
    ("900", "anthropic rate-limited until 10:15 (retry-after)"),  # longer than the pool's 5m: the error set it
    ("120", "anthropic rate-limited until 10:05 (cooldown)"),  # shorter: the pool's cooldown did
    (None, "anthropic rate-limited until 10:05 (cooldown)"),  # no retry time at all
])
def test_the_cooldowns_end_names_what_set_it(retry_after: str | None, told: str) -> None:
    e = engine()
    d = e.select(chain="main")
    e.fail(d.turn, status=429, headers={"retry-after": retry_after} if retry_after else None)
    assert turn_story(e, d.turn) == f"asked chain main → {told} → anthropic-2 (turn still open)"


def test_a_running_longer_cooldown_is_not_told_as_the_errors_retry_time() -> None:
    e = engine()
    first = e.select(chain="main")
    e.fail(first.turn, status=429, headers={"retry-after": "1800"})  # anthropic cools down until 10:30
    # another agent reports anthropic again: the error asks for 10:10, the running cooldown ends later
    late = e.fail(provider="anthropic", status=429, headers={"retry-after": "600"})
    told = turn_story(e, late.turn)
    assert "anthropic rate-limited until 10:30 (cooldown)" in told, told
    rows = table_rows([with_at(entry) for entry in e.store.dump()["log"] if entry["turn"] == late.turn])
    assert any("until 10:30 (cooldown)" in cell for row in rows for cell in row), rows


def test_a_cooldown_ending_on_another_day_is_told_with_its_date() -> None:
    e = engine()
    d = e.select(chain="main")
    e.fail(d.turn, status=429, headers={"retry-after": str(3 * 86400)})  # three days
    told = turn_story(e, d.turn)
    assert "anthropic rate-limited until 2026-04-09 10:00 (retry-after)" in told, told
    late = e.select(chain="main")  # anthropic is skipped: its cooldown ends in three days
    rows = table_rows([with_at(entry) for entry in e.store.dump()["log"] if entry["turn"] == late.turn])
    assert rows[1][5] == "anthropic: cooldown until 2026-04-09 10:00", rows
    assert rows[1][0] == "10:00:00"  # the rows are of one day: the time alone


def test_rows_of_several_days_show_each_time_with_its_date() -> None:
    clock = {"at": T0}
    e = Engine.from_documents(POLICY, state="memory://", env={}, auth={"anthropic", "anthropic-2", "anthropic-3"},
                              clock=lambda: clock["at"])
    e.select(chain="main")
    clock["at"] = T0.replace(day=7)
    e.select(chain="main")
    rows = table_rows([with_at(entry) for entry in e.store.dump()["log"]])
    assert [row[0] for row in rows[1:]] == ["2026-04-06 10:00:00", "2026-04-07 10:00:00"]
