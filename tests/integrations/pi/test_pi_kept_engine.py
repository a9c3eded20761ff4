"""``mp-policy pi install --keep-running``: one ``mp-policy serve --socket`` for every pi session, started by
the first pi that needs it, reused by the next ones, stopped by uninstall; failover works the same way.
"""

from __future__ import annotations

import json
import socket as sockets
from pathlib import Path

from anthropic_server import rate_limited
from pi_agent import PiWorld

from policy_engine.integrations.pi_setup import stop_server


def test_one_engine_serves_every_run_until_uninstall(world: PiWorld) -> None:
    run = world.mp_policy("pi", "install", "--keep-running")
    assert run.returncode == 0, run.stderr
    socket = Path(json.loads((world.agent / "settings.json").read_text())["mpPolicy"]["socket"])
    assert f"serve --socket {socket} (and keeps it running)" in run.stdout
    log = world.agent / "mp-policy-engine.log"
    try:
        world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
        first = world.print("first")
        assert first.returncode == 0, first.describe()
        assert first.stdout.strip() == "answer from anthropic-2"
        assert socket.exists(), "the server outlives the pi that started it"
        second = world.print("second")
        assert second.returncode == 0, second.describe()
        assert world.server.accounts() == ["anthropic", "anthropic-2", "anthropic-2"], "the cooldown holds"
        status = world.print("/mp")
        assert f"engine: connected to {socket}" in status.stderr, status.describe()
        assert log.read_text().count("listening on") == 1, "one server for the three runs"
    finally:
        undo = world.mp_policy("pi", "uninstall")
        stop_server(socket)  # in case the test failed before uninstall could
    assert undo.returncode == 0, undo.stderr
    assert f"Stopped the engine server on {socket}." in undo.stdout
    assert not socket.exists()


def test_a_stale_socket_file_is_replaced_by_a_new_server(world: PiWorld) -> None:
    world.mp_policy("pi", "install", "--keep-running")
    socket = Path(json.loads((world.agent / "settings.json").read_text())["mpPolicy"]["socket"])
    stale = sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM)
    stale.bind(str(socket))  # a socket file nobody listens on (a server that was killed)
    stale.close()
    try:
        run = world.print("hello")
        assert run.returncode == 0, run.describe()
        assert run.notices() == [], run.describe()
        assert world.server.accounts() == ["anthropic"]
    finally:
        stop_server(socket)
