"""Helpers for the end-to-end CLI tests: run the installed ``mp-policy`` script and check its output.

Every run is checked for the invariants that hold for *any* command: no Python traceback shown to
the user, no credential from an ``auth.json`` in stdout or stderr, and no colour codes when the
output is not a terminal. Tests then check exit codes, streams and content themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from child_process import limit_address_space

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "policies" / "demo"
CORP = DEMO / "projects" / "corp"
SCRIPT = Path(sys.executable).parent / "mp-policy"

#: The demo clock: a Tuesday morning in Vienna (office hours for the ``codex`` pool's schedule).
AT = "2026-11-24T10:30:00+01:00"
AT_DT = datetime(2026, 11, 24, 10, 30, tzinfo=timezone(timedelta(hours=1)))

#: The fake token of ``policies/demo/auth.json`` and a unique one written into temporary auth files.
DEMO_TOKEN = "demo-not-a-real-token"
UNIQUE_SECRET = f"sk-ant-oat01-{uuid.uuid4().hex}-SECRET"
UNIQUE_REFRESH = f"rt-{uuid.uuid4().hex}-REFRESH"
SECRETS = (DEMO_TOKEN, UNIQUE_SECRET, UNIQUE_REFRESH)

DEMO_ACCOUNTS = ("anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3",
                 "google-gemini-cli")

#: Variables of the caller's environment that would change what the CLI reads.
_STRIPPED = ("PI_CODING_AGENT_DIR", "MP_POLICY_STATE", "MULTI_SUB", "MP_POLICY_DEBUG", "FORCE_COLOR",
             "CLICOLOR_FORCE")

STATE_FILE = "mp-policy-state.db"


@dataclass(frozen=True)
class Run:
    """The result of one ``mp-policy`` run."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together (for checks that do not care about the stream)."""
        return self.stdout + self.stderr

    @property
    def last_line(self) -> str:
        """The last non-empty line of stdout."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def json(self) -> Any:
        """stdout parsed as JSON (fails the test with the raw text when it is not)."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as exc:  # pragma: no cover - only on failure
            raise AssertionError(f"stdout is not JSON ({exc}):\n{self.stdout}\n--- stderr:\n{self.stderr}") from exc

    def describe(self) -> str:
        """A readable dump for assertion messages."""
        return (f"$ mp-policy {' '.join(self.args)}\nexit {self.returncode}\n--- stdout:\n{self.stdout}"
                f"--- stderr:\n{self.stderr}")


def check_invariants(run: Run, secrets: Iterable[str] = SECRETS) -> None:
    """What holds for every command: no traceback, no credential, no colour codes off a terminal."""
    assert "Traceback (most recent call last)" not in run.output, run.describe()
    for secret in secrets:
        assert secret not in run.output, f"a credential leaked into the output\n{run.describe()}"
    assert "\x1b[" not in run.output, f"colour codes while not on a terminal\n{run.describe()}"


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without mp-policy/pi variables, with HOME pointing at ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    env["HOME"] = str(home)
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


class Cli:
    """Runs the installed console script as a subprocess, with a clean environment."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str | os.PathLike[str], cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 60) -> Run:
        """Run ``mp-policy ARGS`` (from the repository root unless ``cwd``); ``env`` adds variables."""
        argv = [str(a) for a in args]
        proc = subprocess.run([str(SCRIPT), *argv], cwd=cwd or REPO, env=clean_env(self.home, env),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              check=False)
        run = Run(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
        if check:
            check_invariants(run)
        return run

    def many(self, calls: Sequence[tuple[Sequence[str | os.PathLike[str]], Mapping[str, Any]]]) -> list[Run]:
        """Run several independent commands concurrently (same arguments as ``__call__``)."""
        with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 2, 4, len(calls) or 1)) as pool:
            futures = [pool.submit(self, *args, **kwargs) for args, kwargs in calls]
            return [f.result() for f in futures]


def run_limited(*args: str | os.PathLike[str], cwd: Path, timeout: float, address_space: int) -> Run:
    """``mp-policy ARGS`` in ``cwd`` (its own HOME) under ``timeout`` and an address-space limit, checked for
    the invariants: a command that hangs or reads without bound fails the test instead of stalling the suite."""
    argv = [str(a) for a in args]
    proc = subprocess.run([str(SCRIPT), *argv], cwd=cwd, env=clean_env(cwd), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False,
                          preexec_fn=lambda: limit_address_space(address_space))
    run = Run(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    check_invariants(run)
    return run


def write_auth(directory: Path, secret: str = UNIQUE_SECRET) -> Path:
    """A pi ``auth.json`` with a credential (holding ``secret``) for every demo account."""
    data = {name: {"type": "oauth", "access": secret, "refresh": UNIQUE_REFRESH, "expires": 4102444800000}
            for name in DEMO_ACCOUNTS}
    path = directory / "auth.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def copy_demo(target: Path, *, secret: str = UNIQUE_SECRET) -> Path:
    """A copy of ``policies/demo`` (policy, tests and project) whose auth.json holds ``secret``."""
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
    write_auth(target, secret)
    return target


def make_cooldown_state(db: Path, *, at: datetime = AT_DT, retry_after: int = 3600) -> None:
    """Put ``anthropic`` in cooldown through the real Python API (a chain ``main`` turn, then a 429).

    Leaves: cooldown anthropic until ``at + retry_after``, cursor claude = anthropic-2, one turn.
    """
    from policy_engine.engine import Engine
    from policy_engine.policy.loader import load_file

    engine = Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), state=f"sqlite:///{db}",
                                   auth=set(DEMO_ACCOUNTS), clock=lambda: at)
    try:
        decision = engine.select(chain="main")
        assert decision.target is not None and decision.target.provider == "anthropic"
        decision = engine.fail(decision.turn, status=429, message="rate_limit_error",
                               headers={"retry-after": str(retry_after)})
        assert decision.target is not None and decision.target.provider == "anthropic-2"
    finally:
        engine.close()


def file_signature(path: Path) -> tuple[bytes, int, list[str]]:
    """A file's bytes, its mtime (ns) and the names next to it (to spot -wal/-shm/-journal files)."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def invoke(*args: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Run:
    """Run the click group in-process (``CliRunner``) for cases where a subprocess is overkill.

    The mp-policy/pi environment variables are unset unless ``env`` gives them. An exception
    other than ``SystemExit`` fails the test with its traceback (the console script would turn it
    into exit 3; in-process it means the command itself did not handle it).
    """
    from click.testing import CliRunner

    from policy_engine.cli import cli

    environment: dict[str, str | None] = dict.fromkeys(_STRIPPED)
    environment.update(env or {})
    argv = [str(a) for a in args]
    result = CliRunner().invoke(cli, argv, env=environment, prog_name="mp-policy")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("".join(traceback.format_exception(result.exception)))
    run = Run(tuple(argv), result.exit_code, result.stdout, result.stderr)
    check_invariants(run)
    return run
