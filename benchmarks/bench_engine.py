"""Benchmarks for mp-policy: decision latency, policy load/validate/compile, and the cold CLI.

Run from the repository root (figures depend on the machine, which is printed first)::

    .venv/bin/python benchmarks/bench_engine.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_engine.py --quick    # fewer iterations (well under a minute)
    .venv/bin/python benchmarks/bench_engine.py --format json

Three sections (see ``benchmarks/README.md`` for the targets):

1. **Decision latency**: ``Engine.select`` (and a ``select`` + ``fail`` 429 round trip) against a
   compiled policy and the in-memory store, per call, with ``time.perf_counter_ns``; p50 / p99 /
   mean in µs, plus the per-call thread CPU time (which excludes time the OS spent running other
   processes) and the same figures with ``gc`` disabled. Each finished turn is ended with
   ``engine.succeed`` outside the timed window (as an agent does), so the store does not grow;
   one extra row shows what happens when turns are never ended. The SQLite store is measured
   separately (state I/O dominates there; no target).
2. **Load + validate + compile** of a generated ~1,000-line YAML policy through ``Engine.load``:
   cold (a fresh interpreter per sample, timing the call inside the child), warm with the
   compiled-graph cache hit, warm with the cache cleared, and a per-stage breakdown.
3. **Cold CLI**: the wall time of ``mp-policy eval`` as a subprocess, with the interpreter's own
   start-up as a floor; when over target, the ten slowest imports (``python -X importtime``).

The script only measures: it prints figures and "target met" / "over target", never fails.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from harness import Figure, Report, cpu_model, load_average, num, percentile, table

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TZ_NAME = "Europe/Vienna"
#: The fixed clock of every latency case: a Tuesday morning (schedules are partly open, partly closed).
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo(TZ_NAME))
CLI_AT = "2026-11-24T10:30:00+01:00"

# Targets (µs for latency, ms for load and CLI); see benchmarks/README.md.
SELECT_P50_AT_3_US = 25.0
SELECT_P50_AT_1000_US = 1000.0
LOAD_TARGET_MS = 50.0
CLI_TARGET_MS = 300.0


def latency_budget_us(accounts: int) -> float:
    """The p50 budget for ``accounts`` members: linear from 25 µs at 3 to 1 ms at 1,000."""
    slope = (SELECT_P50_AT_1000_US - SELECT_P50_AT_3_US) / (1000 - 3)
    return SELECT_P50_AT_3_US + slope * (accounts - 3)


# --------------------------------------------------------------------------- results


def machine_facts() -> dict[str, Any]:
    """CPU count, Python, platform and load: the figures depend on all of them."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average": load_average(),
        "executable": PYTHON,
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def calibrate_us(rounds: int = 5, calls: int = 20_000) -> float:
    """A machine-speed yardstick: a plain filter-and-pick over 50 accounts (STYLE.md: about 6 µs), best of rounds."""
    members = members_of(50)
    logged_in = frozenset(members)
    cooldown_until = {members[3]: 2e9, members[20]: 2e9}
    now = 1.7e9

    def pick() -> str:
        eligible = [m for m in members if m in logged_in and cooldown_until.get(m, 0.0) <= now]
        return eligible[0]

    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            pick()
        best = min(best, (time.perf_counter_ns() - t0) / calls / 1e3)
    return round(best, 2)


# --------------------------------------------------------------------------- latency: policies and state


def members_of(count: int, base: str = "anthropic") -> list[str]:
    """Account names of one provider family: ``base``, ``base-2`` .. ``base-count``."""
    return [base] + [f"{base}-{i}" for i in range(2, count + 1)]


def pool_policy(count: int, strategy: str = "round-robin") -> dict[str, Any]:
    """A policy with one pool of ``count`` accounts (``scheduled``: with realistic member schedules)."""
    members = members_of(count)
    pool: dict[str, Any] = {"name": "bench", "baseProvider": "anthropic", "members": members,
                            "strategy": strategy, "cooldown": "5m"}
    if strategy == "scheduled":
        pool["memberSchedule"] = member_schedule(members)
    return {
        "version": 1,
        "settings": {"timezone": TZ_NAME, "cooldown": "5m"},
        "subscriptions": [{"provider": "anthropic", "index": i, "label": f"seat {i}"} for i in range(2, count + 1)],
        "pools": [pool],
        "chains": [{"name": "main", "entries": [{"pool": "bench", "model": "claude-sonnet-4-5"}]}],
    }


_SHIFTS: list[list[dict[str, Any]]] = [
    [{"hours": [9, 17], "days": ["mon-fri"]}],
    [{"hours": [17, 9]}],
    [{"hours": [8, 12], "days": ["mon", "wed", "fri"]}, {"hours": [13, 18], "days": ["tue", "thu"]}],
    [{"hours": [22, 6], "days": ["fri-sun"]}],
    [{"hours": [6, 14]}, {"hours": [14, 22], "days": ["sat", "sun"]}],
    [{"cron": "0 9 * * mon-fri", "duration": "4h"}],
    [{"cron": "30 18 * * *", "duration": "90m"}],
    [{"hours": [0, 24], "days": ["tue"], "dateRange": {"from": "2026-01-01", "to": "2027-12-31"}}],
]


def member_schedule(members: Sequence[str]) -> dict[str, Any]:
    """Roles for a scheduled pool: ~30% preferred (with windows; a few always), ~40% default, the rest overflow."""
    plan: dict[str, Any] = {}
    n = len(members)
    for i, member in enumerate(members):
        if i < max(1, n * 3 // 10):
            if i % 10 == 9:
                plan[member] = {"role": "preferred"}  # no windows: always active
            else:
                plan[member] = {"role": "preferred", "windows": _SHIFTS[i % len(_SHIFTS)]}
        elif i < n * 7 // 10:
            plan[member] = {"role": "default"}
        else:
            plan[member] = {"role": "overflow"}
    return plan


def cooling(members: Sequence[str]) -> list[str]:
    """A few members that are cooling down (never the first, so the cursor member stays usable)."""
    count = min(max(1, len(members) // 25), 20)
    step = max(1, (len(members) - 1) // count)
    return [members[1 + k * step] for k in range(count) if 1 + k * step < len(members)]


def seed_state(engine: Any, members: Sequence[str], *, quota: bool) -> None:
    """Write the cooldowns (and quota snapshots) a running agent would have."""
    from policy_engine.state import Cooldown, QuotaSnapshot, QuotaWindow, StateChanges

    cooldowns = [Cooldown(p, NOW + timedelta(days=3650), "rate_limit: 429 (bench)", NOW - timedelta(minutes=1),
                          "bench") for p in cooling(members)]
    snaps = []
    if quota:
        for i, member in enumerate(members):
            if i % 8 == 7:
                continue  # no snapshot for some members
            remaining = 3.0 if i % 12 == 5 else float((i * 37) % 100) + 0.5  # a few blocked (<= 5%)
            windows = (QuotaWindow("5h", remaining, NOW + timedelta(hours=2)),
                       QuotaWindow("weekly", min(100.0, remaining + 20), NOW + timedelta(days=4)))
            snaps.append(QuotaSnapshot(member, remaining, NOW - timedelta(seconds=30), "bench", None, windows,
                                       f"{remaining:g}% left"))
    engine.store.apply(StateChanges(cooldowns=cooldowns, quota=snaps))


def make_engine(count: int, strategy: str = "round-robin", state: str = "memory://") -> Any:
    """An engine over one pool of ``count`` accounts, all logged in, a few cooling down, at a fixed clock."""
    from policy_engine.engine import Engine

    members = members_of(count)
    engine = Engine.from_documents(pool_policy(count, strategy), state=state, auth=set(members),
                                   clock=lambda: NOW)
    seed_state(engine, members, quota=strategy == "quota-first")
    return engine


# --------------------------------------------------------------------------- latency: timing loop


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


def run_timed(call: Callable[[], Any], after: Callable[[Any], None] | None, *, iterations: int, warmup: int,
              max_seconds: float, no_gc: bool = False) -> Samples:
    """Time ``call`` per invocation; ``after(result)`` runs outside the timed window (housekeeping).

    Stops early after ``max_seconds`` (at least 200 samples are still taken) so a pathological
    case cannot stall the run; the sample count is reported.
    """
    perf = time.perf_counter_ns
    cpu_clock = time.thread_time_ns
    for _ in range(warmup):
        result = call()
        if after is not None:
            after(result)
    wall: list[int] = []
    cpu: list[int] = []
    deadline = time.monotonic() + max_seconds
    with gc_disabled(no_gc):
        for i in range(iterations):
            c0 = cpu_clock()
            t0 = perf()
            result = call()
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


def measure(report: Report, budget: Budget, name: str, call: Callable[[], Any], after: Callable[[Any], None] | None,
            full_iterations: int, *, section: str = "decision latency (memory store)", target: float | None = None,
            binding: bool = True, note: str = "", gc_compare: bool = True) -> Figure:
    """Measure one latency case with gc on, then (shorter) with gc off, and record a figure."""
    iterations = budget.iterations(full_iterations)
    yardstick = calibrate_us(3, 5_000)
    samples = run_timed(call, after, iterations=iterations, warmup=budget.warmup(full_iterations),
                        max_seconds=budget.max_seconds)
    values = samples.summary()
    values["yardstick"] = yardstick
    if gc_compare:
        off = run_timed(call, after, iterations=max(200, iterations // 2), warmup=50,
                        max_seconds=budget.max_seconds / 2, no_gc=True).summary()
        values["gc_off_p50"] = off["p50"]
        values["gc_off_p99"] = off["p99"]
    if values["iterations"] != iterations:
        note = (note + "; " if note else "") + f"time cap hit after {values['iterations']:,} of {iterations:,}"
    return report.add(Figure(section, name, "µs", values, target=target, binding=binding, note=note))


def bench_latency(report: Report, budget: Budget) -> None:
    """Section 1: select / fail latency with the in-memory store, and select with SQLite."""
    sizes = {3: 20_000, 50: 10_000, 1000: 2_000}
    for count, full in sizes.items():
        engine = make_engine(count)
        budget_us = latency_budget_us(count)
        for explain in (False, True):
            # The decision itself: route, state snapshot, evaluation, Decision (DESIGN §2 "evaluate");
            # the state write that follows ("apply") is measured separately below.
            def decide(engine: Any = engine, explain: bool = explain) -> Any:
                return engine.select(pool="bench", model="claude-sonnet-4-5", explain=explain, dry_run=True)

            _check_target(decide(), f"round-robin {count}")
            measure(report, budget, f"decision round-robin, {count} accounts, explain={explain}", decide, None,
                    full, target=budget_us, binding=not explain,
                    note="" if not explain else "reference: same budget as explain=False")

        def call(engine: Any = engine) -> Any:
            return engine.select(pool="bench", model="claude-sonnet-4-5")

        def end(decision: Any, engine: Any = engine) -> None:
            engine.succeed(decision.turn)

        measure(report, budget, f"select + turn written (memory store), {count} accounts", call, end, full,
                target=None, note="decision plus the state write (turn, cursor); no target")
        engine.close()

    for strategy in ("quota-first", "scheduled"):
        engine = make_engine(50, strategy)

        def call_s(engine: Any = engine) -> Any:
            return engine.select(pool="bench", model="claude-sonnet-4-5")

        def end_s(decision: Any, engine: Any = engine) -> None:
            engine.succeed(decision.turn)

        _check_target(call_s(), f"{strategy} 50")
        measure(report, budget, f"select {strategy}, 50 accounts, explain=False", call_s, end_s, 10_000,
                target=latency_budget_us(50), binding=False, note="reference: the 50-account round-robin budget")
        engine.close()

    for count, full in ((3, 10_000), (50, 5_000)):
        engine = make_engine(count)

        def round_trip(engine: Any = engine) -> tuple[Any, Any]:
            first = engine.select(pool="bench", model="claude-sonnet-4-5")
            second = engine.fail(first.turn, status=429, message="Rate limit reached; please try again later.")
            return first, second

        def reset(result: tuple[Any, Any], engine: Any = engine) -> None:
            from policy_engine.state import StateChanges

            first = result[0]
            engine.store.apply(StateChanges(clear_cooldowns=[first.target.provider], turns={first.turn: None}))

        first, second = round_trip()
        if second.target is None or second.error is None or second.error.kind != "rate_limit":
            raise SystemExit(f"fail round trip at {count} did not rotate: {second.to_dict()}")
        reset((first, second))
        measure(report, budget, f"select + fail(429) round trip, {count} accounts", round_trip, reset, full,
                target=2 * latency_budget_us(count), binding=False, note="reference: twice the select budget")
        engine.close()

    # What happens when turns are never ended (no succeed): the store keeps every turn for turnTtl.
    engine = make_engine(3)
    grow_n = budget.iterations(20_000)
    samples = run_timed(lambda: engine.select(pool="bench", model="claude-sonnet-4-5"), None,
                        iterations=grow_n, warmup=0, max_seconds=budget.max_seconds)
    window = max(100, len(samples.wall) // 10)
    first_p50 = percentile(sorted(samples.wall[:window]), 50) / 1e3
    last_p50 = percentile(sorted(samples.wall[-window:]), 50) / 1e3
    report.add(Figure("state growth", f"select round-robin, 3 accounts, {len(samples.wall):,} turns never ended",
                      "µs", {"iterations": len(samples.wall), "first_p50": first_p50, "last_p50": last_p50,
                             "p50": percentile(sorted(samples.wall), 50) / 1e3},
                      note=f"p50 of the first {window:,} calls vs the last {window:,}"))
    engine.close()

    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-") as tmp:
        url = "sqlite:///" + str(Path(tmp) / "state.db")
        engine = make_engine(3, state=url)
        for explain in (False, True):
            def call_q(engine: Any = engine, explain: bool = explain) -> Any:
                return engine.select(pool="bench", model="claude-sonnet-4-5", explain=explain)

            def end_q(decision: Any, engine: Any = engine) -> None:
                engine.succeed(decision.turn)

            _check_target(call_q(), "sqlite 3")
            measure(report, budget, f"select round-robin, 3 accounts, explain={explain}", call_q, end_q, 5_000,
                    section="decision latency (SQLite store, temp file)", gc_compare=False,
                    note="no target: state I/O dominates")
        engine.close()


def _check_target(decision: Any, what: str) -> None:
    """Stop with a clear message when a benchmark scenario is mis-built and finds no target."""
    if decision.target is None:
        raise SystemExit(f"benchmark setup error: {what} found no target: {decision.to_dict()}")


# --------------------------------------------------------------------------- load + validate + compile

_FAMILIES: list[tuple[str, int, list[str]]] = [
    ("anthropic", 40, ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]),
    ("openai-codex", 40, ["gpt-5", "gpt-5-codex", "o3", "gpt-4.1-mini"]),
    ("google-gemini-cli", 16, ["gemini-2.5-pro", "gemini-2.5-flash"]),
    ("github-copilot", 16, ["gpt-4.1", "claude-sonnet-4"]),
]


def generate_policy(pool_size: int = 8) -> tuple[str, list[str]]:
    """A realistic large policy as YAML text (block style, comments), and every account name in it.

    Shapes: ~110 subscriptions with labels; each provider family split into pools of
    ``pool_size`` (round-robin, scheduled with member windows, quota-first, in turn); chains over
    pools of different families; presets over providers; a few error rules.
    """
    lines = [
        "# Generated by benchmarks/bench_engine.py: a large team policy.",
        "version: 1",
        "settings:",
        "  cooldown: 5m",
        f"  timezone: {TZ_NAME}",
        "  turnTtl: 2h",
        "  quotaTtl: 90s",
        "  selectorTimeout: 250ms",
        "  rotateOn: [rate_limit, quota_exhausted, overloaded]",
        "",
        "subscriptions:",
    ]
    accounts: list[str] = []
    pools: list[tuple[str, str, list[str]]] = []
    for base, count, _models in _FAMILIES:
        accounts += members_of(count, base)
        lines.append(f"  # {base}: {count} seats")
        for i in range(2, count + 1):
            lines += [f"  - provider: {base}", f"    index: {i}", f"    label: {'team' if i % 3 else 'personal'}-{i}"]
    lines += ["", "pools:"]
    strategies = ["round-robin", "scheduled", "quota-first"]
    pool_no = 0
    for base, count, _models in _FAMILIES:
        family = members_of(count, base)
        for g in range(0, len(family), pool_size):
            group = family[g:g + pool_size]
            name = f"{base.split('-')[0]}-{g // pool_size + 1}"
            strategy = strategies[pool_no % len(strategies)]
            pool_no += 1
            pools.append((name, base, group))
            lines += [f"  - name: {name}", f"    baseProvider: {base}", "    enabled: true",
                      f"    strategy: {strategy}", f"    cooldown: {3 + pool_no % 5}m", "    members:"]
            lines += [f"      - {m}" for m in group]
            if strategy == "scheduled":
                lines.append("    memberSchedule:")
                plan = member_schedule(group)
                for member in group:
                    entry = plan[member]
                    lines += [f"      {member}:", f"        role: {entry['role']}"]
                    if entry.get("windows"):
                        lines.append("        windows:")
                        lines += [f"          - {json.dumps(w)}" for w in entry["windows"]]
    lines += ["", "chains:"]
    by_family: dict[str, list[str]] = {}
    for name, base, _group in pools:
        by_family.setdefault(base, []).append(name)
    families = list(by_family)
    for c in range(12):
        lines += [f"  - name: chain-{c + 1}", "    enabled: true", "    entries:"]
        for k in range(4):
            base = families[(c + k) % len(families)]
            pool_name = by_family[base][(c + k) % len(by_family[base])]
            model = next(m for b, _n, ms in _FAMILIES if b == base for m in [ms[(c + k) % len(ms)]])
            lines += [f"      - pool: {pool_name}", f"        model: {model}", "        enabled: true"]
    lines += ["", "presets:"]
    for p in range(12):
        lines += [f"  - name: preset-{p + 1}", "    enabled: true", "    entries:"]
        for k in range(4):
            base, count, models = _FAMILIES[(p + k) % len(_FAMILIES)]
            provider = members_of(count, base)[(p * 5 + k) % count]
            lines += [f"      - provider: {provider}", f"        model: {models[(p + k) % len(models)]}",
                      "        enabled: true"]
    lines += [
        "", "errorRules:",
        "  - {provider: anthropic, match: 'out of extra usage', kind: quota_exhausted}",
        "  - {provider: openai-codex, type: usage_limit_reached, kind: quota_exhausted}",
        "  - {status: 529, kind: overloaded}",
        "  - {status: [500, 502], kind: other, rotate: false}",
        "  - {match: 'try again in \\d+ ?min', kind: rate_limit, retryAfter: 2m}",
        "  - {provider: google-gemini-cli, code: RESOURCE_EXHAUSTED, kind: rate_limit}",
    ]
    return "\n".join(lines) + "\n", accounts


_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from policy_engine.engine import Engine
t1 = time.perf_counter()
args = json.loads(sys.argv[1])
engine = Engine.load(policy=args["policy"], agent_dir=args["agent_dir"], project=args["agent_dir"],
                     state="memory://", auth=args["auth"])
t2 = time.perf_counter()
assert engine.graph.pools, "no pools compiled"
print(json.dumps({"import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3}))
"""


def bench_load(report: Report, budget: Budget, pycache: str) -> None:
    """Section 2: ``Engine.load`` of a ~1,000-line policy, cold (fresh process) and warm."""
    from policy_engine.compile import compiler as compile_module
    from policy_engine.compile.compiler import compile_policy, policy_revision
    from policy_engine.engine import Engine
    from policy_engine.plugins import get_registry
    from policy_engine.policy import validation_cache
    from policy_engine.policy.loader import load_file
    from policy_engine.policy.merge import merge_policy
    from policy_engine.policy.validation import validate_document

    section = "load + validate + compile"
    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-") as tmp:
        text, accounts = generate_policy()
        path = Path(tmp) / "multi-pass.yaml"
        path.write_text(text, encoding="utf-8")
        line_count = text.count("\n")

        def load() -> Any:
            return Engine.load(policy=path, agent_dir=tmp, project=tmp, state="memory://", auth=accounts)

        engine = load()
        warnings = len(engine.diagnostics)
        shape = (f"{line_count} lines, {len(engine.graph.accounts)} accounts, {len(engine.graph.pools)} pools, "
                 f"{len(engine.graph.chains)} chains, {len(engine.graph.presets)} presets, {warnings} warnings")
        report.extras["load_policy"] = shape
        print(f"  .. generated policy: {shape}", file=sys.stderr)

        cold_n = max(3, int(12 * budget.scale)) if budget.scale < 1 else 12
        cold_load: list[float] = []
        cold_import: list[float] = []
        args = json.dumps({"policy": str(path), "agent_dir": tmp, "auth": accounts})
        env = child_env(pycache)
        subprocess.run([PYTHON, "-c", _CHILD, args], capture_output=True, cwd=tmp, env=env, check=False)  # prime
        for _ in range(cold_n):
            out = subprocess.run([PYTHON, "-c", _CHILD, args], capture_output=True, text=True, cwd=tmp, env=env,
                                 check=False)
            if out.returncode != 0:
                raise SystemExit(f"cold load child failed:\n{out.stderr}")
            data = json.loads(out.stdout.strip().splitlines()[-1])
            cold_load.append(data["load_ms"])
            cold_import.append(data["import_ms"])
        report.add(Figure(section, "Engine.load cold (fresh process; the call only)", "ms",
                          _ms_summary(cold_load), target=LOAD_TARGET_MS, target_on="median",
                          note=f"{cold_n} processes (bytecode cached); {shape}"))
        report.add(Figure(section, "  import policy_engine.engine in that process (not in the target)", "ms",
                          _ms_summary(cold_import)))
        cold_nocache: list[float] = []
        nocache_env = {**env, "MP_POLICY_NO_CACHE": "1"}
        for _ in range(cold_n):
            out = subprocess.run([PYTHON, "-c", _CHILD, args], capture_output=True, text=True, cwd=tmp,
                                 env=nocache_env, check=False)
            if out.returncode != 0:
                raise SystemExit(f"cold load child failed:\n{out.stderr}")
            cold_nocache.append(json.loads(out.stdout.strip().splitlines()[-1])["load_ms"])
        report.add(Figure(section, "Engine.load cold, policy never validated before (validation cache off)", "ms",
                          _ms_summary(cold_nocache), target=LOAD_TARGET_MS, target_on="median", binding=False,
                          note="includes importing jsonschema and building its validator"))

        warm_n = max(10, int(100 * budget.scale))
        warm = _time_ms(load, warm_n)
        report.add(Figure(section, "Engine.load warm (compiled-graph cache hit)", "ms", _ms_summary(warm),
                          target=LOAD_TARGET_MS, target_on="median", note=f"{warm_n} runs in one process"))

        def load_uncached() -> Any:
            compile_module._CACHE.clear()
            validation_cache._MEMORY.clear()
            return load()

        os.environ["MP_POLICY_NO_CACHE"] = "1"
        try:
            uncached = _time_ms(load_uncached, warm_n)
        finally:
            os.environ.pop("MP_POLICY_NO_CACHE", None)
        report.add(Figure(section, "Engine.load warm process, caches cleared (parse, validate, compile)", "ms",
                          _ms_summary(uncached), target=LOAD_TARGET_MS, target_on="median",
                          note="imports and validator already built; no graph or validation cache"))

        # Stage breakdown (warm process, compile uncached) for diagnosis.
        doc = load_file(path)
        registry = get_registry()
        tz = ZoneInfo(TZ_NAME)

        def stage_compile() -> Any:
            merged = merge_policy(doc, None, {}, registry.bases)
            revision = policy_revision(doc.data, None, None, str(tz), None, str(path.parent),
                                       sorted(registry.strategies))
            return compile_policy(merged, registry, revision=revision, default_tz=tz, base_dir=str(path.parent),
                                  use_cache=False)

        stages: list[tuple[str, Callable[[], Any]]] = [
            ("  stage: load_file (read + YAML parse with positions)", lambda: load_file(path)),
            ("  stage: validate_document (JSON Schema + domain checks)", lambda: validate_document(doc, "policy")),
            ("  stage: merge + policy_revision + compile (uncached)", stage_compile),
        ]
        for label, func in stages:
            report.add(Figure(section, label, "ms", _ms_summary(_time_ms(func, warm_n))))
        engine.close()


def _time_ms(func: Callable[[], Any], n: int) -> list[float]:
    """Run ``func`` once to warm up, then ``n`` times; the wall time of each run in ms (closing engines)."""
    func()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        result = func()
        out.append((time.perf_counter_ns() - t0) / 1e6)
        close = getattr(result, "close", None)
        if callable(close):
            close()
    return out


def _ms_summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Median, min and max of millisecond samples."""
    ordered = sorted(values)
    return {"runs": len(values), "median": round(statistics.median(ordered), 2), "min": round(ordered[0], 2),
            "max": round(ordered[-1], 2)}


# --------------------------------------------------------------------------- cold CLI


_CACHE_DIR = tempfile.mkdtemp(prefix="mp-policy-bench-cache-")  # validation cache of measured subprocesses
atexit.register(shutil.rmtree, _CACHE_DIR, True)


def child_env(pycache: str | None) -> dict[str, str]:
    """The environment of measured subprocesses.

    With ``pycache``: bytecode is read from and written to that directory
    (``PYTHONPYCACHEPREFIX``), so an installed package's cached bytecode is modelled without
    writing ``__pycache__`` into the repository. Without it: ``PYTHONDONTWRITEBYTECODE=1`` and
    only ``__pycache__`` directories that already exist are used.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("MP_POLICY_STATE", "PI_CODING_AGENT_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX",
                        "MP_POLICY_NO_CACHE")}
    env["MP_POLICY_CACHE_DIR"] = _CACHE_DIR
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _cli_command() -> list[str]:
    """The measured ``mp-policy eval`` command line (the venv's console script when present)."""
    script = Path(PYTHON).parent / "mp-policy"
    prefix = [str(script)] if script.exists() else [PYTHON, "-m", "policy_engine.cli"]
    return [*prefix, "eval", "--agent-dir", str(REPO / "policies" / "demo"), "--chain", "main", "--at", CLI_AT]


def _wall_ms(cmd: Sequence[str], n: int, env: dict[str, str]) -> list[float]:
    """Wall time of ``n`` runs of ``cmd`` in ms; stops the benchmark if the command fails."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, check=False)
        out.append((time.perf_counter_ns() - t0) / 1e6)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    return out


def slowest_imports(cmd: Sequence[str], env: dict[str, str], top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """The ``top`` imports by cumulative and by self time, from ``python -X importtime``."""
    argv = [*cmd[1:]] if cmd[0] == PYTHON else list(cmd)  # run the console script through the interpreter
    done = subprocess.run([PYTHON, "-X", "importtime", *argv], capture_output=True, text=True, cwd=REPO, env=env,
                          check=False)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append({"module": name.strip(), "self_ms": int(self_us) / 1e3, "cumulative_ms": int(cumulative_us) / 1e3})
    by_cumulative = sorted(rows, key=lambda r: -r["cumulative_ms"])[:top]
    by_self = sorted(rows, key=lambda r: -r["self_ms"])[:top]
    total = sum(r["self_ms"] for r in rows)
    return {"by_cumulative": by_cumulative, "by_self": by_self, "total_ms": [{"module": "(all)", "self_ms": total}]}


def bench_cli(report: Report, budget: Budget, pycache: str) -> None:
    """Section 3: cold ``mp-policy eval`` wall time, the interpreter floor, and import offenders."""
    section = "cold CLI"
    env = child_env(pycache)
    n = 10 if budget.scale >= 1 else 3
    cmd = _cli_command()
    subprocess.run(cmd, capture_output=True, cwd=REPO, env=env, check=False)  # prime bytecode and file cache
    figure = report.add(Figure(section, "mp-policy eval --chain main (demo agent dir)", "ms",
                               _ms_summary(_wall_ms(cmd, n, env)), target=CLI_TARGET_MS, target_on="median",
                               note=f"{n} runs, bytecode cached (as after pip install)"))
    report.add(Figure(section, "  the same without writing bytecode (PYTHONDONTWRITEBYTECODE=1)", "ms",
                      _ms_summary(_wall_ms(cmd, n, child_env(None))),
                      note="only pre-existing __pycache__ is used; a source tree without it compiles every module"))
    report.add(Figure(section, "  floor: python -c pass", "ms", _ms_summary(_wall_ms([PYTHON, "-c", "pass"], n, env))))
    report.add(Figure(section, "  floor: python -c 'import yaml, jsonschema, pluggy, click'", "ms",
                      _ms_summary(_wall_ms([PYTHON, "-c", "import yaml, jsonschema, pluggy, click"], n, env))))
    report.add(Figure(section, "  import policy_engine.cli (no command run)", "ms",
                      _ms_summary(_wall_ms([PYTHON, "-c", "import policy_engine.cli"], n, env))))
    if figure.status == "over target" or budget.scale >= 1:
        report.extras["slowest_imports"] = slowest_imports(cmd, env)


# --------------------------------------------------------------------------- output


def render_text(report: Report) -> str:
    """The human table."""
    m = report.machine
    out = [
        "mp-policy benchmarks",
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['implementation']} {m['python']}, {m['platform']}",
        f"yardstick: plain filter-and-pick over 50 accounts = {m['calibration_us']:.1f} µs "
        "(STYLE.md's reference machine: about 6 µs)",
        f"load average at start: {m['load_average']}",
        "  p50 best: the p50 of the quietest twentieth of the run (consecutive calls); targets apply to p50",
        "  cpu columns: per-call thread CPU time (excludes time spent waiting for a core); yard: the yardstick",
        "  re-measured just before that row (if it drifts, the machine's speed drifted: compare rows with care)",
        "",
    ]
    sections: dict[str, list[Figure]] = {}
    for f in report.figures:
        sections.setdefault(f.section, []).append(f)
    for section, figures in sections.items():
        out.append(f"== {section}")
        if figures[0].unit == "µs" and "first_p50" not in figures[0].values:
            head = ("case", "iters", "p50", "p50 best", "p99", "mean", "cpu p50", "cpu p99", "gc-off p50", "gc-off p99",
                    "yard", "target p50", "status")
            rows = [(f.name, num(f.values.get("iterations")), num(f.values.get("p50")),
                     num(f.values.get("p50_best_window")), num(f.values.get("p99")),
                     num(f.values.get("mean")), num(f.values.get("cpu_p50")), num(f.values.get("cpu_p99")),
                     num(f.values.get("gc_off_p50")), num(f.values.get("gc_off_p99")),
                     num(f.values.get("yardstick")), f"≤ {num(f.target)}" if f.target is not None else "",
                     f.status) for f in figures]
            out += table(head, rows, unit="all times in µs")
        elif figures[0].unit == "µs":
            head = ("case", "iters", "p50 first", "p50 last", "p50 all")
            rows = [(f.name, num(f.values.get("iterations")), num(f.values.get("first_p50")),
                     num(f.values.get("last_p50")), num(f.values.get("p50"))) for f in figures]
            out += table(head, rows, unit="all times in µs")
        else:
            head = ("case", "runs", "median", "min", "max", "target", "status")
            rows = [(f.name, num(f.values.get("runs")), num(f.values.get("median")), num(f.values.get("min")),
                     num(f.values.get("max")), f"≤ {num(f.target)}" if f.target is not None else "", f.status)
                    for f in figures]
            out += table(head, rows, unit="all times in ms")
        notes = [f"  - {f.name.strip()}: {f.note}" for f in figures if f.note]
        if notes:
            out += ["  notes:", *notes]
        out.append("")
    imports = report.extras.get("slowest_imports")
    if imports:
        out.append("== slowest imports of the cold CLI (python -X importtime)")
        out.append(f"  total self time of all imports: {imports['total_ms'][0]['self_ms']:.1f} ms")
        for key, label in (("by_cumulative", "by cumulative time"), ("by_self", "by self time")):
            out.append(f"  top 10 {label}:")
            for r in imports[key]:
                out.append(f"    {r['cumulative_ms']:8.1f} ms cum  {r['self_ms']:7.1f} ms self  {r['module']}")
        out.append("")
    verdicts = [f for f in report.figures if f.binding and f.target is not None]
    met = sum(1 for f in verdicts if f.status == "target met")
    out.append(f"targets met: {met} of {len(verdicts)}")
    for f in verdicts:
        out.append(f"  [{'x' if f.status == 'target met' else ' '}] {f.section}: {f.name.strip()} "
                   f"({f.target_on} {num(f.values.get(f.target_on))} {f.unit}, target ≤ {num(f.target)})")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run the sections, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="about a tenth of the iterations")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    parser.add_argument("--only", choices=["latency", "load", "cli"], action="append",
                        help="run only this section (repeatable)")
    options = parser.parse_args(argv)
    budget = Budget(scale=0.1, max_seconds=3.0) if options.quick else Budget(scale=1.0, max_seconds=30.0)
    report = Report(machine=machine_facts())
    report.machine["mode"] = "quick" if options.quick else "full"
    report.machine["calibration_us"] = round(calibrate_us(), 2)
    sections = options.only or ["latency", "load", "cli"]
    print(f"mp-policy benchmarks ({report.machine['mode']}): {', '.join(sections)}", file=sys.stderr)
    if "latency" in sections:
        bench_latency(report, budget)
    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-pyc-") as pycache:
        if "load" in sections:
            bench_load(report, budget, pycache)
        if "cli" in sections:
            bench_cli(report, budget, pycache)
    if options.format == "json":
        print(json.dumps({"machine": report.machine, "figures": [f.to_dict() for f in report.figures],
                          "extras": report.extras}, indent=2, ensure_ascii=False))
    else:
        print(render_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
