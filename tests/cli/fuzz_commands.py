"""Run every file-reading command on hypothesis-generated hostile set-ups (a program, not a test module).

``python tests/cli/fuzz_commands.py [--examples N] [--seed S]`` generates set-ups with
:mod:`fuzz_inputs`, writes each into a fresh agent directory (with a FIFO, a symlink loop and a
directory where scripts and files are expected), and runs ``validate``, ``eval``, ``explain``,
``simulate``, ``test``, ``subs status``, ``state show`` and an editing dry run on it, in this
process through click's ``CliRunner``. Every command must end within :data:`COMMAND_BUDGET`
seconds with a documented exit code (0, 1 or 2): never an uncaught exception (the console script
would print ``internal error``, exit 3), never a traceback or a credential in its output.

It is run by ``tests/cli/test_cli_fuzz.py`` as a subprocess under an address-space limit, so a
command that tries to use gigabytes fails with ``MemoryError`` (an uncaught exception) instead
of taking the machine with it. The exit status is 0 when every example held, else 1, after
printing the shrunk failing example.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_inputs import SetUp, set_ups
from hypothesis import HealthCheck, given, settings

#: Seconds one command may take on one generated set-up (generous: the machine is busy in CI).
COMMAND_BUDGET = 30
#: Exit codes a command may end with (DESIGN §5): ok, a failing check or invalid policy, a usage error.
DOCUMENTED = frozenset({0, 1, 2})
CANARIES = ("FUZZ-CANARY",)
AT = "2026-11-24T10:30:00+01:00"


class CommandTimeout(Exception):
    """A command ran past :data:`COMMAND_BUDGET`."""


@contextmanager
def _budget(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise CommandTimeout(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _materialise(files: SetUp, root: Path) -> Path:
    """Write the set-up under ``root/agent`` with the special files scripts and tests may name."""
    agent = root / "agent"
    (agent / "project" / ".pi").mkdir(parents=True)
    (root / "home").mkdir()
    for name, data in files.items():
        (agent / name).write_bytes(data)
    for fifo in ("fifo.py", "fifo.yaml"):
        os.mkfifo(agent / fifo)
    (agent / "loop.js").symlink_to(agent / "loop.js")
    (agent / "dir.py").mkdir()
    (agent / "pick.py").write_text("def select(ctx):\n    return list(reversed(ctx['members']))\n", encoding="utf-8")
    (agent / "pick.js").write_text("module.exports = async (ctx) => ctx.members.slice().reverse();\n",
                                   encoding="utf-8")
    return agent


def _first_name(files: SetUp, section: str) -> str:
    """A name from the generated policy's ``section`` when it has one (so routes exist), else ``main``."""
    import json

    import yaml

    for name in ("multi-pass.yaml", "multi-pass.json"):
        if name in files:
            try:
                data = yaml.safe_load(files[name]) if name.endswith(".yaml") else json.loads(files[name])
                entries = data.get(section) if isinstance(data, dict) else None
                if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                    value = entries[0].get("name")
                    if isinstance(value, str) and value and "\x00" not in value:
                        return value
            except Exception:  # the file is hostile on purpose; any name will do
                pass
    return "main"


def commands(files: SetUp, agent: Path) -> list[list[str]]:
    """The command lines run on one set-up."""
    where = ["--agent-dir", str(agent), "--project", str(agent / "project")]
    chain, pool = _first_name(files, "chains"), _first_name(files, "pools")
    return [
        ["validate", *where, "--format", "json"],
        ["validate", str(agent / "case.test.yaml")],
        ["eval", *where, "--chain", chain, "--at", AT, "--fail", ":429", "--explain", "--format", "json"],
        ["eval", *where, "--pool", pool, "--at", AT, "--fail", ":429:quota exceeded", "--fail", ":401"],
        ["explain", *where],
        ["explain", *where, "--format", "dot"],
        ["simulate", *where, "--start", AT, "--period", "1d", "--step", "1h", "--events", str(agent / "events.yaml"),
         "--format", "json"],
        ["test", str(agent / "case.test.yaml")],
        ["subs", "status", *where, "--at", AT],
        ["state", "show", *where],
        ["subs", "add", "anthropic", "--agent-dir", str(agent), "--dry-run"],
    ]


def run_command(argv: Sequence[str], agent: Path) -> str | None:
    """Run one command in-process; ``None`` when it held every invariant, else what went wrong."""
    from click.testing import CliRunner

    from policy_engine.cli import cli

    env = {"PI_CODING_AGENT_DIR": str(agent), "HOME": str(agent.parent / "home"), "MP_POLICY_NO_CACHE": "1",
           "MP_POLICY_QUOTA_REFRESH": "0", "MULTI_SUB": None, "MP_POLICY_STATE": None, "MP_POLICY_DEBUG": None}
    started = time.monotonic()
    try:
        with _budget(COMMAND_BUDGET):
            result = CliRunner().invoke(cli, list(argv), env=env, prog_name="mp-policy", catch_exceptions=True)
    except CommandTimeout as exc:
        return f"timeout: {exc}"
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        return f"uncaught exception (exit 3 'internal error' in the console script) after {elapsed:.1f} s:\n{trace}"
    if result.exit_code not in DOCUMENTED:
        return f"exit code {result.exit_code} is not documented:\n{output[-2000:]}"
    if "internal error" in output or "Traceback (most recent call last)" in output:
        return f"internal error shown:\n{output[-2000:]}"
    for canary in CANARIES:
        if canary in output:
            return "a credential from auth.json reached the output"
    return None


def check_set_up(files: SetUp) -> None:
    """Materialise one set-up and run every command on it; raise AssertionError with the first failure."""
    root = Path(tempfile.mkdtemp(prefix="mp-fuzz-"))
    try:
        agent = _materialise(files, root)
        for argv in commands(files, agent):
            problem = run_command(argv, agent)
            if problem is not None:
                raise AssertionError(f"$ mp-policy {' '.join(argv)}\n{problem}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    """Run the examples; 0 when every command held its invariants on every set-up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: derandomised)")
    options = parser.parse_args()

    @settings(max_examples=options.examples, deadline=None, database=None, derandomize=options.seed is None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(set_ups())
    def every_command_answers(files: SetUp) -> None:
        check_set_up(files)

    if options.seed is not None:
        from hypothesis import seed

        every_command_answers = seed(options.seed)(every_command_answers)
    started = time.monotonic()
    try:
        every_command_answers()
    except AssertionError as exc:
        print(f"FAILED after {time.monotonic() - started:.0f} s:\n{exc}", file=sys.stderr)
        return 1
    print(f"{options.examples} set-ups x {len(commands(SetUp(), Path('.')))} commands held in "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
