"""End-to-end: ``mp-policy trace --follow`` on a real Redis sees another process's writes (a stream read with
``XREAD BLOCK``), and a fleet sharing one Redis sees one trace."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Cli
from test_cli_trace import follow_sees_another_process, run_turn

STATE_TESTS = Path(__file__).resolve().parents[1] / "state"
if str(STATE_TESTS) not in sys.path:
    sys.path.append(str(STATE_TESTS))
from redis_server import RedisServer, need_redis  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for this module."""
    need_redis()
    with RedisServer(tmp_path_factory.mktemp("redis-trace")) as srv:
        yield srv


def test_follow_sees_another_process_write_on_redis(cli: Cli, agent: Path, tmp_path: Path,
                                                    server: RedisServer) -> None:
    follow_sees_another_process(cli, agent, f"{server.url}?namespace=follow-{uuid.uuid4().hex[:8]}", tmp_path)


def test_a_fleet_on_redis_sees_one_trace(cli: Cli, agent: Path, tmp_path: Path, server: RedisServer) -> None:
    state = f"{server.url}?namespace=fleet-{uuid.uuid4().hex[:8]}"
    other = tmp_path / "other-machine"
    other.mkdir()
    first = run_turn(cli, agent, "--state", state)
    second = run_turn(cli, agent, "--state", state)  # another agent, same Redis
    entries = cli("trace", "--agent-dir", agent, "--state", state, "--format", "json").json()["entries"]
    assert [(e["turn"], e["op"]) for e in entries] == [
        (first, "select"), (first, "fail"), (first, "succeed"), (second, "select"), (second, "fail"),
        (second, "succeed")]
    # the second turn started while anthropic cooled down from the first: the trace says why it was skipped
    assert {s["provider"]: s["reason"] for s in entries[3]["skipped"]}["anthropic"] == "cooldown"
