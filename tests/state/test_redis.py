"""Redis store: URL forms, key layout and TTLs, purge, atomic batches, concurrency, secrets, outages.

Tests that only read and write use the session's ``redis-server`` (``redis_server`` fixture) in a
namespace of their own; tests that stop, kill or reconfigure a server start a PRIVATE one in
``tmp_path`` (``private_redis``), never the shared one.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot
from redis_server import RedisServer, free_port

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file
from policy_engine.state import (
    Cooldown,
    QuotaSnapshot,
    QuotaWindow,
    StateChanges,
    StateError,
    StateReadOnlyError,
    StateStore,
    StateUnavailableError,
    TurnRecord,
    open_state,
    open_store,
)
from policy_engine.state.redis_store import RedisStore

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
DEMO = Path(__file__).resolve().parents[2] / "policies" / "demo"
PARTS = ("cooldowns", "cursors", "quota", "trace", "turns")
#: Generous bound for "fails fast" (the store's timeouts are 1 s; the machine may be busy).
QUICK = 5.0


def cd(provider: str, minutes: float, reason: str = "rate_limit: HTTP 429", since: datetime = NOW) -> Cooldown:
    return Cooldown(provider, since + timedelta(minutes=minutes), reason, since, "test")


def turn(turn_id: str, minutes: float = 60, at: datetime = NOW, **data: Any) -> TurnRecord:
    return TurnRecord(turn_id, data or {"attempted": [], "position": 0}, at, at + timedelta(minutes=minutes))


def us(value: datetime) -> int:
    """Epoch microseconds (how the store scores turns and stamps cooldowns)."""
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def prefix(namespace: str) -> str:
    return f"mp-policy:{{{namespace}}}:"


def keys_of(client: redis.Redis, namespace: str) -> set[str]:
    """Every key of a namespace (SCAN; ``{`` and ``}`` are not glob characters)."""
    return set(client.scan_iter(match=prefix(namespace) + "*", count=1000))


def raw_state(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Every key of a namespace with its type and content (to compare before/after)."""
    out: dict[str, Any] = {}
    for key in sorted(keys_of(client, namespace)):
        kind = client.type(key)
        if kind == "hash":
            out[key] = (kind, client.hgetall(key))
        elif kind == "list":
            out[key] = (kind, client.lrange(key, 0, -1))
        elif kind == "zset":
            out[key] = (kind, client.zrange(key, 0, -1, withscores=True))
        elif kind == "stream":
            out[key] = (kind, client.xrange(key))
        else:
            out[key] = (kind, client.get(key))
    return out


def fill(store: StateStore) -> None:
    store.apply(StateChanges(
        cooldowns=[cd("a", 10)],
        cursors={"claude": "a"},
        turns={"t1": turn("t1", attempted=["a"])},
        quota=[QuotaSnapshot("a", 42.5, NOW, "checker", windows=(QuotaWindow("5h", 42.5, NOW),))],
        log=[{"event": "fail", "provider": "a"}],
    ))


def assert_quick(started: float) -> None:
    elapsed = time.monotonic() - started
    assert elapsed < QUICK, f"took {elapsed:.1f} s"


def check_unavailable(exc: BaseException, url_shown: str) -> None:
    """A clean StateUnavailableError: names the store, has a hint, hides the redis-py exception."""
    assert type(exc) is StateUnavailableError, repr(exc)
    assert url_shown in str(exc)
    assert exc.hint and "reachable" in exc.hint
    assert exc.__cause__ is None and exc.__suppress_context__


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def ns() -> str:
    """A namespace nobody else uses on the shared server."""
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain redis-py client on the shared server (to look at the keys the store writes)."""
    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def store(redis_server: RedisServer, ns: str, client: redis.Redis) -> Iterator[RedisStore]:
    """A writable store in a namespace of its own; its keys are deleted afterwards."""
    s = RedisStore(redis_server.url, namespace=ns)
    yield s
    s.close()
    leftovers = keys_of(client, ns)
    if leftovers:
        client.delete(*leftovers)



def with_signal(server: RedisServer, sig: signal.Signals) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, sig)


# --------------------------------------------------------------------------- URL forms


def test_redis_and_unix_urls_reach_the_same_data(redis_server: RedisServer, store: RedisStore, ns: str) -> None:
    tcp = open_store(redis_server.url, agent_dir=Path("/nonexistent"), namespace=ns)
    assert isinstance(tcp, RedisStore) and tcp.url == redis_server.url and tcp.namespace == ns
    tcp.apply(StateChanges(cursors={"claude": "anthropic-2"}))

    unix = open_store(redis_server.unix_url, agent_dir=Path("/nonexistent"), namespace=ns)
    assert isinstance(unix, RedisStore) and unix.url == redis_server.unix_url
    pool_kwargs = unix._client.connection_pool.connection_kwargs
    assert pool_kwargs["path"] == str(redis_server.socket_path) and pool_kwargs["db"] == 0
    assert dict(unix.snapshot().cursors) == {"claude": "anthropic-2"}  # same server, same database

    other_db = open_store(redis_server.url.removesuffix("/0") + "/1", agent_dir=Path("."), namespace=ns)
    assert dict(other_db.snapshot().cursors) == {}  # the database number is honoured
    for s in (tcp, unix, other_db):
        s.close()


def test_the_namespace_option_separates_stores(private_redis: RedisServer) -> None:
    a = open_store(private_redis.url + "?namespace=team-a", agent_dir=Path("."))
    b = open_store(private_redis.url + "?namespace=team-b", agent_dir=Path("."))
    default = open_store(private_redis.url, agent_dir=Path("."))
    nested = open_store(private_redis.url + "?namespace=team-a", agent_dir=Path("."), namespace="case-1")
    assert (a.namespace, b.namespace, default.namespace) == ("team-a", "team-b", "default")
    assert nested.namespace == "team-a/case-1"  # a caller's own namespace nests inside the URL's
    nested.apply(StateChanges(cursors={"claude": "nested"}))
    assert a.url == private_redis.url + "?namespace=team-a"  # the URL is kept as written
    a.apply(StateChanges(cooldowns=[cd("anthropic", 30)], cursors={"claude": "a"}, log=[{"by": "a"}]))
    b.apply(StateChanges(cursors={"claude": "b"}))
    assert dict(a.snapshot().cursors) == {"claude": "a"}
    assert dict(b.snapshot().cursors) == {"claude": "b"} and dict(b.snapshot().cooldowns) == {}
    assert dict(default.snapshot().cursors) == {}
    b.clear()  # clears team-b only
    assert set(a.snapshot().cooldowns) == {"anthropic"} and a.dump()["log"] == [{"by": "a"}]
    raw = redis.Redis(port=private_redis.port, decode_responses=True)
    assert set(raw.keys("*")) == {"mp-policy:{team-a}:cooldowns", "mp-policy:{team-a}:cursors",
                                  "mp-policy:{team-a}:trace", "mp-policy:{team-a/case-1}:cursors"}
    raw.close()
    for s in (a, b, default, nested):
        s.close()


def test_socket_timeouts_are_kept_and_default_to_one_second(redis_server: RedisServer, ns: str) -> None:
    url = f"{redis_server.url}?socket_timeout=2.5&namespace={ns}"
    with open_store(url, agent_dir=Path(".")) as s:
        kwargs = s._client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2.5, 1.0)
        assert "namespace" not in kwargs and s.namespace == ns and s.url == url
    with open_store(f"{redis_server.url}?socket_connect_timeout=3&socket_timeout=0.75", agent_dir=Path("."),
                    namespace=ns) as s:
        kwargs = s._client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.75, 3.0)
    with open_store(redis_server.url, agent_dir=Path("."), namespace=ns) as s:
        kwargs = s._client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.0, 1.0)


def test_a_malformed_redis_url_is_a_state_error_with_an_example(redis_server: RedisServer) -> None:
    with pytest.raises(StateError, match=re.escape("state store redis://:***@127.0.0.1:notaport/0")) as info:
        open_store("redis://:s3cret@127.0.0.1:notaport/0", agent_dir=Path("."))
    assert "s3cret" not in str(info.value) and info.value.hint and "redis://host:6379/0" in info.value.hint


# --------------------------------------------------------------------------- layout and TTLs


def test_key_layout_and_hash_tag(store: RedisStore, client: redis.Redis, ns: str) -> None:
    fill(store)
    p = prefix(ns)
    assert keys_of(client, ns) == {p + part for part in PARTS} | {p + "turn:t1"}
    assert {part: client.type(p + part) for part in PARTS} == {
        "cooldowns": "hash", "cursors": "hash", "quota": "hash", "trace": "stream", "turns": "zset"}
    assert client.type(p + "turn:t1") == "string"
    # one cluster slot for the whole namespace: the hash tag is the namespace
    assert {key_slot(k.encode()) for k in keys_of(client, ns)} == {key_slot(ns.encode())}

    cooldown = json.loads(client.hget(p + "cooldowns", "a"))
    assert cooldown["u"] == us(NOW + timedelta(minutes=10))
    assert Cooldown.from_dict(cooldown) == store.snapshot().cooldowns["a"]
    assert client.hgetall(p + "cursors") == {"claude": "a"}
    assert json.loads(client.hget(p + "quota", "a"))["remaining"] == 42.5
    assert [json.loads(f["e"]) for _, f in client.xrange(p + "trace")] == [{"event": "fail", "provider": "a"}]
    assert client.zscore(p + "turns", "t1") == us(NOW + timedelta(hours=1))
    assert json.loads(client.get(p + "turn:t1"))["data"] == {"attempted": ["a"]}
    assert store.dump()["keyPrefix"] == p


def test_clear_leaves_no_key_behind(store: RedisStore, client: redis.Redis, ns: str) -> None:
    fill(store)
    store.apply(StateChanges(turns={f"t{i}": turn(f"t{i}") for i in range(2, 30)}))
    store.clear(["turns"])
    assert not any(":turn" in k for k in keys_of(client, ns))
    store.clear()
    assert keys_of(client, ns) == set()


def test_turn_keys_live_as_long_as_the_turn(store: RedisStore, client: redis.Redis, ns: str) -> None:
    far_past = datetime(2001, 1, 1, tzinfo=UTC)  # the engine's clock need not be the real one
    store.apply(StateChanges(turns={
        "hour": turn("hour", 60),
        "day": turn("day", 24 * 60, at=far_past),
        "gone": turn("gone", -5),  # already expired: kept for a short moment only
    }))
    p = prefix(ns)
    hour, day, gone = (client.pttl(p + f"turn:{t}") for t in ("hour", "day", "gone"))
    assert 3_500_000 < hour <= 3_600_000
    assert 86_300_000 < day <= 86_400_000
    assert gone != -1 and gone <= 1000  # (-2: already gone)
    store.apply(StateChanges(turns={"hour": turn("hour", 10)}))  # an update sets the new lifetime
    assert 500_000 < client.pttl(p + "turn:hour") <= 600_000


def test_the_cooldown_hash_expires_a_day_after_its_longest_cooldown(store: RedisStore, client: redis.Redis,
                                                                      ns: str) -> None:
    day_ms = 86_400_000
    key = prefix(ns) + "cooldowns"
    store.apply(StateChanges(cooldowns=[cd("a", 10)]))
    assert day_ms + 500_000 < client.pttl(key) <= day_ms + 600_000
    store.apply(StateChanges(cooldowns=[cd("b", 1)]))  # a shorter cooldown never shortens the hash's life
    assert day_ms + 500_000 < client.pttl(key) <= day_ms + 600_000
    store.apply(StateChanges(cooldowns=[cd("c", 3 * 24 * 60)]))  # a longer one extends it
    assert 4 * day_ms - 100_000 < client.pttl(key) <= 4 * day_ms
    assert set(store.snapshot().cooldowns) == {"a", "b", "c"}


# --------------------------------------------------------------------------- purge and the engine's clock


@pytest.mark.parametrize("year", [1, 1990, 9000])
def test_purge_uses_the_given_clock(store: RedisStore, client: redis.Redis, ns: str, year: int) -> None:
    fill(store)
    store.apply(StateChanges(cooldowns=[cd("b", -1)], turns={"old": turn("old", 60, at=NOW - timedelta(hours=2))}))
    assert store.purge(NOW) == 2  # by the engine's clock, not Redis's: both already ended at NOW
    clock = datetime(year, 6, 1, tzinfo=UTC)
    purged = store.purge(clock)
    p = prefix(ns)
    if year < 2025:  # far past: nothing has expired yet
        assert purged == 0
        assert set(store.snapshot().cooldowns) == {"a"} and store.get_turn("t1", clock) is not None
    else:  # far future: everything has
        assert purged == 2
        assert dict(store.snapshot().cooldowns) == {}
        assert client.exists(p + "turn:t1") == 0 and client.zcard(p + "turns") == 0
    assert client.exists(p + "turn:old") == 0  # purged turns leave neither key nor index entry
    assert client.zscore(p + "turns", "old") is None


def test_the_engine_purges_with_its_own_fake_clock(store: RedisStore, client: redis.Redis, ns: str) -> None:
    moment = [datetime(2026, 11, 24, 10, 30, tzinfo=UTC)]
    engine = Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), state=store,
                                   auth={"anthropic", "anthropic-2"}, clock=lambda: moment[0])
    first = engine.select(chain="main")
    decision = engine.fail(first.turn, status=429, message="rate_limit_error", headers={"retry-after": "60"})
    assert decision.target is not None and decision.target.provider == "anthropic-2"
    p = prefix(ns)
    assert client.hexists(p + "cooldowns", "anthropic") and client.exists(p + f"turn:{first.turn}")
    moment[0] += timedelta(days=30)  # long after the turn and the cooldown ended (in engine time only)
    engine.select(chain="main")
    assert not client.hexists(p + "cooldowns", "anthropic")
    assert client.exists(p + f"turn:{first.turn}") == 0 and client.zscore(p + "turns", first.turn) is None


def test_a_read_only_store_cannot_purge(redis_server: RedisServer, store: RedisStore, ns: str) -> None:
    fill(store)
    with RedisStore(redis_server.url, namespace=ns, readonly=True) as ro:
        with pytest.raises(StateReadOnlyError):
            ro.purge(datetime(9000, 1, 1, tzinfo=UTC))
        assert "ro" in repr(ro)
    assert set(store.snapshot().cooldowns) == {"a"}


# --------------------------------------------------------------------------- log, atomicity, data


def test_the_log_is_trimmed_to_log_limit(redis_server: RedisServer, store: RedisStore, client: redis.Redis,
                                         ns: str) -> None:
    small = RedisStore(redis_server.url, namespace=ns, log_limit=5)
    for batch in range(3):
        small.apply(StateChanges(log=[{"n": batch * 4 + i} for i in range(4)]))
    assert client.xlen(prefix(ns) + "trace") == 5
    assert small.dump()["log"] == [{"n": n} for n in range(7, 12)]
    small.close()

    tiny = RedisStore(redis_server.url, namespace=ns, log_limit=10)  # a limit this small trims on every write
    tiny.clear(["log"])
    tiny.apply(StateChanges(log=[{"n": n} for n in range(20)]))  # one batch over the limit
    assert tiny.dump()["log"] == [{"n": n} for n in range(10, 20)]
    tiny.close()


def test_a_failing_batch_writes_nothing(store: RedisStore, client: redis.Redis, ns: str) -> None:
    fill(store)
    before = raw_state(client, ns)
    bad = StateChanges(
        clear_cooldowns=["a"], cooldowns=[cd("b", 10)], cursors={"claude": "b"},
        turns={"ok": turn("ok"), "bad": TurnRecord("bad", {"x": object()}, NOW, NOW + timedelta(hours=1))},
        quota=[QuotaSnapshot("b", 1, NOW)], log=[{"n": 1}],
    )
    with pytest.raises(TypeError, match="turn 'bad' data"):
        store.apply(bad)
    with pytest.raises(TypeError, match="log entry"):
        store.apply(StateChanges(cursors={"claude": "c"}, log=[{"ok": 1}, {"nan": float("nan")}]))
    assert raw_state(client, ns) == before


def test_a_batch_meeting_an_unreadable_value_is_all_or_nothing(store: RedisStore, client: redis.Redis,
                                                               ns: str) -> None:
    """A value the script cannot decode (e.g. from another version) must not leave half a batch behind."""
    fill(store)
    client.hset(prefix(ns) + "quota", "q", "not json")
    before = raw_state(client, ns)
    batch = StateChanges(cooldowns=[cd("b", 10)], cursors={"claude": "b"}, quota=[QuotaSnapshot("q", 5, NOW)])
    try:
        store.apply(batch)
    except StateError:  # all or nothing: nothing
        assert raw_state(client, ns) == before
    else:  # all or nothing: all
        snap = store.snapshot()
        assert set(snap.cooldowns) == {"a", "b"} and dict(snap.cursors) == {"claude": "b"}
        assert snap.quota["q"].remaining == 5.0


def test_unusual_data_round_trips(store: RedisStore) -> None:
    data = {"emoji": "🚀 ünïcödé \u2028", "nul": "a\u0000b", "quote": "\"'\\", "big": 2**53 - 1, "float": 0.1,
            "nested": [[{"x": None, "t": True}]], "empty": {}, "list": []}
    turn_id = "turn:with:colons {and} braces ✓"
    store.apply(StateChanges(turns={turn_id: TurnRecord(turn_id, data, NOW, NOW + timedelta(hours=1))},
                             cursors={"pool ✓": "member 🚀"}, log=[data]))
    got = store.get_turn(turn_id, NOW)
    assert got is not None and got.data == data
    assert dict(store.snapshot().cursors) == {"pool ✓": "member 🚀"}
    assert store.dump()["log"] == [data]


# --------------------------------------------------------------------------- concurrency


def test_concurrent_writers_never_shorten_a_cooldown(redis_server: RedisServer, store: RedisStore,
                                                     ns: str) -> None:
    """Four writers (own connections) race on one cooldown; a reader sees ``until`` only ever grow."""
    minutes = list(range(1, 201))
    random.Random(7).shuffle(minutes)
    chunks = [minutes[i::4] for i in range(4)]
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[datetime] = []

    def write(chunk: list[int]) -> None:
        try:
            with RedisStore(redis_server.url, namespace=ns) as own:
                for m in chunk:
                    own.apply(StateChanges(cooldowns=[cd("shared", m, f"m{m}"), cd(f"own-{m}", 1)]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        try:
            with RedisStore(redis_server.url, namespace=ns, readonly=True) as ro:
                while not stop.is_set():
                    found = ro.snapshot().cooldowns.get("shared")
                    if found is not None:
                        seen.append(found.until)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(chunk,)) for chunk in chunks]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert errors == []
    final = store.snapshot().cooldowns["shared"]
    assert (final.until, final.reason) == (NOW + timedelta(minutes=200), "m200")
    assert seen == sorted(seen), "a reader saw a cooldown get shorter"
    assert len(store.snapshot().cooldowns) == 201


# --------------------------------------------------------------------------- secrets


def test_the_password_is_never_shown(private_redis: RedisServer) -> None:
    admin = redis.Redis(port=private_redis.port, decode_responses=True)
    admin.config_set("requirepass", "s3cret")
    admin.close()
    url = f"redis://:s3cret@127.0.0.1:{private_redis.port}/0"
    shown = f"redis://:***@127.0.0.1:{private_redis.port}/0"
    with open_store(url, agent_dir=Path("."), namespace="pw") as s:
        s.apply(StateChanges(cursors={"p": "m"}))
        assert s.url == shown and "s3cret" not in repr(s) and "s3cret" not in json.dumps(s.dump())
        private_redis.kill()
        with pytest.raises(StateUnavailableError) as info:
            s.snapshot()
    dead = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StateUnavailableError) as dead_info:
        open_store(dead, agent_dir=Path("."))
    fallback = open_state(dead, agent_dir=Path(private_redis.directory), fallback="local")
    texts = [str(info.value), repr(info.value), str(dead_info.value), repr(dead_info.value), repr(fallback),
             *fallback.warnings]  # type: ignore[attr-defined]
    fallback.close()
    assert "redis://:***@127.0.0.1" in str(dead_info.value)
    for text in texts:
        assert "s3cret" not in text, text


def test_a_password_given_as_a_query_option_is_never_shown(private_redis: RedisServer) -> None:
    admin = redis.Redis(port=private_redis.port, decode_responses=True)
    admin.config_set("requirepass", "s3cret")
    admin.close()
    url = f"redis://127.0.0.1:{private_redis.port}/0?password=s3cret&namespace=pw"
    with open_store(url, agent_dir=Path(".")) as s:
        s.apply(StateChanges(cursors={"p": "m"}))  # the query option does authenticate
        private_redis.kill()
        with pytest.raises(StateUnavailableError) as info:
            s.snapshot()
        assert "s3cret" not in s.url and "s3cret" not in repr(s)
    assert "s3cret" not in str(info.value)


def test_a_wrong_password_is_a_configuration_error(private_redis: RedisServer) -> None:
    admin = redis.Redis(port=private_redis.port, decode_responses=True)
    admin.config_set("requirepass", "s3cret")
    admin.close()
    with pytest.raises(StateError) as info:
        open_store(f"redis://:wrong@127.0.0.1:{private_redis.port}/0", agent_dir=Path("."))
    assert "wrong" not in str(info.value)
    assert not isinstance(info.value, StateUnavailableError)
    assert info.value.hint and "password" in info.value.hint


# --------------------------------------------------------------------------- outages


def test_a_port_nobody_listens_on_fails_fast(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    for how in ("open_store", "open_state"):
        started = time.monotonic()
        with pytest.raises(StateError) as info:
            if how == "open_store":
                open_store(url, agent_dir=tmp_path)
            else:
                open_state(url, agent_dir=tmp_path)  # fallback="error" is the default
        assert_quick(started)
        check_unavailable(info.value, url)
    assert not list(tmp_path.iterdir())  # no local state file was created


def test_a_server_killed_mid_use_fails_fast_then_the_same_store_reconnects(private_redis: RedisServer) -> None:
    s = RedisStore(private_redis.url, namespace="live")
    fill(s)
    assert s.ping()
    private_redis.kill()
    calls: dict[str, Callable[[], object]] = {
        "snapshot": s.snapshot,
        "get_turn": lambda: s.get_turn("t1", NOW),
        "read": lambda: s.read("t1", NOW),
        "apply": lambda: s.apply(StateChanges(cursors={"claude": "b"})),
        "purge": lambda: s.purge(NOW),
        "clear": s.clear,
        "dump": s.dump,
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StateError) as info:
            call()
        assert_quick(started)
        check_unavailable(info.value, private_redis.url)
        assert ("write to" if name in ("apply", "purge", "clear") else "read") in str(info.value)
    assert not s.ping()

    private_redis.start()  # same port, empty (persistence is off), scripts not loaded yet
    assert s.ping()
    assert dict(s.snapshot().cursors) == {}
    fill(s)  # the Lua script is loaded again on NOSCRIPT
    assert dict(s.snapshot().cursors) == {"claude": "a"} and s.get_turn("t1", NOW) is not None
    assert s.read("t1", NOW)[0] is not None
    assert s.purge(NOW + timedelta(days=1)) == 2
    s.close()


def test_a_restart_keeps_the_same_store_working(private_redis: RedisServer) -> None:
    s = RedisStore(private_redis.url, namespace="live")
    fill(s)
    private_redis.restart()  # graceful stop, then start
    s.apply(StateChanges(cooldowns=[cd("z", 5)]))
    assert set(s.snapshot().cooldowns) == {"z"}
    s.close()


def test_a_server_that_lost_its_scripts_gets_them_again(private_redis: RedisServer) -> None:
    s = RedisStore(private_redis.url, namespace="flushed")
    fill(s)
    admin_flush(private_redis)
    s.apply(StateChanges(cooldowns=[cd("z", 5)]))  # APPLY
    admin_flush(private_redis)
    assert "z" in s.snapshot().cooldowns  # READ
    s.close()


def admin_flush(server: RedisServer) -> None:
    """``SCRIPT FLUSH``: the server forgets every script (as after a restart, with the connections kept)."""
    with redis.Redis.from_url(server.url) as admin:
        admin.script_flush()


def test_a_hung_server_times_out(private_redis: RedisServer) -> None:
    """A server that accepts connections but never answers (SIGSTOP) fails within a few timeouts."""
    s = RedisStore(private_redis.url + "?socket_timeout=0.5&socket_connect_timeout=0.5", namespace="hung")
    fill(s)
    with_signal(private_redis, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StateError) as info:
            s.snapshot()
        assert_quick(started)
        assert type(info.value) is StateUnavailableError
        started = time.monotonic()
        with pytest.raises(StateUnavailableError):
            RedisStore(private_redis.url + "?socket_timeout=0.5&socket_connect_timeout=0.5")
        assert_quick(started)
    finally:
        with_signal(private_redis, signal.SIGCONT)
    assert dict(s.snapshot().cursors) == {"claude": "a"}
    s.close()


def test_rediss_to_a_plain_server_is_a_clear_state_error(redis_server: RedisServer) -> None:
    url = f"rediss://127.0.0.1:{redis_server.port}/0"
    started = time.monotonic()
    with pytest.raises(StateError) as info:
        open_store(url, agent_dir=Path("."))
    assert_quick(started)
    assert url in str(info.value) and info.value.hint
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no redis-py exception shown


def test_without_the_redis_package_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    for url in ("redis://:s3cret@127.0.0.1:6379/0", "rediss://h:6380/0", "unix:///run/redis.sock?db=0"):
        with pytest.raises(StateError) as info:
            open_store(url, agent_dir=tmp_path)
        assert "pip install redis (mp-policy's extra [redis]" in str(info.value)
        assert "needs the Python package 'redis'" in str(info.value) and "s3cret" not in str(info.value)
        with pytest.raises(StateError, match=r"extra \[redis\]"):
            open_state(url, agent_dir=tmp_path, fallback="local")  # not "unavailable": no fallback either
    with open_store("memory://", agent_dir=tmp_path) as memory:  # the other stores do not need it
        memory.apply(StateChanges(cursors={"p": "m"}))
