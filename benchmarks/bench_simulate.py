"""Benchmark of ``mp-policy simulate``: one week at 1-minute steps, 50 accounts, with events.

Run from the repository root::

    .venv/bin/python benchmarks/bench_simulate.py            # about half a minute
    .venv/bin/python benchmarks/bench_simulate.py --quick    # fewer repetitions, no --plot run
    .venv/bin/python benchmarks/bench_simulate.py --format json

The generated policy has 50 accounts in four provider families and six pools (round-robin,
``scheduled`` with hour and cron windows, ``quota-first``; one disabled), three chains and two
presets, so the simulation follows 10 routes. The event script has, every weekday, rate limits
on Claude accounts (one with a retry-after), Copilot quota burning during office hours (the
``quota-first`` pool reorders as accounts overtake each other, and accounts that run dry get a
real ``quota_exhausted`` failure and a reset 5 hours later), and a logout/login.

Figures:

1. **simulate, fast path**: ``simulate(...)`` for the week (10,080 steps × 10 routes), median
   of several runs in one process (the first run is shown on its own: it warms schedule caches).
   Target: **under 1 s**.
2. **per-step (naive) evaluation** of one day, and the week extrapolated from it (or measured
   with ``--naive-week``): what the fast path saves.
3. **same timeline**: the fast and the naive path give exactly the same runs for that day.
4. **CLI**: ``mp-policy simulate --format json`` as a subprocess on the same policy and events
   (interpreter start, loading, simulating, printing), median of a few runs; and with
   ``--plot week.png`` once (matplotlib's import and drawing dominate).

The script only measures and prints; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from policy_engine.engine import Engine  # noqa: E402
from policy_engine.policy.loader import load_text  # noqa: E402
from policy_engine.simulate.event_reader import parse_events  # noqa: E402
from policy_engine.simulate.routes import default_routes  # noqa: E402
from policy_engine.simulate.run import simulate  # noqa: E402

TZ = "Europe/Vienna"
START = datetime(2026, 11, 23, 0, 0, tzinfo=ZoneInfo(TZ))  # a Monday
TARGET_S = 1.0
FAMILIES = (("anthropic", 12), ("openai-codex", 14), ("github-copilot", 12), ("google-gemini-cli", 12))


def accounts_of(base: str, count: int) -> list[str]:
    """``base``, ``base-2`` .. ``base-count``."""
    return [base] + [f"{base}-{i}" for i in range(2, count + 1)]


def generate_policy() -> tuple[dict[str, Any], list[str]]:
    """The 50-account policy (as data) and every account name."""
    accounts: list[str] = []
    subscriptions = []
    for base, count in FAMILIES:
        accounts += accounts_of(base, count)
        subscriptions += [{"provider": base, "index": i} for i in range(2, count + 1)]
    claude = accounts_of("anthropic", 12)
    codex = accounts_of("openai-codex", 14)
    copilot = accounts_of("github-copilot", 12)
    gemini = accounts_of("google-gemini-cli", 12)
    codex_schedule: dict[str, Any] = {}
    for i, member in enumerate(codex):
        if i < 10:
            start = (6 + 2 * i) % 24
            window: dict[str, Any] = {"hours": [start, (start + 8) % 24]}
            if i % 3 == 0:
                window["days"] = ["mon-fri"]
            codex_schedule[member] = {"role": "preferred", "windows": [window]}
        else:
            codex_schedule[member] = {"role": "overflow" if i % 2 else "default"}
    gemini_schedule = {m: {"role": "preferred", "windows": [{"cron": f"0 {(3 * i) % 24} * * *", "duration": "5h"}]}
                       for i, m in enumerate(gemini[6:])}
    policy = {
        "version": 1,
        "settings": {"cooldown": "5m", "timezone": TZ},
        "subscriptions": subscriptions,
        "pools": [
            {"name": "claude", "baseProvider": "anthropic", "members": claude},
            {"name": "codex", "baseProvider": "openai-codex", "members": codex, "strategy": "scheduled",
             "memberSchedule": codex_schedule},
            {"name": "copilot", "baseProvider": "github-copilot", "members": copilot, "strategy": "quota-first"},
            {"name": "gemini", "baseProvider": "google-gemini-cli", "members": gemini[:6]},
            {"name": "gemini-night", "baseProvider": "google-gemini-cli", "members": gemini[6:],
             "strategy": "scheduled", "memberSchedule": gemini_schedule},
            {"name": "spare", "baseProvider": "anthropic", "members": ["anthropic-12"], "enabled": False},
        ],
        "chains": [
            {"name": "main", "entries": [{"pool": "claude", "model": "claude-sonnet-4-5"},
                                         {"pool": "codex", "model": "gpt-5"},
                                         {"pool": "gemini", "model": "gemini-2.5-pro"}]},
            {"name": "budget", "entries": [{"pool": "copilot", "model": "gpt-4.1"},
                                           {"pool": "gemini-night", "model": "gemini-2.5-flash"}]},
            {"name": "night", "entries": [{"pool": "gemini-night", "model": "gemini-2.5-pro"},
                                          {"pool": "codex", "model": "gpt-5"}]},
        ],
        "presets": [
            {"name": "premium", "entries": [{"provider": "anthropic", "model": "claude-opus-4"},
                                            {"provider": "openai-codex-3", "model": "o3"}]},
            {"name": "cheap", "entries": [{"provider": "github-copilot", "model": "gpt-4.1"},
                                          {"provider": "google-gemini-cli-2", "model": "gemini-2.5-flash"}]},
        ],
    }
    return policy, accounts


EVENTS = """\
# bench_simulate.py: a busy week for 50 accounts
events:
  - {at: mon 10:00, every: 1d, count: 5, fail: {provider: anthropic, status: 429, message: rate_limit_error}}
  - {at: mon 10:20, every: 1d, count: 5, fail: {provider: anthropic-2, status: 429, retryAfter: 2h}}
  - {at: mon 14:00, every: 1d, count: 5, fail: {provider: anthropic-3, status: 529, message: overloaded_error}}
  - {at: tue 11:00, fail: {provider: openai-codex, status: 429, message: "usage limit reached", retryAfter: 3h}}
  - {at: wed 12:00, logout: [anthropic-4, anthropic-5]}
  - {at: thu 09:00, login: [anthropic-4, anthropic-5]}
  - {at: mon 00:00, quota: {provider: github-copilot-12, remaining: 40}}
"""


def events_text() -> str:
    """The event script: the fixed events above plus office-hours quota burn on every Copilot account."""
    lines = [EVENTS]
    for i, member in enumerate(accounts_of("github-copilot", 12)):
        rate = 6 + (i * 7) % 11  # 6..16 %/h: accounts overtake each other during the day
        lines.append(f"  - {{at: mon 09:00, every: 1d, count: 5, burn: {{provider: {member}, perHour: {rate}, "
                     f"remaining: {100 - 3 * i}, for: 8h, resetAfter: 5h}}}}")
    return "\n".join(lines) + "\n"


def _engine(policy: dict[str, Any], accounts: list[str]) -> Engine:
    return Engine.from_documents(policy, auth=set(accounts), clock=lambda: START)


def _timed(runs: int, policy: dict[str, Any], accounts: list[str], script: Any, period: timedelta,
           mode: str = "fast") -> tuple[list[float], Any]:
    engine = _engine(policy, accounts)
    routes = default_routes(engine.graph)
    times = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = simulate(engine, routes, start=START, period=period, script=script, mode=mode)
        times.append(time.perf_counter() - started)
    return times, result


def _same(a: Any, b: Any) -> bool:
    def key(result: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {label: [(r.first, r.stop, r.outcome, r.reasons) for r in runs] for label, runs in result.runs.items()}
    return key(a) == key(b)


def _cli(policy: dict[str, Any], accounts: list[str], runs: int, plot: bool) -> tuple[list[float], float | None, int]:
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        agent = Path(tmp)
        (agent / "multi-pass.json").write_text(json.dumps(policy), encoding="utf-8")
        (agent / "auth.json").write_text(json.dumps({a: {"type": "oauth", "access": "x", "refresh": "x",
                                                         "expires": 4102444800000} for a in accounts}),
                                         encoding="utf-8")
        (agent / "events.yaml").write_text(events_text(), encoding="utf-8")
        script = Path(sys.executable).parent / "mp-policy"
        env = {k: v for k, v in os.environ.items() if k not in ("PI_CODING_AGENT_DIR", "MP_POLICY_STATE", "MULTI_SUB")}
        env["PYTHONPYCACHEPREFIX"] = str(agent / "pycache")
        base = [str(script), "simulate", "--agent-dir", str(agent), "--project", str(agent), "--state", "memory://",
                "--start", START.isoformat(), "--events", str(agent / "events.yaml")]
        times = []
        size = 0
        for i in range(runs + 1):
            started = time.perf_counter()
            proc = subprocess.run([*base, "--format", "json"], capture_output=True, text=True, env=env, check=False)
            if i:  # the first run fills the bytecode cache
                times.append(time.perf_counter() - started)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return times, None, 0
            size = len(proc.stdout)
        if not plot:
            return times, None, size
        started = time.perf_counter()
        proc = subprocess.run([*base, "--plot", str(agent / "week.png")], capture_output=True, text=True, env=env,
                              check=False)
        return times, time.perf_counter() - started if proc.returncode == 0 else None, size


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; skip the CLI with --plot")
    parser.add_argument("--naive-week", action="store_true", help="also time the naive path over the whole week")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    policy, accounts = generate_policy()
    script = parse_events(load_text(events_text(), "bench-events.yaml"))
    week, day = timedelta(days=7), timedelta(days=1)
    runs = 3 if args.quick else 7
    print("simulating ...", file=sys.stderr, flush=True)
    fast_times, fast = _timed(runs + 1, policy, accounts, script, week)
    first, warm = fast_times[0], fast_times[1:]
    naive_day_times, naive_day = _timed(1, policy, accounts, script, day, mode="naive")
    _, fast_day = _timed(1, policy, accounts, script, day)
    naive_week: float | None = None
    same_week: bool | None = None
    if args.naive_week:
        naive_week_times, naive_week_result = _timed(1, policy, accounts, script, week, mode="naive")
        naive_week = naive_week_times[0]
        same_week = _same(fast, naive_week_result)
    cli_times, plot_time, size = _cli(policy, accounts, 2 if args.quick else 5, plot=not args.quick)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load": os.getloadavg() if hasattr(os, "getloadavg") else None},
        "accounts": len(accounts),
        "routes": len(fast.routes),
        "steps": fast.steps,
        "events": len(fast.events),
        "changes": len(fast.changes),
        "runs": sum(len(r) for r in fast.runs.values()),
        "evaluations": fast.evaluations,
        "fast_first_s": first,
        "fast_median_s": statistics.median(warm),
        "fast_best_s": min(warm),
        "naive_day_s": naive_day_times[0],
        "naive_week_extrapolated_s": naive_day_times[0] * 7,
        "naive_week_s": naive_week,
        "same_timeline_day": _same(fast_day, naive_day),
        "same_timeline_week": same_week,
        "cli_json_median_s": statistics.median(cli_times) if cli_times else None,
        "cli_json_bytes": size,
        "cli_plot_png_s": plot_time,
        "target_s": TARGET_S,
    }
    figures["target_met"] = figures["fast_median_s"] < TARGET_S
    if args.format == "json":
        print(json.dumps(figures, indent=2))
        return
    ok = "target met" if figures["target_met"] else "OVER TARGET"
    print(f"machine: {figures['machine']['cpus']} CPUs, Python {figures['machine']['python']}, "
          f"load {figures['machine']['load']}")
    print(f"policy: {figures['accounts']} accounts, {figures['routes']} routes; "
          f"week at 1m = {figures['steps']:,} steps; {figures['events']} events, {figures['changes']} changes, "
          f"{figures['runs']} runs")
    print(f"simulate (fast path), week:   median {figures['fast_median_s'] * 1000:7.1f} ms  "
          f"best {figures['fast_best_s'] * 1000:7.1f} ms  first {first * 1000:7.1f} ms  "
          f"({figures['evaluations']:,} evaluations)  target < {TARGET_S * 1000:.0f} ms: {ok}")
    print(f"naive (every step), one day:  {figures['naive_day_s'] * 1000:7.1f} ms  → week ≈ "
          f"{figures['naive_week_extrapolated_s']:.1f} s" + (f" (measured: {naive_week:.1f} s)" if naive_week else ""))
    print(f"fast and naive timelines identical (day): {'yes' if figures['same_timeline_day'] else 'NO'}"
          + (f"; (week): {'yes' if figures['same_timeline_week'] else 'NO'}" if args.naive_week else ""))
    if figures["cli_json_median_s"] is not None:
        print(f"CLI simulate --format json (subprocess): median {figures['cli_json_median_s'] * 1000:.0f} ms "
              f"({size:,} bytes of JSON)")
    if plot_time is not None:
        print(f"CLI simulate --plot week.png (subprocess, once): {plot_time * 1000:.0f} ms")


if __name__ == "__main__":
    main()
