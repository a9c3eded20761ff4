"""End-to-end: ``mp-policy eval``, ``state show|clear`` and ``test`` on a real Redis (and a real SQLite file).

The module starts its own ``redis-server`` (tests here never share the session one of
``tests/state``); a Redis that is down is a port nothing listens on.
"""

from __future__ import annotations

import sqlite3
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from cli_support import AT, AT_DT, DEMO, REPO, STATE_FILE, Cli, Run

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file
from policy_engine.state import Cooldown, StateChanges
from policy_engine.state.redis_store import RedisStore

STATE_TESTS = Path(__file__).resolve().parents[1] / "state"
if str(STATE_TESTS) not in sys.path:
    sys.path.append(str(STATE_TESTS))
from redis_server import RedisServer, free_port, need_redis  # noqa: E402

SECRET = f"s3cret-{uuid.uuid4().hex}"
SHARED_CONFORMANCE = REPO.parent / "shared" / "conformance"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for this module."""
    need_redis()
    with RedisServer(tmp_path_factory.mktemp("redis-cli")) as srv:
        yield srv


@pytest.fixture
def raw(server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client on the module's server."""
    client = redis.Redis(port=server.port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def ns() -> str:
    """A namespace of this test alone."""
    return f"cli-{uuid.uuid4().hex[:12]}"


def namespace_content(client: redis.Redis, namespace: str) -> dict[str, Any]:
    """Every key of a namespace with its raw content (to prove a command wrote nothing)."""
    out: dict[str, Any] = {}
    for key in sorted(client.scan_iter(match=f"mp-policy:{{{namespace}}}:*")):
        kind = client.type(key)
        out[key] = {"hash": client.hgetall, "list": lambda k: client.lrange(k, 0, -1),
                    "zset": lambda k: client.zrange(k, 0, -1, withscores=True), "string": client.get,
                    "stream": lambda k: client.xrange(k)}[kind](key)
    return out


def with_settings(agent: Path, lines: str) -> None:
    """Add ``lines`` (indented YAML) to the ``settings:`` of the agent's multi-pass.yaml."""
    policy = agent / "multi-pass.yaml"
    text = policy.read_text(encoding="utf-8")
    assert "\nsettings:\n" in text
    policy.write_text(text.replace("\nsettings:\n", f"\nsettings:\n{lines}", 1), encoding="utf-8")


def dead_url() -> tuple[str, str]:
    """A Redis URL (with a password) where nothing listens, and how messages must show it."""
    port = free_port()
    return f"redis://:{SECRET}@127.0.0.1:{port}/0", f"redis://:***@127.0.0.1:{port}/0"


def no_secret(run: Run) -> None:
    assert SECRET not in run.output, run.describe()


# --------------------------------------------------------------------------- eval


def test_eval_reads_a_live_redis_and_writes_nothing(cli: Cli, demo_copy: Path, server: RedisServer,
                                                    raw: redis.Redis, ns: str) -> None:
    url = f"{server.url}?namespace={ns}"
    args = ("eval", "--agent-dir", demo_copy, "--chain", "main", "--at", AT, "--format", "json", "--state", url)
    fresh = cli(*args)
    assert fresh.returncode == 0 and fresh.json()["target"]["provider"] == "anthropic", fresh.describe()

    with RedisStore(url) as store:
        store.apply(StateChanges(cooldowns=[Cooldown("anthropic", AT_DT + timedelta(hours=1), "rate_limit: HTTP 429",
                                                     AT_DT, "test")]))
    before = namespace_content(raw, ns)
    run = cli(*args, "--fail", ":429:rate_limit_error")
    assert run.returncode == 0, run.describe()
    data = run.json()
    first = data["steps"][0]
    assert first["target"]["provider"] == "anthropic-2", run.describe()  # anthropic cools down in Redis
    (skip,) = [s for s in first["skipped"] if s["provider"] == "anthropic"]
    assert skip["reason"] == "cooldown" and skip["until"] == "2026-11-24T11:30:00+01:00"
    assert data["target"]["provider"] == "openai-codex"
    assert run.stderr == ""
    assert namespace_content(raw, ns) == before  # a dry run: no turn, no cursor, no cooldown written


@pytest.mark.parametrize("how", ["settings.state", "--state", "MP_POLICY_STATE"])
def test_eval_with_redis_down_and_state_fallback_local(cli: Cli, agent: Path, how: str) -> None:
    url, shown = dead_url()
    lines = "  stateFallback: local\n" + (f'  state: "{url}"\n' if how == "settings.state" else "")
    with_settings(agent, lines)
    args: tuple[Any, ...] = ("eval", "--agent-dir", agent, "--chain", "main", "--at", AT)
    env = {}
    if how == "--state":
        args += ("--state", url)
    elif how == "MP_POLICY_STATE":
        env["MP_POLICY_STATE"] = url
    run = cli(*args, env=env)
    no_secret(run)
    assert run.returncode == 0, run.describe()
    assert "anthropic" in run.stdout
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, run.describe()
    assert "cannot connect to the Redis state store" in warnings[0] and shown in warnings[0]
    assert str(agent / STATE_FILE) in warnings[0] and "stateFallback: local" in warnings[0]
    assert not (agent / STATE_FILE).exists()  # eval is a dry run: the local store is only read


@pytest.mark.parametrize("how", ["settings.state", "--state"])
def test_eval_with_redis_down_and_no_fallback_fails_clearly(cli: Cli, agent: Path, how: str) -> None:
    url, shown = dead_url()
    if how == "settings.state":
        with_settings(agent, f'  state: "{url}"\n')
    run = cli("eval", "--agent-dir", agent, "--chain", "main", "--at", AT,
              *(("--state", url) if how == "--state" else ()))
    no_secret(run)  # (the helper already checked: no traceback)
    assert run.returncode == 1, run.describe()
    assert run.stdout == ""
    assert run.stderr.startswith(f"error: cannot connect to the Redis state store {shown}: "), run.describe()
    assert "hint:" in run.stderr and "stateFallback: local" in run.stderr
    assert not (agent / STATE_FILE).exists()


# --------------------------------------------------------------------------- state show / clear


@pytest.fixture
def seeded(server: RedisServer, ns: str) -> str:
    """A Redis namespace after a real turn: anthropic cooling down, cursor claude -> anthropic-2."""
    url = f"{server.url}?namespace={ns}"
    engine = Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), state=RedisStore(url),
                                   auth={"anthropic", "anthropic-2"}, clock=lambda: AT_DT)
    try:
        decision = engine.select(chain="main")
        decision = engine.fail(decision.turn, status=429, message="rate_limit_error",
                               headers={"retry-after": "3600"})
        assert decision.target is not None and decision.target.provider == "anthropic-2"
    finally:
        engine.close()
    return url


def test_state_show_prints_the_redis_data(cli: Cli, seeded: str, raw: redis.Redis, ns: str) -> None:
    before = namespace_content(raw, ns)
    text, js = cli.many([(("state", "show", "--state", seeded), {}),
                         (("state", "show", "--state", seeded, "--format", "json"), {})])
    assert text.returncode == 0 and js.returncode == 0, text.describe() + js.describe()
    lines = text.stdout.splitlines()
    assert lines[0] == f"store: {seeded}"
    assert "cooldowns:" in lines and any(line.startswith("  anthropic: ") for line in lines)
    assert "  claude: anthropic-2" in lines
    assert any("current anthropic-2" in line and "attempted anthropic" in line for line in lines), text.stdout
    data = js.json()
    assert data["store"] == seeded and data["namespace"] == ns and data["keyPrefix"] == f"mp-policy:{{{ns}}}:"
    assert datetime.fromisoformat(data["cooldowns"]["anthropic"]["until"]) == AT_DT + timedelta(hours=1)
    assert data["cursors"] == {"claude": "anthropic-2"} and len(data["turns"]) == 1
    assert namespace_content(raw, ns) == before  # show only reads


def test_state_clear_empties_the_redis_namespace(cli: Cli, seeded: str, raw: redis.Redis, ns: str) -> None:
    run = cli("state", "clear", "--only", "cooldowns", "--state", seeded)
    assert run.returncode == 0 and run.stdout.strip() == f"cleared cooldowns in {seeded}", run.describe()
    assert raw.exists(f"mp-policy:{{{ns}}}:cooldowns") == 0 and raw.exists(f"mp-policy:{{{ns}}}:cursors") == 1
    run = cli("state", "clear", "--state", seeded)
    assert run.returncode == 0, run.describe()
    assert namespace_content(raw, ns) == {}


def test_state_show_with_redis_down_fails_clearly(cli: Cli) -> None:
    url, shown = dead_url()
    run = cli("state", "show", "--state", url)
    no_secret(run)
    assert run.returncode == 1 and run.stderr.startswith(f"error: cannot connect to the Redis state store {shown}")


# --------------------------------------------------------------------------- conformance on real stores


SUITES = {"policies": REPO / "policies", "shared-conformance": SHARED_CONFORMANCE}


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_policy_tests_pass_on_real_stores(cli: Cli, server: RedisServer, raw: redis.Redis, tmp_path: Path,
                                          kind: str, suite: str) -> None:
    path = SUITES[suite]
    if not path.is_dir():
        pytest.skip(f"{path} does not exist next to the repository")
    url = server.url if kind == "redis" else str(tmp_path / "state.db")
    raw.config_resetstat()
    run = cli("test", path, "--state", url, timeout=300)
    assert run.returncode == 0, run.describe()
    assert " 0 failed" in run.last_line and not run.last_line.startswith("0 passed"), run.describe()
    if kind == "redis":
        scripts = raw.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        assert scripts > 0, "the cases did not write to Redis"
        leftovers = list(raw.scan_iter(match="mp-policy:{policy-test-*", count=1000))
        assert leftovers == [], leftovers[:10]
    else:
        with sqlite3.connect(tmp_path / "state.db") as conn:
            tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                      if any(col[1] == "ns" for col in conn.execute(f"PRAGMA table_info({name})"))]
            assert tables, "the SQLite file has no namespaced tables"
            rows = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE ns LIKE 'policy-test-%'").fetchone()[0]
                    for t in tables}
        conn.close()
        assert set(rows.values()) == {0}, rows
