"""``mp-policy serve --socket PATH --idle-exit DURATION``: the server stops by itself after DURATION without a
client (exit 0, socket file removed), stays while a client is connected however quiet, and serves a client
that reached the backlog just as the idle time ran out.

The subprocess tests run the real console script; the backlog test runs :func:`serve_socket` in a thread
on a real socket, because the moment between the idle deadline and the socket's removal cannot be hit
from outside.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from serve_support import ANSWER_TIMEOUT, SocketClient, SocketServer, make_agent

from policy_engine.serve import transport
from policy_engine.serve.engines import EngineCache, SharedStore
from policy_engine.serve.server import Server
from policy_engine.state import open_store

#: Generous: the server notices the idle time within a select timeout, but the machine is busy.
EXIT_WAIT = 20.0
#: Less than the idle time of 1 s: "it waited for its idle time, it did not stop at once", with room for this
#: process to be held up between the last client's disconnect and reading the clock on a busy machine.
WAITED_AT_LEAST = 0.5


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "mp.sock"


def test_with_no_client_it_exits_0_after_the_idle_time_and_removes_its_socket(tmp_path: Path,
                                                                                sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path, "--idle-exit", "1s") as server:
        left = time.monotonic()  # the start-up probe (a hello) has just disconnected
        code = server.proc.wait(EXIT_WAIT)
        waited = time.monotonic() - left
        _, err = server.proc.communicate(timeout=EXIT_WAIT)
    assert code == 0, err
    assert waited >= WAITED_AT_LEAST, f"it stopped {waited:.2f} s after the last client left, before its idle time"
    assert not sock_path.exists()
    assert f"no client for 1s; stopping (pid {server.proc.pid})" in err.decode()
    assert "Traceback" not in err.decode()


def test_a_connected_client_keeps_it_running_however_quiet_until_it_leaves(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path, "--idle-exit", "1s") as server:
        client = SocketClient(sock_path)
        try:
            client.result("hello", protocol=1)
            time.sleep(3.0)  # three idle times without a word from the client
            assert server.proc.poll() is None, "a connected client keeps the server running"
            assert sock_path.exists()
            assert client.result("select", pool="claude")["target"]["provider"] == "anthropic"
            time.sleep(0.5)
            with SocketClient(sock_path) as second:  # a second client comes and goes: the first still holds it
                second.result("status")
            time.sleep(1.5)
            assert server.proc.poll() is None, "one client left, the other is still connected"
        finally:
            client.close()
        left = time.monotonic()
        code = server.proc.wait(EXIT_WAIT)
        waited = time.monotonic() - left
        _, err = server.proc.communicate(timeout=EXIT_WAIT)
    assert code == 0, err
    assert waited >= WAITED_AT_LEAST, f"it stopped {waited:.2f} s after the last client left"
    assert not sock_path.exists()


def test_without_idle_exit_it_keeps_running(tmp_path: Path, sock_path: Path) -> None:
    agent = make_agent(tmp_path)
    with SocketServer(agent, tmp_path / "state.db", sock_path) as server:
        time.sleep(2.0)
        assert server.proc.poll() is None
        code, err = server.terminate()
    assert code == 0, err
    assert "no client for" not in err


def test_a_client_in_the_backlog_when_the_idle_time_runs_out_is_still_served(
        tmp_path: Path, sock_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agent = make_agent(tmp_path)
    store = SharedStore(open_store(f"sqlite:///{tmp_path / 'state.db'}", agent_dir=agent))
    cache = EngineCache(agent_dir=agent, policy=None, project=None, store=store, quota_refresh=False, cwd=agent)
    server = Server(cache)
    listener, inode = transport.bind_socket(sock_path)
    late: list[SocketClient] = []
    remove = transport._remove_socket_file

    def connect_then_remove(path: Path, ino: int) -> None:
        if not late:  # the first call: the idle time has just run out, nobody has been accepted yet
            late.append(SocketClient(sock_path))  # lands in the listen backlog
        remove(path, ino)

    monkeypatch.setattr(transport, "_remove_socket_file", connect_then_remove)
    thread = threading.Thread(target=transport.serve_socket, args=(server, listener, sock_path, inode, 0.5),
                              daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + EXIT_WAIT
        while not late and time.monotonic() < deadline:
            time.sleep(0.05)
        assert late, "the idle time never ran out"
        client = late[0]
        assert not sock_path.exists(), "the socket file goes first: new clients start another server"
        with pytest.raises(FileNotFoundError):
            socket.socket(socket.AF_UNIX).connect(str(sock_path))
        assert client.result("hello", protocol=1)["transport"] == "socket"
        time.sleep(1.0)  # longer than the idle time: the client in hand keeps the server
        assert thread.is_alive()
        assert client.result("select", pool="claude")["target"]["provider"] == "anthropic"
        client.close()
        thread.join(EXIT_WAIT)
        assert not thread.is_alive(), "the server stops once the last client has left"
    finally:
        server.stopping.set()
        thread.join(ANSWER_TIMEOUT)
        cache.close()
        store.inner.close()
