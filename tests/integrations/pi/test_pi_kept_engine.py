"""The engine the extension uses: by default one ``mp-policy serve --socket PATH --idle-exit 30m`` kept running
between pi sessions (started by the first pi that needs it, reused by the next ones, stopped by its idle
time, by the next install and by uninstall); with ``mp-policy pi install --per-session`` a ``serve --stdio``
for each session, leaving nothing running. Failover works the same way in both.
"""

from __future__ import annotations

import json
import re
import socket as sockets
import time
from pathlib import Path

from anthropic_server import rate_limited
from pi_agent import PiWorld

#: Generous: a kept engine notices its idle time at once, but the machine is busy.
EXIT_WAIT = 20.0


def _server_pids(world: PiWorld) -> list[int]:
    """The pids of the socket servers started in this world, in order (from the engine's log)."""
    log = world.agent / "mp-policy-engine.log"
    text = log.read_text() if log.exists() else ""
    return [int(pid) for pid in re.findall(r"mp-policy serve: listening on .* \(pid (\d+)\)", text)]


def _running(world: PiWorld, pid: int) -> bool:
    return pid in world.processes()


def _wait_gone(world: PiWorld, pid: int, timeout: float = EXIT_WAIT) -> float:
    """Wait until ``pid`` has exited; how long that took (fails the test after ``timeout``)."""
    started = time.monotonic()
    while _running(world, pid):
        assert time.monotonic() - started < timeout, f"the server (pid {pid}) still runs after {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_the_default_install_keeps_one_engine_for_every_run_until_uninstall(world: PiWorld) -> None:
    run = world.mp_policy("pi", "install")  # the fixture installed already: this one changes nothing
    assert run.returncode == 0, run.stderr
    socket = world.socket()
    assert socket == world.agent / "mp-policy.sock"
    assert f"serve --socket {socket} --idle-exit 30m\n(one engine kept running between pi sessions" in run.stdout
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    first = world.print("first")
    assert first.returncode == 0, first.describe()
    assert first.stdout.strip() == "answer from anthropic-2"
    assert socket.exists(), "the server outlives the pi that started it"
    [pid] = _server_pids(world)
    assert world.processes()[pid].endswith(f"serve --socket {socket} --idle-exit 30m --agent-dir {world.agent}")
    second = world.print("second")
    assert second.returncode == 0, second.describe()
    assert world.server.accounts() == ["anthropic", "anthropic-2", "anthropic-2"], "the cooldown holds"
    status = world.print("/mp")
    assert f"engine: connected to {socket}" in status.stderr, status.describe()
    assert _server_pids(world) == [pid], "one server for the three runs"
    assert list(world.processes()) == [pid], "nothing else of this world runs between pi runs"

    undo = world.mp_policy("pi", "uninstall")
    assert undo.returncode == 0, undo.stderr
    assert f"Stopped the engine server on {socket}." in undo.stdout
    assert not socket.exists()
    assert world.wait_for_no_processes() == {}


def test_per_session_starts_an_engine_for_each_run_and_leaves_nothing_running(world: PiWorld) -> None:
    run = world.mp_policy("pi", "install", "--per-session")
    assert run.returncode == 0, run.stderr
    assert "serve --stdio (one engine for each pi session)" in run.stdout
    assert "socket" not in json.loads((world.agent / "settings.json").read_text())["mpPolicy"]
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    first = world.print("first")
    assert first.returncode == 0, first.describe()
    assert first.stdout.strip() == "answer from anthropic-2"
    assert world.wait_for_no_processes() == {}, "the engine ends with its pi"
    second = world.print("second")
    assert second.returncode == 0, second.describe()
    assert world.server.accounts() == ["anthropic", "anthropic-2", "anthropic-2"], "the cooldown holds"
    status = world.print("/mp")
    assert re.search(r"engine: running \(pid \d+, \S+ serve --stdio --agent-dir ", status.stderr), status.describe()
    assert world.wait_for_no_processes() == {}
    assert not (world.agent / "mp-policy.sock").exists()
    assert _server_pids(world) == [], "no socket server was started"


def test_the_kept_engine_outlives_a_quiet_session_then_stops_after_its_idle_time(world: PiWorld) -> None:
    run = world.mp_policy("pi", "install", "--idle-exit", "2s")
    assert run.returncode == 0, run.stderr
    assert json.loads((world.agent / "settings.json").read_text())["mpPolicy"]["idleExit"] == "2s"
    socket = world.socket()
    assert socket is not None
    with world.rpc() as pi:
        pi.prompt("one")
        pi.wait_for(lambda e: e.get("type") == "agent_end")
        [pid] = _server_pids(world)
        assert world.processes()[pid].endswith(f"--idle-exit 2s --agent-dir {world.agent}")
        time.sleep(5.0)  # more than twice the idle time, with the session connected and quiet
        assert _running(world, pid), "a connected pi session keeps the server running"
        start = len(pi.events)
        pi.prompt("two")
        end = pi.wait_for(lambda e: e.get("type") == "agent_end", start=start)
        assert end["messages"][-1]["stopReason"] == "stop", pi.transcript()
    waited = _wait_gone(world, pid)
    assert waited < EXIT_WAIT
    assert not socket.exists(), "the server removed its socket"
    assert "mp-policy serve: no client for 2s; stopping" in (world.agent / "mp-policy-engine.log").read_text()
    assert world.server.accounts() == ["anthropic", "anthropic"]

    again = world.print("three")  # the next pi starts a new server
    assert again.returncode == 0, again.describe()
    assert again.notices() == [], again.describe()
    assert len(_server_pids(world)) == 2


def test_installing_again_stops_the_running_engine_so_the_next_pi_runs_the_installed_code(world: PiWorld) -> None:
    first = world.print("first")
    assert first.returncode == 0, first.describe()
    [old] = _server_pids(world)
    socket = world.socket()
    dry = world.mp_policy("pi", "install", "--dry-run")
    assert dry.returncode == 0 and "Stopped" not in dry.stdout
    assert _running(world, old), "a dry run stops nothing"
    # The same command and folder, as after `pip install -U mp-policy` in the same environment: settings.json
    # does not change, and the server must still go.
    again = world.mp_policy("pi", "install")
    assert again.returncode == 0, again.stderr
    assert "already installed" in again.stdout
    assert f"Stopped the engine server on {socket}." in again.stdout
    _wait_gone(world, old)
    second = world.print("second")
    assert second.returncode == 0, second.describe()
    assert second.notices() == [], second.describe()
    pids = _server_pids(world)
    assert len(pids) == 2 and pids[1] != old and _running(world, pids[1])


def test_a_stale_socket_file_is_replaced_by_a_new_server(world: PiWorld) -> None:
    socket = world.socket()
    assert socket is not None
    stale = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    stale.bind(str(socket))  # a socket file nobody listens on (a server that was killed)
    stale.close()
    run = world.print("hello")
    assert run.returncode == 0, run.describe()
    assert run.notices() == [], run.describe()
    assert world.server.accounts() == ["anthropic"]
    assert len(_server_pids(world)) == 1


def test_an_idle_time_the_server_would_refuse_is_replaced_by_30m_with_a_notice(world: PiWorld) -> None:
    settings = json.loads((world.agent / "settings.json").read_text())
    settings["mpPolicy"]["idleExit"] = "soon"  # edited by hand
    (world.agent / "settings.json").write_text(json.dumps(settings, indent=2))
    run = world.print("hello")
    assert run.returncode == 0, run.describe()
    assert run.notices() == ['mp-policy: mpPolicy.idleExit in settings.json is "soon", not a duration such as 30m '
                             "or 90s; using 30m."], run.describe()
    [pid] = _server_pids(world)
    assert "--idle-exit 30m" in world.processes()[pid]
    assert world.server.accounts() == ["anthropic"], "routing goes on"


def test_the_socket_can_be_moved_with_mp_policy_socket(world: PiWorld, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sock"
    world.env_extra["MP_POLICY_SOCKET"] = str(elsewhere)
    run = world.print("hello")
    assert run.returncode == 0, run.describe()
    assert elsewhere.exists() and not (world.agent / "mp-policy.sock").exists()
    [pid] = _server_pids(world)
    assert f"serve --socket {elsewhere} --idle-exit 30m" in world.processes()[pid]
