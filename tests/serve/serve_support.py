"""Helpers for the ``mp-policy serve`` tests: a set-up on disk, a server in a subprocess, a socket client.

Every server runs the installed console script as a real subprocess (stdio pipes or a Unix
socket), with a clean environment (no pi/mp-policy variables, ``HOME`` in a temporary folder,
no background quota refresh), so the tests see exactly what an agent in another language sees.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCRIPT = Path(sys.executable).parent / "mp-policy"
#: Seconds to wait for one answer: generous, the machine is busy (the server answers in about 1 ms).
ANSWER_TIMEOUT = 20.0
#: A little more than the server's one-check-a-second reload interval.
RELOAD_WAIT = 1.2

ACCOUNTS = ("anthropic", "anthropic-2", "anthropic-3", "openai-codex", "openai-codex-2")

POLICY = """\
version: 1
settings:
  cooldown: 5m
subscriptions:
  - {provider: anthropic, index: 2, label: work}
  - {provider: anthropic, index: 3}
  - {provider: openai-codex, index: 2}
pools:
  - {name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2, anthropic-3]}
  - {name: codex, baseProvider: openai-codex, members: [openai-codex, openai-codex-2]}
chains:
  - name: main
    entries:
      - {pool: claude, model: claude-sonnet-4-5}
      - {pool: codex, model: gpt-5}
"""

#: A project that may only use one Claude account.
OVERLAY = "allowedSubs: [anthropic-2]\n"

_STRIPPED = ("PI_CODING_AGENT_DIR", "MP_POLICY_STATE", "MULTI_SUB", "MP_POLICY_DEBUG", "FORCE_COLOR",
             "CLICOLOR_FORCE")


def write_auth(agent: Path, accounts: Sequence[str] = ACCOUNTS) -> None:
    """pi's ``auth.json`` with an API key for each of ``accounts``."""
    data = {name: {"type": "api_key", "key": f"key-{name}"} for name in accounts}
    (agent / "auth.json").write_text(json.dumps(data), encoding="utf-8")


def make_agent(root: Path, policy: str = POLICY, accounts: Sequence[str] = ACCOUNTS) -> Path:
    """An agent directory under ``root`` with ``policy`` and credentials for ``accounts``."""
    agent = root / "agent"
    agent.mkdir(parents=True, exist_ok=True)
    (agent / "multi-pass.yaml").write_text(policy, encoding="utf-8")
    write_auth(agent, accounts)
    return agent


def make_project(root: Path, overlay: str = OVERLAY) -> Path:
    """A project folder with ``.pi/multi-pass.yaml`` (and a sub-folder ``src`` to start searches from)."""
    project = root / "project"
    (project / ".pi").mkdir(parents=True, exist_ok=True)
    (project / "src").mkdir(exist_ok=True)
    (project / ".pi" / "multi-pass.yaml").write_text(overlay, encoding="utf-8")
    return project


def rewrite(path: Path, text: str) -> None:
    """Replace a file's content (a new size or mtime is what the server notices)."""
    path.write_text(text, encoding="utf-8")


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without pi/mp-policy variables, ``HOME`` at ``home``, quota refresh off."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    env["HOME"] = str(home)
    env["MP_POLICY_QUOTA_REFRESH"] = "0"
    env.update(extra or {})
    return env


def serve_argv(agent: Path, state: Path, *extra: str | os.PathLike[str]) -> list[str]:
    """``mp-policy serve --agent-dir AGENT --state sqlite:///STATE EXTRA...``."""
    return [str(SCRIPT), "serve", "--agent-dir", str(agent), "--state", f"sqlite:///{state}", *map(str, extra)]


class LineClient:
    """Request lines out, answer lines in: what a stdio server and a socket connection share.

    A subclass sends bytes (``send_raw``) and reads one parsed answer (``recv``).
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        raise NotImplementedError

    def recv(self) -> dict[str, Any]:
        """The next answer, parsed."""
        raise NotImplementedError

    def send(self, request: Mapping[str, Any]) -> None:
        """Write one request line."""
        self.send_raw(json.dumps(request).encode() + b"\n")

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send ``op`` with a fresh id and return its answer (checking the id is echoed)."""
        ident = next(self._ids)
        self.send({"id": ident, "op": op, **args})
        answer = self.recv()
        assert answer["id"] == ident, answer
        return answer

    def result(self, op: str, **args: Any) -> dict[str, Any]:
        """``call`` that must succeed: the result."""
        answer = self.call(op, **args)
        assert answer["ok"] is True, answer
        return answer["result"]


class StdioServer(LineClient):
    """``mp-policy serve --stdio`` in a subprocess: write request lines, read answer lines (with a timeout)."""

    def __init__(self, agent: Path, state: Path, *extra: str | os.PathLike[str], cwd: Path | None = None,
                 home: Path | None = None) -> None:
        super().__init__()
        self.proc = subprocess.Popen(serve_argv(agent, state, "--stdio", *extra), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or agent,
                                     env=clean_env(home or agent.parent))
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(b"")  # EOF

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        self._stderr.extend(self.proc.stderr)

    @property
    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        return b"".join(self._stderr).decode("utf-8", "replace")

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv_raw(self, timeout: float = ANSWER_TIMEOUT) -> bytes:
        """The next answer line as bytes (``b""`` at EOF); fails the test after ``timeout``."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout} s; stderr:\n{self.stderr}") from None

    def recv(self, timeout: float = ANSWER_TIMEOUT) -> dict[str, Any]:
        """The next answer, parsed (fails the test at EOF)."""
        line = self.recv_raw(timeout)
        assert line, f"the server closed its output; stderr:\n{self.stderr}"
        assert line.endswith(b"\n")
        return json.loads(line)

    def close_input(self, timeout: float = ANSWER_TIMEOUT) -> int:
        """Close stdin and wait for the exit code."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Make sure the process is gone (tests that already waited for it lose nothing)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> StdioServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SocketServer:
    """``mp-policy serve --socket PATH`` in a subprocess; waits until it listens."""

    def __init__(self, agent: Path, state: Path, path: Path, *extra: str | os.PathLike[str],
                 cwd: Path | None = None) -> None:
        self.path = path
        self.proc = subprocess.Popen(serve_argv(agent, state, "--socket", path, *extra), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or agent,
                                     env=clean_env(agent.parent))
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{err.decode()}")
            try:
                with SocketClient(path, timeout=1.0) as probe:
                    probe.result("hello", protocol=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("the socket server did not start listening") from None
                time.sleep(0.05)

    def client(self) -> SocketClient:
        """A new connection."""
        return SocketClient(self.path)

    def terminate(self, timeout: float = ANSWER_TIMEOUT) -> tuple[int, str]:
        """SIGTERM, then the exit code and stderr."""
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err.decode("utf-8", "replace")

    def stop(self) -> None:
        """Make sure the process is gone."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)

    def __enter__(self) -> SocketServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SocketClient(LineClient):
    """One connection to a socket server: request lines out, answer lines in."""

    def __init__(self, path: Path, timeout: float = ANSWER_TIMEOUT) -> None:
        super().__init__()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError:
            self.sock.close()
            raise
        self._reader = self.sock.makefile("rb")

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        self.sock.sendall(data)

    def recv_raw(self) -> bytes:
        """The next answer line (``b""`` when the server closed the connection)."""
        return self._reader.readline()

    def recv(self) -> dict[str, Any]:
        """The next answer, parsed."""
        line = self.recv_raw()
        assert line.endswith(b"\n"), f"connection closed or partial line: {line!r}"
        return json.loads(line)

    def close(self) -> None:
        """Close the connection."""
        self._reader.close()
        self.sock.close()

    def __enter__(self) -> SocketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
