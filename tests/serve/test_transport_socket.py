"""``mp-policy serve --socket`` as a real subprocess: file mode, concurrent clients, shared state, lifecycle."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from serve_support import (
    ANSWER_TIMEOUT,
    POLICY,
    SocketClient,
    SocketServer,
    StdioServer,
    clean_env,
    make_agent,
    serve_argv,
)

#: Ten accounts in one pool with a 1 ms cooldown: failures write cooldowns, and the pool is rarely dry.
#: It can be: a request reads the clock when it starts, and if its thread then waits while the other
#: client fails several accounts, their cooldowns outlast its "now". Such an answer (no target, every
#: other account cooling down, a retryAfter) is correct too, and counted apart.
BUSY_ACCOUNTS = ["anthropic", *(f"anthropic-{i}" for i in range(2, 11))]
BUSY_POLICY = "subscriptions:\n" + "".join(f"  - {{provider: anthropic, index: {i}}}\n" for i in range(2, 11)) + f"""\
pools:
  - name: claude
    baseProvider: anthropic
    members: [{", ".join(BUSY_ACCOUNTS)}]
    cooldown: 1ms
"""


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "mp.sock"  # short enough for AF_UNIX (108 bytes) under pytest's temporary folders


def test_the_socket_is_0600_serves_and_is_removed_on_sigterm(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server:
        mode = os.stat(sock_path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        with server.client() as client:
            hello = client.result("hello", protocol=1)
            assert hello["transport"] == "socket"
            assert client.result("select", pool="claude")["target"]["provider"] == "anthropic"
        code, err = server.terminate()
        assert code == 0, err
        assert not sock_path.exists()
        assert "Traceback" not in err


def test_concurrent_clients_each_get_their_own_answers_in_order(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path, policy=BUSY_POLICY, accounts=BUSY_ACCOUNTS)
    rounds = 60
    problems: list[str] = []
    turns: list[set[str]] = [set(), set()]
    dry = [0, 0]

    def worker(k: int) -> None:
        try:
            with SocketClient(sock_path) as client:
                for i in range(rounds):
                    select_id, fail_id = f"c{k}-s{i}", k * 100_000 + i  # string and number ids
                    client.send({"id": select_id, "op": "select", "pool": "claude", "session": f"s{k}"})
                    chosen = client.recv()
                    if chosen["id"] != select_id or not chosen["ok"] or chosen["result"]["target"] is None:
                        problems.append(f"select {select_id}: {chosen}")
                        return
                    turn = chosen["result"]["turn"]
                    failing = chosen["result"]["target"]["provider"]
                    client.send({"id": fail_id, "op": "fail", "turn": turn, "status": 429,
                                 "message": "rate_limit_error"})
                    moved = client.recv()
                    result: dict[str, Any] = moved.get("result") or {}
                    if (moved["id"] != fail_id or result.get("turn") != turn or result["error"]["kind"] != "rate_limit"
                            or failing in {c["provider"] for c in result["candidates"]}):
                        problems.append(f"fail {fail_id} after {failing}: {moved}")
                        return
                    if result["target"] is None:
                        reasons = {s["reason"] for s in result["skipped"]}
                        if reasons - {"cooldown", "attempted"} or result["retryAfter"] is None:
                            problems.append(f"fail {fail_id} after {failing}, no target: {moved}")
                            return
                        dry[k] += 1
                    elif result["target"]["provider"] == failing:
                        problems.append(f"fail {fail_id} stayed on {failing}: {moved}")
                        return
                    turns[k].add(turn)
        except Exception as exc:  # reported below with the others
            problems.append(f"client {k}: {type(exc).__name__}: {exc}")

    with SocketServer(agent, tmp_path / "state.db", sock_path) as server:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert problems == []
        assert len(turns[0]) == len(turns[1]) == rounds and not turns[0] & turns[1]
        assert sum(dry) < rounds  # most failures found another account
        assert server.terminate()[0] == 0


def test_two_servers_on_one_sqlite_file_agree(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    state = tmp_path / "shared.db"
    with SocketServer(agent, state, sock_path) as one, StdioServer(agent, state) as two, one.client() as client:
        first = client.result("select", provider="anthropic")
        client.result("fail", turn=first["turn"], status=429, headers={"retry-after": "900"})
        status = two.result("status")
        cooldown = {a["provider"]: a["cooldown"] for a in status["accounts"]}["anthropic"]
        assert cooldown is not None and cooldown["reason"].startswith("rate_limit")
        seen = two.result("select", provider="anthropic")
        assert seen["target"]["provider"] == "anthropic-2"
        assert {s["provider"]: s["reason"] for s in seen["skipped"]}["anthropic"] == "cooldown"
        # the other server explains the turn from the trace in the shared store
        explained = two.result("explain", turn=first["turn"])
        assert explained["source"] == "trace" and explained["attempted"] == ["anthropic"]
        assert explained["target"]["provider"] == "anthropic-2"
        assert explained["steps"][1]["error"]["kind"] == "rate_limit"
        # and continues it: the next failure moves on from where the first server left the turn
        moved = two.result("fail", turn=first["turn"], status=429)
        assert moved["target"]["provider"] == "anthropic-3"


def _stale_socket(path: Path) -> None:
    """A socket file whose server is gone (bound, never unlinked)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()


def test_a_stale_socket_file_is_replaced(tmp_path: Path, sock_path: Path) -> None:
    _stale_socket(sock_path)
    with pytest.raises(ConnectionRefusedError):
        SocketClient(sock_path)
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server, server.client() as client:
        assert client.result("hello", protocol=1)["protocol"] == 1
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600


def _run_serve(agent: Path, tmp_path: Path, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serve_argv(agent, tmp_path / "other.db", *args), capture_output=True, text=True,
                          env=clean_env(tmp_path), timeout=ANSWER_TIMEOUT * 3, stdin=subprocess.DEVNULL, check=False)


def test_a_live_socket_is_refused_with_exit_2(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server:
        inode = os.stat(sock_path).st_ino
        second = _run_serve(agent, tmp_path, "--socket", sock_path)
        assert second.returncode == 2, second.stderr
        assert f"another server is listening on {sock_path}" in second.stderr and "Traceback" not in second.stderr
        assert os.stat(sock_path).st_ino == inode  # left alone
        with server.client() as client:
            assert client.result("hello", protocol=1)["protocol"] == 1


def test_a_path_that_is_not_a_socket_is_refused_and_kept(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    run = _run_serve(agent, tmp_path, "--socket", target)
    assert run.returncode == 2 and "exists and is not a socket" in run.stderr
    assert target.read_text() == "keep me"
    missing_dir = _run_serve(agent, tmp_path, "--socket", tmp_path / "no" / "such" / "dir.sock")
    assert missing_dir.returncode == 2 and "cannot create the socket" in missing_dir.stderr


def test_clients_that_disconnect_mid_request_cost_only_their_connection(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server:
        with server.client() as half:
            half.send_raw(b'{"id": 1, "op": "sel')  # half a request, then gone
        with server.client() as hasty:
            hasty.send({"id": 2, "op": "select", "pool": "claude"})  # a request, gone before the answer
        with server.client() as flood:
            flood.send_raw(b"[" + b"x" * (3 << 20))  # 3 MiB without a newline, then gone
        with server.client() as reset:
            reset.send({"id": 3, "op": "status"})
            reset.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        with server.client() as client:
            assert client.result("select", pool="claude")["target"] is not None
            assert client.result("hello", protocol=1)["protocol"] == 1
        code, err = server.terminate()
        assert code == 0 and "Traceback" not in err, err


def test_an_over_long_line_on_the_socket_is_answered_and_the_connection_goes_on(tmp_path: Path,
                                                                                sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server, server.client() as client:
        client.send_raw(b'{"id": 1, "op": "select", "prompt": "' + b"y" * (2 << 20) + b'"}\n')
        answer = client.recv()
        assert answer["id"] is None and answer["error"]["code"] == "bad-request"
        assert client.result("select", pool="claude")["target"]["provider"] == "anthropic"


def test_sigterm_answers_the_request_in_hand_then_exits_0(tmp_path: Path, sock_path: Path) -> None:
    from test_transport_stdio import SPIN_POLICY, SPIN_SCRIPT

    agent = make_agent(tmp_path, policy=SPIN_POLICY, accounts=["anthropic", "anthropic-2"])
    (agent / "selectors").mkdir()
    (agent / "selectors" / "spin.py").write_text(SPIN_SCRIPT)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server, server.client() as client:
        client.send({"id": "slow", "op": "select", "pool": "claude"})
        time.sleep(1.0)  # the selector spins for 3 s
        server.proc.send_signal(signal.SIGTERM)
        answer = client.recv()
        assert answer["id"] == "slow" and answer["ok"] is True
        assert "did not answer within 3 s" in answer["result"]["strategy"][0]["note"]
        assert client.recv_raw() == b""  # then the connection closes
        assert server.proc.wait(20) == 0
        assert not sock_path.exists()


def test_shutdown_from_one_client_stops_the_server(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server, server.client() as idle, \
            server.client() as client:
        idle.result("hello", protocol=1)
        assert client.call("shutdown")["ok"] is True
        assert server.proc.wait(20) == 0
        assert idle.recv_raw() == b""
        assert not sock_path.exists()


def test_the_policy_used_by_two_servers_is_the_same_file(tmp_path: Path, sock_path: Path) -> None:
    """A policy edit reaches both servers (each checks its own files)."""
    agent = make_agent(tmp_path)
    state = tmp_path / "state.db"
    with SocketServer(agent, state, sock_path) as one, StdioServer(agent, state) as two, one.client() as client:
        before = client.result("hello", protocol=1)["policyRevision"]
        assert two.result("hello", protocol=1)["policyRevision"] == before
        (agent / "multi-pass.yaml").write_text(POLICY.replace("cooldown: 5m", "cooldown: 9m"))
        time.sleep(1.2)
        after = client.result("hello", protocol=1)["policyRevision"]
        assert after != before and two.result("hello", protocol=1)["policyRevision"] == after
