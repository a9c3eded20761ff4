"""The real pi agent from npm, and one isolated pi world per test to run it in.

- :func:`pi_binary` installs ``@mariozechner/pi-coding-agent@0.73.1`` once into
  ``$XDG_CACHE_HOME/mp-policy-tests/pi-0.73.1`` (else ``~/.cache/...``) with npm, under a file lock,
  and returns its ``pi`` script (or ``None`` with the reason when it cannot be installed).
- :class:`PiWorld` is an agent directory of its own (``PI_CODING_AGENT_DIR``) with two Claude
  accounts whose OAuth tokens are canaries, pi's ``models.json`` pointing the built-in ``anthropic``
  provider at a fake Messages API (:mod:`anthropic_server`), a policy, and the extension registered by
  the real ``mp-policy pi install`` (by default: one engine kept running between pi runs, on a socket).
  :meth:`PiWorld.print` runs ``pi -p``; :meth:`PiWorld.rpc` runs ``pi --mode rpc`` and talks to it;
  :meth:`PiWorld.assert_no_secrets` checks that no token reached pi's output, the notices, the fake
  server's log or the engine's log.
- Every process of a world carries ``MP_POLICY_TEST_WORLD=<id>`` in its environment (the kept engine
  inherits it from the pi that started it), so :meth:`PiWorld.processes` finds them all, and
  :meth:`PiWorld.close` (the fixture's teardown) stops the kept engine and reports any process that
  outlived the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anthropic_server import AnthropicServer

from policy_engine.integrations.pi_setup import socket_path, stop_server

PI_VERSION = "0.73.1"
PI_PACKAGE = f"@mariozechner/pi-coding-agent@{PI_VERSION}"
MP_POLICY = Path(sys.executable).parent / "mp-policy"
MODEL = "claude-sonnet-4-5"
FAR_FUTURE_MS = 4_102_444_800_000  # 2100-01-01: pi never refreshes these tokens
#: How long a pi run may take before the test calls it hung (generous: a busy 2-core machine).
RUN_TIMEOUT = 90.0
#: How long the processes of a world may take to exit once asked to (generous, as above).
EXIT_TIMEOUT = 15.0
#: The environment variable that marks every process of a world.
MARKER = "MP_POLICY_TEST_WORLD"
#: The stand-in engines some tests start on purpose (they may ignore a shutdown request).
STAND_INS = ("broken_engine.py",)

POLICY = """\
subscriptions:
  - {provider: anthropic, index: 2, label: second}
pools:
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-2]
"""


def require_pi() -> bool:
    """Whether a missing pi must fail the tests instead of skipping them (set by .ci/run)."""
    return os.environ.get("MP_POLICY_REQUIRE_PI", "").strip().lower() in ("1", "true", "yes")


def cache_dir() -> Path:
    """Where pi is installed for the tests (kept between runs)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mp-policy-tests" / f"pi-{PI_VERSION}"


def pi_binary() -> tuple[Path | None, str]:
    """The cached pi script, installing it with npm first when needed; (None, why) when that fails."""
    root = cache_dir()
    script = root / "node_modules" / ".bin" / "pi"
    marker = root / "installed.ok"
    if script.exists() and marker.exists():
        return script, ""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return None, "node and npm are needed to install the pi agent (apt-get install nodejs npm)"
    root.mkdir(parents=True, exist_ok=True)
    with (root.parent / f"pi-{PI_VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time (CI and parallel test runs)
        if script.exists() and marker.exists():
            return script, ""
        run = subprocess.run([npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--loglevel=error",
                              PI_PACKAGE], capture_output=True, text=True, timeout=600, check=False)
        if run.returncode != 0 or not script.exists():
            return None, f"npm install {PI_PACKAGE} failed (exit {run.returncode}): {run.stderr.strip()[-500:]}"
        marker.write_text(PI_VERSION + "\n")
    return script, ""


def token(label: str) -> str:
    """A canary OAuth access token shaped like Anthropic's (pi sends it as a Bearer token)."""
    return f"sk-ant-oat01-CANARY-{label}-{uuid.uuid4().hex}"


@dataclass
class Run:
    """One finished pi run."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    events: list[dict[str, Any]] = field(default_factory=list)

    def notices(self) -> list[str]:
        """The extension's notices: RPC notify requests, or the mp-policy lines of stderr (print mode)."""
        if self.events:
            return [e.get("message", "") for e in self.events
                    if e.get("type") == "extension_ui_request" and e.get("method") == "notify"]
        return [line for line in self.stderr.splitlines() if line.startswith("mp-policy:")]

    def describe(self) -> str:
        """A readable dump for assertion messages."""
        events = "\n".join(json.dumps(e)[:400] for e in self.events)
        return (f"exit {self.returncode} after {self.seconds:.1f}s\n--- stdout:\n{self.stdout}\n--- stderr:\n"
                f"{self.stderr}\n--- events:\n{events}")


class PiWorld:
    """An isolated pi installation state: agent directory, HOME, fake provider, policy, the extension."""

    def __init__(self, pi: Path, root: Path, server: AnthropicServer, tokens: dict[str, str]) -> None:
        self.pi = pi
        self.root = root
        self.server = server
        self.tokens = tokens
        self.agent = root / "agent"
        self.home = root / "home"
        self.project = root / "project"
        self.secrets = [*tokens.values(), *(f"refresh-{name}-{uuid.uuid4().hex}" for name in tokens)]
        self.env_extra: dict[str, str] = {}
        self.marker = uuid.uuid4().hex

    # -- set-up ------------------------------------------------------------------------------------

    def build(self, *, policy: str = POLICY, settings: dict[str, Any] | None = None, install: bool = True) -> None:
        """Write auth.json, models.json, the policy and settings.json; register the extension."""
        for folder in (self.agent, self.home, self.project):
            folder.mkdir(parents=True, exist_ok=True)
        refresh = iter(self.secrets[len(self.tokens):])
        auth = {name: {"type": "oauth", "access": access, "refresh": next(refresh), "expires": FAR_FUTURE_MS}
                for name, access in self.tokens.items()}
        (self.agent / "auth.json").write_text(json.dumps(auth, indent=2))
        (self.agent / "models.json").write_text(json.dumps({"providers": {"anthropic": {"baseUrl": self.server.url}}}))
        (self.agent / "multi-pass.yaml").write_text(policy)
        # pi's own retry waits 2 s, 4 s, 8 s by default; the tests keep its logic and shorten the waits.
        base = {"retry": {"baseDelayMs": 300}, "quietStartup": True}
        (self.agent / "settings.json").write_text(json.dumps(settings if settings is not None else base, indent=2))
        if install:
            run = self.mp_policy("pi", "install")
            assert run.returncode == 0, run.stderr + run.stdout

    def mp_policy(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the installed ``mp-policy`` in this world."""
        return subprocess.run([str(MP_POLICY), *args], capture_output=True, text=True, timeout=120, check=False,
                              env=self.env(), cwd=self.project)

    def state(self) -> dict[str, Any]:
        """``mp-policy state show --format json``."""
        run = self.mp_policy("state", "show", "--format", "json")
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def env(self) -> dict[str, str]:
        """The environment of every process of this world."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("MP_POLICY_", "PI_")) and key not in ("MULTI_SUB",)}
        env.update(HOME=str(self.home), PI_CODING_AGENT_DIR=str(self.agent), PI_OFFLINE="1",
                   PI_SKIP_VERSION_CHECK="1", MP_POLICY_QUOTA_REFRESH="0", NO_COLOR="1",
                   MP_POLICY_CACHE_DIR=str(self.root / "cache"))
        env[MARKER] = self.marker
        env.update(self.env_extra)
        return env

    # -- processes ---------------------------------------------------------------------------------

    def socket(self) -> Path | None:
        """The kept engine's socket as settings.json records it (None for an engine per session)."""
        try:
            recorded = json.loads((self.agent / "settings.json").read_text()).get("mpPolicy", {}).get("socket")
        except (OSError, ValueError, AttributeError):
            return None
        return Path(recorded) if isinstance(recorded, str) else None

    def processes(self) -> dict[int, str]:
        """The running processes of this world (pid: command line), found by the marker in their environment."""
        found: dict[int, str] = {}
        needle = f"{MARKER}={self.marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # exited, not yet reaped by its parent
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    "utf-8", "replace").strip()
            except (OSError, IndexError):
                continue  # gone meanwhile, or not ours to read
        return found

    def wait_for_no_processes(self, timeout: float = EXIT_TIMEOUT) -> dict[int, str]:
        """Wait until no process of this world runs; the ones still running after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.processes()
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def close(self) -> dict[int, str]:
        """Stop the kept engine (the recorded socket and any ``MP_POLICY_SOCKET``), end the stand-in engines,
        and return the other processes of this world that were still running (killed now)."""
        sockets = {path for path in (self.socket(), socket_path(self.agent)) if path is not None}
        if self.env_extra.get("MP_POLICY_SOCKET"):
            sockets.add(Path(self.env_extra["MP_POLICY_SOCKET"]))
        for path in sockets:
            stop_server(path)
        for pid, command in self.processes().items():
            if any(name in command for name in STAND_INS):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        left = self.wait_for_no_processes()
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return left

    def pi_args(self, *extra: str) -> list[str]:
        """pi's command line: no session file, no tools, no context files, the first account's model."""
        return [str(self.pi), "--no-session", "--no-tools", "-nc", "--provider", "anthropic", "--model", MODEL,
                *extra]

    # -- running pi --------------------------------------------------------------------------------

    def print(self, prompt: str = "say hi", *, cwd: Path | None = None, extra: tuple[str, ...] = ()) -> Run:
        """``pi -p PROMPT``; the run is checked for credentials."""
        started = time.monotonic()
        done = subprocess.run([*self.pi_args(*extra), "-p", prompt], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False, env=self.env(), cwd=cwd or self.project)
        run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
        self.assert_no_secrets(run)
        return run

    @contextlib.contextmanager
    def rpc(self, *, cwd: Path | None = None) -> Iterator[RpcSession]:
        """``pi --mode rpc`` as a session to send commands to; the transcript is checked for credentials."""
        process = subprocess.Popen([*self.pi_args(), "--mode", "rpc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=self.env(), cwd=cwd or self.project)
        session = RpcSession(process)
        try:
            yield session
        finally:
            session.close()
            self.assert_no_secrets(session.run)

    def assert_no_secrets(self, run: Run) -> None:
        """No token of auth.json in pi's output, the notices, the fake server's log or the engine's log."""
        places = {"pi stdout": run.stdout, "pi stderr": run.stderr, "rpc events": json.dumps(run.events)}
        for name, path in (("fake server log", self.server.log), ("engine log", self.agent / "mp-policy-engine.log")):
            places[name] = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        for secret in self.secrets:
            for place, text in places.items():
                assert secret not in text, f"a credential reached the {place}"


class RpcSession:
    """A running ``pi --mode rpc``: send commands, wait for events."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self.started = time.monotonic()
        self._selector = selectors.DefaultSelector()
        assert process.stdout is not None
        self._selector.register(process.stdout, selectors.EVENT_READ)
        self.run = Run(0, "", "", 0.0, self.events)

    def send(self, command: dict[str, Any]) -> None:
        """Write one command line."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode("utf-8"))
        self.process.stdin.flush()

    def prompt(self, message: str) -> None:
        """Send a prompt (or an extension command such as ``/mp why``)."""
        self.send({"type": "prompt", "message": message})

    def wait_for(self, predicate: Any, timeout: float = RUN_TIMEOUT, start: int = 0) -> dict[str, Any]:
        """The first event (from index ``start`` on) that ``predicate`` accepts, reading more as needed."""
        deadline = time.monotonic() + timeout
        checked = start
        while True:
            while checked < len(self.events):
                event = self.events[checked]
                checked += 1
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"pi did not send the awaited event within {timeout}s:\n{self.transcript()}")
            if not self._read(min(remaining, 0.5)) and self.process.poll() is not None:
                raise AssertionError(f"pi exited ({self.process.returncode}):\n{self.transcript()}")

    def agent_end(self, start: int = 0, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        """The next ``agent_end`` whose last message is not an error pi will retry (the prompt's outcome)."""
        def final(event: dict[str, Any]) -> bool:
            return event.get("type") == "agent_end"
        return self.wait_for(final, timeout, start)

    def notices(self) -> list[str]:
        """The extension's notices so far."""
        return self.run.notices()

    def transcript(self) -> str:
        """Every event so far, one per line (for failure messages)."""
        return "\n".join(json.dumps(e)[:500] for e in self.events)

    def _read(self, timeout: float) -> bool:
        assert self.process.stdout is not None
        if not self._selector.select(timeout):
            return False
        chunk = os.read(self.process.stdout.fileno(), 65536)
        if not chunk:
            return False
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
        return True

    def close(self) -> None:
        """Close pi's input and wait for it to exit (killing it after the timeout)."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        self.process.stdin = None  # closed: communicate() must not flush it
        try:
            _, stderr = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        self._selector.close()
        self.run.returncode = self.process.returncode
        self.run.stderr = (stderr or b"").decode("utf-8", errors="replace")
        self.run.seconds = time.monotonic() - self.started
