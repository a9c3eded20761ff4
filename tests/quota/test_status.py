"""Statuses, ranking and reset wording shared by every quota checker (pi-multi-pass §5.2-5.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policy_engine.quota.status import (
    GLYPHS,
    LABELS,
    STATUSES,
    bottleneck,
    failed_snapshot,
    long_reset,
    rank_key,
    short_reset,
    snapshot_from_windows,
    status_for,
)
from policy_engine.state import QuotaWindow

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("remaining", "status"), [
    (100, "ready"), (30.5, "ready"), (30, "watch"), (15.1, "watch"), (15, "low"), (5.5, "low"),
    (5, "blocked"), (0, "blocked"), (None, "error"),
])
def test_status_thresholds(remaining: float | None, status: str) -> None:
    assert status_for(remaining) == status


def test_every_status_has_a_glyph_and_a_label() -> None:
    assert set(GLYPHS) == set(STATUSES) == set(LABELS)
    assert LABELS["missing-auth"] == "not logged in"


def test_bottleneck_is_the_smallest_known_value() -> None:
    windows = [QuotaWindow("5h", 58, None), QuotaWindow("7d", None, None), QuotaWindow("x", 12, None)]
    assert bottleneck(windows) == 12
    assert bottleneck([QuotaWindow("5h", None, None)]) is None


def test_scoped_windows_are_listed_but_do_not_make_the_bottleneck() -> None:
    snap = snapshot_from_windows("anthropic", [QuotaWindow("5h", 84, None), QuotaWindow("7d", 58, None)],
                                 now=NOW, source="t", summary="s", scoped=[QuotaWindow("7d Fable", 17, None)])
    assert snap.remaining == 58 and snap.status == "ready"
    assert [w.name for w in snap.windows] == ["5h", "7d", "7d Fable"]


def test_ranking_is_status_then_remaining_then_name() -> None:
    def snap(name: str, remaining: float | None, status: str | None = None):  # type: ignore[no-untyped-def]
        if status is not None:
            return failed_snapshot(name, status, "x", now=NOW, source="t")
        return snapshot_from_windows(name, [QuotaWindow("5h", remaining, None)], now=NOW, source="t", summary="")

    results = [snap("z-missing", None, "missing-auth"), snap("err", None, "error"), snap("b-low", 12),
               snap("a-ready", 40), snap("c-ready", 90), snap("blocked", 2), snap("watch", 25), snap("b-ready", 40)]
    ordered = [s.provider for s in sorted(results, key=rank_key)]
    assert ordered == ["c-ready", "a-ready", "b-ready", "watch", "b-low", "blocked", "err", "z-missing"]


@pytest.mark.parametrize(("delta", "short", "long"), [
    (None, "--", "unknown"),
    (timedelta(minutes=-5), "now", "now"),
    (timedelta(minutes=7, seconds=20), "~7m", "in 7m"),
    (timedelta(hours=3, minutes=12), "~3h", "in 3h 12m"),
    (timedelta(days=2, hours=5, minutes=1), "~2d", "in 2d 5h"),
])
def test_reset_wording(delta: timedelta | None, short: str, long: str) -> None:
    at = None if delta is None else NOW + delta
    assert short_reset(at, NOW) == short
    assert long_reset(at, NOW) == long
