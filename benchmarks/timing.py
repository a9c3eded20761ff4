"""Timing one call at a time: per-call wall and thread-CPU samples, their summary, iteration budgets,
and the floors the figures are compared with in the same run (a plain pick over the same accounts)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from harness import Figure, Report, percentile

__all__ = ["Budget", "Samples", "calibrate_us", "gc_disabled", "measure", "router_pick_us", "run_timed"]


def _best_us(call: Callable[[], object], rounds: int, calls: int) -> float:
    """The fastest of ``rounds`` runs of ``calls`` calls of ``call``, per call, in µs."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            call()
        best = min(best, (time.perf_counter_ns() - t0) / calls / 1e3)
    return best


def calibrate_us(rounds: int = 5, calls: int = 20_000) -> float:
    """A machine-speed yardstick: a plain filter-and-pick over 50 accounts (STYLE.md: about 6 µs), best of rounds."""
    members = ["anthropic"] + [f"anthropic-{i}" for i in range(2, 51)]
    logged_in = frozenset(members)
    cooldown_until = {members[3]: 2e9, members[20]: 2e9}
    now = 1.7e9

    def pick() -> str:
        eligible = [m for m in members if m in logged_in and cooldown_until.get(m, 0.0) <= now]
        return eligible[0]

    return round(_best_us(pick, rounds, calls), 2)


def router_pick_us(members: Sequence[str], cooling: Sequence[str], rounds: int = 5, calls: int = 20_000) -> float:
    """The floor of a decision: a minimal Python router's round-robin pick over ``members`` (skipping the
    ``cooling`` ones, advancing a cursor), best of ``rounds``, in µs."""
    order = list(members)
    cooldown_until = dict.fromkeys(cooling, 2e9)
    now = 1.7e9
    state = {"cursor": 0}

    def pick() -> str | None:
        start = state["cursor"]
        for k in range(len(order)):
            member = order[(start + k) % len(order)]
            if cooldown_until.get(member, 0.0) <= now:
                state["cursor"] = (start + k) % len(order)
                return member
        return None

    return round(_best_us(pick, rounds, calls), 3)


@contextmanager
def gc_disabled(disabled: bool) -> Iterator[None]:
    """Disable the cyclic GC for the block (when asked), restoring it afterwards."""
    was = gc.isenabled()
    if disabled:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Samples:
    """Per-call wall and thread-CPU times in nanoseconds."""

    wall: list[int]
    cpu: list[int]

    def summary(self) -> dict[str, float | int | None]:
        """p50 / p99 / mean / max in µs, and the CPU p50 / p99."""
        wall = sorted(self.wall)
        cpu = sorted(self.cpu)
        return {
            "iterations": len(wall),
            "p50": round(percentile(wall, 50) / 1e3, 2),
            "p50_best_window": round(self.best_window_p50() / 1e3, 2),
            "p99": round(percentile(wall, 99) / 1e3, 2),
            "mean": round(statistics.fmean(wall) / 1e3, 2),
            "max": round(wall[-1] / 1e3, 2),
            "cpu_p50": round(percentile(cpu, 50) / 1e3, 2),
            "cpu_p99": round(percentile(cpu, 99) / 1e3, 2),
        }


    def best_window_p50(self) -> float:
        """The lowest p50 over windows of consecutive calls (a twentieth of them, at least 100), in ns.

        On a shared machine the speed can change for seconds at a time; this is the figure of
        the quietest stretch, where the whole-run p50 mixes quiet and noisy stretches.
        """
        size = max(100, len(self.wall) // 20)
        if len(self.wall) < 2 * size:
            return percentile(sorted(self.wall), 50)
        return min(percentile(sorted(self.wall[i:i + size]), 50) for i in range(0, len(self.wall) - size + 1, size))


def run_timed(call: Callable[..., Any], after: Callable[[Any], None] | None, *, iterations: int, warmup: int,
              max_seconds: float, no_gc: bool = False, before: Callable[[], Any] | None = None) -> Samples:
    """Time ``call`` per invocation; ``after(result)`` runs outside the timed window (housekeeping).

    With ``before``, each timed ``call`` gets the result of ``before()``, which runs untimed (e.g.
    the ``select`` whose turn a timed ``fail`` reports on).

    Stops early after ``max_seconds`` (at least 200 samples are still taken) so a pathological
    case cannot stall the run; the sample count is reported.
    """
    perf = time.perf_counter_ns
    cpu_clock = time.thread_time_ns
    def once() -> Any:
        return call() if before is None else call(before())

    for _ in range(warmup):
        result = once()
        if after is not None:
            after(result)
    wall: list[int] = []
    cpu: list[int] = []
    deadline = time.monotonic() + max_seconds
    with gc_disabled(no_gc):
        for i in range(iterations):
            arg = before() if before is not None else None
            c0 = cpu_clock()
            t0 = perf()
            result = call() if before is None else call(arg)
            t1 = perf()
            c1 = cpu_clock()
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
            if after is not None:
                after(result)
            if i >= 200 and (i & 63) == 0 and time.monotonic() > deadline:
                break
    return Samples(wall, cpu)


@dataclass(frozen=True)
class Budget:
    """Iteration counts and time caps for one run mode."""

    scale: float
    max_seconds: float

    def iterations(self, full: int) -> int:
        """Scaled iteration count (at least 200)."""
        return max(200, int(full * self.scale))

    def warmup(self, full: int) -> int:
        """About 5% of the iterations (at least 50)."""
        return max(50, self.iterations(full) // 20)


def measure(report: Report, budget: Budget, name: str, call: Callable[..., Any], after: Callable[[Any], None] | None,
            full_iterations: int, *, section: str = "decision latency (memory store)", target: float | None = None,
            binding: bool = True, note: str = "", gc_compare: bool = True, before: Callable[[], Any] | None = None,
            floor: tuple[str, float] | None = None, target_on: str = "p50") -> Figure:
    """Measure one latency case with gc on, then (shorter) with gc off, and record a figure.

    ``floor`` is ``(what, µs)`` measured in the same run: the figure shows its p50 as a multiple of it
    (``ratio``), which is what a target on ``ratio`` is checked against.
    """
    iterations = budget.iterations(full_iterations)
    yardstick = calibrate_us(3, 5_000)
    samples = run_timed(call, after, iterations=iterations, warmup=budget.warmup(full_iterations),
                        max_seconds=budget.max_seconds, before=before)
    values = samples.summary()
    values["yardstick"] = yardstick
    if floor is not None:
        values["floor"] = floor[1]
        values["ratio"] = round(float(values["p50"] or 0) / floor[1], 2)
        note = (note + "; " if note else "") + f"floor: {floor[0]}"
    if gc_compare:
        off = run_timed(call, after, iterations=max(200, iterations // 2), warmup=50,
                        max_seconds=budget.max_seconds / 2, no_gc=True, before=before).summary()
        values["gc_off_p50"] = off["p50"]
        values["gc_off_p99"] = off["p99"]
    if values["iterations"] != iterations:
        note = (note + "; " if note else "") + f"time cap hit after {values['iterations']:,} of {iterations:,}"
    return report.add(Figure(section, name, "µs", values, target=target, target_on=target_on, binding=binding,
                             note=note))
