"""The SQLite file behind :class:`~policy_engine.state.sqlite.SqliteStore`: opening, checking, locking,
transactions and read-only reads (the store itself holds the tables' reads and writes).
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

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from .base import StateError, StateSnapshot

__all__ = [
    "APPLICATION_ID",
    "DEFAULT_STATE_FILENAME",
    "LOG_SPACE_BITS",
    "SCHEMA_VERSION",
    "SQLITE_SUFFIXES",
    "SqliteFile",
    "sqlite_path_from_url",
]

T = TypeVar("T")

DEFAULT_STATE_FILENAME = "mp-policy-state.db"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
SCHEMA_VERSION = 2
APPLICATION_ID = 0x6D70706C  # "mppl"

CORRUPT_HINT = "move it aside (e.g. rename it to *.broken); state is only cooldowns and cursors, it will be rebuilt"
_TABLES = ("cooldowns", "cursors", "turns", "quota", "log")  # a namespace's data, by part

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
    # The decision log: each namespace owns the row ids of one space (``space << LOG_SPACE_BITS`` up), so its
    # entries are one id range, numbered without gaps: no second index to write on every entry.
    "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, ns TEXT NOT NULL, entry TEXT NOT NULL)",
    # AUTOINCREMENT: a space is never given twice, even once its namespace's log was cleared (and its row deleted)
    "CREATE TABLE IF NOT EXISTS log_spaces (space INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL UNIQUE)",
    # The size trim's running byte count of a namespace's entries (see policy_engine/state/sqlite_log.py)
    """CREATE TABLE IF NOT EXISTS log_bytes (
        ns TEXT PRIMARY KEY, low INTEGER NOT NULL, upto INTEGER NOT NULL, total INTEGER NOT NULL) WITHOUT ROWID""",
)

#: Bits of a log row id below its namespace's space: 2**40 entries per namespace over the file's life.
LOG_SPACE_BITS = 40

# Schema 1 kept one id sequence for every namespace and an index on (ns, id). Its log moves into spaces,
# each namespace's entries numbered again from 1 in their order (a cursor of schema 1 means nothing after).
_MIGRATE_LOG_FROM_1 = (
    "CREATE TABLE log_spaces (space INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL UNIQUE)",
    "INSERT INTO log_spaces (space, ns) SELECT ROW_NUMBER() OVER (ORDER BY MIN(id)), ns FROM log GROUP BY ns",
    "ALTER TABLE log RENAME TO log_schema_1",
    "CREATE TABLE log (id INTEGER PRIMARY KEY, ns TEXT NOT NULL, entry TEXT NOT NULL)",
    f"""INSERT INTO log (id, ns, entry)
        SELECT (s.space << {LOG_SPACE_BITS}) + ROW_NUMBER() OVER (PARTITION BY l.ns ORDER BY l.id), l.ns, l.entry
        FROM log_schema_1 AS l JOIN log_spaces AS s ON s.ns = l.ns""",
    "DROP TABLE log_schema_1",
    "DROP TABLE IF EXISTS log_bytes",
)

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



class SqliteFile:
    """One SQLite state file seen from this process: its connection, lock, transactions and read-only reads.

    The store (:class:`~policy_engine.state.sqlite.SqliteStore`) supplies ``_check_writable``.
    """

    _check_writable: Callable[[], None]

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool, namespace: str, busy_timeout: float,
                 lock_deadline: float) -> None:
        if not namespace:
            raise ValueError("namespace must be a non-empty string")
        self.path = Path(os.path.abspath(os.fspath(path)))
        self.url = f"sqlite://{self.path}"
        self.readonly = readonly
        self.namespace = namespace
        self.busy_timeout = busy_timeout
        self.lock_deadline = lock_deadline
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
            tables = {row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "log" in tables and "log_spaces" not in tables:
                for statement in _MIGRATE_LOG_FROM_1:
                    c.execute(statement)
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


    def close(self) -> None:
        """Close this process's connection (an inherited one after fork is left alone)."""
        if self._closed:
            return
        with self._locked():
            self._closed = True
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

