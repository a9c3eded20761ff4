"""The failover loop of ``bench_state.py`` in one process: the policy, the clocks, the checks made while
measuring, the timed loop, its profile, and the floors the figures are shown next to."""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import percentile

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # last: a PYTHONPATH checkout (compare.py --reference) must win over this one
    sys.path.append(str(REPO))

STORES = ("memory", "sqlite", "redis")
POOL = "bench"
POOL_SIZE = 8
COOLDOWN = "250ms"
#: Single process: the engine clock moves this much per round trip (a failed account rests 2 round trips).
STEP = timedelta(milliseconds=100)
#: Several processes: one shared engine clock, this many times faster than real time.
SPEED = 1000
BASE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # a Tuesday morning
CHECK_EVERY = 64  # read the turn (and cooldown) back from the store every this many round trips

SERVER_CPU = "(server cpu s)"  # the key of redis-server's CPU time among its command counts

# Targets; see benchmarks/README.md.
RT_P50_TARGET_US = 1000.0  # SQLite and Redis, single process
REDIS_THROUGHPUT_TARGET = 2000.0  # failovers/s across PROCESSES processes
PROCESSES = 4


# --------------------------------------------------------------------------- setup


def members() -> list[str]:
    """The pool's accounts: ``anthropic``, ``anthropic-2`` .. ``anthropic-8``."""
    return ["anthropic"] + [f"anthropic-{i}" for i in range(2, POOL_SIZE + 1)]


def policy() -> dict[str, Any]:
    """One round-robin pool of 8 accounts with a short cooldown (times in UTC)."""
    return {
        "version": 1,
        "settings": {"timezone": "UTC"},
        "subscriptions": [{"provider": "anthropic", "index": i, "label": f"seat {i}"} for i in range(2, POOL_SIZE + 1)],
        "pools": [{"name": POOL, "baseProvider": "anthropic", "members": members(), "strategy": "round-robin",
                   "cooldown": COOLDOWN}],
    }


def make_engine(url: str, clock: Callable[[], datetime]) -> Any:
    """An engine on the store at ``url`` with every account logged in."""
    from policy_engine.engine import Engine

    return Engine.from_documents(policy(), state=url, auth=set(members()), clock=clock)


class StepClock:
    """A fake clock that moves only when told to (single process)."""

    def __init__(self) -> None:
        self.now = BASE

    def __call__(self) -> datetime:
        return self.now

    def advance(self) -> None:
        """One step (``STEP``) forward."""
        self.now += STEP


class SharedClock:
    """An engine clock shared by processes: ``BASE`` + (system-wide monotonic time since ``origin_ns``) × SPEED."""

    def __init__(self, origin_ns: int) -> None:
        self.origin_ns = origin_ns

    def __call__(self) -> datetime:
        return BASE + timedelta(microseconds=(time.monotonic_ns() - self.origin_ns) * SPEED / 1000)


# --------------------------------------------------------------------------- statistics


def summary_us(samples_ns: Sequence[int]) -> dict[str, float | int]:
    """Count, p50, p99, mean and max in µs."""
    ordered = sorted(samples_ns)
    if not ordered:
        return {"n": 0}
    return {"n": len(ordered), "p50": round(percentile(ordered, 50) / 1e3, 1),
            "p99": round(percentile(ordered, 99) / 1e3, 1), "mean": round(statistics.fmean(ordered) / 1e3, 1),
            "max": round(ordered[-1] / 1e3, 1)}


@dataclass
class Checks:
    """What was verified while measuring, and the first few problems.

    ``allow_dry``: several processes share the pool, and a process whose clock reading is a few
    milliseconds old sees every cooldown written since as still running; when those cover the
    whole pool, "no account free" is the right answer (counted as ``*_dry``, not as a problem).
    """

    allow_dry: bool = False
    selects: int = 0
    select_dry: int = 0
    fails: int = 0
    fail_ok: int = 0
    fail_dry: int = 0
    state_checked: int = 0
    state_ok: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        """Keep the first five problems."""
        if len(self.problems) < 5:
            self.problems.append(text)

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return (self.fail_ok + self.fail_dry == self.fails and self.state_ok == self.state_checked
                and (self.allow_dry or self.select_dry + self.fail_dry == 0) and not self.problems)

    def merge(self, other: dict[str, Any]) -> None:
        """Add another process's checks."""
        for key in ("selects", "select_dry", "fails", "fail_ok", "fail_dry", "state_checked", "state_ok"):
            setattr(self, key, getattr(self, key) + other[key])
        for text in other["problems"]:
            self.problem(text)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"allow_dry": self.allow_dry, "selects": self.selects, "select_dry": self.select_dry,
                "fails": self.fails, "fail_ok": self.fail_ok, "fail_dry": self.fail_dry,
                "state_checked": self.state_checked, "state_ok": self.state_ok, "problems": self.problems,
                "ok": self.ok}


def check_select(first: Any, checks: Checks) -> bool:
    """Count one ``select``: it found a target (else the whole pool was cooling)."""
    checks.selects += 1
    if first.target is not None:
        return True
    checks.select_dry += 1
    if not checks.allow_dry:
        checks.problem(f"select found no target (retry after {first.retry_after})")
    return False


def check_fail(first: Any, second: Any, checks: Checks) -> bool:
    """Count one ``fail``: a rotating rate limit, and the failed account is neither the target nor a candidate."""
    checks.fails += 1
    failed = first.target.provider
    error = second.error
    if error is None or error.kind != "rate_limit" or not error.rotate:
        checks.problem(f"fail({failed}) was not classified as a rotating rate limit: {error}")
    elif any(c.provider == failed for c in second.candidates):
        checks.problem(f"fail({failed}) still offers the failed account: {[c.provider for c in second.candidates]}")
    elif second.target is None:
        checks.fail_dry += 1
        if not checks.allow_dry:
            checks.problem(f"fail({failed}) found no other account (retry after {second.retry_after})")
    else:
        checks.fail_ok += 1
        return True
    return False


def check_state(engine: Any, first: Any, second: Any, checks: Checks, *, cooldown: bool) -> None:
    """Read the turn (and the failed account's cooldown) back from the store: the writes happened."""
    checks.state_checked += 1
    failed = first.target.provider
    now = engine.now()
    record = engine.store.get_turn(first.turn, now)
    if record is None:
        checks.problem(f"turn {first.turn} is not in the store after fail")
        return
    data = record.data
    if data.get("attempted") != [failed] or (data.get("target") or {}).get("provider") != second.target.provider:
        checks.problem(f"turn {first.turn} in the store does not show the failover: attempted={data.get('attempted')} "
                       f"target={data.get('target')}")
        return
    if cooldown:
        stored = engine.store.snapshot().cooldowns.get(failed)
        if stored is None or stored.until < second.error.cooldown_until:
            checks.problem(f"the cooldown of {failed} is not in the store: {stored}")
            return
    checks.state_ok += 1


# --------------------------------------------------------------------------- single process


@dataclass
class Budget:
    """Iteration counts and time caps of one run mode."""

    iterations: int
    warmup: int
    max_seconds: float
    duration: float  # seconds each process loops in the multi-process part
    profile_iterations: int


FULL = Budget(iterations=20_000, warmup=1_000, max_seconds=30.0, duration=10.0, profile_iterations=5_000)
QUICK = Budget(iterations=2_000, warmup=200, max_seconds=5.0, duration=3.0, profile_iterations=1_000)


def single_process(url: str, budget: Budget, *, store: str,
                   counters: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """The round trip in one process: per-call wall and CPU times, per operation, with the checks.

    ``counters`` (Redis: the server's command counts) is read just before and after the timed loop.
    """
    clock = StepClock()
    engine = make_engine(url, clock)
    perf, cpu = time.perf_counter_ns, time.thread_time_ns
    try:
        for _ in range(budget.warmup):
            first = engine.select(pool=POOL)
            engine.fail(first.turn, status=429, message="rate_limit_error")
            engine.succeed(first.turn)
            clock.advance()
        rt, rt_cpu, sel, fl, suc = (array("q") for _ in range(5))
        checks = Checks()
        before = counters() if counters else {}
        deadline = time.monotonic() + budget.max_seconds
        for i in range(budget.iterations):
            c0 = cpu()
            t0 = perf()
            first = engine.select(pool=POOL)
            t1 = perf()
            if first.target is None:  # never here: a problem, counted below
                check_select(first, checks)
                engine.succeed(first.turn)
                clock.advance()
                continue
            second = engine.fail(first.turn, status=429, message="rate_limit_error")
            t2 = perf()
            c1 = cpu()
            rt.append(t2 - t0)
            rt_cpu.append(c1 - c0)
            sel.append(t1 - t0)
            fl.append(t2 - t1)
            check_select(first, checks)
            if check_fail(first, second, checks) and i % CHECK_EVERY == 0:
                check_state(engine, first, second, checks, cooldown=True)
            t3 = perf()
            engine.succeed(first.turn)
            suc.append(perf() - t3)
            clock.advance()
            if i >= 500 and (i & 63) == 0 and time.monotonic() > deadline:
                break
        after = counters() if counters else {}
        leftover = len(engine.store.dump()["turns"])
        if leftover:
            checks.problem(f"{leftover} turns left in the store after succeed")
    finally:
        engine.close()
    result: dict[str, Any] = {
        "store": store,
        "iterations": len(rt),
        "capped": len(rt) < budget.iterations,
        "round_trip": summary_us(rt),
        "round_trip_cpu": summary_us(rt_cpu),
        "select": summary_us(sel),
        "fail": summary_us(fl),
        "succeed": summary_us(suc),
        "checks": checks.to_dict(),
    }
    if counters:
        cpu_s = after.pop(SERVER_CPU, 0.0) - before.pop(SERVER_CPU, 0.0)
        result["server_cpu_us_per_iteration"] = round(cpu_s * 1e6 / len(rt), 1)
        result["server_calls_per_iteration"] = {
            name: round((after.get(name, 0) - before.get(name, 0)) / len(rt), 2)
            for name in sorted(set(after) | set(before)) if after.get(name, 0) > before.get(name, 0)}
    if store != "memory":
        result["target_us"] = RT_P50_TARGET_US
        result["status"] = "target met" if result["round_trip"]["p50"] <= RT_P50_TARGET_US else "over target"
    return result


def profile_loop(url: str, budget: Budget, top: int = 30) -> str:
    """cProfile of the single-process loop (select + fail + succeed): the top functions, two orders."""
    clock = StepClock()
    engine = make_engine(url, clock)

    def loop(n: int) -> None:
        for _ in range(n):
            first = engine.select(pool=POOL)
            engine.fail(first.turn, status=429, message="rate_limit_error")
            engine.succeed(first.turn)
            clock.advance()

    try:
        loop(budget.warmup)
        profiler = cProfile.Profile()
        profiler.enable()
        loop(budget.profile_iterations)
        profiler.disable()
    finally:
        engine.close()
    out = io.StringIO()
    out.write(f"cProfile of {budget.profile_iterations:,} loop iterations (select + fail + succeed); "
              "times include the profiler's own overhead\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    for order in ("tottime", "cumulative"):
        out.write(f"\n--- by {order}\n")
        stats.sort_stats(order).print_stats(top)
    return out.getvalue()


def redis_ping_us(url: str, calls: int = 2_000) -> float:
    """The floor of a Redis round trip: the p50 of a PING on the store's own connection settings, in µs."""
    import redis

    base = url.partition("?")[0]
    with redis.Redis.from_url(base) as client:
        for _ in range(100):
            client.ping()
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            client.ping()
            samples.append(time.perf_counter_ns() - t0)
    return round(percentile(sorted(samples), 50) / 1e3, 1)
