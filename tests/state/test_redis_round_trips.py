"""The Redis store answers ``select`` and ``fail`` in one round trip, and never writes a decision over a
state it did not see (several processes, a real ``redis-server``)."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # spawn hands sys.path to the children: they import the workers by name
    sys.path.insert(0, HERE)

import fleet_worker as fw  # noqa: E402
import round_robin_worker  # noqa: E402
from redis_server import RedisServer  # noqa: E402

from policy_engine.state import StateChanges  # noqa: E402
from policy_engine.state.redis_store import RedisStore  # noqa: E402

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses spawn")
CTX = mp.get_context("spawn")


class RequestCounter:
    """Counts the requests a redis-py client sends (a pipeline or a script call is one request)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(connection: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            send(connection, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)

    def during(self, call: Any) -> tuple[int, Any]:
        """How many requests ``call()`` sent, and its result."""
        before = self.count
        result = call()
        return self.count - before, result


def test_select_fail_and_succeed_are_one_round_trip_each(redis_server: RedisServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    requests = RequestCounter(monkeypatch)
    clock = fw.SettableClock()
    url = f"{redis_server.url}?namespace=trips-{uuid.uuid4().hex[:8]}"
    with fw.open_engine(url, tmp_path, clock) as engine:
        warm = engine.select(pool=fw.POOL, model=fw.MODEL)  # reads, writes, purges; loads the scripts
        engine.succeed(warm.turn)
        for _ in range(3):  # three accounts cool down; the engine clock stands still (no purge is due)
            sent_select, first = requests.during(lambda: engine.select(pool=fw.POOL, model=fw.MODEL))
            sent_fail, second = requests.during(
                lambda first=first: engine.fail(first.turn, status=429, message="rate limit"))
            sent_succeed, _ = requests.during(lambda second=second: engine.succeed(second.turn))
            assert (sent_select, sent_fail, sent_succeed) == (1, 1, 1)
            assert second.error is not None and second.error.kind == "rate_limit"
            assert second.target is not None and second.target.provider != first.target.provider


def test_a_write_by_another_store_is_seen_before_the_next_decision(redis_server: RedisServer, tmp_path: Path) -> None:
    url = f"{redis_server.url}?namespace=seen-{uuid.uuid4().hex[:8]}"
    clock = fw.SettableClock()
    with fw.open_engine(url, tmp_path, clock) as engine, RedisStore(url) as other:
        first = engine.select(pool=fw.POOL, model=fw.MODEL)
        engine.succeed(first.turn)
        assert first.target is not None and first.target.provider == fw.MEMBERS[0]
        # Another process moves the cursor to a member it puts on cooldown: this engine's last view is stale.
        cooling = fw.MEMBERS[3]
        other.apply(StateChanges(cursors={fw.POOL: cooling}, cooldowns=[_cooldown(cooling, clock)]))
        assert engine.store.refused == 0
        second = engine.select(pool=fw.POOL, model=fw.MODEL)
        assert second.target is not None and second.target.provider == fw.MEMBERS[4]
        assert cooling in {s.provider for s in second.skipped}
        assert engine.store.refused == 1  # the stale view's write was refused once, then decided again
        # A turn changed elsewhere: fail continues from the turn as stored, not as this store wrote it.
        other_turn = other.get_turn(second.turn, clock())
        assert other_turn is not None
        data = dict(other_turn.data)
        data["attempted"] = ["anthropic-2"]
        other.apply(StateChanges(turns={second.turn: type(other_turn)(second.turn, data, other_turn.updated_at,
                                                                     other_turn.expires_at)}))
        third = engine.fail(second.turn, status=429)
        assert engine.store.refused == 2
        assert "anthropic-2" in {c.provider for c in third.skipped} | set(_attempted(other, third.turn, clock))


def _cooldown(provider: str, clock: fw.SettableClock) -> Any:
    from policy_engine.state import Cooldown

    return Cooldown(provider, clock() + fw.COOLDOWN, "rate_limit: test", clock(), "test")


def _attempted(store: RedisStore, turn: str, clock: fw.SettableClock) -> list[str]:
    record = store.get_turn(turn, clock())
    assert record is not None
    return list(record.data["attempted"])


def _run(processes: int, times: int, url: str, *, base: bool = False) -> dict[int, list[int]]:
    start = CTX.Event()
    results = CTX.Queue()
    procs = [CTX.Process(target=round_robin_worker.count_up, args=(url, p, times, start, results),
                         kwargs={"base": base}) for p in range(processes)]
    for proc in procs:
        proc.start()
    try:
        start.set()
        reports: dict[int, list[int]] = {}
        while len(reports) < processes:
            try:
                status, p, payload = results.get(timeout=120)
            except queue.Empty:
                pytest.fail("the processes did not report within 120 s")
            assert status == "ok", payload
            reports[p] = payload
        return reports
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()


def test_four_processes_lose_no_update(redis_server: RedisServer) -> None:
    """Four processes each increment one shared value 150 times through ``transact`` at once: every
    increment saw a different value and the last one wrote the total (no decision was written over a
    state it did not see)."""
    processes, times = 4, 150
    url = f"{redis_server.url}?namespace=count-{uuid.uuid4().hex[:8]}"
    reports = _run(processes, times, url)
    seen = sorted(v for values in reports.values() for v in values)
    assert seen == list(range(processes * times))
    for values in reports.values():
        assert values == sorted(values)  # each process's increments in its own order
    with RedisStore(url) as store:
        assert store.snapshot().cursors["counter"] == str(processes * times)


def test_a_stale_view_is_decided_again_not_written(redis_server: RedisServer, tmp_path: Path) -> None:
    """Two engines in one process take turns at select → fail(429): each one's last view is stale every
    time, and still every select avoids the accounts the other put on cooldown."""
    url = f"{redis_server.url}?namespace=alt-{uuid.uuid4().hex[:8]}"
    clock = fw.SettableClock()
    with fw.open_engine(url, tmp_path / "a", clock) as a, fw.open_engine(url, tmp_path / "b", clock) as b:
        chosen = []
        for k in range(len(fw.MEMBERS)):
            engine = a if k % 2 == 0 else b
            decision = engine.select(pool=fw.POOL, model=fw.MODEL)
            assert decision.target is not None
            chosen.append(decision.target.provider)
            failed = engine.fail(decision.turn, status=429)
            assert failed.target is None or failed.target.provider == fw.MEMBERS[k + 1]
        assert chosen == list(fw.MEMBERS)
        last = b.select(pool=fw.POOL, model=fw.MODEL)
        assert last.target is None and last.retry_after is not None
