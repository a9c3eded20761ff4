"""Several real processes on one SQLite state file: contention, no lost writes, crash safety, fork."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import signal
import sqlite3
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.state import Cooldown, QuotaSnapshot, SqliteStore, StateChanges, TurnRecord

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PROCESSES = 4
APPLIES = 200
BATCH = 20  # rows per table in each crash-test batch

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses fork and SIGKILL")


# --------------------------------------------------------------------------- contention


def _contender(path: str, p: int, start: Any, results: Any) -> None:
    """Process ``p``: APPLIES batches of distinct rows plus random writes to one contended row."""
    try:
        rng = random.Random(p)
        start.wait(timeout=60)
        store = SqliteStore(path)  # all processes create/open the new file at the same moment
        best_until, best_quota = (0.0, ""), (0.0, -1.0)
        for i in range(APPLIES):
            until = BASE + timedelta(seconds=rng.uniform(0, 10_000))
            fetched = BASE + timedelta(seconds=rng.uniform(0, 10_000))
            remaining = float(p * 1000 + i)  # identifies the writer of the quota row
            best_until = max(best_until, (until.timestamp(), f"from {p}/{i}"))
            best_quota = max(best_quota, (fetched.timestamp(), remaining))
            store.apply(
                StateChanges(
                    cooldowns=[
                        Cooldown(f"p{p}-{i}", BASE + timedelta(minutes=5), f"rl {p}/{i}", BASE),
                        Cooldown("shared", until, f"from {p}/{i}", BASE, "retry-after header"),
                    ],
                    cursors={f"pool-{p}-{i}": f"m{i}", "shared-pool": f"p{p}-{i}"},
                    turns={f"t-{p}-{i}": TurnRecord(f"t-{p}-{i}", {"p": p, "i": i}, BASE, BASE + timedelta(hours=1))},
                    quota=[QuotaSnapshot("shared", remaining, fetched, source="test")],
                    log=[{"p": p, "i": i}],
                )
            )
            if i % 10 == 0:
                store.snapshot()  # readers interleave with the writers
        store.close()
        results.put(("ok", p, best_until, best_quota))
    except BaseException:
        results.put(("error", p, traceback.format_exc()))


def test_processes_contending_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(path), p, start, results)) for p in range(PROCESSES)]
    for proc in procs:
        proc.start()
    start.set()
    reports = []
    try:
        for _ in procs:
            reports.append(results.get(timeout=180))
    except queue.Empty:  # pragma: no cover - a hung child
        pytest.fail(f"only {len(reports)} of {PROCESSES} processes reported: {reports}")
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():  # pragma: no cover
                proc.kill()

    errors = [r for r in reports if r[0] != "ok"]
    assert errors == [], "\n".join(r[2] for r in errors)
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES

    with SqliteStore(path, readonly=True) as store:
        snap = store.snapshot()
        doc = store.dump()
    # no lost writes
    for p in range(PROCESSES):
        for i in range(APPLIES):
            assert snap.cooldowns[f"p{p}-{i}"].reason == f"rl {p}/{i}"
            assert snap.cursors[f"pool-{p}-{i}"] == f"m{i}"
            assert doc["turns"][f"t-{p}-{i}"]["data"] == {"p": p, "i": i}
    assert len(snap.cooldowns) == PROCESSES * APPLIES + 1
    assert len(doc["turns"]) == PROCESSES * APPLIES
    log = doc["log"]
    assert len(log) == PROCESSES * APPLIES
    for p in range(PROCESSES):
        assert [e["i"] for e in log if e["p"] == p] == list(range(APPLIES))  # each writer's order kept
    # the contended rows hold the winners of their merge rules
    max_until, its_reason = max(r[2] for r in reports)
    assert snap.cooldowns["shared"].until.timestamp() == max_until
    assert snap.cooldowns["shared"].reason == its_reason  # reason moved together with until
    fetched, remaining = max(r[3] for r in reports)
    assert snap.quota["shared"].fetched_at.timestamp() == fetched
    assert snap.quota["shared"].remaining == remaining  # the whole row came from the newest writer
    assert snap.cursors["shared-pool"] in {f"p{p}-{i}" for p in range(PROCESSES) for i in range(APPLIES)}
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


# --------------------------------------------------------------------------- crash safety


def _batch(tag: str, i: int) -> StateChanges:
    key = f"{tag}-{i}"
    return StateChanges(
        cooldowns=[Cooldown(f"{key}-{k}", BASE + timedelta(minutes=k + 1), "rl", BASE) for k in range(BATCH)],
        cursors={f"pool-{key}": "m"},
        turns={
            f"{key}-{k}": TurnRecord(f"{key}-{k}", {"i": i, "k": k}, BASE, BASE + timedelta(hours=1))
            for k in range(BATCH)
        },
        quota=[QuotaSnapshot(f"q-{key}", 50.0, BASE)],
        log=[{"tag": tag, "i": i}],
    )


def _streamer(path: str, tag: str, done: Any, hold: Any, inside: Any) -> None:
    """Apply batches forever, publishing how many have been acknowledged; killed from outside.

    When ``hold`` is set, the next batch stops for good inside its transaction, after its cooldowns
    and turns are written but before COMMIT, and says so through ``inside``.
    """
    write_turns = SqliteStore._write_turns

    def write_turns_then_maybe_hang(self: SqliteStore, conn: Any, changes: StateChanges) -> None:
        write_turns(self, conn, changes)
        if hold.value:
            inside.value = 1
            while True:
                time.sleep(1)

    SqliteStore._write_turns = write_turns_then_maybe_hang  # type: ignore[method-assign]  # this process only
    store = SqliteStore(path, log_limit=1_000_000)
    i = 0
    while True:
        store.apply(_batch(tag, i))
        i += 1
        done.value = i


def _present(doc: dict[str, Any], tag: str, i: int) -> set[bool]:
    key = f"{tag}-{i}"
    marks = {f"{key}-{k}" in doc["cooldowns"] for k in range(BATCH)}
    marks |= {f"{key}-{k}" in doc["turns"] for k in range(BATCH)}
    marks.add(f"pool-{key}" in doc["cursors"])
    marks.add(f"q-{key}" in doc["quota"])
    marks.add({"tag": tag, "i": i} in doc["log"])
    return marks


def test_sigkill_mid_stream_leaves_whole_batches(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ctx = mp.get_context("spawn")
    rng = random.Random(7)
    # Rounds alternate between a kill at a random moment of the stream and a kill of a writer that
    # is certainly inside an open write transaction; each round starts on the file the last kill left.
    for round_, held in enumerate([False, True, False, True]):
        tag = f"r{round_}"
        done, hold, inside = (ctx.Value("i", 0, lock=False) for _ in range(3))
        proc = ctx.Process(target=_streamer, args=(str(path), tag, done, hold, inside))
        proc.start()
        deadline = time.monotonic() + 120
        target = 15 + rng.randrange(30)
        while done.value < target and proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.002)
        if held:
            hold.value = 1
            while not inside.value and proc.is_alive() and time.monotonic() < deadline:
                time.sleep(0.002)
            assert inside.value, "the writer never reached its held transaction"
        else:
            time.sleep(rng.uniform(0, 0.01))
        assert proc.is_alive(), f"streamer died on its own (exit code {proc.exitcode})"
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL
        acknowledged = done.value

        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        with SqliteStore(path, log_limit=1_000_000) as store:
            doc = store.dump()
        complete = []
        for i in range(acknowledged + 5):
            marks = _present(doc, tag, i)
            assert len(marks) == 1, f"batch {i} of round {round_} is partly written"
            if marks == {True}:
                complete.append(i)
        # every acknowledged batch survived; at most the one in flight made it too (never a held one)
        assert complete == list(range(len(complete)))
        assert acknowledged <= len(complete) <= acknowledged + (0 if held else 1)


# --------------------------------------------------------------------------- fork


def _use_inherited(store: SqliteStore, results: Any) -> None:
    try:
        inherited = store._conn
        store.apply(StateChanges(cursors={"child": str(os.getpid())}))
        assert store._conn is not inherited, "the child reused its parent's connection"
        results.put(("ok", sorted(store.snapshot().cursors)))
        store.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))


def test_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    store.apply(StateChanges(cursors={"parent": "1"}))
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    children = [ctx.Process(target=_use_inherited, args=(store, results)) for _ in range(3)]
    for child in children:
        child.start()
    reports = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert [r[0] for r in reports] == ["ok"] * 3, reports
    assert [c.exitcode for c in children] == [0, 0, 0]

    # the parent's connection still works and sees the children's writes
    store.apply(StateChanges(cursors={"parent": "2"}))
    cursors = store.snapshot().cursors
    assert cursors["parent"] == "2"
    assert {cursors["child"]} <= {str(c.pid) for c in children}
    store.close()
    assert sqlite3.connect(tmp_path / "state.db").execute("PRAGMA integrity_check").fetchone() == ("ok",)
