"""SQLite store: the file itself (WAL, permissions, read-only, corruption, locking) and URL handling."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.state import (
    STORE_FACTORIES,
    Cooldown,
    MemoryStore,
    SqliteStore,
    StateChanges,
    StateError,
    StateReadOnlyError,
    StateStore,
    TurnRecord,
    open_store,
    redact_url,
    register_store,
)
from policy_engine.state.sqlite import SCHEMA_VERSION

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def changes(tag: str = "a") -> StateChanges:
    return StateChanges(
        cooldowns=[Cooldown(tag, NOW + timedelta(minutes=5), "rate_limit: HTTP 429", NOW, "pool cooldown 5m")],
        cursors={"claude": tag},
        turns={f"turn-{tag}": TurnRecord(f"turn-{tag}", {"attempted": [tag]}, NOW, NOW + timedelta(hours=1))},
        log=[{"tag": tag}],
    )


def raw(path: Path, sql: str) -> list[Any]:
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


# --------------------------------------------------------------------------- the file


def test_file_is_created_with_wal_and_0600(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    with SqliteStore(path) as store:
        assert path.exists()  # created on open, before any write
        store.apply(changes())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for side in ("-wal", "-shm"):
            side_path = path.with_name(path.name + side)
            if side_path.exists():
                assert stat.S_IMODE(side_path.stat().st_mode) & 0o077 == 0
    assert raw(path, "PRAGMA journal_mode") == [("wal",)]
    assert raw(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # times are epoch floats in the file
    assert raw(path, "SELECT typeof(until), typeof(since) FROM cooldowns") == [("real", "real")]
    assert raw(path, "SELECT until FROM cooldowns") == [((NOW + timedelta(minutes=5)).timestamp(),)]


def test_reopen_after_close_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        store.apply(changes("a"))
    with SqliteStore(path) as store:
        assert set(store.snapshot().cooldowns) == {"a"}
        assert store.get_turn("turn-a", NOW) is not None
        store.apply(changes("b"))
    with SqliteStore(path) as store:
        assert set(store.snapshot().cooldowns) == {"a", "b"}
        assert store.dump()["log"] == [{"tag": "a"}, {"tag": "b"}]
    assert not path.with_name("state.db-wal").exists()  # a clean close checkpoints and removes the WAL


def test_namespaces_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path, namespace="one") as one, SqliteStore(path, namespace="two") as two:
        one.apply(changes("a"))
        two.apply(changes("b"))
        assert set(one.snapshot().cooldowns) == {"a"}
        assert set(two.snapshot().cooldowns) == {"b"}
        assert two.get_turn("turn-a", NOW) is None
    assert sorted(raw(path, "SELECT ns, provider FROM cooldowns")) == [("one", "a"), ("two", "b")]


# --------------------------------------------------------------------------- read-only


def test_readonly_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "not" / "there" / "state.db"
    with SqliteStore(path, readonly=True) as store:
        snap = store.snapshot()
        assert (dict(snap.cooldowns), dict(snap.cursors), dict(snap.quota)) == ({}, {}, {})
        assert store.get_turn("t", NOW) is None
        assert store.dump()["exists"] is False
        with pytest.raises(StateReadOnlyError):
            store.apply(changes())
    assert list(tmp_path.iterdir()) == []
    store2 = open_store(None, agent_dir=tmp_path / "agent", readonly=True)
    store2.snapshot()
    store2.close()
    assert list(tmp_path.iterdir()) == []


def test_readonly_existing_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path) as writer:
        writer.apply(changes("a"))
    assert not path.with_name("state.db-wal").exists()
    content, before = path.read_bytes(), listing(tmp_path)

    with SqliteStore(path, readonly=True) as store:
        assert set(store.snapshot().cooldowns) == {"a"}
        assert store.get_turn("turn-a", NOW) is not None
        assert store.dump()["log"] == [{"tag": "a"}]
        with pytest.raises(StateReadOnlyError, match="read-only"):
            store.apply(changes("b"))
        with pytest.raises(StateReadOnlyError):
            store.purge(NOW + timedelta(days=1))
        with pytest.raises(StateReadOnlyError):
            store.clear(["cursors"])
        assert listing(tmp_path) == before  # no -wal / -shm even while open

    assert path.read_bytes() == content
    assert listing(tmp_path) == before  # same files, sizes and mtimes


def test_readonly_sees_a_live_writer(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path) as writer:
        writer.apply(changes("a"))
        with SqliteStore(path, readonly=True) as store:
            assert set(store.snapshot().cooldowns) == {"a"}  # read through the WAL
            writer.apply(changes("b"))
            assert set(store.snapshot().cooldowns) == {"a", "b"}  # and never a stale cached copy
            with pytest.raises(StateReadOnlyError):
                store.apply(changes("c"))
        assert set(writer.snapshot().cooldowns) == {"a", "b"}


def test_readonly_store_sees_a_file_created_later(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path, readonly=True) as store:
        assert dict(store.snapshot().cooldowns) == {}
        with SqliteStore(path) as writer:
            writer.apply(changes("a"))
        assert set(store.snapshot().cooldowns) == {"a"}


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize(
    "content", [os.urandom(4096), b"this is a text file, not a database\n" * 40], ids=["random", "text"]
)
def test_corrupt_file_is_reported_and_kept(tmp_path: Path, content: bytes, readonly: bool) -> None:
    path = tmp_path / "mp-policy-state.db"
    path.write_bytes(content)
    with pytest.raises(StateError) as info:
        open_store(None, agent_dir=tmp_path, readonly=readonly)
    message = str(info.value)
    assert str(path) in message
    assert "move it aside" in message and "rebuilt" in message
    assert info.value.path == str(path)
    assert path.read_bytes() == content  # never recreated or overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mp-policy-state.db"]


def test_foreign_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    raw(path, "CREATE TABLE invoices (id INTEGER)")
    for readonly in (False, True):
        with pytest.raises(StateError, match="not an mp-policy state file"):
            SqliteStore(path, readonly=readonly)
    assert [r[0] for r in raw(path, "SELECT name FROM sqlite_master")] == ["invoices"]
    assert raw(path, "PRAGMA journal_mode") == [("delete",)]  # not even switched to WAL


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    raw(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StateError, match="newer than this mp-policy"):
        SqliteStore(path)


def test_empty_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch()
    with SqliteStore(path, readonly=True) as ro:  # an empty file reads as an empty store
        assert dict(ro.snapshot().cursors) == {}
    with SqliteStore(path) as store:
        store.apply(changes())
        assert set(store.snapshot().cooldowns) == {"a"}


# --------------------------------------------------------------------------- atomicity and locking


def test_failure_midway_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    store.apply(changes("a"))
    before = store.dump()

    def boom(self: SqliteStore, conn: sqlite3.Connection, batch: StateChanges) -> None:
        # everything before the log has been written inside the transaction by now
        assert conn.execute("SELECT count(*) FROM cooldowns").fetchone() == (2,)
        raise RuntimeError("injected failure")

    monkeypatch.setattr(SqliteStore, "_write_log", boom)
    with pytest.raises(RuntimeError, match="injected"):
        store.apply(changes("b"))
    monkeypatch.undo()

    assert store.dump() == before
    other = SqliteStore(path)  # and another connection sees nothing of it either
    assert other.dump()["cooldowns"] == before["cooldowns"]
    other.close()
    store.apply(changes("c"))  # the connection is not left inside a transaction
    assert set(store.snapshot().cooldowns) == {"a", "c"}
    store.close()


def test_lock_held_too_long_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, busy_timeout=0.01, lock_deadline=0.3)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateError) as info:
            store.apply(changes())
        message = str(info.value)
        assert message.splitlines()[0].startswith(f"state file {path} stayed locked")
        assert "hint:" in message
        store.snapshot()  # readers are not blocked by a writer in WAL mode
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.apply(changes())
    store.close()


def test_retry_loop_outlasts_a_short_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, busy_timeout=0.001, lock_deadline=30)  # SQLite's own wait is almost nothing
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO cursors (ns, pool, member) VALUES ('default', 'held', 'x')")
    released = threading.Event()

    def release() -> None:
        holder.execute("COMMIT")
        released.set()

    timer = threading.Timer(0.2, release)
    timer.start()
    try:
        store.apply(changes())  # retried with backoff until the holder commits
    finally:
        timer.join()
        holder.close()
    assert released.is_set()
    assert dict(store.snapshot().cursors) == {"held": "x", "claude": "a"}
    store.close()


# --------------------------------------------------------------------------- URLs


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    agent = tmp_path / "agent"
    cases = {
        None: agent / "mp-policy-state.db",
        f"sqlite://{tmp_path}/abs.db": tmp_path / "abs.db",
        f"sqlite:///{tmp_path}/four.db": tmp_path / "four.db",
        "sqlite://rel/dir/r.db": tmp_path / "rel" / "dir" / "r.db",
        "plain.sqlite3": tmp_path / "plain.sqlite3",
        f"{tmp_path}/x.sqlite": tmp_path / "x.sqlite",
    }
    for url, path in cases.items():
        with open_store(url, agent_dir=agent) as store:
            assert isinstance(store, SqliteStore)
            assert store.path == path
            assert store.url == f"sqlite://{path}"
            assert path.exists()
    assert isinstance(open_store("memory://", agent_dir=agent), MemoryStore)


@pytest.mark.parametrize("url", ["mongodb://:s3cret@cache:27017/0", "nope.txt", "ftp://x/y.db"])
def test_unknown_store_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(StateError) as info:
        open_store(url, agent_dir=tmp_path)
    message = str(info.value)
    assert "memory://" in message and "sqlite://" in message and ".db" in message
    assert "s3cret" not in message
    assert list(tmp_path.iterdir()) == []


def test_register_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def factory(url: str, *, agent_dir: Path, readonly: bool, namespace: str) -> StateStore:
        seen.update(url=url, agent_dir=agent_dir, readonly=readonly, namespace=namespace)
        return MemoryStore(readonly=readonly, namespace=namespace)

    monkeypatch.setitem(STORE_FACTORIES, "redis", factory)
    register_store("redis", factory)
    store = open_store("redis://localhost/0", agent_dir=tmp_path, readonly=True, namespace="ci")
    assert store.readonly and store.namespace == "ci"
    assert seen == {"url": "redis://localhost/0", "agent_dir": tmp_path, "readonly": True, "namespace": "ci"}


def test_redact_url() -> None:
    assert redact_url("redis://user:pw@host:1/0") == "redis://user:***@host:1/0"
    assert redact_url("redis://:pw@host") == "redis://:***@host"
    assert redact_url("sqlite:///a/b.db") == "sqlite:///a/b.db"


def test_snapshot_cache_sees_other_writers_and_own_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqliteStore(path) as a, SqliteStore(path) as b:
        a.apply(changes("a"))
        first = a.snapshot()
        assert set(first.cooldowns) == {"a"}
        first.cooldowns.clear()  # type: ignore[attr-defined]  # callers get their own copies
        assert set(a.snapshot().cooldowns) == {"a"}
        b.apply(changes("b"))  # committed by another connection
        assert set(a.snapshot().cooldowns) == {"a", "b"}
        a.clear(["cooldowns"])  # this connection's own write
        assert dict(a.snapshot().cooldowns) == {}
        assert dict(b.snapshot().cooldowns) == {}
        raw(path, "INSERT INTO cursors (ns, pool, member) VALUES ('default', 'outside', 'x')")
        assert a.snapshot().cursors["outside"] == "x"
