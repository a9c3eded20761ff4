"""The decision log of every store: retention (entries, age, bytes), cursored reads, waiting for new entries,
and concurrent writers in several processes that lose no entry (SQLite and Redis)."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from processes import run_together
from redis_server import RedisServer

from policy_engine.state import MemoryStore, SqliteStore, StateChanges, StateStore, open_store, reset_shared_memory
from policy_engine.state.log import LogRetention, trim_every
from policy_engine.state.redis_store import RedisStore

T0 = 1_800_000_000.0


def entry(n: int, t: float | None = None, pad: int = 0) -> dict[str, object]:
    out: dict[str, object] = {"n": n, "t": T0 + n if t is None else t}
    if pad:
        out["pad"] = "x" * pad
    return out


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"log-{uuid.uuid4().hex}"
    if kind == "memory":
        yield f"memory://{name}"
        reset_shared_memory(name)
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        yield f"{server.url}?namespace={name}"
        with RedisStore(server.url, namespace=name) as cleaner:
            cleaner.clear()


def opened(url: str) -> StateStore:
    return open_store(url, agent_dir=Path("."))


def numbers(store: StateStore) -> list[int]:
    return [int(r.entry["n"]) for r in store.log_after(None, 100_000)]


def test_trim_every_is_one_for_tiny_limits_and_at_most_64() -> None:
    assert [trim_every(n) for n in (None, 0, 3, 16, 31, 32, 1000, 10_000)] == [64, 1, 1, 1, 1, 2, 62, 64]


def test_entries_bound_keeps_the_newest(url: str) -> None:
    with opened(url) as store:
        keep = LogRetention(entries=5, age=None, max_bytes=None)
        for n in range(12):
            store.apply(StateChanges(log=[entry(n)], retention=keep))
        assert numbers(store) == list(range(7, 12))


def test_entries_bound_is_amortised_but_bounded(url: str) -> None:
    """A limit of 320 trims every 20 entries: never more than limit + 20 - 1 entries are kept."""
    with opened(url) as store:
        keep = LogRetention(entries=320, age=None, max_bytes=None)
        for start in range(0, 1000, 50):
            store.apply(StateChanges(log=[entry(n) for n in range(start, start + 50)], retention=keep))
            kept = numbers(store)
            assert kept == list(range(kept[0], start + 50))  # always the newest, in order
            assert len(kept) <= 320 + 50 + trim_every(320)
        store.apply(StateChanges(log=[entry(n) for n in range(1000, 1000 + trim_every(320))], retention=keep))
        assert len(numbers(store)) <= 320 + trim_every(320)


def test_age_bound_drops_old_entries(url: str, kind: str) -> None:
    with opened(url) as store:
        keep = LogRetention(entries=10, age=timedelta(seconds=1), max_bytes=None)
        if kind == "redis":  # the age counts by the Redis server's clock
            store.apply(StateChanges(log=[entry(0), entry(1)], retention=keep))
            time.sleep(1.3)
            store.apply(StateChanges(log=[entry(2)], retention=keep))
        else:  # by the entries' own times (the engine's clock)
            store.apply(StateChanges(log=[entry(0, T0), entry(1, T0 + 0.5)], retention=keep))
            store.apply(StateChanges(log=[entry(2, T0 + 1.7)], retention=keep))
        assert numbers(store) == [2]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_age_bound_cuts_before_the_first_young_entry_in_its_namespace_only(kind: str, tmp_path: Path) -> None:
    """Entries before the oldest young one go (one without a time counts as old); the same file's other
    namespace keeps its own, however old."""
    def store(namespace: str) -> StateStore:
        if kind == "memory":
            return MemoryStore(f"age-{tmp_path.name}", namespace=namespace)
        return SqliteStore(tmp_path / "state.db", namespace=namespace)

    keep = LogRetention(entries=10, age=timedelta(seconds=1), max_bytes=None)
    with store("a") as a, store("b") as b:
        b.apply(StateChanges(log=[entry(100, T0 - 50)], retention=keep))
        a.apply(StateChanges(log=[entry(0, T0), {"n": 1}, entry(2, T0 + 1.2), entry(3, T0 + 1.5)], retention=keep))
        b.apply(StateChanges(log=[entry(101, T0 - 49.5)], retention=keep))
        a.apply(StateChanges(log=[entry(4, T0 + 2.0)], retention=keep))
        assert numbers(a) == [2, 3, 4]
        assert numbers(b) == [100, 101]
    reset_shared_memory(f"age-{tmp_path.name}")


def test_a_batch_is_never_trimmed_by_its_own_age_or_size(url: str) -> None:
    with opened(url) as store:
        keep = LogRetention(entries=10, age=timedelta(seconds=1), max_bytes=10)
        store.apply(StateChanges(log=[entry(0, T0 - 100, pad=50), entry(1, T0, pad=50)], retention=keep))
        assert numbers(store) == [0, 1]


def test_bytes_bound_keeps_the_newest_within_the_cap(url: str, kind: str) -> None:
    with opened(url) as store:
        keep = LogRetention(entries=16, age=None, max_bytes=20_000)
        for n in range(40):
            store.apply(StateChanges(log=[entry(n, pad=1000)], retention=keep))
        kept = numbers(store)
        assert kept == list(range(kept[0], 40))
        if kind == "redis":  # the stream's own memory, which has overheads: fewer entries than the text alone
            assert 5 <= len(kept) <= 16
        else:
            assert len(kept) == 16  # the count bound bites first: 16 x ~1 KB < 20 KB
            keep = LogRetention(entries=16, age=None, max_bytes=5_000)
            store.apply(StateChanges(log=[entry(40, pad=1000)], retention=keep))
            assert numbers(store) == [37, 38, 39, 40]  # ~1035 bytes each: 5 would pass 5000


def test_cursored_reads_page_both_ways(url: str) -> None:
    with opened(url) as store:
        store.apply(StateChanges(log=[entry(n) for n in range(10)]))
        newest = store.log_before(None, 3)
        assert [r.entry["n"] for r in newest] == [7, 8, 9]
        older = store.log_before(newest[0].id, 4)
        assert [r.entry["n"] for r in older] == [3, 4, 5, 6]
        after = store.log_after(older[-1].id, 2)
        assert [r.entry["n"] for r in after] == [7, 8]
        assert store.log_after(newest[-1].id) == []
        assert store.wait_log(newest[-1].id, 0.2) == []  # nothing new: waits, then answers empty


def test_clear_empties_the_log(url: str) -> None:
    with opened(url) as store:
        store.apply(StateChanges(log=[entry(1)]))
        store.clear(["log"])
        assert store.log_before(None, 10) == [] and store.dump()["log"] == []


# --------------------------------------------------------------------------- several processes


def _writer(url: str, writer: int, count: int, start: object) -> None:
    store = open_store(url, agent_dir=Path("."))
    start.wait()  # type: ignore[attr-defined]
    for n in range(count):
        store.apply(StateChanges(log=[{"writer": writer, "n": n, "t": T0 + n}]))
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_concurrent_writers_lose_no_entry(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _shared_url(backend, tmp_path, request)
    run_together(_writer, [(url, w, 60) for w in range(4)])
    with open_store(url, agent_dir=Path(".")) as store:
        records = store.log_after(None, 10_000)
        seen = [(r.entry["writer"], r.entry["n"]) for r in records]
        assert sorted(seen) == [(w, n) for w in range(4) for n in range(60)]
        for w in range(4):  # each writer's entries in its own order
            assert [n for ww, n in seen if ww == w] == list(range(60))
        ids = [r.id for r in records]
        assert len(set(ids)) == len(ids)
        store.clear()


def _shared_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return f"{request.getfixturevalue('redis_server').url}?namespace=writers-{uuid.uuid4().hex}"


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_wait_log_sees_another_process_write(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _shared_url(backend, tmp_path, request)
    with opened(url) as store:
        store.apply(StateChanges(log=[entry(0)]))
        cursor = store.log_before(None, 1)[-1].id
        ctx = mp.get_context("spawn")
        start = ctx.Event()
        proc = ctx.Process(target=_writer, args=(url, 7, 1, start))
        proc.start()
        time.sleep(0.3)
        start.set()
        got = store.wait_log(cursor, 20)
        proc.join(60)
        assert [(r.entry.get("writer"), r.entry["n"]) for r in got] == [(7, 0)]


def test_store_modules_stay_small() -> None:
    folder = Path(sys.modules[SqliteStore.__module__].__file__ or "").parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert max(sizes.values()) <= 500, sizes
    assert MemoryStore.__module__.endswith("memory")
