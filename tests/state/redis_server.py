"""A real ``redis-server`` for tests and benchmarks: started on a free loopback port, stopped, restarted.

``MP_POLICY_REQUIRE_REDIS=1`` (set by ``.ci/run``) turns "redis-server is not installed" from a
skip into a failure, so CI can never pass without running the Redis tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "free_port", "need_redis", "redis_server_binary", "require_redis"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` program, or ``None`` when it is not installed."""
    return shutil.which("redis-server")


def require_redis() -> bool:
    """Whether a missing ``redis-server`` must fail the tests instead of skipping them."""
    return os.environ.get("MP_POLICY_REQUIRE_REDIS", "") not in ("", "0")


def need_redis() -> None:
    """In a test: skip it when ``redis-server`` is not installed, or fail it when CI requires Redis."""
    import pytest  # the benchmarks use this module without pytest

    if redis_server_binary() is None:
        if require_redis():
            pytest.fail("redis-server is not installed, and MP_POLICY_REQUIRE_REDIS is set")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process in ``directory`` on a fixed loopback port (kept across restarts).

    Persistence is off (no RDB, no AOF): a restart starts empty, as after a crash of a cache server.
    ``unix_socket`` also listens on a Unix socket (for ``unix://`` URLs).
    """

    def __init__(self, directory: Path, port: int | None = None, *, unix_socket: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.socket_path = self.directory / "redis.sock" if unix_socket else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        """``unix:///path/redis.sock?db=0``."""
        assert self.socket_path is not None
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers PING."""
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), "--daemonize", "no", "--protected-mode", "yes",
                "--logfile", str(self.directory / "redis.log")]
        if self.socket_path is not None:
            argv += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{log}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def ping(self) -> bool:
        """True when the server answers ``PING`` on its TCP port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop gracefully (SIGTERM; a server frozen with SIGSTOP is resumed first), or kill after 5 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        """Kill at once (SIGKILL), as a crash would."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> RedisServer:
        """Stop and start again on the same port (the data is gone: persistence is off)."""
        self.stop()
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
