"""A fleet of real processes sharing one state store (an SQLite file, or Redis) through the engine.

What each test proves (the child-process code is in ``fleet_worker.py``):

* ``test_fleet_failover_never_picks_a_cooling_account`` [sqlite, redis]: 4 processes run
  select → fail(429) → … on one round-robin pool of 6 accounts, at a fixed engine time per epoch.
  No decision that started after some process's ``fail`` of an account had returned chooses that
  account; a decision without a target comes only once every account had a cooldown, and carries
  the earliest cooldown end as ``retryAfter``; at the end of each epoch the store holds, for every
  failed account, exactly the latest cooldown end any process wrote (no cooldown update lost).
* ``test_fleet_cursor_and_log_are_written_together`` [sqlite, redis]: 4 processes apply batches
  that each set the pool cursor and log that same cursor. Every read taken while they write, and
  the final one, has the cursor named by the last log entry, and the log holds every entry, in
  each writer's order (no lost, torn or reordered batch).
* ``test_sigkill_mid_batch_leaves_whole_batches`` [sqlite, redis]: a process applying big batches
  is SIGKILLed at random moments; the store then opens, reads and writes, and every batch is
  wholly present or wholly absent (all acknowledged ones present, at most one more).
* ``test_redis_outage_with_and_without_fallback`` [restart, freeze]: 4 processes decide against a
  private Redis that is stopped and restarted (or frozen with SIGSTOP and thawed). With
  ``stateFallback: local`` the calls keep answering from the agent directory's SQLite file, with a
  warning, and go back to Redis afterwards; without it each call raises ``StateUnavailableError``
  quickly. No call takes longer than a few store timeouts, and no other exception appears.
* ``test_turn_survives_a_fallback_switch``: a turn begun on one store can still be failed once the
  fallback store has switched to the other one (in the process that began it).
* ``test_write_lock_of_a_stopped_process`` [cont, kill]: a process holding a write transaction is
  stopped; writes fail after the lock deadline with a ``StateError`` naming the file and what to
  do, reads go on, and a waiting write succeeds once the holder commits or is killed.
* ``test_damaged_state_file_is_refused_and_kept`` [truncated, schema page, cooldowns page, fallback]:
  a state file damaged beyond its header (``test_sqlite.py`` covers non-database content) is
  reported with its name and the hint, through the engine, and is never rewritten or recreated.
* ``test_damaged_page_outside_the_snapshot_is_refused``: a file with a damaged page in a table the
  snapshot does not read is refused, not written to.
* ``test_fleet_policy_is_valid``: the children's policy compiles cleanly, as the tests assume.

Every multi-process test uses real processes (``spawn``), never threads; times are compared on
``time.monotonic()``, which is one system-wide clock on Linux. No test asserts a speed, only
generous upper bounds on how long a call may block.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # spawn hands sys.path to the children: they import fleet_worker by name
    sys.path.insert(0, HERE)

import fleet_worker as fw  # noqa: E402
from redis_server import RedisServer, free_port  # noqa: E402

from policy_engine.engine import Engine  # noqa: E402
from policy_engine.state import (  # noqa: E402
    SqliteStore,
    StateChanges,
    StateError,
    StateStore,
    StateUnavailableError,
)
from policy_engine.state.fallback import RETRY_INTERVAL, FallbackStore  # noqa: E402
from policy_engine.state.sqlite import CORRUPT_HINT  # noqa: E402

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses spawn, SIGKILL and SIGSTOP")

PROCESSES = 4
EPOCHS = 12  # decision run: epochs, each at its own fixed engine time
TURNS = 3  # turns per process and epoch (the later ones find every account cooling)
BATCHES = 240  # cursor run: batches per process; PROCESSES × BATCHES stays below LOG_LIMIT (1000)
ROWS = 60  # SIGKILL run: rows per table in each batch
CALL_LIMIT = 5.0  # seconds: no engine call may take longer while Redis is down (its timeout is 1 s)
CTX = mp.get_context("spawn")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state store for the fleet: a file in tmp_path, or a private namespace on the session's Redis."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'fleet-state.db'}"
    server = request.getfixturevalue("redis_server")
    return f"{server.url}?namespace=fleet-{uuid.uuid4().hex[:12]}"



def run_children(procs: list[Any], results: Any, *, timeout: float = 120,
                 started: Callable[[], None] | None = None) -> dict[Any, Any]:
    """Start ``procs``, wait for one report from each, and return the payloads by child id."""
    for proc in procs:
        proc.start()
    if started is not None:
        started()
    return collect(procs, results, timeout=timeout)


def collect(procs: list[Any], results: Any, *, timeout: float = 120) -> dict[Any, Any]:
    """One report from each child (failing on a child's error or silence), then join them all."""
    reports: dict[Any, Any] = {}
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while len(reports) + len(errors) < len(procs):
            try:
                status, ident, payload = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"only {len(reports) + len(errors)} of {len(procs)} processes reported in time")
            if status == "ok":
                reports[ident] = payload
            else:
                errors.append(f"process {ident}:\n{payload}")
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():  # pragma: no cover - a hung child
                proc.kill()
                proc.join(timeout=10)
    assert not errors, "\n".join(errors)
    assert [proc.exitcode for proc in procs] == [0] * len(procs)
    return reports


def wait_for(condition: Callable[[], bool], what: str, procs: list[Any], timeout: float) -> float:
    """Poll ``condition`` until true (returns the seconds it took); fail when a child died or time ran out."""
    start = time.monotonic()
    while not condition():
        dead = [p.exitcode for p in procs if not p.is_alive()]
        if dead:
            pytest.fail(f"a child exited (exit codes {dead}) while waiting for {what}")
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


# --------------------------------------------------------------------------- 1. failover across processes


def test_fleet_failover_never_picks_a_cooling_account(store_url: str, tmp_path: Path) -> None:
    barrier = CTX.Barrier(PROCESSES, timeout=60)
    results = CTX.Queue()
    procs = [CTX.Process(target=fw.decide, args=(store_url, str(tmp_path / f"agent-{p}"), p, EPOCHS, TURNS,
                                                 barrier, results)) for p in range(PROCESSES)]
    reports = run_children(procs, results)
    events = [{**e, "p": p} for p, report in reports.items() for e in report["events"]]
    snapshots = {int(k): v for k, v in reports[0]["snapshots"].items()}

    raced = 0
    for epoch in range(EPOCHS):
        now = (fw.BASE + epoch * fw.EPOCH).timestamp()
        mine = [e for e in events if e["epoch"] == epoch]
        fails = [e for e in mine if e["op"] == "fail"]
        written: dict[str, list[float]] = {}
        for f in fails:
            written.setdefault(f["failed"], []).append(f["written"])
            # the decision reports the longer of its own cooldown and a running one
            assert f["cooldown_until"] >= f["written"], f

        # An account whose cooldown some process wrote (its fail returned) before a decision
        # started is not chosen by that decision: the cooldown runs for the whole epoch.
        for e in mine:
            if e["target"] is None:
                continue
            stale = [f for f in fails if f["failed"] == e["target"] and f["end"] < e["start"]]
            assert not stale, (f"epoch {epoch}: process {e['p']} chose {e['target']} in a {e['op']} that started "
                               f"{e['start'] - stale[0]['end']:.6f}s after process {stale[0]['p']}'s fail of it "
                               "returned")
            raced += any(f["failed"] == e["target"] and f["start"] < e["end"] for f in fails)

        # Every process went on until a decision had no target, which needs every account cooling.
        assert set(written) == set(fw.MEMBERS), f"epoch {epoch}: never failed: {set(fw.MEMBERS) - set(written)}"
        every_cooling = max(min(f["end"] for f in fails if f["failed"] == m) for m in fw.MEMBERS)
        untils = {u for values in written.values() for u in values}
        for e in mine:
            if e["start"] > every_cooling:
                assert e["target"] is None, f"epoch {epoch}: {e} got a target when every account was cooling"
            if e["target"] is not None:
                continue
            assert e["retry_after"] is not None and e["retry_after"] > now, e
            assert e["retry_after"] in untils, f"retryAfter {e['retry_after']} is no cooldown end written: {e}"
            for member in fw.MEMBERS:  # a decision without target saw every account's cooldown written
                assert any(f["failed"] == member and f["start"] <= e["end"] for f in fails), (member, e)
        assert sum(e["target"] is None for e in mine) >= PROCESSES * TURNS

        # No cooldown update lost: the store keeps the latest end written for every failed account.
        assert snapshots[epoch] == {m: max(values) for m, values in written.items()}, f"epoch {epoch}"

    # the last epoch's cooldowns are still in the store, as read by a fresh connection
    with fw.open_state_store(store_url) as store:
        active = store.snapshot().active_cooldowns(fw.BASE + (EPOCHS - 1) * fw.EPOCH)
        assert {m: c.until.timestamp() for m, c in active.items()} == snapshots[EPOCHS - 1]
    print(f"{len(events)} decisions, {sum(e['op'] == 'fail' for e in events)} failovers, "
          f"{raced} targets failed concurrently by another process")


def test_fleet_cursor_and_log_are_written_together(store_url: str) -> None:
    start, results = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=fw.cursor_writer, args=(store_url, p, BATCHES, start, results))
             for p in range(PROCESSES)]
    reads = 0
    with fw.open_state_store(store_url) as store:

        def check(doc: dict[str, Any]) -> None:
            log = doc["log"]
            assert doc["cursors"].get(fw.POOL) == (log[-1]["cursor"] if log else None), "cursor and log torn apart"
            for p in range(PROCESSES):
                mine = [e["i"] for e in log if e["p"] == p]
                assert mine == list(range(len(mine))), f"process {p}'s batches lost or reordered: {mine[:20]}"

        def watch() -> None:
            nonlocal reads
            start.set()
            while any(proc.is_alive() for proc in procs):  # consistent reads while the writers run
                check(store.dump())
                reads += 1

        run_children(procs, results, started=watch)
        doc = store.dump()
    check(doc)
    assert len(doc["log"]) == PROCESSES * BATCHES
    assert sorted(e["cursor"] for e in doc["log"]) == sorted(f"p{p}-{i:04d}" for p in range(PROCESSES)
                                                             for i in range(BATCHES))
    print(f"{reads} consistent reads while writing")


# --------------------------------------------------------------------------- 2. SIGKILL mid-update


def _whole_batches(doc: dict[str, Any], tag: str, upto: int) -> list[int]:
    """The batch numbers of ``tag`` found in ``doc``, after checking each is wholly present or absent."""
    complete = []
    for i in range(upto):
        key = f"{tag}-{i}"
        marks = {f"{key}-{k}" in doc["cooldowns"] for k in range(ROWS)}
        marks |= {f"pool-{key}-{k}" in doc["cursors"] for k in range(ROWS)}
        marks |= {f"{key}-{k}" in doc["turns"] for k in range(ROWS)}
        marks |= {f"q-{key}" in doc["quota"], {"tag": tag, "i": i} in doc["log"]}
        assert len(marks) == 1, f"batch {key} is partly written"
        if True in marks:
            complete.append(i)
    return complete


def test_sigkill_mid_batch_leaves_whole_batches(store_url: str) -> None:
    rng = random.Random(23)
    for round_ in range(3):
        tag = f"r{round_}"
        done = CTX.Value("i", 0, lock=False)
        proc = CTX.Process(target=fw.hammer, args=(store_url, tag, ROWS, done))
        proc.start()
        try:
            target = rng.randrange(5, 25)
            wait_for(lambda: done.value >= target, f"{target} batches", [proc], timeout=60)  # noqa: B023
            time.sleep(rng.uniform(0, 0.02))
            assert proc.is_alive()
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.join(timeout=30)
            if proc.is_alive():  # pragma: no cover
                proc.kill()
        assert proc.exitcode == -signal.SIGKILL
        acknowledged = done.value

        with fw.open_state_store(store_url, log_limit=10**6) as store:
            store.snapshot()
            doc = store.dump()
            complete = _whole_batches(doc, tag, acknowledged + 5)
            assert complete == list(range(len(complete))), f"round {round_}: batches missing in {complete}"
            assert acknowledged <= len(complete) <= acknowledged + 1, (acknowledged, len(complete))
            store.apply(fw.hammer_batch(f"{tag}-after", 0, ROWS))  # and it takes writes again
            assert _whole_batches(store.dump(), f"{tag}-after", 1) == [0]
        if store_url.startswith("sqlite://"):
            conn = sqlite3.connect(store_url.removeprefix("sqlite://"))
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            conn.close()


# --------------------------------------------------------------------------- 3. Redis down and back


@pytest.mark.parametrize("mode", ["restart", "freeze"])
def test_redis_outage_with_and_without_fallback(private_redis: RedisServer, tmp_path: Path, mode: str) -> None:
    """Processes 0 and 1 have ``stateFallback: local``, processes 2 and 3 do not."""
    server = private_redis
    url = f"{server.url}?namespace=outage"
    fallback = {p: p < 2 for p in range(PROCESSES)}
    phase, since = CTX.Value("i", fw.UP), CTX.Value("d", 0.0)
    counts = CTX.Array("i", PROCESSES * 4)
    results = CTX.Queue()
    agents = {p: tmp_path / f"agent-{p}" for p in range(PROCESSES)}
    procs = [CTX.Process(target=fw.outage_client, args=(url, str(agents[p]), p, fallback[p], phase, since,
                                                        counts, results)) for p in range(PROCESSES)]

    def served(ph: int, n: int) -> Callable[[], bool]:
        return lambda: all(counts[p * 4 + ph] >= n for p in range(PROCESSES))

    for proc in procs:
        proc.start()
    try:
        wait_for(served(fw.UP, 5), "decisions on Redis", procs, timeout=60)
        stop_at = time.monotonic()
        if mode == "restart":
            server.stop()
        else:
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGSTOP)
        down_at = since.value = time.monotonic()
        phase.value = fw.DOWN  # calls that start from now on meet a dead server
        outage = wait_for(served(fw.DOWN, 3), "decisions while Redis is down", procs, timeout=45)
        up_at = time.monotonic()
        since.value = float("inf")
        phase.value = fw.BACK  # before the restart: no call with an earlier clock reaches the new server
        if mode == "restart":
            server.start()
        else:
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGCONT)
        up_ready = since.value = time.monotonic()
        back = wait_for(served(fw.BACK, 3), "decisions on Redis again", procs, timeout=45)
    finally:
        phase.value = fw.STOP
    reports = collect(procs, results)
    with fw.open_state_store(url) as redis_store:
        in_redis = redis_store.dump()

    for p, report in reports.items():
        calls = report["calls"]
        slow = [c for c in calls if c["seconds"] >= CALL_LIMIT]
        assert not slow, f"process {p}: calls blocked for {[round(c['seconds'], 1) for c in slow]}s"
        during = [c for c in calls if down_at < c["start"] and c["end"] < up_at]  # wholly in the outage
        after = [c for c in calls if c["start"] > up_ready]
        assert len(during) >= 3 and len(after) >= 3, (p, len(during), len(after))
        unexpected = [c["error"] for c in calls if c["error"] and (c["end"] < stop_at or c in after)]
        assert not unexpected, f"process {p}: errors while Redis was up: {unexpected}"
        if fallback[p]:
            errors = [c["error"] for c in during if c["error"]]
            assert not errors, f"process {p}: the fallback let errors through: {errors}"
            assert all(c["degraded"] for c in during)
            # after the restart the local store stands in until the next check, then Redis for good
            degraded_after = [c["degraded"] for c in after]
            assert degraded_after == sorted(degraded_after, reverse=True) and not degraded_after[-1], degraded_after
            first_back = next(c["end"] for c in after if not c["degraded"])
            assert first_back - up_ready < RETRY_INTERVAL + 2 * CALL_LIMIT
            local = agents[p] / "mp-policy-state.db"
            warnings = report["warnings"]
            assert len(warnings) == 2 and warnings == report["logged"], warnings
            assert f"using the local state store sqlite://{local} until it is back" in warnings[0]
            assert "settings.stateFallback: local" in warnings[0]
            assert "is reachable again" in warnings[1]
            with SqliteStore(local, readonly=True) as local_store:
                local_turns = local_store.dump()["turns"]
            # writes during the outage went to the agent's own file, not to Redis ...
            outage_turns = {c["turn"] for c in during}
            assert outage_turns <= set(local_turns)
            assert not outage_turns & set(in_redis["turns"])
            # ... and once back, to Redis, not to the file
            back_turns = {c["turn"] for c in after if not c["degraded"]}
            assert back_turns and back_turns <= set(in_redis["turns"])
            assert not back_turns & set(local_turns)
        else:
            assert not (agents[p] / "mp-policy-state.db").exists(), "fell back without stateFallback: local"
            for c in during:
                name, is_state_error, message = c["error"]
                assert (name, is_state_error) == ("StateUnavailableError", True), c["error"]
                assert message.startswith("cannot ") and f"Redis state store {server.url}" in message, message
                assert "hint:" in message
            assert all(c["error"] is None for c in after), [c["error"] for c in after]
            assert {c["turn"] for c in after} <= set(in_redis["turns"])
    # new cooldowns appear in Redis after it is back (the clock of that phase marks them)
    back_until = fw.BASE + fw.BACK * fw.PHASE + fw.COOLDOWN
    failed_back = {c["failed"] for r in reports.values() for c in r["calls"]
                   if c["phase"] == fw.BACK and c["until"] is not None and not c["degraded"]}
    assert failed_back
    untils = {m: datetime.fromisoformat(c["until"]) for m, c in in_redis["cooldowns"].items()}
    assert {m for m, until in untils.items() if until == back_until} == failed_back
    if mode == "restart":  # an empty server came back: nothing written before or during the outage is in it
        assert set(untils.values()) == {back_until}
    print(f"{mode}: outage {outage:.1f}s, back on Redis within {back:.1f}s, slowest call "
          f"{max(c['seconds'] for r in reports.values() for c in r['calls']):.2f}s")


@pytest.mark.parametrize("switch", ["outage", "recovery"])
def test_turn_survives_a_fallback_switch(private_redis: RedisServer, tmp_path: Path, switch: str) -> None:
    """``engine.fail(d.turn, ...)`` (the documented call) keeps working when Redis goes away or comes back."""
    server = private_redis

    def primary() -> StateStore:
        from policy_engine.state.redis_store import RedisStore

        return RedisStore(f"{server.url}?namespace=switch")

    store = FallbackStore(primary, lambda: SqliteStore(tmp_path / "local.db"), primary_url=server.url,
                          retry_interval=0.05)
    with fw.open_engine(store, tmp_path / "agent", fw.SettableClock()) as engine:
        if switch == "recovery":
            server.stop()
        decision = engine.select(pool=fw.POOL, model=fw.MODEL)
        assert decision.target is not None
        if switch == "outage":
            server.stop()
        else:
            assert store.degraded
            server.start()
            time.sleep(0.1)  # past the retry interval: the next call goes to Redis again
        failed = engine.fail(decision.turn, status=429)
        assert store.degraded == (switch == "outage")
        assert failed.target is not None and failed.target.provider != decision.target.provider


# --------------------------------------------------------------------------- 4. SQLite faults


@pytest.mark.parametrize("release", ["cont", "kill"])
def test_write_lock_of_a_stopped_process(tmp_path: Path, release: str) -> None:
    path = tmp_path / "state.db"
    SqliteStore(path).close()
    ready, commit = CTX.Value("i", 0, lock=False), CTX.Value("i", 0, lock=False)  # no lock a stopped child holds
    holder = CTX.Process(target=fw.hold_write_lock, args=(str(path), ready, commit))
    holder.start()
    try:
        wait_for(lambda: bool(ready.value), "the lock holder's transaction", [holder], timeout=60)
        os.kill(holder.pid, signal.SIGSTOP)  # stuck with the write lock, as a suspended agent would be

        store = SqliteStore(path, busy_timeout=0.05, lock_deadline=1.0)
        engine = fw.open_engine(store, tmp_path / "agent", fw.SettableClock())
        for attempt in (lambda: store.apply(StateChanges(cursors={"a": "b"})),
                        lambda: engine.select(pool=fw.POOL, model=fw.MODEL)):
            began = time.monotonic()
            with pytest.raises(StateError) as info:
                attempt()
            assert 1.0 <= time.monotonic() - began < CALL_LIMIT
            first, hint = str(info.value).splitlines()
            assert first.startswith(f"state file {path} stayed locked for 1s")
            assert info.value.path == str(path)
            assert "another process holds a write transaction" in hint and f"fuser {path}" in hint
        assert "held" not in store.snapshot().cursors  # readers go on (WAL), and see nothing uncommitted

        # a writer that waits long enough gets through once the lock is released
        waiting = SqliteStore(path, busy_timeout=0.05, lock_deadline=30)
        outcome: list[Any] = []

        def write() -> None:
            try:
                waiting.apply(StateChanges(cursors={"waiter": "done"}))
                outcome.append(time.monotonic())
            except BaseException as exc:  # pragma: no cover - reported below
                outcome.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)
        assert not outcome, "the write went through while the lock was held"
        released = time.monotonic()
        if release == "cont":
            commit.value = 1
            os.kill(holder.pid, signal.SIGCONT)
        else:
            os.kill(holder.pid, signal.SIGKILL)  # a stopped process can still be killed
        writer.join(timeout=20)
        assert outcome and isinstance(outcome[0], float), outcome
        assert outcome[0] - released < CALL_LIMIT
    finally:
        holder.join(timeout=30 if commit.value or not holder.is_alive() else 0)
        if holder.is_alive():  # the test failed before it released the lock
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
            holder.join(timeout=10)
    assert holder.exitcode == (0 if release == "cont" else -signal.SIGKILL)
    cursors = SqliteStore(path).snapshot().cursors
    assert cursors["waiter"] == "done"
    assert cursors.get("held") == ("by-holder" if release == "cont" else None)  # a killed holder's write is gone
    engine.select(pool=fw.POOL, model=fw.MODEL)  # the engine that saw the error works again
    engine.close()
    waiting.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _state_file(path: Path) -> None:
    """A real state file with some of everything, including log entries that fill several pages."""
    with fw.open_engine(f"sqlite://{path}", path.parent / "agent", fw.SettableClock()) as engine:
        decision = engine.select(pool=fw.POOL, model=fw.MODEL)
        engine.fail(decision.turn, status=429)
        engine.store.apply(StateChanges(log=[{"marker": f"LOG-{i:03d}", "pad": "x" * 300} for i in range(60)]))


def _root_page(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0])
    finally:
        conn.close()


def _damage(path: Path, how: str) -> bytes:
    """Damage the file: cut it in half, or overwrite page 1's schema or a table's page with garbage."""
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "schema-page":
        data[100:size] = random.Random(1).randbytes(size - 100)  # the 100-byte header stays valid
    else:
        page = _root_page(path, "cooldowns") if how in ("cooldowns-page", "fallback") else (
            data.index(b"LOG-030") // size + 1)  # a leaf page of the log table
        data[(page - 1) * size:(page - 1) * size + 16] = b"\xff" * 16  # its b-tree page header
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize("how", ["truncated", "schema-page", "cooldowns-page", "fallback"])
def test_damaged_state_file_is_refused_and_kept(tmp_path: Path, how: str) -> None:
    """The engine reports a damaged state file by name with the hint, and leaves its bytes alone.

    ``fallback``: Redis cannot be reached and ``stateFallback: local`` falls back to a damaged file.
    """
    agent = tmp_path / "agent"
    path = agent / "mp-policy-state.db"
    agent.mkdir()
    _state_file(path)
    damaged = _damage(path, how)
    url = f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=0.5" if how == "fallback" else None
    began = time.monotonic()
    with pytest.raises(StateError) as info:
        engine = fw.open_engine(url, agent, fw.SettableClock(), fallback=url is not None)
        try:
            engine.select(pool=fw.POOL, model=fw.MODEL)
        finally:
            engine.close()
    assert time.monotonic() - began < CALL_LIMIT
    assert not isinstance(info.value, StateUnavailableError)
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"state file {path} is corrupt or not a database"), first
    assert info.value.path == str(path)
    assert CORRUPT_HINT in str(info.value)
    assert path.read_bytes() == damaged  # never rewritten, truncated further or recreated
    assert sorted(p.name for p in agent.iterdir()) == ["mp-policy-state.db"]


def test_damaged_page_outside_the_snapshot_is_refused(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    path = agent / "mp-policy-state.db"
    agent.mkdir()
    _state_file(path)
    damaged = _damage(path, "log-page")
    try:
        with (pytest.raises(StateError, match="is corrupt or not a database"),
              Engine.load(agent, policy=_policy_file(tmp_path), env={}, auth=fw.MEMBERS, search_project=False,
                          clock=fw.SettableClock()) as engine):
            engine.select(pool=fw.POOL, model=fw.MODEL)  # the error may come here or when the file is opened
    finally:
        assert path.read_bytes() == damaged, "the damaged file was written to"


def _policy_file(tmp_path: Path) -> Path:
    import json

    path = tmp_path / "policy.json"
    path.write_text(json.dumps(fw.fleet_policy()))
    return path


def test_fleet_policy_is_valid() -> None:
    """The policy every child uses compiles without warnings (so the children test what they claim)."""
    engine = Engine.from_documents(fw.fleet_policy(fallback=True), env={}, auth=fw.MEMBERS)
    assert engine.diagnostics == []
    assert engine.graph.settings.state_fallback == "local"
    assert engine.graph.pools[fw.POOL].cooldown == timedelta(minutes=10)
