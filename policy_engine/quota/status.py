"""Quota statuses, the bottleneck rule, ranking and human reset times (pi-multi-pass §5.2, shared by all checkers).

The *bottleneck* of an account is the smallest remaining percentage of its account-wide windows;
its status follows from it: ``ready`` above 30 %, ``watch`` at most 30, ``low`` at most 15,
``blocked`` at most 5. A check that failed is ``error``; an account without a usable credential
is ``missing-auth``. Results sort best first: by status rank, then remaining (highest first),
then account name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from policy_engine.state import QuotaSnapshot, QuotaWindow

__all__ = [
    "GLYPHS",
    "LABELS",
    "STATUSES",
    "bottleneck",
    "clamp_percent",
    "failed_snapshot",
    "long_reset",
    "rank_key",
    "short_reset",
    "snapshot_from_windows",
    "status_for",
]

#: Every status, best first (the rank used for sorting).
STATUSES: tuple[str, ...] = ("ready", "watch", "low", "blocked", "error", "missing-auth")
_RANK = {name: i for i, name in enumerate(STATUSES)}
#: One character per status for tables.
GLYPHS: dict[str, str] = {"ready": "✓", "watch": "◔", "low": "!", "blocked": "✕", "error": "?", "missing-auth": "○"}
#: Status words as users read them.
LABELS: dict[str, str] = {**{s: s for s in STATUSES}, "missing-auth": "not logged in"}


def clamp_percent(value: float) -> float:
    """``value`` limited to 0..100."""
    return max(0.0, min(100.0, float(value)))


def status_for(remaining: float | None) -> str:
    """The status of a bottleneck percentage (``error`` when unknown)."""
    if remaining is None:
        return "error"
    if remaining <= 5:
        return "blocked"
    if remaining <= 15:
        return "low"
    if remaining <= 30:
        return "watch"
    return "ready"


def bottleneck(windows: Iterable[QuotaWindow]) -> float | None:
    """The smallest known remaining percentage, or ``None``."""
    known = [w.remaining for w in windows if w.remaining is not None]
    return min(known) if known else None


def snapshot_from_windows(account: str, windows: Sequence[QuotaWindow], *, now: datetime, source: str,
                          summary: str, scoped: Sequence[QuotaWindow] = ()) -> QuotaSnapshot:
    """A snapshot whose remaining value is the bottleneck of ``windows``.

    ``scoped`` windows (a per-model limit) are listed after the account-wide ones but do not
    count for the bottleneck: the account is still usable for other models. Without any known
    account-wide value the snapshot is an ``error``.
    """
    remaining = bottleneck(windows)
    status = status_for(remaining)
    return QuotaSnapshot(provider=account, remaining=remaining, fetched_at=now, source=source, status=status,
                         windows=tuple(windows) + tuple(scoped), summary=summary)


def failed_snapshot(account: str, status: str, message: str, *, now: datetime, source: str) -> QuotaSnapshot:
    """A snapshot for a check that could not say anything (``error`` or ``missing-auth``)."""
    return QuotaSnapshot(provider=account, remaining=None, fetched_at=now, source=source, status=status,
                         summary=message)


def rank_key(snapshot: QuotaSnapshot) -> tuple[int, float, str]:
    """Sort key, best first: status rank, remaining (highest first), account name."""
    status = snapshot.status or status_for(snapshot.remaining)
    remaining = snapshot.remaining if snapshot.remaining is not None and status not in ("error", "missing-auth") \
        else -math.inf
    return (_RANK.get(status, len(STATUSES)), -remaining, snapshot.provider)


def _minutes_until(at: datetime, now: datetime) -> int:
    return round((at - now).total_seconds() / 60)


def short_reset(at: datetime | None, now: datetime) -> str:
    """``~3d``, ``~5h``, ``~12m``; ``now`` when passed; ``--`` when unknown."""
    if at is None:
        return "--"
    minutes = _minutes_until(at, now)
    if minutes <= 0:
        return "now"
    if minutes >= 1440:
        return f"~{minutes // 1440}d"
    if minutes >= 60:
        return f"~{minutes // 60}h"
    return f"~{minutes}m"


def long_reset(at: datetime | None, now: datetime) -> str:
    """``in 2d 5h``, ``in 3h 12m``, ``in 7m``; ``now`` when passed; ``unknown`` when unknown."""
    if at is None:
        return "unknown"
    minutes = _minutes_until(at, now)
    if minutes <= 0:
        return "now"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {mins}m"
    return f"in {mins}m"
