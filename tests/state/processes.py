"""Running a test's worker processes together (spawned, released at once by one event)."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any


def run_together(target: Callable[..., None], argument_lists: Sequence[tuple[Any, ...]], timeout: float = 120) -> None:
    """Start one spawned process per argument tuple, each called as ``target(*arguments, start)``; release them
    together with ``start.set()``, wait for all and fail unless each exited 0."""
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=target, args=(*arguments, start)) for arguments in argument_lists]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0, f"{proc.name} exited {proc.exitcode}"
