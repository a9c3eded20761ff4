"""SQLite state store: the default, one file in the agent directory, safe for many processes at once.

* WAL mode, ``synchronous=NORMAL`` (a committed batch survives a crashed or killed process), a busy
  timeout plus our own jittered retry loop around ``BEGIN IMMEDIATE`` up to a total deadline, so
  "database is locked" never reaches the caller under ordinary contention.
* Every table has an ``ns`` column: policies sharing one file are kept apart by namespace.
* Times are UTC epoch floats in the file and aware UTC datetimes in Python.
* Schema version in ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file as ours, so a
  foreign or corrupt file is reported instead of being written to or silently recreated.
* Connections belong to one process: after ``os.fork`` the child opens its own connection and never
  touches (or closes) the inherited one. A lock serialises threads sharing a store.

Read-only mode (the dry-run ``mp-policy eval``) never writes anything, not even SQLite's side files:

* a missing file reads as an empty store; neither the file nor its directory is created;
* with no ``-wal`` (nor ``-journal``) file next to the database, no process has it open in WAL mode,
  so each read opens it ``immutable=1`` (no locks, no ``-wal``/``-shm`` created) and checks
  afterwards that the file's size/mtime/inode did not change and no ``-wal`` appeared; if they did, a
  writer raced the read, and it is repeated;
* when a ``-wal`` exists, a writer is (or was) active and the committed data may sit in the WAL, so the
  read goes through ``mode=ro``, which coordinates with writers through the existing ``-shm`` index.
  That read can update the shared-memory index (as any reader does) but never the database or WAL.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

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

__all__ = [
    "DEFAULT_STATE_FILENAME",
    "SCHEMA_VERSION",
    "SQLITE_SUFFIXES",
    "SqliteStore",
    "sqlite_path_from_url",
]

T = TypeVar("T")

DEFAULT_STATE_FILENAME = "mp-policy-state.db"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
SCHEMA_VERSION = 1
APPLICATION_ID = 0x6D70706C  # "mppl"

CORRUPT_HINT = "move it aside (e.g. rename it to *.broken); state is only cooldowns and cursors, it will be rebuilt"
_TABLES = ("cooldowns", "cursors", "turns", "quota", "log")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cooldowns (
        ns TEXT NOT NULL, provider TEXT NOT NULL, until REAL NOT NULL, reason TEXT NOT NULL,
        since REAL NOT NULL, source TEXT, PRIMARY KEY (ns, provider)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS cursors (
        ns TEXT NOT NULL, pool TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (ns, pool)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS turns (
        ns TEXT NOT NULL, turn_id TEXT NOT NULL, data TEXT NOT NULL, updated_at REAL NOT NULL,
        expires_at REAL NOT NULL, PRIMARY KEY (ns, turn_id)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS turns_expiry ON turns (ns, expires_at)",
    """CREATE TABLE IF NOT EXISTS quota (
        ns TEXT NOT NULL, provider TEXT NOT NULL, remaining REAL, fetched_at REAL NOT NULL,
        source TEXT NOT NULL, status TEXT, windows TEXT NOT NULL, summary TEXT NOT NULL,
        PRIMARY KEY (ns, provider)) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, ns TEXT NOT NULL, entry TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS log_ns ON log (ns, id)",
)

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
_TRIM_LOG = """
    DELETE FROM log WHERE ns = ?1 AND id <= (
        SELECT id FROM log WHERE ns = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"""

# Connections inherited through os.fork belong to the parent: SQLite must never use or close them
# in the child (its lock bookkeeping would be wrong). The child keeps them referenced and opens its own.
_ABANDONED: list[sqlite3.Connection] = []

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def sqlite_path_from_url(url: str, *, cwd: Path | None = None) -> Path:
    """The file behind ``sqlite:///abs/path.db``, ``sqlite://relative/path.db`` or a plain path."""
    text = url[len("sqlite://") :] if url.lower().startswith("sqlite://") else url
    if not text:
        raise StateError(f"state URL {url!r} names no file; use sqlite:///absolute/path.db")
    if text.startswith("/"):
        text = "/" + text.lstrip("/")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return Path(os.path.normpath(path))


def _abandon(conn: sqlite3.Connection) -> None:
    """Keep an inherited connection alive for good, so not even interpreter shutdown closes it."""
    _ABANDONED.append(conn)
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))
    except (ImportError, AttributeError):  # pragma: no cover - not CPython
        pass


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    code = _code(exc)
    if code is not None:
        return code in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _file_signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


class SqliteStore(StateStore):
    """A state store in one SQLite file; see the module docstring for concurrency and read-only rules."""

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
        if not namespace:
            raise ValueError("namespace must be a non-empty string")
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.url = f"sqlite://{self.path}"
        self.readonly = readonly
        self.namespace = namespace
        self.busy_timeout = busy_timeout
        self.lock_deadline = lock_deadline
        self.log_limit = log_limit
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._closed = False
        # (PRAGMA data_version, snapshot) of the last snapshot read on this connection: a snapshot is
        # re-read only when another connection committed since (or this one wrote, which clears it).
        self._cached: tuple[int, StateSnapshot] | None = None
        if readonly:
            self._read(lambda conn: None)  # validate an existing file now; never creates one
        else:
            with self._locked():
                self._connection()

    # ------------------------------------------------------------------ connections

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._pid != os.getpid():  # forked: the inherited connection and lock belong to the parent
            if self._conn is not None:
                _abandon(self._conn)
            self._conn = None
            self._cached = None
            self._lock = threading.RLock()
            self._pid = os.getpid()
        with self._lock:
            if self._closed:
                raise StateError(f"state store {self.url} is closed")
            yield

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open_rw()
        return self._conn

    def _open_rw(self) -> sqlite3.Connection:
        path = self.path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise StateError(
                f"cannot create state file {path}: {exc.strerror or exc}",
                path=str(path),
                hint="check that the directory is writable, or choose another file with --state",
            ) from exc
        try:
            conn = sqlite3.connect(str(path), timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._db_error(exc, "open") from exc
        try:
            # Refuse a corrupt, foreign or newer file before changing anything in it.
            version = self._transaction(conn, self._check_header, write=False, what="read")
            if version:  # a damaged page anywhere (not only in the tables a snapshot reads) refuses the file
                self._transaction(conn, self._check_pages, write=False, what="check")
            self._retry(lambda: self._set_wal(conn), "switch to WAL mode")
            conn.execute("PRAGMA synchronous=NORMAL")
            if version != SCHEMA_VERSION:
                self._create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_pages(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("PRAGMA quick_check(1)").fetchone()
        if row is None or row[0] != "ok":
            raise StateError(f"state file {self.path} is corrupt or not a database (quick_check: {row and row[0]})",
                             path=str(self.path), hint=CORRUPT_HINT)

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError("database is locked (could not switch to WAL mode)")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        def create(c: sqlite3.Connection) -> None:
            if self._check_header(c) == SCHEMA_VERSION:  # another process won the race
                return
            for statement in _SCHEMA:
                c.execute(statement)
            c.execute(f"PRAGMA application_id={APPLICATION_ID}")
            c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

        self._transaction(conn, create, write=True, what="create the schema")

    def _check_header(self, conn: sqlite3.Connection) -> int:
        """The schema version; raises when the file belongs to something else or to a newer release.

        Run inside a transaction: the header and the table list must come from one snapshot.
        """
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and app_id == 0:
            tables = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            if all(row[0] in _TABLES for row in tables):
                return 0
        if app_id != APPLICATION_ID:
            raise StateError(
                f"{self.path} is an SQLite database but not an mp-policy state file",
                path=str(self.path),
                hint="choose another file with --state (or MP_POLICY_STATE); this one was left untouched",
            )
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state file {self.path} has schema version {version}, newer than this mp-policy "
                f"understands ({SCHEMA_VERSION})",
                path=str(self.path),
                hint="upgrade mp-policy, or point --state at another file",
            )
        return int(version)

    # ------------------------------------------------------------------ errors and retries

    def _db_error(self, exc: sqlite3.Error, what: str) -> StateError:
        code = _code(exc)
        if code in _CORRUPT_CODES or "not a database" in str(exc) or "malformed" in str(exc):
            return StateError(
                f"state file {self.path} is corrupt or not a database ({exc})",
                path=str(self.path),
                hint=CORRUPT_HINT,
            )
        return StateError(
            f"state file {self.path}: cannot {what}: {exc}",
            path=str(self.path),
            hint="check that the file and its directory are readable/writable and the disk is not full",
        )

    def _locked_error(self, what: str) -> StateError:
        return StateError(
            f"state file {self.path} stayed locked for {self.lock_deadline:g}s (trying to {what})",
            path=str(self.path),
            hint=(
                f"another process holds a write transaction on it; retry, or find the stuck process "
                f"(e.g. `fuser {self.path}`); --state memory:// runs without shared state"
            ),
        )

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` again with jittered backoff while SQLite says busy/locked, up to the deadline."""
        deadline = time.monotonic() + self.lock_deadline
        delay = 0.002
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise self._db_error(exc, what) from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._locked_error(what) from exc
                time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
                delay = min(delay * 2, 0.1)
            except sqlite3.DatabaseError as exc:
                raise self._db_error(exc, what) from exc

    def _transaction(
        self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], *, write: bool, what: str
    ) -> T:
        """Run ``fn`` in one transaction (``BEGIN IMMEDIATE`` when writing), retried as a whole on busy."""

        def attempt() -> T:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result

        return self._retry(attempt, what)

    def _write(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        self._check_writable()
        with self._locked():
            self._cached = None
            return self._transaction(self._connection(), fn, write=True, what=what)

    def _read(self, fn: Callable[[sqlite3.Connection | None], T]) -> T:
        """Run a read; ``fn`` gets ``None`` when there is no data yet (read-only, missing or empty file)."""
        if not self.readonly:
            with self._locked():
                return self._transaction(self._connection(), fn, write=False, what="read")
        with self._locked():
            return self._read_only(fn)

    # ------------------------------------------------------------------ read-only reads

    def _read_only(self, fn: Callable[[sqlite3.Connection | None], T]) -> T:
        for _ in range(5):
            before = _file_signature(self.path)
            if before is None:
                return fn(None)
            if _side(self.path, "-wal").exists() or _side(self.path, "-journal").exists():
                break
            try:
                result = self._read_with(fn, immutable=True)
            except StateError:
                if _file_signature(self.path) != before:
                    continue  # a writer changed the file under us: read again
                raise
            if _file_signature(self.path) == before and not _side(self.path, "-wal").exists():
                return result
        return self._read_with(fn, immutable=False)

    def _read_with(self, fn: Callable[[sqlite3.Connection | None], T], *, immutable: bool) -> T:
        uri = f"file:{quote(str(self.path))}?mode=ro" + ("&immutable=1" if immutable else "")
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._db_error(exc, "open") from exc
        try:

            def run(c: sqlite3.Connection) -> T:
                return fn(c if self._check_header(c) else None)

            return self._transaction(conn, run, write=False, what="read")
        finally:
            conn.close()

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
            return TurnRecord(turn_id, json.loads(row[0]), from_epoch(row[1]), from_epoch(row[2]))

        return self._read(select)

    def dump(self) -> dict[str, Any]:
        """Everything in this namespace, JSON-able, with ISO times."""

        def select(c: sqlite3.Connection | None) -> dict[str, Any]:
            snap = self._select_snapshot(c)
            turns: list[TurnRecord] = []
            log: list[Any] = []
            if c is not None:
                turns = [
                    TurnRecord(row[0], json.loads(row[1]), from_epoch(row[2]), from_epoch(row[3]))
                    for row in c.execute(
                        "SELECT turn_id, data, updated_at, expires_at FROM turns WHERE ns = ?",
                        (self.namespace,),
                    )
                ]
                log = [
                    json.loads(row[0])
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
            (ns, tid, json_text(t.data, f"turn {tid!r} data"), to_epoch(t.updated_at), to_epoch(t.expires_at))
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

    def _write_log(self, c: sqlite3.Connection, changes: StateChanges) -> None:
        if changes.log:
            ns = self.namespace
            c.executemany(
                "INSERT INTO log (ns, entry) VALUES (?, ?)",
                [(ns, json_text(e, "log entry")) for e in changes.log],
            )
            c.execute(_TRIM_LOG, (ns, self.log_limit))

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

        self._write(delete, "clear")

    def close(self) -> None:
        """Close this process's connection (an inherited one after fork is left alone)."""
        if self._closed:
            return
        with self._locked():
            self._closed = True
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()


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
            for name, rem, at in json.loads(windows)
        ),
        summary=summary,
    )
