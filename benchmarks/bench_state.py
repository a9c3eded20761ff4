"""Benchmark of the state stores: what an agent pays for a failover (a 429, then the next account).

Run from the repository root::

    .venv/bin/python benchmarks/bench_state.py                  # full run (about a minute and a half)
    .venv/bin/python benchmarks/bench_state.py --quick          # fewer iterations, shorter runs (about 20 s)
    .venv/bin/python benchmarks/bench_state.py --format json    # the same figures as JSON on stdout
    .venv/bin/python benchmarks/bench_state.py --only redis     # one store: memory | sqlite | redis (repeatable)
    .venv/bin/python benchmarks/bench_state.py --profile redis  # cProfile of the single-process loop, top functions
    .venv/bin/python benchmarks/bench_state.py --only redis --profile-worker  # cProfile of one process of the fleet

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
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from harness import load_average, num, table
from state_fleet import multi_process
from state_loop import (
    COOLDOWN,
    FULL,
    POOL,
    POOL_SIZE,
    PROCESSES,
    QUICK,
    REDIS_THROUGHPUT_TARGET,
    RT_P50_TARGET_US,
    SPEED,
    STEP,
    STORES,
    Budget,
    StepClock,
    make_engine,
    profile_loop,
    redis_ping_us,
    single_process,
)
from state_stores import machine_facts, stores_context

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
        head = ("store", "round trips", "p50", "floor", "× floor", "p99", "mean", "cpu p50", "select p50",
                "fail p50", "succeed p50", "target p50", "status")
        rows = []
        for r in single.values():
            if "skipped" in r or "error" in r:
                rows.append((r["store"], "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "",
                             "skipped" if "skipped" in r else "error"))
                continue
            rt = r["round_trip"]
            ratio = f"{r['floor_ratio']:.2f}×" if "floor_ratio" in r else ""
            rows.append((r["store"], num(r["iterations"]), num(rt["p50"]), num(r.get("floor_us")), ratio,
                         num(rt["p99"]), num(rt["mean"]), num(r["round_trip_cpu"]["p50"]), num(r["select"]["p50"]),
                         num(r["fail"]["p50"]), num(r["succeed"]["p50"]),
                         f"≤ {num(r['target_us'])}" if "target_us" in r else "", r.get("status", "")))
        out += table(head, rows, left=2)
        out += _notes(single.values())
        out += [f"  - floor of {r['store']}: {r['floor']}" for r in single.values() if "floor" in r]
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
        out += _notes([*multi.values(), *(_cost(r) for r in multi.values())])
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


def _cost(r: dict[str, Any]) -> dict[str, Any]:
    """The CPU cost of a multi-process run as a note (a pseudo-result carrying only ``note``)."""
    if "cpu_us_per_failover" not in r:
        return {}
    server = r.get("server_cpu_us_per_failover")
    split = (f"client {r['client_cpu_us_per_failover']:.0f} µs ({r['client_sys_share']:.0%} of it system time)"
             + (f" + server {server:.0f} µs" if server is not None else " (server not measured)"))
    bound = r["cpu_bound_per_second"]
    text = (f"{r['store']}: CPU time per failover (select + fail + succeed, every process's user + system time, "
            f"the server's from INFO cpu): {split} = {r['cpu_us_per_failover']:.0f} µs; the CPU bound on "
            f"{r['cpus']} cores is {num(bound)}/s, and the run reached {r['per_second'] / bound:.0%} of it "
            f"(load average at its start {r['load_average_start']})")
    if "refused_per_failover" in r:
        text += f"; refused optimistic writes (decided again) per failover: {r['refused_per_failover']:g}"
    if "server_calls_per_failover" in r:
        text += ", script calls per failover: " + ", ".join(
            f"{k.upper()} {v:g}" for k, v in r["server_calls_per_failover"].items())
    return {"note": text}


def _notes(results: Any) -> list[str]:
    notes = []
    for r in results:
        if not r:
            continue
        if "note" in r:
            notes.append(f"  - {r['note']}")
        elif "skipped" in r:
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
    stores_ping: float | None = None
    with stores_context() as stores:
        if "redis" in chosen:
            stores.start_redis()
            if stores.server is not None:
                stores_ping = redis_ping_us(stores.server.url)
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
            r = multi_process(url, budget, options.processes, store=store,
                              counters=stores.redis_calls if store == "redis" else None,
                              profile=options.profile_worker)
            report["multi_process"][store] = r
            if "per_second" in r:
                print(f"  .. {store}: {r['per_second']:,.0f} failovers/s, p50 {r['all']['p50']:.0f} µs "
                      f"{r.get('status', '')}", file=sys.stderr, flush=True)
            else:
                print(f"  .. {store}: {r.get('error', '')}", file=sys.stderr, flush=True)
    add_floors(report, stores_ping)
    report["targets"] = verdicts(report)
    report["machine"]["load_average_end"] = load_average()
    return report


def add_floors(report: dict[str, Any], ping_us: float | None) -> None:
    """Each single-process round trip next to its floor from the same run: for the memory store a minimal
    router's pick over the same accounts, twice (select, fail); for SQLite the memory store's round trip
    (the engine without I/O); for Redis that plus two PING round trips (select and fail, one each)."""
    from timing import router_pick_us

    single = report["single_process"]
    floors: dict[str, tuple[float, str]] = {}
    names = ["anthropic"] + [f"anthropic-{i}" for i in range(2, POOL_SIZE + 1)]
    floors["memory"] = (round(2 * router_pick_us(names, names[1:4]), 2),
                        f"a minimal router's pick over the {POOL_SIZE} accounts, twice")
    memory = single.get("memory", {}).get("round_trip", {}).get("p50")
    if memory:
        floors["sqlite"] = (memory, "the memory store's round trip (the engine without I/O)")
        if ping_us:
            floors["redis"] = (round(memory + 2 * ping_us, 1),
                               f"the memory store's round trip + 2 PING round trips ({ping_us:g} µs each)")
    for store, (floor, what) in floors.items():
        r = single.get(store)
        if r is not None and "round_trip" in r:
            r["floor_us"], r["floor"] = floor, what
            r["floor_ratio"] = round(r["round_trip"]["p50"] / floor, 2)


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
    parser.add_argument("--profile-worker", action="store_true",
                        help="run process #0 of the multi-process part under cProfile; its top functions follow "
                             "the report")
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
        for r in report["multi_process"].values():
            if r.get("profile"):
                print(f"\n== {r['store']}, {report['processes']} processes: {r['profile']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
