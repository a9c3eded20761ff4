"""``settings.stateFallback: local``: :class:`FallbackStore` and ``open_state(..., fallback="local")``.

Redis down at start, lost mid-run and back again, on a PRIVATE ``redis-server`` per test (they
kill it); then the same through :meth:`Engine.load` with a policy file that sets
``state`` and ``stateFallback``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from redis_server import RedisServer, free_port

from policy_engine.engine import Engine
from policy_engine.state import (
    DEFAULT_STATE_FILENAME,
    MemoryStore,
    SqliteStore,
    StateChanges,
    StateError,
    StateStore,
    StateUnavailableError,
    StateURLError,
    open_state,
    open_store,
    reset_shared_memory,
)
from policy_engine.state.fallback import FallbackStore
from policy_engine.state.redis_store import RedisStore

AT = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
QUICK = 5.0  # seconds: generous, the store's timeouts are 1 s
POLICY = """\
settings:
  timezone: UTC
  cooldown: 5m
{extra}subscriptions: [{{provider: anthropic, index: 2}}]
pools: [{{name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2]}}]
"""


class Ticker:
    """A fake monotonic clock for :class:`FallbackStore` (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """Opens the primary store and counts the attempts (so retries can be checked without timing)."""

    def __init__(self, url: str, agent_dir: Path, namespace: str = "default") -> None:
        self.url, self.agent_dir, self.namespace = url, agent_dir, namespace
        self.calls = 0

    def __call__(self) -> StateStore:
        self.calls += 1
        return open_store(self.url, agent_dir=self.agent_dir, namespace=self.namespace)



@pytest.fixture
def agent(tmp_path: Path) -> Path:
    """An empty agent directory (where the local fallback state file goes)."""
    directory = tmp_path / "agent"
    directory.mkdir()
    return directory


def dead_url(password: str = "s3cret") -> str:
    return f"redis://:{password}@127.0.0.1:{free_port()}/0"


def redacted(url: str) -> str:
    return url.replace("s3cret", "***")


# --------------------------------------------------------------------------- open_state


def test_redis_down_at_start_warns_and_uses_the_local_file(agent: Path) -> None:
    url = dead_url()
    started = time.monotonic()
    store = open_state(url, agent_dir=agent, namespace="team", fallback="local")
    assert time.monotonic() - started < QUICK
    assert isinstance(store, FallbackStore) and store.degraded
    local = store.current
    assert isinstance(local, SqliteStore) and local.path == agent / DEFAULT_STATE_FILENAME
    assert (store.url, store.namespace, store.readonly) == (redacted(url), "team", False)
    (warning,) = store.warnings
    assert "cannot connect to the Redis state store" in warning and redacted(url) in warning
    assert str(agent / DEFAULT_STATE_FILENAME) in warning and "stateFallback: local" in warning
    assert "s3cret" not in warning and "s3cret" not in repr(store)

    # decisions work, and what they write lands in the local file
    engine = Engine.from_documents({"pools": [{"name": "claude", "baseProvider": "anthropic",
                                               "members": ["anthropic", "anthropic-2"]}],
                                    "subscriptions": [{"provider": "anthropic", "index": 2}]},
                                   state=store, auth={"anthropic", "anthropic-2"}, clock=lambda: AT)
    first = engine.select(pool="claude")
    assert first.target is not None and first.target.provider == "anthropic"
    second = engine.fail(first.turn, status=429, message="rate_limit_error")
    assert second.target is not None and second.target.provider == "anthropic-2"
    doc = store.dump()
    assert doc["fallback"] == {"primary": redacted(url), "degraded": True}
    engine.close()
    with SqliteStore(agent / DEFAULT_STATE_FILENAME, namespace="team", readonly=True) as on_disk:
        snap = on_disk.snapshot()
        assert set(snap.cooldowns) == {"anthropic"} and dict(snap.cursors) == {"claude": "anthropic-2"}
        assert on_disk.get_turn(first.turn, AT) is not None
    assert len(store.warnings) == 1


def test_a_read_only_fallback_stays_read_only(agent: Path) -> None:
    store = open_state(dead_url(), agent_dir=agent, readonly=True, fallback="local")
    assert store.readonly and store.current.readonly  # type: ignore[attr-defined]
    assert dict(store.snapshot().cursors) == {}
    store.close()


def test_fallback_error_is_the_default(agent: Path) -> None:
    url = dead_url()
    for kwargs in ({}, {"fallback": "error"}):
        started = time.monotonic()
        with pytest.raises(StateUnavailableError) as info:
            open_state(url, agent_dir=agent, **kwargs)
        assert time.monotonic() - started < QUICK
        assert redacted(url) in str(info.value) and "s3cret" not in str(info.value)
    assert not list(agent.iterdir())  # no local state file either


def test_only_an_unreachable_store_falls_back(agent: Path) -> None:
    with pytest.raises(StateError) as info:  # a broken URL is a configuration error, never hidden
        open_state("redis://127.0.0.1:notaport/0", agent_dir=agent, fallback="local")
    assert not isinstance(info.value, StateUnavailableError)
    with pytest.raises(StateURLError):
        open_state("nosuchscheme://x", agent_dir=agent, fallback="local")
    assert not list(agent.iterdir())


@pytest.mark.parametrize("url", ["memory://", "memory://fallback-test", "sqlite:///{agent}/s.db", "{agent}/t.db",
                                 "sqlite://relative.db", None])
def test_local_urls_are_never_wrapped(agent: Path, url: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(agent)
    store = open_state(url.format(agent=agent) if url else url, agent_dir=agent, fallback="local")
    try:
        assert isinstance(store, MemoryStore | SqliteStore), repr(store)
    finally:
        store.close()
        reset_shared_memory("fallback-test")


def test_a_reachable_redis_is_wrapped_and_used(private_redis: RedisServer, agent: Path) -> None:
    for url in (private_redis.url, private_redis.unix_url):
        store = open_state(url + ("&" if "?" in url else "?") + "namespace=wrapped", agent_dir=agent,
                           fallback="local")
        assert isinstance(store, FallbackStore) and not store.degraded and store.warnings == []
        assert isinstance(store.current, RedisStore) and store.namespace == "wrapped"
        store.apply(StateChanges(cursors={"p": url[:4]}))
        store.close()
    raw = redis.Redis(port=private_redis.port, decode_responses=True)
    assert raw.hgetall("mp-policy:{wrapped}:cursors") == {"p": "unix"}
    raw.close()
    assert not (agent / DEFAULT_STATE_FILENAME).exists()  # the local store is opened only when needed


# --------------------------------------------------------------------------- lost and back


def test_redis_lost_mid_run_then_back(private_redis: RedisServer, agent: Path) -> None:
    ticker = Ticker()
    primary = Counting(private_redis.url, agent, "mid")
    store = FallbackStore(primary, lambda: open_store(None, agent_dir=agent, namespace="mid"),
                          primary_url=private_redis.url, retry_interval=30.0, clock=ticker)
    raw = redis.Redis(port=private_redis.port, decode_responses=True)
    store.apply(StateChanges(cursors={"claude": "on-redis"}))
    assert raw.hgetall("mp-policy:{mid}:cursors") == {"claude": "on-redis"}
    assert (primary.calls, store.degraded, store.warnings) == (1, False, [])

    private_redis.kill()
    started = time.monotonic()
    assert dict(store.snapshot().cursors) == {}  # the local store answers (it is empty)
    assert store.degraded and isinstance(store.current, SqliteStore)
    (warning,) = store.warnings
    assert "cannot read the Redis state store" in warning and private_redis.url in warning
    assert str(agent / DEFAULT_STATE_FILENAME) in warning

    for i in range(50):  # later calls go straight to the local store: no reconnection per call
        store.apply(StateChanges(cursors={"claude": f"local-{i}"}))
        store.snapshot()
        store.get_turn("t", AT)
        store.read("t", AT)
    assert time.monotonic() - started < QUICK
    assert (primary.calls, len(store.warnings)) == (1, 1)
    assert dict(store.snapshot().cursors) == {"claude": "local-49"}

    ticker.now += 29.0  # not yet time to look again
    store.snapshot()
    assert (primary.calls, store.degraded) == (1, True)
    ticker.now += 2.0  # time to look: still down, one attempt, no new warning
    store.snapshot()
    store.snapshot()
    assert (primary.calls, store.degraded, len(store.warnings)) == (2, True, 1)

    private_redis.start()  # back (empty: persistence is off)
    store.snapshot()
    assert primary.calls == 2  # the next attempt waits for the interval
    ticker.now += 30.0
    assert dict(store.snapshot().cursors) == {}  # Redis again, not the local cursors
    assert (primary.calls, store.degraded, len(store.warnings)) == (3, False, 2)
    assert "reachable again" in store.warnings[1] and private_redis.url in store.warnings[1]
    store.apply(StateChanges(cursors={"claude": "on-redis-again"}))
    assert raw.hgetall("mp-policy:{mid}:cursors") == {"claude": "on-redis-again"}
    store.close()
    raw.close()
    with SqliteStore(agent / DEFAULT_STATE_FILENAME, namespace="mid", readonly=True) as on_disk:
        assert dict(on_disk.snapshot().cursors) == {"claude": "local-49"}  # what was written meanwhile stays


def test_a_write_that_fails_mid_run_is_kept_locally(private_redis: RedisServer, agent: Path) -> None:
    store = FallbackStore(Counting(private_redis.url, agent), lambda: open_store(None, agent_dir=agent),
                          primary_url=private_redis.url, clock=Ticker())
    private_redis.kill()
    store.apply(StateChanges(cursors={"claude": "b"}))  # the failing write itself goes local
    assert store.degraded and dict(store.snapshot().cursors) == {"claude": "b"}
    assert len(store.warnings) == 1 and "cannot write to the Redis state store" in store.warnings[0]
    store.close()


# --------------------------------------------------------------------------- through the engine


def write_agent(agent: Path, extra: str) -> None:
    (agent / "multi-pass.yaml").write_text(POLICY.format(extra=extra), encoding="utf-8")
    creds = {name: {"type": "oauth", "access": "sk-not-real", "refresh": "rt-not-real", "expires": 4102444800000}
             for name in ("anthropic", "anthropic-2")}
    (agent / "auth.json").write_text(json.dumps(creds), encoding="utf-8")


def test_the_engine_keeps_answering_when_redis_dies(private_redis: RedisServer, agent: Path) -> None:
    admin = redis.Redis(port=private_redis.port, decode_responses=True)
    admin.config_set("requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{private_redis.port}/0?namespace=engine"
    write_agent(agent, f"  state: \"{url}\"\n  stateFallback: local\n")
    moment = [AT]
    engine = Engine.load(agent_dir=agent, env={}, search_project=False, clock=lambda: moment[0])
    try:
        assert isinstance(engine.store, FallbackStore) and engine.state_warnings == []
        first = engine.select(pool="claude")
        assert first.target is not None and first.target.provider == "anthropic"
        raw = redis.Redis(port=private_redis.port, password="s3cret", decode_responses=True)
        assert raw.exists(f"mp-policy:{{engine}}:turn:{first.turn}") == 1  # the turn went to Redis
        raw.close()

        private_redis.kill()
        moment[0] += timedelta(seconds=10)
        started = time.monotonic()
        # the turn is not in the local store, so the failing provider is named
        second = engine.fail(first.turn, provider="anthropic", status=429, message="rate_limit_error")
        assert second.target is not None and second.target.provider == "anthropic-2"
        third = engine.select(pool="claude")
        assert third.target is not None and third.target.provider == "anthropic-2"  # the local cooldown holds
        assert time.monotonic() - started < QUICK
        (warning,) = engine.state_warnings
        assert redacted(url) in warning and "local state store" in warning and "s3cret" not in warning
        assert (agent / DEFAULT_STATE_FILENAME).exists()
    finally:
        engine.close()
        admin.close()


def test_without_the_setting_the_engine_refuses_to_start(agent: Path) -> None:
    url = dead_url()
    write_agent(agent, f"  state: \"{url}\"\n")
    started = time.monotonic()
    with pytest.raises(StateUnavailableError) as info:
        Engine.load(agent_dir=agent, env={}, search_project=False)
    assert time.monotonic() - started < QUICK
    assert redacted(url) in str(info.value) and "s3cret" not in str(info.value)
    assert not (agent / DEFAULT_STATE_FILENAME).exists()


def test_a_closed_fallback_store_stays_closed(private_redis: RedisServer, agent: Path) -> None:
    ticker = Ticker()
    primary = Counting(private_redis.url, agent)
    private_redis.kill()
    store = FallbackStore(primary, lambda: open_store(None, agent_dir=agent), primary_url=private_redis.url,
                          clock=ticker)
    assert store.degraded
    store.close()
    store.close()  # twice is fine
    private_redis.start()
    ticker.now += 60.0
    with pytest.raises(StateError, match="closed"):
        store.snapshot()
    assert primary.calls == 1  # no reconnection after close
