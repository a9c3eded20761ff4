"""Several processes sharing one store (``bench_state.py``, part 2): spawned, released together, each
looping for a fixed time on one shared engine clock; failovers per second across them."""

from __future__ import annotations

import contextlib
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import queue
import resource
import time
import traceback
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from harness import load_average
from state_loop import (
    CHECK_EVERY,
    POOL,
    REDIS_THROUGHPUT_TARGET,
    SERVER_CPU,
    Budget,
    Checks,
    SharedClock,
    check_fail,
    check_select,
    check_state,
    make_engine,
    summary_us,
)


def _worker(index: int, url: str, origin_ns: int, duration: float, warmup: int, start: Any, results: Any,
            profile: bool = False) -> None:
    """One process of the multi-process part: warm up, report ready, wait for the start, loop for ``duration``
    (under cProfile when ``profile``)."""
    try:
        engine = make_engine(url, SharedClock(origin_ns))
        try:
            for _ in range(warmup):
                first = engine.select(pool=POOL)
                if first.target is not None:  # on a busy machine the others may have the whole pool cooling
                    engine.fail(first.turn, status=429, message="rate_limit_error")
                engine.succeed(first.turn)
            results.put(("ready", index, None))
            if not start.wait(timeout=120):
                return
            perf = time.perf_counter_ns
            samples = array("q")
            checks = Checks(allow_dry=True)
            refused = getattr(engine.store, "refused", None)
            profiler = cProfile.Profile() if profile else None
            usage = resource.getrusage(resource.RUSAGE_SELF)
            if profiler is not None:
                profiler.enable()
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
            if profiler is not None:
                profiler.disable()
            spent = resource.getrusage(resource.RUSAGE_SELF)
            if refused is not None:
                refused = engine.store.refused - refused
        finally:
            engine.close()
        results.put(("done", index, {"elapsed": elapsed, "samples": samples.tobytes(), "checks": checks.to_dict(),
                                     "user_s": spent.ru_utime - usage.ru_utime,
                                     "sys_s": spent.ru_stime - usage.ru_stime, "refused": refused,
                                     "profile": _top(profiler, i) if profiler is not None else None}))
    except KeyboardInterrupt:
        pass
    except BaseException:
        with contextlib.suppress(Exception):
            results.put(("error", index, traceback.format_exc()))


def multi_process(url: str, budget: Budget, processes: int, *, store: str,
                  counters: Callable[[], dict[str, float]] | None = None, profile: bool = False) -> dict[str, Any]:
    """``processes`` spawned processes on one store, started together: failovers/s, per-process latency, and
    the CPU time per failover (the processes' own, and the server's from ``counters``, read around the loops);
    ``profile``: process #0 loops under cProfile (its figures then include the profiler's overhead)."""
    ctx = mp.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    origin_ns = time.monotonic_ns()
    warmup = max(50, budget.warmup // 5)
    procs = [ctx.Process(target=_worker, args=(k, url, origin_ns, budget.duration, warmup, start, results,
                                               profile and k == 0),
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
        load = load_average()
        before = counters() if counters else {}
        start.set()
        while len(reports) < processes:
            kind, index, payload = _next(results, budget.duration + 120, procs)
            if kind == "error":
                return {"store": store, "error": f"process {index} failed:\n{payload}"}
            reports[index] = payload
        after = counters() if counters else {}
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
        "load_average_start": load,
    }
    result.update(cpu_cost(reports, total, before, after))
    if profile and 0 in reports:
        result["profile"] = reports[0]["profile"]
    if store == "redis":
        result["target_per_second"] = REDIS_THROUGHPUT_TARGET
        result["status"] = "target met" if result["per_second"] >= REDIS_THROUGHPUT_TARGET else "over target"
    return result


def _top(profiler: cProfile.Profile, iterations: int, top: int = 25) -> str:
    """The functions a process spent its own time in, most first."""
    out = io.StringIO()
    out.write(f"cProfile of process #0: {iterations:,} failovers (select + fail + succeed), by own time\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    return out.getvalue()


def cpu_cost(reports: dict[int, dict[str, Any]], failovers: int, before: dict[str, float],
             after: dict[str, float]) -> dict[str, Any]:
    """CPU time per failover (the processes' user + system time, the server's from ``INFO cpu``), the rate the
    machine's cores could reach at that cost (the CPU bound), and the refused optimistic writes per failover."""
    if not failovers:
        return {}
    user = sum(p["user_s"] for p in reports.values())
    system = sum(p["sys_s"] for p in reports.values())
    client_us = (user + system) * 1e6 / failovers
    out: dict[str, Any] = {"client_cpu_us_per_failover": round(client_us, 1),
                           "client_sys_share": round(system / (user + system), 2) if user + system else None}
    total_us = client_us
    if SERVER_CPU in before and SERVER_CPU in after:
        server_us = (after[SERVER_CPU] - before[SERVER_CPU]) * 1e6 / failovers
        out["server_cpu_us_per_failover"] = round(server_us, 1)
        total_us += server_us
        calls = {name: round((after[name] - before.get(name, 0)) / failovers, 2)
                 for name in ("evalsha", "eval") if after.get(name, 0) > before.get(name, 0)}
        if calls:
            out["server_calls_per_failover"] = calls
    cores = os.cpu_count() or 1
    out["cpus"] = cores
    out["cpu_us_per_failover"] = round(total_us, 1)
    out["cpu_bound_per_second"] = round(cores * 1e6 / total_us, 1) if total_us else None
    refused = [p["refused"] for p in reports.values()]
    if all(r is not None for r in refused):
        out["refused_per_failover"] = round(sum(refused) / failovers, 3)
    return out


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
