"""Run a piece of Python in a child process with a time limit and an address-space limit.

For tests of hostile files (a FIFO with no writer, ``/dev/zero``, a huge sparse file): if the code
under test regresses and blocks or reads without bound, the child is killed by the timeout or runs
out of address space, and the test fails instead of hanging or swapping the whole suite.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from typing import Any

#: Address space a child may use: the interpreter and the engine fit, a runaway read does not.
CHILD_AS_LIMIT = 512 * 1024 * 1024
#: Generous: the code under test answers in milliseconds; this only stops a hang.
CHILD_TIMEOUT = 20.0


def limit_address_space(limit: int = CHILD_AS_LIMIT) -> None:
    """``preexec_fn`` for :mod:`subprocess`: cap the child's address space (``RLIMIT_AS``)."""
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_child(code: str, *args: str, timeout: float = CHILD_TIMEOUT) -> Any:
    """Run ``code`` (which prints one JSON value last) with ``args`` as ``sys.argv[1:]``; return that value.

    A child that hangs raises :class:`subprocess.TimeoutExpired`; one that fails (a traceback, a
    ``MemoryError``) fails the calling test with its stderr.
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=limit_address_space, check=False)
    assert proc.returncode == 0, f"the child failed (exit {proc.returncode}):\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
