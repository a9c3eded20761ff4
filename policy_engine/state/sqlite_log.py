"""The SQLite store's log trims (:class:`~policy_engine.state.log.LogRetention`: count, age, size), run in the
writing transaction on the beat of :func:`~policy_engine.state.log.trim_every`.

A namespace's entries are the row ids of its space, numbered without gaps (see
:mod:`~policy_engine.state.sqlite_file`), and every trim deletes a prefix of them (the oldest) as one id
range, so its cost is what it drops, not the log's length:

* count: the lowest and highest ids give the count exactly, and the cut is ``high - entries``;
* age: the first entry before the batch that is young enough, found in its own query (as a subquery of
  the DELETE it would not bound the id range, and the DELETE would visit every entry);
* size: only when the entry count times this batch's mean entry size could pass the bound. The bytes of
  the namespace's entries are kept in the ``log_bytes`` table (``low``, ``upto``: the lowest and highest
  id they cover, ``total``), brought up to date by adding the entries written since and subtracting
  what each trim deletes. Its ``low`` must still be the namespace's lowest id and ``upto`` must not pass
  its highest, or the total is counted again from the entries. The cut reads the oldest entries only
  until their bytes cover the excess.

The entries of the writing batch are never trimmed by its own age or size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .log import LogRetention

__all__ = ["forget_log_bytes", "trim_log"]

_LENGTH = "length(CAST(entry AS BLOB))"
# The first entry of the space (ids after ?1) before the batch (id ?2) that is young enough (time ?3 or later)
_FIRST_YOUNG = """
    SELECT id FROM log WHERE id > ?1 AND id < ?2 AND json_extract(entry, '$.t') >= ?3 ORDER BY id LIMIT 1"""
_OLDEST_SIZES = f"SELECT id, {_LENGTH} FROM log WHERE id > ? AND id < ? ORDER BY id"
_SIZE_BETWEEN = f"SELECT COALESCE(SUM({_LENGTH}), 0) FROM log WHERE id > ? AND id < ?"


class _Bytes:
    """The namespace's log size in bytes while a trim runs."""

    def __init__(self, total: int) -> None:
        self.total = total


def trim_log(c: sqlite3.Connection, ns: str, space: tuple[int, int], first: int, retention: LogRetention,
             times: Sequence[object], mean_size: float) -> None:
    """Trim namespace ``ns`` (its log ``space``: row ids, both excluded) by ``retention`` after a batch whose
    first row id is ``first``, whose entries have the times ``times`` and a mean JSON size of ``mean_size``."""
    start = space[0]
    low = c.execute("SELECT MIN(id) FROM log WHERE id > ? AND id < ?", space).fetchone()[0]
    high = c.execute("SELECT MAX(id) FROM log WHERE id > ? AND id < ?", space).fetchone()[0]
    if low is None:
        return
    count = high - low + 1
    if retention.entries is not None:
        count = min(count, max(retention.entries, 0))
    size = None
    if retention.max_bytes is not None and count * mean_size * 1.25 > retention.max_bytes:
        size = _running_size(c, ns, space, low, high)
    if retention.entries is not None and high - low + 1 > retention.entries:
        _drop_below(c, start, high - max(retention.entries, 0) + 1, size)
    stamps = [t for t in times if isinstance(t, int | float) and not isinstance(t, bool)]
    if retention.age is not None and stamps:
        young = c.execute(_FIRST_YOUNG, (start, first, max(stamps) - retention.age.total_seconds())).fetchone()
        _drop_below(c, start, first if young is None else young[0], size)
    if size is not None and retention.max_bytes is not None:
        _cut_to_size(c, start, first, retention.max_bytes, size)
        new_low = c.execute("SELECT MIN(id) FROM log WHERE id > ? AND id < ?", space).fetchone()[0]
        c.execute("INSERT OR REPLACE INTO log_bytes (ns, low, upto, total) VALUES (?, ?, ?, ?)",
                  (ns, new_low, high, size.total))


def forget_log_bytes(c: sqlite3.Connection, ns: str) -> None:
    """Drop the namespace's running log size (its log was emptied)."""
    c.execute("DELETE FROM log_bytes WHERE ns = ?", (ns,))


def _running_size(c: sqlite3.Connection, ns: str, space: tuple[int, int], low: int, high: int) -> _Bytes:
    """The namespace's log bytes: the kept total plus the entries written since, or counted from scratch."""
    row = c.execute("SELECT low, upto, total FROM log_bytes WHERE ns = ?", (ns,)).fetchone()
    if row is not None and row[0] == low and row[1] <= high:
        return _Bytes(int(row[2]) + int(c.execute(_SIZE_BETWEEN, (row[1], space[1])).fetchone()[0]))
    return _Bytes(int(c.execute(_SIZE_BETWEEN, space).fetchone()[0]))


def _drop_below(c: sqlite3.Connection, start: int, below: int, size: _Bytes | None) -> None:
    """Delete the space's entries (ids after ``start``) under ``below``, subtracting their bytes from ``size``."""
    if size is not None:
        size.total -= int(c.execute(_SIZE_BETWEEN, (start, below)).fetchone()[0])
    c.execute("DELETE FROM log WHERE id > ? AND id < ?", (start, below))


def _cut_to_size(c: sqlite3.Connection, start: int, first: int, max_bytes: int, size: _Bytes) -> None:
    """Delete the oldest entries before the batch until the rest fit in ``max_bytes`` (or none is left)."""
    excess = size.total - max_bytes
    if excess <= 0:
        return
    through, dropped = None, 0
    cursor = c.execute(_OLDEST_SIZES, (start, first))
    try:
        while dropped < excess:
            chunk = cursor.fetchmany(64)
            if not chunk:
                break
            for row_id, length in chunk:
                through, dropped = row_id, dropped + int(length)
                if dropped >= excess:
                    break
    finally:
        cursor.close()
    if through is not None:
        c.execute("DELETE FROM log WHERE id > ? AND id <= ?", (start, through))
        size.total -= dropped
