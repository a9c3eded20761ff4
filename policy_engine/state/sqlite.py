"""SQLite state store: the default, one file in the agent directory, safe for many processes at once.

* WAL mode, ``synchronous=NORMAL`` (a committed batch survives a crashed or killed process), a busy
  timeout plus our own jittered retry loop around ``BEGIN IMMEDIATE`` up to a total deadline, so
  "database is locked" never reaches the caller under ordinary contention (:mod:`.sqlite_file`).
* Every table has an ``ns`` column: policies sharing one file are kept apart by namespace.
* Times are UTC epoch floats in the file and aware UTC datetimes in Python.
* The decision log is the ``log`` table: one row per entry (its JSON text), the row id is the
  cursor readers page by (``--follow`` polls for ``id > last``); it is trimmed by
  :class:`~policy_engine.state.log.LogRetention` every :func:`~policy_engine.state.log.trim_every`
  entries, in the writing transaction (:mod:`.sqlite_log`).
* Read-only mode (the dry-run ``mp-policy eval``) never writes anything, not even SQLite's side
  files (see :mod:`.sqlite_file`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from policy_engine.common import fast_json

from .base import (
    LOG_LIMIT,
    Cooldown,
    QuotaSnapshot,
    QuotaWindow,
    StateChanges,
    StateError,
    StateSnapshot,
    StateStore,
    TurnRecord,
    check_parts,
    dump_document,
    from_epoch,
    json_text,
    to_epoch,
)
from .log import LogRecord, LogRetention, trim_every
from .sqlite_file import (
    _TABLES,
    CORRUPT_HINT,
    DEFAULT_STATE_FILENAME,
    LOG_SPACE_BITS,
    SCHEMA_VERSION,
    SQLITE_SUFFIXES,
    SqliteFile,
    _file_signature,
    sqlite_path_from_url,
)
from .sqlite_log import forget_log_bytes, trim_log

__all__ = [
    "CORRUPT_HINT",
    "DEFAULT_STATE_FILENAME",
    "SCHEMA_VERSION",
    "SQLITE_SUFFIXES",
    "SqliteStore",
    "sqlite_path_from_url",
]

_UPSERT_COOLDOWN = """
    INSERT INTO cooldowns (ns, provider, until, reason, since, source) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (ns, provider) DO UPDATE SET
        until = excluded.until, reason = excluded.reason, since = excluded.since, source = excluded.source
    WHERE excluded.until > cooldowns.until"""
_UPSERT_CURSOR = """
    INSERT INTO cursors (ns, pool, member) VALUES (?, ?, ?)
    ON CONFLICT (ns, pool) DO UPDATE SET member = excluded.member"""
_UPSERT_TURN = """
    INSERT INTO turns (ns, turn_id, data, updated_at, expires_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (ns, turn_id) DO UPDATE SET
        data = excluded.data, updated_at = excluded.updated_at, expires_at = excluded.expires_at"""
_UPSERT_QUOTA = """
    INSERT INTO quota (ns, provider, remaining, fetched_at, source, status, windows, summary)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (ns, provider) DO UPDATE SET
        remaining = excluded.remaining, fetched_at = excluded.fetched_at, source = excluded.source,
        status = excluded.status, windows = excluded.windows, summary = excluded.summary
    WHERE excluded.fetched_at >= quota.fetched_at"""

_WAIT_CHECK = 0.004  # seconds between two looks at the file while wait_log waits
_WAIT_READ = 0.05  # seconds after which wait_log reads the log whatever the file looks like

# The namespace's next log entry (?1 the namespace, ?2 its text): one after the newest of its space, or the space's
# first. Before the namespace's first entry ever it has no space: its name reads as NULL, which the table refuses.
# (A VALUES row: as INSERT ... SELECT, reading the table it writes, SQLite would copy the result to a temporary
# table first, and the statement cost four times as much.)
_APPEND_LOG = f"""
    INSERT INTO log (id, ns, entry) VALUES (
        (SELECT COALESCE((SELECT MAX(id) FROM log WHERE id > s.space << {LOG_SPACE_BITS}
                                                    AND id < (s.space + 1) << {LOG_SPACE_BITS}),
                         s.space << {LOG_SPACE_BITS}) + 1
         FROM log_spaces AS s WHERE s.ns = ?1),
        (SELECT ns FROM log_spaces WHERE ns = ?1), ?2)"""
# A namespace's space, at its first entry (again after its log was cleared): after every other ever given, so the
# ids of new entries come after every id a reader may hold as its cursor.
_NEW_LOG_SPACE = "INSERT INTO log_spaces (ns) VALUES (?)"
_SPACES = 1 << (62 - LOG_SPACE_BITS)  # spaces a file can give: every row id stays below 2**62


class SqliteStore(StateStore, SqliteFile):
    """A state store in one SQLite file; see the module docstrings for concurrency and read-only rules."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        namespace: str = "default",
        busy_timeout: float = 5.0,
        lock_deadline: float = 10.0,
        log_limit: int = LOG_LIMIT,
    ) -> None:
        self.log_limit = log_limit
        self._retention = LogRetention(entries=log_limit)
        SqliteFile.__init__(self, path, readonly=readonly, namespace=namespace, busy_timeout=busy_timeout,
                            lock_deadline=lock_deadline)

    def close(self) -> None:
        """Close this process's connection (an inherited one after fork is left alone)."""
        SqliteFile.close(self)

    # ------------------------------------------------------------------ reads

    def snapshot(self) -> StateSnapshot:
        """Cooldowns, cursors and quota of this namespace in one short read transaction.

        Unchanged data (same ``PRAGMA data_version``, no write of ours since) is served from the
        previous read, so a decision loop pays for one PRAGMA instead of re-parsing rows.
        """
        if self.readonly:
            return self._read(self._select_snapshot)
        snap = self._read(self._cached_snapshot)
        return StateSnapshot(dict(snap.cooldowns), dict(snap.cursors), dict(snap.quota))

    def _cached_snapshot(self, c: sqlite3.Connection | None) -> StateSnapshot:
        assert c is not None
        version = c.execute("PRAGMA data_version").fetchone()[0]
        if self._cached is not None and self._cached[0] == version:
            return self._cached[1]
        snap = self._select_snapshot(c)
        self._cached = (version, snap)
        return snap

    def _select_snapshot(self, c: sqlite3.Connection | None) -> StateSnapshot:
        if c is None:
            return StateSnapshot(cooldowns={}, cursors={}, quota={})
        ns = (self.namespace,)
        cooldowns = {
            row[0]: Cooldown(row[0], from_epoch(row[1]), row[2], from_epoch(row[3]), row[4])
            for row in c.execute("SELECT provider, until, reason, since, source FROM cooldowns WHERE ns = ?", ns)
        }
        cursors = dict(c.execute("SELECT pool, member FROM cursors WHERE ns = ?", ns).fetchall())
        quota = {
            row[0]: _quota_from_row(row)
            for row in c.execute(
                "SELECT provider, remaining, fetched_at, source, status, windows, summary FROM quota WHERE ns = ?",
                ns,
            )
        }
        return StateSnapshot(cooldowns=cooldowns, cursors=cursors, quota=quota)

    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """The turn, or ``None`` when missing or expired at ``now``."""
        now_ts = to_epoch(now)

        def select(c: sqlite3.Connection | None) -> TurnRecord | None:
            if c is None:
                return None
            row = c.execute(
                "SELECT data, updated_at, expires_at FROM turns WHERE ns = ? AND turn_id = ? AND expires_at > ?",
                (self.namespace, turn_id, now_ts),
            ).fetchone()
            if row is None:
                return None
            return TurnRecord(turn_id, fast_json.loads(row[0]), from_epoch(row[1]), from_epoch(row[2]))

        return self._read(select)

    def dump(self) -> dict[str, Any]:
        """Everything in this namespace, JSON-able, with ISO times."""

        def select(c: sqlite3.Connection | None) -> dict[str, Any]:
            snap = self._select_snapshot(c)
            turns: list[TurnRecord] = []
            log: list[Any] = []
            if c is not None:
                turns = [
                    TurnRecord(row[0], fast_json.loads(row[1]), from_epoch(row[2]), from_epoch(row[3]))
                    for row in c.execute(
                        "SELECT turn_id, data, updated_at, expires_at FROM turns WHERE ns = ?",
                        (self.namespace,),
                    )
                ]
                log = [
                    fast_json.loads(row[0])
                    for row in c.execute("SELECT entry FROM log WHERE ns = ? ORDER BY id", (self.namespace,))
                ]
            return dump_document(
                self,
                cooldowns=snap.cooldowns.values(),
                cursors=snap.cursors,
                turns=turns,
                quota=snap.quota.values(),
                log=log,
                extra={
                    "path": str(self.path),
                    "schema_version": SCHEMA_VERSION,
                    "exists": self.path.exists(),
                },
            )

        return self._read(select)

    # ------------------------------------------------------------------ writes
    # ------------------------------------------------------------------ writes

    def apply(self, changes: StateChanges) -> None:
        """Write the batch in one ``BEGIN IMMEDIATE`` transaction (merge rules in SQL)."""
        if changes.is_empty():
            return

        def write(c: sqlite3.Connection) -> None:
            self._write_cooldowns(c, changes)
            self._write_cursors(c, changes)
            self._write_turns(c, changes)
            self._write_quota(c, changes)
            self._write_log(c, changes)

        self._write(write, "update")

    def _write_cooldowns(self, c: sqlite3.Connection, changes: StateChanges) -> None:
        ns = self.namespace
        if changes.clear_cooldowns:
            c.executemany(
                "DELETE FROM cooldowns WHERE ns = ? AND provider = ?",
                [(ns, p) for p in changes.clear_cooldowns],
            )
        if changes.cooldowns:
            c.executemany(
                _UPSERT_COOLDOWN,
                [(ns, x.provider, to_epoch(x.until), x.reason, to_epoch(x.since), x.source) for x in changes.cooldowns],
            )

    def _write_cursors(self, c: sqlite3.Connection, changes: StateChanges) -> None:
        if changes.cursors:
            c.executemany(_UPSERT_CURSOR, [(self.namespace, str(pool), str(m)) for pool, m in changes.cursors.items()])

    def _write_turns(self, c: sqlite3.Connection, changes: StateChanges) -> None:
        ns = self.namespace
        deletes = [(ns, tid) for tid, turn in changes.turns.items() if turn is None]
        upserts = [
            (ns, tid, json_text(t.data, "turn {!r} data", plain_numbers=changes.plain_numbers, name=tid),
             to_epoch(t.updated_at), to_epoch(t.expires_at))
            for tid, t in changes.turns.items()
            if t is not None
        ]
        if deletes:
            c.executemany("DELETE FROM turns WHERE ns = ? AND turn_id = ?", deletes)
        if upserts:
            c.executemany(_UPSERT_TURN, upserts)

    def _write_quota(self, c: sqlite3.Connection, changes: StateChanges) -> None:
        if changes.quota:
            c.executemany(_UPSERT_QUOTA, [_quota_to_row(self.namespace, q) for q in changes.quota])

    def purge(self, now: datetime) -> int:
        """Delete turns and cooldowns expired at ``now``; returns how many rows went."""
        now_ts = to_epoch(now)

        def delete(c: sqlite3.Connection) -> int:
            n = c.execute("DELETE FROM turns WHERE ns = ? AND expires_at <= ?", (self.namespace, now_ts)).rowcount
            n += c.execute("DELETE FROM cooldowns WHERE ns = ? AND until <= ?", (self.namespace, now_ts)).rowcount
            return n

        return self._write(delete, "purge")

    def clear(self, parts: Collection[str] | None = None) -> None:
        """Empty the given parts of this namespace (all when ``None``)."""
        chosen = check_parts(parts)

        def delete(c: sqlite3.Connection) -> None:
            for table in _TABLES:
                if table in chosen:
                    c.execute(f"DELETE FROM {table} WHERE ns = ?", (self.namespace,))
            if "log" in chosen:
                forget_log_bytes(c, self.namespace)
                c.execute("DELETE FROM log_spaces WHERE ns = ?", (self.namespace,))  # its next entry: a new space

        self._write(delete, "clear")

    def _write_log(self, c: sqlite3.Connection, changes: StateChanges) -> None:
        if not changes.log:
            return
        ns = self.namespace
        texts = [json_text(e, "log entry", plain_numbers=changes.plain_numbers) for e in changes.log]
        ids = []
        for text in texts:
            try:
                cursor = c.execute(_APPEND_LOG, (ns, text))
            except sqlite3.IntegrityError:
                if c.execute("SELECT 1 FROM log_spaces WHERE ns = ?", (ns,)).fetchone():
                    raise
                self._new_log_space(c)  # the namespace's first entry
                cursor = c.execute(_APPEND_LOG, (ns, text))
            ids.append(cursor.lastrowid or 0)
        start = ids[0] >> LOG_SPACE_BITS << LOG_SPACE_BITS
        retention = changes.retention or self._retention
        every = trim_every(retention.entries)
        if every > 1 and not any((i - start) % every == 0 for i in ids):
            return  # amortised: whichever writer appends the namespace's every `every`-th entry trims
        mean = sum(len(text.encode()) for text in texts) / len(texts)
        trim_log(c, ns, (start, start + (1 << LOG_SPACE_BITS)), ids[0], retention, [e.get("t") for e in changes.log],
                 mean)

    def _new_log_space(self, c: sqlite3.Connection) -> None:
        """Give this namespace a log space (refused once the file has given out all it can)."""
        if (c.execute(_NEW_LOG_SPACE, (self.namespace,)).lastrowid or 0) >= _SPACES:
            raise StateError(
                f"state file {self.path} has given out all its {_SPACES:,} log id spaces (a namespace takes one "
                "at its first trace entry, and again after each clear of its log)",
                path=str(self.path), hint="move it aside (e.g. rename it to *.old): a new file starts over")

    def _log_space(self, c: sqlite3.Connection) -> tuple[int, int]:
        """The row ids of this namespace's log entries (both bounds excluded): the space the file gives it (none
        before its first entry); a file of schema 1 read as it is (read-only) has one id sequence for all."""
        if c.execute("PRAGMA user_version").fetchone()[0] < 2:
            return (0, 1 << 62)
        row = c.execute("SELECT space FROM log_spaces WHERE ns = ?", (self.namespace,)).fetchone()
        if row is None:
            return (0, 0)
        return (row[0] << LOG_SPACE_BITS, (row[0] + 1) << LOG_SPACE_BITS)

    def wait_log(self, cursor: str | None, timeout: float, count: int = 1000) -> list[LogRecord]:
        """Entries after ``cursor``, waiting up to ``timeout`` seconds for the first one.

        Every commit writes the ``-wal`` file, so the wait looks at the file and its WAL (a ``stat`` each)
        every :data:`_WAIT_CHECK` seconds and reads the log when either changed, and at least every
        :data:`_WAIT_READ` seconds: a reader sees a write within a few milliseconds without querying the
        file 200 times a second.
        """
        deadline = time.monotonic() + timeout
        seen = self._signature()  # before the read: a commit after it changes what the next check sees
        records = self.log_after(cursor, count)
        read_at = time.monotonic()
        while not records:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(_WAIT_CHECK, left))
            signature = self._signature()
            if signature != seen or time.monotonic() - read_at >= _WAIT_READ:
                seen = signature
                records = self.log_after(cursor, count)
                read_at = time.monotonic()
        return records

    def _signature(self) -> tuple[tuple[int, ...] | None, ...]:
        """What a commit changes: the file's and its WAL's inode, size and modification time (not the change
        time, which a reader's own open of the WAL moves)."""
        return tuple(None if sig is None else sig[:3] for sig in
                     (_file_signature(self.path), _file_signature(self.path.with_name(self.path.name + "-wal"))))

    def log_before(self, cursor: str | None = None, count: int = 100) -> list[LogRecord]:
        """Up to ``count`` entries before row id ``cursor`` (the newest when ``None``), oldest first."""

        def select(c: sqlite3.Connection | None) -> list[LogRecord]:
            if c is None:
                return []
            low, high = self._log_space(c)
            before = high if cursor is None else min(int(cursor), high)
            rows = c.execute("SELECT id, entry FROM log WHERE ns = ? AND id > ? AND id < ? ORDER BY id DESC LIMIT ?",
                             (self.namespace, low, before, max(count, 0))).fetchall()
            return [LogRecord(str(i), fast_json.loads(e)) for i, e in reversed(rows)]

        return self._read(select)

    def log_after(self, cursor: str | None = None, count: int = 1000) -> list[LogRecord]:
        """Up to ``count`` entries after row id ``cursor`` (from the oldest when ``None``), oldest first."""

        def select(c: sqlite3.Connection | None) -> list[LogRecord]:
            if c is None:
                return []
            low, high = self._log_space(c)
            after = low if cursor is None else max(int(cursor), low)
            rows = c.execute("SELECT id, entry FROM log WHERE ns = ? AND id > ? AND id < ? ORDER BY id LIMIT ?",
                             (self.namespace, after, high, max(count, 0))).fetchall()
            return [LogRecord(str(i), fast_json.loads(e)) for i, e in rows]

        return self._read(select)


def _quota_to_row(ns: str, q: QuotaSnapshot) -> tuple[Any, ...]:
    windows = [[w.name, w.remaining, None if w.resets_at is None else to_epoch(w.resets_at)] for w in q.windows]
    return (
        ns,
        q.provider,
        q.remaining,
        to_epoch(q.fetched_at),
        q.source,
        q.status,
        json_text(windows, f"quota windows of {q.provider!r}"),
        q.summary,
    )


def _quota_from_row(row: tuple[Any, ...]) -> QuotaSnapshot:
    provider, remaining, fetched_at, source, status, windows, summary = row
    return QuotaSnapshot(
        provider=provider,
        remaining=remaining,
        fetched_at=from_epoch(fetched_at),
        source=source,
        status=status,
        windows=tuple(
            QuotaWindow(name, None if rem is None else float(rem), None if at is None else from_epoch(at))
            for name, rem, at in fast_json.loads(windows)
        ),
        summary=summary,
    )
