"""The SQLite store's log trims (policy_engine/state/sqlite_log.py): the size bound is exact, kept by a running
total that survives other writers' deletes, and a trim costs what it drops rather than the log's length."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from processes import run_together

from policy_engine.state import SqliteStore, StateChanges, StateError
from policy_engine.state.log import LogRecord, LogRetention, trim_every

T0 = 1_800_000_000.0


def entry(n: int, pad: int) -> dict[str, object]:
    return {"n": n, "t": T0 + n, "pad": "x" * pad}


def kept(store: SqliteStore) -> list[int]:
    return [int(r.entry["n"]) for r in store.log_after(None, 100_000)]


def log_bytes(path: Path, ns: str = "default") -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("SELECT COALESCE(SUM(length(CAST(entry AS BLOB))), 0) FROM log WHERE ns = ?",
                             (ns,)).fetchone()[0])


def newest_that_fit(sizes: dict[int, int], max_bytes: int) -> int:
    """How many of the newest entries fit in ``max_bytes`` (what an exact size trim keeps, at least one)."""
    total, count = 0, 0
    for n in sorted(sizes, reverse=True):
        total += sizes[n]
        if total > max_bytes and count:
            break
        count += 1
    return count


def vm_steps(store: SqliteStore, action: Callable[[], object]) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``action`` runs on the store's connection."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn = store._connection()
    conn.set_progress_handler(count, 100)
    try:
        action()
    finally:
        conn.set_progress_handler(None, 100)
    return steps[0]


def test_a_log_trim_with_nothing_to_drop_does_not_visit_the_whole_log(tmp_path: Path) -> None:
    """The trim on the beat of ``trim_every`` costs what it drops, not the log's length: on a 5,000-entry
    log with nothing old, the beat's work stays that of an ordinary write (the age trim's DELETE bounded
    by a subquery used to visit every entry of the namespace)."""
    keep = LogRetention(entries=100_000, age=timedelta(days=1), max_bytes=None)
    every = trim_every(keep.entries)
    with SqliteStore(tmp_path / "state.db") as store:
        store.apply(StateChanges(log=[{"n": n, "t": 1_800_000_000.0 + n} for n in range(5_000)], retention=keep))
        off_beat = [{"n": n, "t": 1_800_005_000.0 + n} for n in range(5_000, every * (5_000 // every + 1) - 1)]
        store.apply(StateChanges(log=off_beat, retention=keep))  # ids up to just before the next beat
        plain = vm_steps(store, lambda: store.apply(StateChanges(cursors={"p": "a"})))
        beat = vm_steps(store, lambda: store.apply(StateChanges(log=[{"n": -1, "t": 1_800_010_000.0}],
                                                                 retention=keep)))
        assert len(store.log_after(None, 10_000)) == 5_000 + len(off_beat) + 1  # nothing was dropped
        assert beat < plain + 30, (plain, beat)  # under 3,000 steps (the old DELETE: over 50,000)


def test_the_size_bound_keeps_exactly_the_newest_that_fit_on_every_beat(tmp_path: Path) -> None:
    keep = LogRetention(entries=1_000, age=None, max_bytes=40_000)
    every = trim_every(keep.entries)
    sizes: dict[int, int] = {}
    with SqliteStore(tmp_path / "state.db") as store:
        for n in range(600):
            e = entry(n, pad=200 + (n * 37) % 400)  # entries of 230-630 bytes
            store.apply(StateChanges(log=[e], retention=keep))
            sizes[n] = len(store.log_before(None, 1)[0].entry["pad"]) + len(f'{{"n":{n},"t":{T0 + n},"pad":""}}')
            if (n + 1) % every == 0:  # a trim beat: exactly the newest entries within the bound remain
                assert kept(store) == list(range(n + 1 - newest_that_fit(sizes, 40_000), n + 1)), n
                assert log_bytes(tmp_path / "state.db") <= 40_000


def test_the_running_size_is_counted_again_after_a_writer_that_does_not_keep_it(tmp_path: Path) -> None:
    """An older release deletes the oldest entries without updating ``log_bytes``: the next trim sees that the
    lowest id moved and counts again, so it does not cut on a stale total."""
    keep = LogRetention(entries=1_000, age=None, max_bytes=30_000)
    every = trim_every(keep.entries)
    path = tmp_path / "state.db"
    with SqliteStore(path) as store:
        for n in range(2 * every):
            store.apply(StateChanges(log=[entry(n, pad=400)], retention=keep))
        before = kept(store)
        with sqlite3.connect(path) as c:  # the other writer drops the 30 oldest
            c.execute("DELETE FROM log WHERE id IN (SELECT id FROM log ORDER BY id LIMIT 30)")
        for n in range(2 * every, 3 * every):
            store.apply(StateChanges(log=[entry(n, pad=400)], retention=keep))
        after = kept(store)
        assert after[-1] == 3 * every - 1 and after == list(range(after[0], after[-1] + 1))
        assert log_bytes(path) <= 30_000
        assert log_bytes(path) + 450 > 30_000  # one more entry would not fit: nothing more was cut
        assert after[0] > before[0] + 30


def test_clear_forgets_the_running_size(tmp_path: Path) -> None:
    keep = LogRetention(entries=100, age=None, max_bytes=5_000)
    with SqliteStore(tmp_path / "state.db") as store:
        for n in range(40):
            store.apply(StateChanges(log=[entry(n, pad=400)], retention=keep))
        store.clear(["log"])
        with sqlite3.connect(tmp_path / "state.db") as c:
            assert c.execute("SELECT COUNT(*) FROM log_bytes").fetchone()[0] == 0
        beat = trim_every(keep.entries)
        for n in range(6 * beat):  # row ids start again at 1: the last write is on a beat
            store.apply(StateChanges(log=[entry(n, pad=400)], retention=keep))
        assert log_bytes(tmp_path / "state.db") <= 5_000 and kept(store)[-1] == 6 * beat - 1


def test_a_size_trim_reads_what_is_new_and_what_it_drops_not_the_whole_log(tmp_path: Path) -> None:
    """On a log that sits at its size bound (10,000 entries of ~1.4 KB, as a fail on a large pool writes),
    a trim beat used to sum every entry (~16 ms); with the running total it reads the entries since the
    last beat and the ones it drops."""
    keep = LogRetention(entries=20_000, age=None, max_bytes=10_000 * 1_430)
    every = trim_every(keep.entries)
    with SqliteStore(tmp_path / "state.db") as store:
        store.apply(StateChanges(log=[entry(n, pad=1_400) for n in range(10_000)], retention=keep))
        n = 10_000
        while n % every != every - 1:  # up to just before the next beat
            store.apply(StateChanges(log=[entry(n, pad=1_400)], retention=keep))
            n += 1
        store.apply(StateChanges(log=[entry(n, pad=1_400)], retention=keep))  # a beat: the running total starts
        _beat(store, n + 1, keep, every - 1)  # up to just before the next beat
        n += every
        beat = vm_steps(store, lambda: store.apply(StateChanges(log=[entry(n, pad=1_400)], retention=keep)))
        assert kept(store)[-1] == n
        assert log_bytes(tmp_path / "state.db") <= keep.max_bytes  # type: ignore[operator]
        full = vm_steps(store, lambda: store._connection().execute(
            "SELECT SUM(length(CAST(entry AS BLOB))) FROM log").fetchone())
        assert beat * 20 < full, (beat, full)


def _beat(store: SqliteStore, start: int, keep: LogRetention, count: int) -> None:
    for n in range(start, start + count):
        store.apply(StateChanges(log=[entry(n, pad=1_400)], retention=keep))


# --------------------------------------------------------------------------- spaces, and the file of schema 1


def test_each_namespace_keeps_exactly_its_newest_entries_in_a_shared_file(tmp_path: Path) -> None:
    """Interleaved writers of two namespaces: each namespace's ids run without gaps, so its count bound is
    exact (schema 1 shared one id sequence and needed an index and a walk to count a namespace)."""
    keep = LogRetention(entries=5, age=None, max_bytes=None)
    with SqliteStore(tmp_path / "state.db", namespace="a") as a, SqliteStore(tmp_path / "state.db",
                                                                              namespace="b") as b:
        for n in range(40):
            (a if n % 3 else b).apply(StateChanges(log=[entry(n, pad=10)], retention=keep))
        assert kept(a) == [n for n in range(40) if n % 3][-5:]
        assert kept(b) == [n for n in range(40) if not n % 3][-5:]
        ids = [int(r.id) for r in a.log_after(None)]
        assert ids == list(range(ids[0], ids[0] + 5))
    with sqlite3.connect(tmp_path / "state.db") as c:
        assert [row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
                if not row[0].startswith("sqlite_")] == ["turns_expiry"]  # one B-tree written per entry


def test_a_cleared_log_starts_after_every_cursor_a_reader_holds(tmp_path: Path) -> None:
    """``trace --follow`` holds the id of the last entry it printed: after ``state clear --only log`` the
    new entries still come after it (the namespace moves to a new space)."""
    with SqliteStore(tmp_path / "state.db") as store, SqliteStore(tmp_path / "state.db") as follower:
        store.apply(StateChanges(log=[entry(n, pad=0) for n in range(3)]))
        cursor = follower.log_after(None)[-1].id
        store.clear(["log"])
        assert follower.log_after(cursor) == [] and kept(store) == []
        with sqlite3.connect(tmp_path / "state.db") as c:  # nothing of the namespace's log is left
            assert c.execute("SELECT COUNT(*) FROM log_spaces").fetchone()[0] == 0
        store.apply(StateChanges(log=[entry(7, pad=0)]))
        assert [r.entry["n"] for r in follower.log_after(cursor)] == [7]
        assert [r.entry["n"] for r in follower.wait_log(cursor, 0.1)] == [7]


_SCHEMA_1_LOG = ("CREATE TABLE log (id INTEGER PRIMARY KEY, ns TEXT NOT NULL, entry TEXT NOT NULL)",
                 "CREATE INDEX log_ns ON log (ns, id)")


def schema_1_file(path: Path) -> None:
    """A state file as schema 1 wrote it: two namespaces' entries interleaved in one id sequence."""
    from policy_engine.state.sqlite_file import _SCHEMA, APPLICATION_ID

    with sqlite3.connect(path) as c:
        for statement in _SCHEMA:
            if "log" not in statement:
                c.execute(statement)
        for statement in _SCHEMA_1_LOG:
            c.execute(statement)
        for n in range(1, 11):
            c.execute("INSERT INTO log (id, ns, entry) VALUES (?, ?, ?)",
                      (n * 10, "b" if n % 2 else "default", f'{{"n":{n},"t":{T0 + n}}}'))
        c.execute(f"PRAGMA application_id={APPLICATION_ID}")
        c.execute("PRAGMA user_version=1")


def test_a_file_of_schema_1_is_read_as_it_is_when_read_only(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    schema_1_file(path)
    before = path.read_bytes()
    with SqliteStore(path, readonly=True) as ro, SqliteStore(path, readonly=True, namespace="b") as rob:
        assert kept(ro) == [2, 4, 6, 8, 10] and kept(rob) == [1, 3, 5, 7, 9]
        assert [r.entry["n"] for r in ro.log_before(None, 2)] == [8, 10]
        assert [r.entry["n"] for r in ro.log_after(ro.log_before(None, 2)[0].id)] == [10]
    assert path.read_bytes() == before


def test_a_file_of_schema_1_moves_its_log_into_spaces_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    schema_1_file(path)
    with SqliteStore(path) as store, SqliteStore(path, namespace="b") as b:
        assert kept(store) == [2, 4, 6, 8, 10] and kept(b) == [1, 3, 5, 7, 9]
        store.apply(StateChanges(log=[{"n": 12, "t": T0 + 12}]))
        b.apply(StateChanges(log=[{"n": 11, "t": T0 + 11}]))
        assert kept(store) == [2, 4, 6, 8, 10, 12] and kept(b) == [1, 3, 5, 7, 9, 11]
        for s in (store, b):  # each namespace numbered again from 1, without gaps
            ids = [int(r.id) for r in s.log_after(None)]
            assert [i & ((1 << 40) - 1) for i in ids] == [1, 2, 3, 4, 5, 6]
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 2
        assert c.execute("SELECT name FROM sqlite_master WHERE name IN ('log_ns', 'log_schema_1')").fetchall() == []
        spaces = c.execute("SELECT ns, space FROM log_spaces ORDER BY space").fetchall()
        assert spaces == [("b", 1), ("default", 2)]  # in the order of their first entries


def _namespace_writer(path: str, namespace: str, count: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    with SqliteStore(path, namespace=namespace) as store:  # the first of them to open converts the file
        for n in range(count):
            store.apply(StateChanges(log=[{"n": n, "t": T0 + n}]))


def test_writers_opening_a_file_of_schema_1_at_once_convert_it_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    schema_1_file(path)
    names = ["default", "b", "c", "d"]
    run_together(_namespace_writer, [(str(path), name, 30) for name in names])
    old = {"default": [2, 4, 6, 8, 10], "b": [1, 3, 5, 7, 9], "c": [], "d": []}
    for name in names:
        with SqliteStore(path, namespace=name, readonly=True) as store:
            records = store.log_after(None, 1_000)
            assert [r.entry["n"] for r in records] == old[name] + list(range(30)), name
            seqs = [int(r.id) & ((1 << 40) - 1) for r in records]
            assert seqs == list(range(1, len(records) + 1)), name
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT COUNT(DISTINCT space), COUNT(*) FROM log_spaces").fetchone() == (4, 4)


# --------------------------------------------------------------------------- waiting for entries


def test_wait_log_reads_when_the_file_changes_and_otherwise_every_50_ms(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``trace --follow`` on SQLite: a write is read at the next look at the file (every 4 ms), and an idle
    wait queries the log only every 50 ms (on a fake clock: the test times nothing)."""
    path = tmp_path / "state.db"
    clock = [0.0]
    reads: list[float] = []
    with SqliteStore(path) as writer, SqliteStore(path, readonly=True) as reader:
        writer.apply(StateChanges(log=[entry(0, pad=0)]))
        cursor = reader.log_after(None)[-1].id
        real_after = reader.log_after

        def counted(after: str | None = None, count: int = 1000) -> list[LogRecord]:
            reads.append(clock[0])
            return real_after(after, count)

        write_at: list[float] = []

        def sleep(seconds: float) -> None:
            clock[0] += seconds
            if write_at and not write_at[1:] and clock[0] >= write_at[0]:
                write_at.append(clock[0])
                writer.apply(StateChanges(log=[entry(1, pad=0)]))

        monkeypatch.setattr(reader, "log_after", counted)
        monkeypatch.setattr(time, "sleep", sleep)
        monkeypatch.setattr(time, "monotonic", lambda: clock[0])

        assert reader.wait_log(cursor, 1.0) == []  # idle: a look every 4 ms, a read every 50 ms
        assert 20 <= len(reads) <= 22, reads
        reads.clear()
        clock[0] = 10.0
        write_at.append(10.302)  # another process commits then (seen by the first look or read after it)
        got = reader.wait_log(cursor, 1.0)
        assert [r.entry["n"] for r in got] == [1]
        assert reads[-1] - write_at[0] <= 0.0045, (reads[-1], write_at)  # the next look saw the commit


def test_a_file_that_gave_out_every_log_space_says_so(tmp_path: Path) -> None:
    """Row ids stay below 2**62: the 4,194,304th space is refused with a hint (the write changes nothing)."""
    path = tmp_path / "state.db"
    with SqliteStore(path, namespace="first") as store:
        store.apply(StateChanges(log=[entry(0, pad=0)]))
    with sqlite3.connect(path) as c:  # as if four million namespaces had come and gone
        c.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'log_spaces'", ((1 << 22) - 1,))
    with SqliteStore(path, namespace="late") as late:
        with pytest.raises(StateError, match="given out all its 4,194,304 log id spaces") as caught:
            late.apply(StateChanges(cursors={"pool": "a"}, log=[entry(1, pad=0)]))
        assert caught.value.hint and "move it aside" in caught.value.hint
        assert dict(late.snapshot().cursors) == {} and kept(late) == []
