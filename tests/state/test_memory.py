"""The state store contract, run against every backend (memory, SQLite and a real Redis), plus memory-only tests.

The ``opener`` fixture opens the SAME underlying store on each call. For Redis it uses the
session's ``redis-server`` (``tests/state/conftest.py``) with a namespace of its own per test
(``contract-<uuid>``, and ``contract-<uuid>-<name>`` for a named namespace), emptied afterwards.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.state import (
    LOG_LIMIT,
    Cooldown,
    MemoryStore,
    QuotaSnapshot,
    QuotaWindow,
    SqliteStore,
    StateChanges,
    StateError,
    StateReadOnlyError,
    StateStore,
    TurnRecord,
    open_store,
    reset_shared_memory,
)
from policy_engine.state.redis_store import RedisStore

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
Opener = Callable[..., StateStore]


def cd(provider: str, minutes: float, reason: str = "rate_limit: HTTP 429", source: str | None = None) -> Cooldown:
    return Cooldown(provider, NOW + timedelta(minutes=minutes), reason, NOW, source)


def turn(turn_id: str, minutes: float = 60, **data: Any) -> TurnRecord:
    return TurnRecord(turn_id, data or {"attempted": [], "position": 0}, NOW, NOW + timedelta(minutes=minutes))


def quota(provider: str, remaining: float | None, seconds: float = 0, **kw: Any) -> QuotaSnapshot:
    return QuotaSnapshot(provider, remaining, NOW + timedelta(seconds=seconds), **kw)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """A function opening the SAME underlying store each call (so reopen/namespace/readonly can be tested)."""
    opened: list[StateStore] = []
    name = f"contract-{uuid.uuid4().hex}"
    redis_url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    namespaces: set[str] = set()

    def open_(readonly: bool = False, namespace: str = "default", log_limit: int = LOG_LIMIT) -> StateStore:
        store: StateStore
        if request.param == "memory":
            store = MemoryStore(name, readonly=readonly, namespace=namespace, log_limit=log_limit)
        elif request.param == "sqlite":
            store = SqliteStore(tmp_path / "state.db", readonly=readonly, namespace=namespace, log_limit=log_limit)
        else:  # the session's server is shared: this test's namespaces are its own
            ns = name if namespace == "default" else f"{name}-{namespace}"
            namespaces.add(ns)
            store = RedisStore(redis_url, readonly=readonly, namespace=ns, log_limit=log_limit)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()
    reset_shared_memory(name)
    for ns in namespaces:
        with RedisStore(redis_url, namespace=ns) as cleaner:
            cleaner.clear()


@pytest.fixture
def store(opener: Opener) -> StateStore:
    return opener()


# --------------------------------------------------------------------------- basics


def test_empty_store(store: StateStore) -> None:
    snap = store.snapshot()
    assert (dict(snap.cooldowns), dict(snap.cursors), dict(snap.quota)) == ({}, {}, {})
    assert store.get_turn("nope", NOW) is None
    doc = store.dump()
    assert {k: doc[k] for k in ("cooldowns", "cursors", "turns", "quota", "log")} == {
        "cooldowns": {},
        "cursors": {},
        "turns": {},
        "quota": {},
        "log": [],
    }
    assert StateChanges().is_empty()
    store.apply(StateChanges())  # a no-op


def test_cooldown_merge_never_shortens(store: StateStore) -> None:
    store.apply(StateChanges(cooldowns=[cd("a", 10, "first", "retry-after header")]))
    store.apply(StateChanges(cooldowns=[cd("a", 5, "shorter")]))
    got = store.snapshot().cooldowns["a"]
    assert (got.until, got.reason, got.source) == (NOW + timedelta(minutes=10), "first", "retry-after header")

    # equal `until` keeps the running one
    store.apply(StateChanges(cooldowns=[cd("a", 10, "same")]))
    assert store.snapshot().cooldowns["a"].reason == "first"

    # a later one replaces until, reason, since and source together
    later = Cooldown("a", NOW + timedelta(minutes=20), "second", NOW + timedelta(minutes=1), "pool cooldown 5m")
    store.apply(StateChanges(cooldowns=[later]))
    assert store.snapshot().cooldowns["a"] == later


def test_cooldown_merge_inside_one_batch(store: StateStore) -> None:
    store.apply(StateChanges(cooldowns=[cd("a", 3, "x"), cd("a", 9, "max"), cd("a", 1, "y"), cd("b", 2)]))
    snap = store.snapshot()
    assert snap.cooldowns["a"].reason == "max"
    assert snap.cooldowns["a"].until == NOW + timedelta(minutes=9)
    assert set(snap.cooldowns) == {"a", "b"}


def test_clear_cooldowns_applies_before_new_ones(store: StateStore) -> None:
    store.apply(StateChanges(cooldowns=[cd("a", 30), cd("b", 30), cd("c", 30)]))
    store.apply(StateChanges(clear_cooldowns=["a", "b", "missing"], cooldowns=[cd("b", 1, "fresh")]))
    snap = store.snapshot()
    assert set(snap.cooldowns) == {"b", "c"}
    assert snap.cooldowns["b"].until == NOW + timedelta(minutes=1)  # shorter than before: cleared first
    assert snap.cooldowns["b"].reason == "fresh"


def test_snapshot_keeps_expired_cooldowns(store: StateStore) -> None:
    store.apply(StateChanges(cooldowns=[cd("old", -5), cd("new", 5)]))
    snap = store.snapshot()
    assert set(snap.cooldowns) == {"old", "new"}
    assert set(snap.active_cooldowns(NOW)) == {"new"}


def test_cursors_last_writer_wins(store: StateStore) -> None:
    store.apply(StateChanges(cursors={"claude": "anthropic", "gpt": "openai"}))
    store.apply(StateChanges(cursors={"claude": "anthropic-2"}))
    assert dict(store.snapshot().cursors) == {"claude": "anthropic-2", "gpt": "openai"}


# --------------------------------------------------------------------------- turns


def test_turn_roundtrip_update_and_delete(store: StateStore) -> None:
    data = {"route": [{"pool": "claude", "members": ["a", "b"]}], "attempted": ["a"], "position": 1}
    store.apply(StateChanges(turns={"t1": TurnRecord("t1", data, NOW, NOW + timedelta(hours=1))}))
    got = store.get_turn("t1", NOW)
    assert got is not None
    assert got.data == data
    assert (got.updated_at, got.expires_at) == (NOW, NOW + timedelta(hours=1))

    got.data["attempted"].append("mutated")  # type: ignore[index]
    again = store.get_turn("t1", NOW)
    assert again is not None and again.data["attempted"] == ["a"]  # the store kept its own copy

    store.apply(StateChanges(turns={"t1": turn("t1", position=2)}))
    updated = store.get_turn("t1", NOW)
    assert updated is not None and updated.data == {"position": 2}

    store.apply(StateChanges(turns={"t1": None, "never-existed": None}))
    assert store.get_turn("t1", NOW) is None


@pytest.mark.parametrize("plain", [False, True])
def test_turn_and_log_numbers_come_back_exactly(store: StateStore, plain: bool) -> None:
    """The engine's batches (``plain_numbers``) take the fast JSON path; any batch's numbers come back
    as written, an integer beyond 64 bits included (the fast reader would make it a float)."""
    data = {"big": 2**70, "float": 0.1 + 0.2, "neg": -(2**63), "text": "Grüße"}
    big = 2**70 if not plain else 2**60  # a plain batch promises 64-bit integers
    store.apply(StateChanges(turns={"t1": TurnRecord("t1", {**data, "big": big}, NOW, NOW + timedelta(hours=1))},
                             log=[{"t": 1.5, "n": big}], plain_numbers=plain))
    got = store.get_turn("t1", NOW)
    assert got is not None and got.data == {**data, "big": big} and type(got.data["big"]) is int
    assert store.log_before()[-1].entry == {"t": 1.5, "n": big}


def test_a_batch_with_plain_numbers_still_refuses_what_is_not_json(store: StateStore) -> None:
    bad = TurnRecord("bad", {"x": object()}, NOW, NOW + timedelta(hours=1))
    with pytest.raises(TypeError, match="turn 'bad' data"):
        store.apply(StateChanges(turns={"bad": bad}, plain_numbers=True))
    with pytest.raises(TypeError, match="log entry"):
        store.apply(StateChanges(log=[{"when": NOW}], plain_numbers=True))
    assert store.get_turn("bad", NOW) is None and store.log_before() == []


def test_turn_expiry_and_purge(store: StateStore) -> None:
    store.apply(
        StateChanges(
            turns={"short": turn("short", 1), "long": turn("long", 60)},
            cooldowns=[cd("gone", 2), cd("running", 90)],
        )
    )
    assert store.get_turn("short", NOW) is not None
    assert store.get_turn("short", NOW + timedelta(minutes=1)) is None  # expires_at == now: expired
    assert store.get_turn("long", NOW + timedelta(minutes=1)) is not None

    assert store.purge(NOW + timedelta(minutes=5)) == 2  # the short turn and the 2-minute cooldown
    assert set(store.snapshot().cooldowns) == {"running"}
    assert set(store.dump()["turns"]) == {"long"}
    assert store.purge(NOW + timedelta(minutes=5)) == 0
    assert store.purge(NOW + timedelta(days=1)) == 2


def test_read_is_get_turn_and_snapshot_together(store: StateStore) -> None:
    _fill(store)
    store.apply(StateChanges(cooldowns=[cd("b", -1)]))
    found, snap = store.read("t1", NOW)
    assert found is not None and found == store.get_turn("t1", NOW) and found.data == {"attempted": ["a"]}
    assert snap == store.snapshot() and set(snap.cooldowns) == {"a", "b"}
    assert dict(snap.cursors) == {"claude": "a"} and snap.quota["a"].remaining == 42.5
    missing, snap = store.read("nope", NOW)
    assert missing is None and set(snap.cooldowns) == {"a", "b"}
    expired, _ = store.read("t1", NOW + timedelta(hours=1))  # expires_at == now: expired
    assert expired is None


# --------------------------------------------------------------------------- quota


def test_quota_newer_or_equal_wins(store: StateStore) -> None:
    windows = (QuotaWindow("5h", 40.0, NOW + timedelta(hours=2)), QuotaWindow("weekly", 80.0, None))
    first = quota("a", 40, 10, source="checker", status="watch", windows=windows, summary="5h 40%")
    store.apply(StateChanges(quota=[first]))
    assert store.snapshot().quota["a"] == first

    store.apply(StateChanges(quota=[quota("a", 99, 5, source="headers")]))  # older: ignored
    assert store.snapshot().quota["a"] == first

    equal = quota("a", 35, 10, source="headers")
    store.apply(StateChanges(quota=[equal]))  # equal fetched_at: replaces
    assert store.snapshot().quota["a"] == equal

    newer = quota("a", None, 20, status="error")
    store.apply(StateChanges(quota=[newer, quota("b", 3, 0, status="blocked")]))
    snap = store.snapshot()
    assert snap.quota["a"] == newer and snap.quota["a"].windows == ()
    assert snap.quota["b"].remaining == 3.0


def test_times_come_back_as_aware_utc(store: StateStore) -> None:
    paris = ZoneInfo("Europe/Paris")
    local_now = NOW.astimezone(paris)
    store.apply(
        StateChanges(
            cooldowns=[Cooldown("a", local_now + timedelta(minutes=1), "r", local_now)],
            quota=[QuotaSnapshot("a", 50, local_now, windows=(QuotaWindow("5h", 50, local_now),))],
            turns={"t": TurnRecord("t", {}, local_now, local_now + timedelta(hours=1))},
        )
    )
    snap = store.snapshot()
    c, q = snap.cooldowns["a"], snap.quota["a"]
    t = store.get_turn("t", NOW)
    assert t is not None
    for value in (c.until, c.since, q.fetched_at, q.windows[0].resets_at, t.updated_at, t.expires_at):
        assert value is not None and value.utcoffset() == timedelta(0)
    assert c.since == NOW and q.fetched_at == NOW and t.updated_at == NOW  # same instant, microseconds kept


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Cooldown("a", datetime(2025, 1, 1), "r", NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        TurnRecord("t", {}, NOW, datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        QuotaSnapshot("a", 1, datetime(2025, 1, 1))


# --------------------------------------------------------------------------- atomicity


def test_failed_apply_leaves_nothing(store: StateStore) -> None:
    store.apply(StateChanges(cooldowns=[cd("a", 10)], cursors={"p": "a"}, log=[{"n": 0}]))
    before = store.dump()
    bad = StateChanges(
        clear_cooldowns=["a"],
        cooldowns=[cd("b", 10)],
        cursors={"p": "b", "q": "c"},
        turns={"ok": turn("ok"), "bad": TurnRecord("bad", {"x": object()}, NOW, NOW + timedelta(hours=1))},
        quota=[quota("b", 10)],
        log=[{"n": 1}],
    )
    with pytest.raises(TypeError, match="turn 'bad' data is not JSON-serialisable"):
        store.apply(bad)
    assert store.dump() == before

    bad_log = StateChanges(cooldowns=[cd("b", 10)], turns={"ok": turn("ok")}, log=[{"n": 2}, {"x": {1, 2}}])
    with pytest.raises(TypeError, match="log entry"):
        store.apply(bad_log)
    assert store.dump() == before

    store.apply(StateChanges(cooldowns=[cd("b", 10)]))  # the store still works afterwards
    assert set(store.snapshot().cooldowns) == {"a", "b"}


# --------------------------------------------------------------------------- dump, clear, log


def _fill(store: StateStore) -> None:
    store.apply(
        StateChanges(
            cooldowns=[cd("a", 10, source="retry-after header")],
            cursors={"claude": "a"},
            turns={"t1": turn("t1", attempted=["a"])},
            quota=[quota("a", 42.5, windows=(QuotaWindow("5h", 42.5, NOW),), summary="5h 42%")],
            log=[{"event": "fail", "provider": "a"}],
        )
    )


def test_dump_is_json(store: StateStore) -> None:
    _fill(store)
    doc = json.loads(json.dumps(store.dump()))
    assert doc["store"] == store.url and doc["namespace"] == store.namespace
    assert doc["cooldowns"]["a"]["source"] == "retry-after header"
    assert datetime.fromisoformat(doc["cooldowns"]["a"]["until"]) == NOW + timedelta(minutes=10)
    assert doc["cursors"] == {"claude": "a"}
    assert doc["turns"]["t1"]["data"] == {"attempted": ["a"]}
    assert doc["quota"]["a"]["windows"] == [{"name": "5h", "remaining": 42.5, "resets_at": NOW.isoformat()}]
    assert doc["log"] == [{"event": "fail", "provider": "a"}]
    # the dict forms read back
    assert Cooldown.from_dict(doc["cooldowns"]["a"]) == store.snapshot().cooldowns["a"]
    assert QuotaSnapshot.from_dict(doc["quota"]["a"]) == store.snapshot().quota["a"]
    assert TurnRecord.from_dict(doc["turns"]["t1"]) == store.get_turn("t1", NOW)


@pytest.mark.parametrize(
    ("parts", "left"),
    [
        (["cooldowns"], {"cursors", "turns", "quota", "log"}),
        (["cursors", "turns"], {"cooldowns", "quota", "log"}),
        (["quota", "log"], {"cooldowns", "cursors", "turns"}),
        (None, set()),
    ],
)
def test_clear_parts(store: StateStore, parts: list[str] | None, left: set[str]) -> None:
    _fill(store)
    store.clear(parts)
    doc = store.dump()
    assert {part for part in ("cooldowns", "cursors", "turns", "quota", "log") if doc[part]} == left


def test_clear_rejects_unknown_parts(store: StateStore) -> None:
    with pytest.raises(ValueError, match="unknown state part"):
        store.clear(["cooldowns", "bogus"])


def test_log_is_bounded(opener: Opener) -> None:
    store = opener(log_limit=3)
    for n in range(4):
        store.apply(StateChanges(log=[{"n": 2 * n}, {"n": 2 * n + 1}]))
    assert store.dump()["log"] == [{"n": 5}, {"n": 6}, {"n": 7}]


# --------------------------------------------------------------------------- sharing, namespaces, modes


def test_reopen_and_namespaces(opener: Opener) -> None:
    _fill(opener())
    other = opener(namespace="team-b")
    assert other.namespace != opener().namespace
    assert dict(other.snapshot().cooldowns) == {}
    other.apply(StateChanges(cursors={"claude": "b"}, log=[{"ns": "b"}]))
    other.clear()  # clears only its own namespace
    again = opener()
    assert dict(again.snapshot().cursors) == {"claude": "a"}
    assert again.get_turn("t1", NOW) is not None
    assert again.dump()["log"] == [{"event": "fail", "provider": "a"}]


def test_readonly_reads_but_refuses_writes(opener: Opener) -> None:
    _fill(opener())
    ro = opener(readonly=True)
    assert ro.readonly
    assert set(ro.snapshot().cooldowns) == {"a"}
    assert ro.get_turn("t1", NOW) is not None
    ro.apply(StateChanges())  # an empty batch is allowed
    with pytest.raises(StateReadOnlyError, match="read-only"):
        ro.apply(StateChanges(cursors={"x": "y"}))
    with pytest.raises(StateReadOnlyError):
        ro.purge(NOW)
    with pytest.raises(StateReadOnlyError):
        ro.clear()
    assert dict(opener().snapshot().cursors) == {"claude": "a"}


def test_threads_sharing_one_store(store: StateStore) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(50):
                store.apply(StateChanges(cooldowns=[cd(f"t{k}-{i}", 5), cd("shared", k * 100 + i)]))
                store.snapshot()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    snap = store.snapshot()
    assert len(snap.cooldowns) == 4 * 50 + 1
    assert snap.cooldowns["shared"].until == NOW + timedelta(minutes=349)


def test_closed_store_refuses_use(store: StateStore) -> None:
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StateError, match="closed"):
        store.snapshot()


def test_context_manager_closes(opener: Opener) -> None:
    with opener() as s:
        s.apply(StateChanges(cursors={"p": "m"}))
    with pytest.raises(StateError):
        s.snapshot()
    assert dict(opener().snapshot().cursors) == {"p": "m"}


# --------------------------------------------------------------------------- memory only


def test_memory_urls(tmp_path: Path) -> None:
    a = open_store("memory://", agent_dir=tmp_path)
    b = open_store("memory://", agent_dir=tmp_path)
    a.apply(StateChanges(cursors={"p": "a"}))
    assert dict(b.snapshot().cursors) == {}  # anonymous stores are separate
    assert isinstance(a, MemoryStore) and a.url == "memory://"

    name = f"shared-{uuid.uuid4().hex}"
    try:
        x = open_store(f"memory://{name}", agent_dir=tmp_path)
        y = open_store(f"memory://{name}", agent_dir=tmp_path, readonly=True)
        x.apply(StateChanges(cursors={"p": "x"}))
        assert dict(y.snapshot().cursors) == {"p": "x"}
        assert y.url == f"memory://{name}"
        reset_shared_memory(name)
        assert dict(open_store(f"memory://{name}", agent_dir=tmp_path).snapshot().cursors) == {}
    finally:
        reset_shared_memory(name)
    assert not list(tmp_path.iterdir())  # memory stores never touch the agent directory


def test_memory_snapshot_is_isolated_from_later_writes() -> None:
    store = MemoryStore()
    store.apply(StateChanges(cooldowns=[cd("a", 1)], cursors={"p": "a"}))
    snap = store.snapshot()
    store.apply(StateChanges(cooldowns=[cd("b", 1)], cursors={"p": "b"}))
    assert set(snap.cooldowns) == {"a"} and dict(snap.cursors) == {"p": "a"}


def test_memory_log_entries_leave_the_garbage_collectors_lists() -> None:
    """A long-lived memory store keeps up to 10,000 entries: none of them should be walked by every full
    collection (they hold only numbers and text)."""
    import gc

    store = MemoryStore()
    store.apply(StateChanges(log=[{"t": 1.5, "op": "select", "skipped": [{"provider": "a"}]}] * 3))
    gc.collect()
    kept = store._tables().log  # the stored form is what this test is about
    assert len(kept) == 3 and not any(gc.is_tracked(entry) for entry in kept)
