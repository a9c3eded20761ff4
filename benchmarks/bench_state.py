"""Benchmark of the state stores: what an agent pays for a failover (a 429, then the next account).

Run from the repository root::

    .venv/bin/python benchmarks/bench_state.py                  # full run (about a minute and a half)
    .venv/bin/python benchmarks/bench_state.py --quick          # fewer iterations, shorter runs (about 20 s)
    .venv/bin/python benchmarks/bench_state.py --format json    # the same figures as JSON on stdout
    .venv/bin/python benchmarks/bench_state.py --only redis     # one store: memory | sqlite | redis (repeatable)
    .venv/bin/python benchmarks/bench_state.py --profile redis  # cProfile of the single-process loop, top functions

One **round trip** is ``d = engine.select(pool=...)`` followed by ``engine.fail(d.turn, status=429,
message="rate_limit_error")``, both writing their state (not dry runs). ``engine.succeed(d.turn)`` ends each
turn outside the round-trip timing (it is timed on its own). The pool has 8 accounts, round-robin, with a
250 ms cooldown; the engine clock is fake and moves on, so accounts come back and the pool does not run dry.

For each store (``memory://``, SQLite in a temporary file, Redis on a ``redis-server`` this script starts on
a free loopback port, with a fresh ``namespace=bench-<uuid>``):

1. **Single process**: p50 / p99 / mean of the round trip, its thread CPU time, and ``select``, ``fail`` and
   ``succeed`` alone. The clock moves 100 ms per round trip. Targets: SQLite and Redis p50 ≤ 1 ms.
2. **4 processes** sharing one store (SQLite and Redis; the memory store is per process), spawned with
   ``multiprocessing``, released together by an event, each looping for a fixed time: failovers per second
   across all of them, and each process's p50 / p99. The processes share one engine clock that runs
   1,000 times faster than real time (so 250 ms of cooldown last 250 µs). Target: ≥ 2,000 failovers/s on Redis.

Every round trip is checked while it is measured (outside the timed window): ``select`` found a target, and
``fail`` classified a rate limit and moved to another account, with the failed one left out of its
candidates; every 64th round trip the turn record (and, single process, the cooldown) is read back from
the store. With several processes, "no account free" can be the right answer now and then (see ``Checks``);
it is counted apart. For Redis the report also gives the server's CPU time and commands per iteration.
The script only measures: it prints figures and "target met" / "over target", never fails. It starts and
stops its own ``redis-server`` and removes its temporary files, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import multiprocessing as mp
import os
import platform
import pstats
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import cpu_model, load_average, num, percentile, table

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

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


# --------------------------------------------------------------------------- several processes


def _worker(index: int, url: str, origin_ns: int, duration: float, warmup: int, start: Any, results: Any) -> None:
    """One process of the multi-process part: warm up, report ready, wait for the start, loop for ``duration``."""
    try:
        engine = make_engine(url, SharedClock(origin_ns))
        try:
            for _ in range(warmup):
                first = engine.select(pool=POOL)
                engine.fail(first.turn, status=429, message="rate_limit_error")
                engine.succeed(first.turn)
            results.put(("ready", index, None))
            if not start.wait(timeout=120):
                return
            perf = time.perf_counter_ns
            samples = array("q")
            checks = Checks(allow_dry=True)
            began = perf()
            deadline = began + int(duration * 1e9)
            i = 0
            while True:
                t0 = perf()
                if t0 >= deadline:
                    break
                first = engine.select(pool=POOL)
                if first.target is None:  # the whole pool cooling at that instant (see Checks)
                    check_select(first, checks)
                    engine.succeed(first.turn)
                    continue
                second = engine.fail(first.turn, status=429, message="rate_limit_error")
                samples.append(perf() - t0)
                check_select(first, checks)
                if check_fail(first, second, checks) and i % CHECK_EVERY == 0:
                    check_state(engine, first, second, checks, cooldown=False)
                engine.succeed(first.turn)
                i += 1
            elapsed = (perf() - began) / 1e9
        finally:
            engine.close()
        results.put(("done", index, {"elapsed": elapsed, "samples": samples.tobytes(), "checks": checks.to_dict()}))
    except KeyboardInterrupt:
        pass
    except BaseException:
        with contextlib.suppress(Exception):
            results.put(("error", index, traceback.format_exc()))


def multi_process(url: str, budget: Budget, processes: int, *, store: str) -> dict[str, Any]:
    """``processes`` spawned processes on one store, started together: failovers/s and per-process latency."""
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    origin_ns = time.monotonic_ns()
    warmup = max(50, budget.warmup // 5)
    procs = [ctx.Process(target=_worker, args=(k, url, origin_ns, budget.duration, warmup, start, results),
                         daemon=True, name=f"bench-state-{store}-{k}") for k in range(processes)]
    reports: dict[int, dict[str, Any]] = {}
    try:
        for proc in procs:
            proc.start()
        ready = 0
        while ready < processes:
            kind, index, payload = _next(results, 120, procs)
            if kind == "error":
                return {"store": store, "error": f"process {index} failed:\n{payload}"}
            ready += 1
        start.set()
        while len(reports) < processes:
            kind, index, payload = _next(results, budget.duration + 120, procs)
            if kind == "error":
                return {"store": store, "error": f"process {index} failed:\n{payload}"}
            reports[index] = payload
        for proc in procs:
            proc.join(timeout=30)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        results.cancel_join_thread()
        results.close()
    per_process = []
    checks = Checks(allow_dry=True)
    everything: list[int] = []
    for index in sorted(reports):
        payload = reports[index]
        samples = array("q")
        samples.frombytes(payload["samples"])
        everything += samples
        checks.merge(payload["checks"])
        per_process.append({"process": index, "round_trips": len(samples), "elapsed_s": round(payload["elapsed"], 3),
                            "per_second": round(len(samples) / payload["elapsed"], 1), **summary_us(samples)})
    total = sum(p["round_trips"] for p in per_process)
    result: dict[str, Any] = {
        "store": store,
        "processes": processes,
        "duration_s": budget.duration,
        "round_trips": total,
        "per_second": round(sum(p["per_second"] for p in per_process), 1),
        "per_process": per_process,
        "all": summary_us(everything),
        "checks": checks.to_dict(),
    }
    if store == "redis":
        result["target_per_second"] = REDIS_THROUGHPUT_TARGET
        result["status"] = "target met" if result["per_second"] >= REDIS_THROUGHPUT_TARGET else "over target"
    return result


def _next(results: Any, timeout: float, procs: Sequence[Any]) -> tuple[str, int, Any]:
    """The next message of a worker; a worker that died without a word is an error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                return "error", -1, f"{dead[0].name} exited with {dead[0].exitcode}"
            if time.monotonic() > deadline:
                return "error", -1, f"no answer within {timeout:.0f} s"


# --------------------------------------------------------------------------- the stores


class Stores:
    """Fresh state URLs per part of the run; owns the temporary directory and the redis-server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.server: Any = None
        self.redis_skip: str | None = None
        self._files = 0

    def start_redis(self) -> None:
        """Start redis-server on a free loopback port (or note why Redis is skipped)."""
        if shutil.which("redis-server") is None:
            self.redis_skip = "redis-server is not installed (Debian: apt-get install redis-server)"
            return
        try:
            import redis  # noqa: F401  (the optional extra)
        except ImportError:
            self.redis_skip = "the Python package 'redis' is not installed (extra mp-policy[redis], docs/install.md)"
            return
        sys.path.insert(0, str(REPO / "tests" / "state"))
        try:
            from redis_server import RedisServer  # tests/state/redis_server.py
        except ImportError as exc:
            self.redis_skip = f"cannot import tests/state/redis_server.py: {exc}"
            return
        finally:
            sys.path.remove(str(REPO / "tests" / "state"))
        try:
            server = RedisServer(self.tmp / "redis", unix_socket=False)
            server.start()
        except Exception as exc:  # the benchmark reports, it never fails
            self.redis_skip = f"cannot start redis-server: {type(exc).__name__}: {exc}"
            return
        self.server = server

    def stop(self) -> None:
        """Stop redis-server (gracefully, else killed)."""
        if self.server is not None:
            server, self.server = self.server, None
            server.stop()

    def url(self, store: str) -> str:
        """A URL with empty state: a new in-process store, a new SQLite file, a new Redis namespace."""
        if store == "memory":
            return "memory://"
        if store == "sqlite":
            self._files += 1
            return "sqlite://" + str(self.tmp / f"state-{self._files}.db")
        assert self.server is not None
        return f"{self.server.url}?namespace=bench-{uuid.uuid4()}"

    def redis_calls(self) -> dict[str, float]:
        """The server's calls per command (``INFO commandstats``; commands run inside Lua scripts included),
        and its CPU time so far in seconds (under the key ``SERVER_CPU``)."""
        import redis

        assert self.server is not None
        with contextlib.closing(redis.Redis.from_url(self.server.url)) as client:
            stats = client.info("commandstats")
            cpu = client.info("cpu")
        calls: dict[str, float] = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
                                   if name not in ("cmdstat_info", "cmdstat_hello", "cmdstat_client|setinfo")}
        calls[SERVER_CPU] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        return calls


@contextlib.contextmanager
def stores_context() -> Iterator[Stores]:
    """A temporary directory and (when possible) a redis-server, both gone afterwards, also on Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-state-") as tmp:
        stores = Stores(Path(tmp))
        try:
            yield stores
        finally:
            stores.stop()


# --------------------------------------------------------------------------- machine


def machine_facts() -> dict[str, Any]:
    """CPU count and model, Python, redis-server and redis-py versions, load, the temp directory's file system."""
    server = "not installed"
    binary = shutil.which("redis-server")
    if binary:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
        server = next((part[2:] for part in out.split() if part.startswith("v=")), out.strip() or "unknown")
    try:
        import redis

        client = str(redis.__version__)
    except ImportError:
        client = "not installed"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "redis_server": server,
        "redis_py": client,
        "load_average": load_average(),
        "tmp_filesystem": _filesystem(Path(tempfile.gettempdir())),
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _filesystem(path: Path) -> str:
    """The file system type holding ``path`` (from /proc/mounts; SQLite's commit cost depends on it)."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        resolved = str(path.resolve())
        for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) >= 3:
                mount = parts[1]
                inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, kind = mount, parts[2]
    return kind


# --------------------------------------------------------------------------- output


def machine_line(m: dict[str, Any]) -> str:
    """The first line of every report: what the figures depend on."""
    return (f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['python']}, redis-server {m['redis_server']}, "
            f"redis-py {m['redis_py']}, {m['platform']}, temp files on {m['tmp_filesystem']}, "
            f"load average at start {m['load_average']}")


def render_text(report: dict[str, Any]) -> str:
    """The human report."""
    m = report["machine"]
    out = [
        machine_line(m),
        f"mp-policy state stores: the failover round trip ({report['mode']} run)",
        f"  round trip = select(pool={POOL}) + fail(turn, 429 'rate_limit_error'), state written; "
        "succeed(turn) ends each turn outside the round-trip timing",
        f"  pool of {POOL_SIZE} accounts, round-robin, cooldown {COOLDOWN}; all times in µs",
        "",
    ]
    single = report["single_process"]
    if single:
        out.append(f"== single process (engine clock +{STEP.total_seconds() * 1000:.0f} ms per round trip)")
        head = ("store", "round trips", "p50", "p99", "mean", "cpu p50", "select p50", "fail p50", "succeed p50",
                "target p50", "status")
        rows = []
        for r in single.values():
            if "skipped" in r or "error" in r:
                rows.append((r["store"], "-", "-", "-", "-", "-", "-", "-", "-", "", "skipped" if "skipped" in r
                             else "error"))
                continue
            rt = r["round_trip"]
            rows.append((r["store"], num(r["iterations"]), num(rt["p50"]), num(rt["p99"]), num(rt["mean"]),
                         num(r["round_trip_cpu"]["p50"]), num(r["select"]["p50"]), num(r["fail"]["p50"]),
                         num(r["succeed"]["p50"]), f"≤ {num(r['target_us'])}" if "target_us" in r else "",
                         r.get("status", "")))
        out += table(head, rows, left=2)
        out += _notes(single.values())
        out.append("")
    multi = report["multi_process"]
    if multi:
        out.append(f"== {report['processes']} processes sharing one store (spawned, started together; "
                   f"engine clock {SPEED:,}× real time)")
        head = ("store", "process", "round trips", "per second", "p50", "p99", "mean", "target", "status")
        rows = []
        for r in multi.values():
            if "skipped" in r or "error" in r:
                rows.append((r["store"], "", "-", "-", "-", "-", "-", "", "skipped" if "skipped" in r else "error"))
                continue
            for p in r["per_process"]:
                rows.append((r["store"], f"#{p['process']}", num(p["round_trips"]), num(p["per_second"]),
                             num(p["p50"]), num(p["p99"]), num(p["mean"]), "", ""))
            target = f"≥ {num(r['target_per_second'])}/s" if "target_per_second" in r else ""
            rows.append((r["store"], "all", num(r["round_trips"]), num(r["per_second"]), num(r["all"]["p50"]),
                         num(r["all"]["p99"]), num(r["all"]["mean"]), target, r.get("status", "")))
        out += table(head, rows, left=2)
        out += _notes(multi.values())
        out.append("")
    out.append("correctness (checked while measuring):")
    for part, results in (("single process", single), (f"{report['processes']} processes", multi)):
        for r in results.values():
            if "checks" not in r:
                continue
            c = r["checks"]
            verdict = "ok" if c["ok"] else "PROBLEM"
            line = (f"  {part}, {r['store']}: {verdict}: select found a target "
                    f"{c['selects'] - c['select_dry']:,}/{c['selects']:,}; fail left the failed account out "
                    f"{c['fail_ok'] + c['fail_dry']:,}/{c['fails']:,} and moved to another one {c['fail_ok']:,}; "
                    f"state read back {c['state_ok']:,}/{c['state_checked']:,}")
            out.append(line)
            if c["allow_dry"] and c["select_dry"] + c["fail_dry"]:
                out.append(f"    ({c['select_dry']} select and {c['fail_dry']} fail found the whole pool cooling: "
                           "cooldowns other processes wrote after this one read the clock; see README)")
            out += [f"    - {text}" for text in c["problems"]]
    if m.get("load_average_end") is not None:
        out.append(f"load average at the end: {m['load_average_end']} (other work on the machine inflates p99 and "
                   "mean first, and the multi-process figures most)")
    out.append("")
    verdicts = report["targets"]
    met = sum(1 for v in verdicts if v["status"] == "target met")
    out.append(f"targets met: {met} of {len(verdicts)}")
    for v in verdicts:
        out.append(f"  [{'x' if v['status'] == 'target met' else ' '}] {v['what']}: {v['figure']} "
                   f"(target {v['target']}){'' if v['status'] else ' - not measured'}")
    if any(v["status"] == "over target" for v in verdicts):
        out.append("  over target: `--profile STORE` shows where the time of the single-process loop goes")
    return "\n".join(out)


def _notes(results: Any) -> list[str]:
    notes = []
    for r in results:
        if "skipped" in r:
            notes.append(f"  - {r['store']}: skipped: {r['skipped']}")
        elif "error" in r:
            notes.append(f"  - {r['store']}: error: {r['error']}")
        else:
            if r.get("capped"):
                notes.append(f"  - {r['store']}: time cap hit after {r['iterations']:,} round trips")
            calls = r.get("server_calls_per_iteration")
            if calls:
                shown = ", ".join(f"{k.upper()} {v:g}" for k, v in calls.items() if v)
                notes.append(f"  - {r['store']}: redis-server CPU time per loop iteration (select + fail + succeed): "
                             f"{r['server_cpu_us_per_iteration']:.0f} µs; its commands per loop iteration "
                             f"(INFO commandstats; MULTI..EXEC is one request, commands run by Lua scripts count "
                             f"too): {shown}")
    return ["  notes:", *notes] if notes else []


def verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The binding targets and how each did."""
    out = []
    for store in ("sqlite", "redis"):
        r = report["single_process"].get(store)
        if r is not None:
            p50 = r.get("round_trip", {}).get("p50")
            out.append({"what": f"single process, {store}: round trip p50", "figure": f"{num(p50)} µs" if p50 else "-",
                        "target": f"≤ {num(RT_P50_TARGET_US)} µs", "status": r.get("status", "")})
    r = report["multi_process"].get("redis")
    if r is not None:
        rate = r.get("per_second")
        out.append({"what": f"{report['processes']} processes, redis: failovers per second",
                    "figure": f"{num(rate)}/s" if rate else "-",
                    "target": f"≥ {num(REDIS_THROUGHPUT_TARGET)}/s", "status": r.get("status", "")})
    return out


# --------------------------------------------------------------------------- main


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM is handled like Ctrl-C, so the cleanup runs."""
    raise KeyboardInterrupt


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen stores, single process then several, and collect the report."""
    budget = QUICK if options.quick else FULL
    if options.duration:
        budget = Budget(budget.iterations, budget.warmup, budget.max_seconds, options.duration,
                        budget.profile_iterations)
    chosen = [s for s in STORES if s in (options.only or STORES)]
    report: dict[str, Any] = {"machine": machine_facts(), "mode": "quick" if options.quick else "full",
                              "processes": options.processes, "single_process": {}, "multi_process": {},
                              "settings": {"pool_size": POOL_SIZE, "cooldown": COOLDOWN,
                                           "step_ms": STEP.total_seconds() * 1000, "shared_clock_speed": SPEED,
                                           "iterations": budget.iterations, "duration_s": budget.duration}}
    m = report["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['python']}, redis-server {m['redis_server']}", file=sys.stderr)
    with stores_context() as stores:
        if "redis" in chosen:
            stores.start_redis()
        for store in chosen:
            if store == "redis" and stores.redis_skip:
                report["single_process"][store] = {"store": store, "skipped": stores.redis_skip}
                report["multi_process"][store] = {"store": store, "skipped": stores.redis_skip}
                print(f"  .. redis: skipped: {stores.redis_skip}", file=sys.stderr)
                continue
            print(f"  .. {store}: single process, {budget.iterations:,} round trips ...", file=sys.stderr, flush=True)
            try:
                r = single_process(stores.url(store), budget, store=store,
                                   counters=stores.redis_calls if store == "redis" else None)
            except Exception as exc:  # the benchmark reports, it never fails
                r = {"store": store, "error": f"{type(exc).__name__}: {exc}"}
            report["single_process"][store] = r
            if "round_trip" in r:
                print(f"  .. {store}: round trip p50 {r['round_trip']['p50']:.0f} µs, p99 {r['round_trip']['p99']:.0f} "
                      f"µs {r.get('status', '')}", file=sys.stderr, flush=True)
            if store == "memory":
                continue
            print(f"  .. {store}: {options.processes} processes, {budget.duration:g} s ...", file=sys.stderr,
                  flush=True)
            url = stores.url(store)
            with contextlib.suppress(Exception):
                make_engine(url, StepClock()).close()  # create the file (schema) before the processes race for it
            r = multi_process(url, budget, options.processes, store=store)
            report["multi_process"][store] = r
            if "per_second" in r:
                print(f"  .. {store}: {r['per_second']:,.0f} failovers/s, p50 {r['all']['p50']:.0f} µs "
                      f"{r.get('status', '')}", file=sys.stderr, flush=True)
            else:
                print(f"  .. {store}: {r.get('error', '')}", file=sys.stderr, flush=True)
    report["targets"] = verdicts(report)
    report["machine"]["load_average_end"] = load_average()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run, print the report; 130 when interrupted, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations and shorter multi-process runs")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    parser.add_argument("--only", choices=STORES, action="append", help="measure only this store (repeatable)")
    parser.add_argument("--processes", type=int, default=PROCESSES, help=f"processes sharing a store ({PROCESSES})")
    parser.add_argument("--duration", type=float, help="seconds each process loops (default 10, --quick 3)")
    parser.add_argument("--profile", choices=STORES, help="only profile the single-process loop on this store")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if options.profile:
            budget = QUICK if options.quick else FULL
            print(machine_line(machine_facts()))
            with stores_context() as stores:
                if options.profile == "redis":
                    stores.start_redis()
                    if stores.redis_skip:
                        print(f"redis: skipped: {stores.redis_skip}")
                        return 0
                print(profile_loop(stores.url(options.profile), budget))
            return 0
        report = run(options)
    except KeyboardInterrupt:
        print("interrupted: redis-server stopped, temporary files removed", file=sys.stderr)
        return 130
    if options.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(render_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
