"""A lasting guard against hostile files: every command answers generated set-ups properly.

Runs ``tests/cli/fuzz_commands.py`` (hypothesis: generated and mutated policies, overlays,
``auth.json``, policy tests and event scripts, some corrupted byte-wise) in a subprocess under an
address-space limit. Every command must end within its budget, with exit 0, 1 or 2, never with an
uncaught exception (``internal error``), a traceback or a credential in its output. The number of
examples is bounded for CI (``MP_POLICY_FUZZ_EXAMPLES``, default 150, derandomised so a failure is
reproducible); ``MP_POLICY_FUZZ_SEED`` explores other examples locally.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from child_process import limit_address_space

RUNNER = Path(__file__).with_name("fuzz_commands.py")
#: The runner's address space: far above what any command needs, far below what a runaway would take.
ADDRESS_SPACE = 3 * 1024 ** 3


def test_every_command_answers_generated_hostile_set_ups(tmp_path: Path) -> None:
    examples = os.environ.get("MP_POLICY_FUZZ_EXAMPLES", "150")
    argv = [sys.executable, str(RUNNER), "--examples", examples]
    if os.environ.get("MP_POLICY_FUZZ_SEED"):
        argv += ["--seed", os.environ["MP_POLICY_FUZZ_SEED"]]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1200, env=env, check=False,
                          stdin=subprocess.DEVNULL, preexec_fn=lambda: limit_address_space(ADDRESS_SPACE))
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert "commands held" in proc.stdout
