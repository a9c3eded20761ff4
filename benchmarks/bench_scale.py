"""Benchmark of a very large policy: 10,000 pools through ``validate``, ``explain`` and ``simulate``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_scale.py                 # about two minutes
    .venv/bin/python benchmarks/bench_scale.py --quick         # 2,500 pools, one run each
    .venv/bin/python benchmarks/bench_scale.py --format json
    .venv/bin/python benchmarks/bench_scale.py --pythonpath /tmp/old-checkout   # the same commands on other code

The generated policy (``write_large_policy`` of ``tests/cli/large_policy.py``, the one the runaway
test runs) has 160 accounts in four provider families (all logged in), 10,000 round-robin pools of
two members each (so most accounts are in many pools: about 20,000 ``provider-in-two-pools``
warnings), 100 chains of 20 entries and 100 presets of 10 entries: about 1 MB of YAML, close to the
1 MiB limit of a policy file. ``simulate`` follows every enabled chain,
preset and pool (10,200 routes) for a week at 1-minute steps.

Figures, each the median wall time of ``--runs`` subprocess runs of the console script, with the
peak resident memory of the last run and the size of its output:

1. ``validate`` with an empty validation cache (schema validation included), and with a warm one;
2. ``explain`` as text, JSON and DOT;
3. ``simulate`` (a week) as text (the timeline and one hours-by-day grid per route), JSON and CSV;
4. a runaway event script (100 events every second for a week: about 60 million occurrences),
   which ``simulate`` refuses before expanding anything.

Target: **each command within 10 s** on the 2-core development machine (the tests only check that
none takes more than 120 s). ``--pythonpath DIR`` puts DIR first on the commands' ``PYTHONPATH``
(with ``DIR/policy_engine/schemas`` when DIR has its own ``schemas``), to measure another checkout
of the same code: the "before" column of a change. The script only measures and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "cli"))

from large_policy import write_large_policy  # noqa: E402 - the tests' generated policy

TARGET_S = 10.0
_PEAK = ("import resource, subprocess, sys\n"
         "done = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'wb'), stderr=subprocess.DEVNULL)\n"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)\n")


def runaway_events(path: Path) -> None:
    """100 events every second for a week: about 60 million occurrences."""
    lines = ["events:"] + [f"  - {{at: +{i}s, every: 1s, fail: {{provider: anthropic-2}}}}" for i in range(100)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _environment(tmp: Path, pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PI_CODING_AGENT_DIR", "MP_POLICY_STATE", "MULTI_SUB")}
    env["HOME"] = str(tmp / "home")
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["MP_POLICY_CACHE_DIR"] = str(tmp / "cache")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _measure(args: list[str], env: dict[str, str], runs: int, tmp: Path, *, before: Any = None) -> dict[str, Any]:
    """Median wall time of ``runs`` runs; the peak RSS, exit code and output size of the last."""
    script = str(Path(sys.executable).parent / "mp-policy")
    out = tmp / "out.txt"
    times = []
    peak_kb = code = 0
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _PEAK, str(out), script, *args], capture_output=True,
                              text=True, env=env, check=False)
        times.append(time.perf_counter() - started)
        peak_kb, code = (int(x) for x in done.stdout.split())
    return {"median_s": statistics.median(times), "best_s": min(times), "runs": runs, "peak_mb": peak_kb / 1024,
            "exit": code, "output_bytes": out.stat().st_size}


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,500 pools, one run each")
    parser.add_argument("--pools", type=int, help="the number of pools (default 10,000; --quick: 2,500)")
    parser.add_argument("--runs", type=int, help="runs per command (default 3; --quick: 1)")
    parser.add_argument("--pythonpath", type=Path, help="run the commands with this directory first on PYTHONPATH")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    pools = args.pools or (2_500 if args.quick else 10_000)
    runs = args.runs or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        agent = tmp / "agent"
        write_large_policy(agent, pools)
        runaway_events(tmp / "runaway.yaml")
        env = _environment(tmp, args.pythonpath)
        base = ["--agent-dir", str(agent)]
        start = ["--start", "2026-11-23T00:00"]
        cases: list[tuple[str, list[str], Any]] = [
            ("validate, empty validation cache", ["validate", *base],
             lambda: shutil.rmtree(tmp / "cache", ignore_errors=True)),
            ("validate", ["validate", *base], None),
            ("explain (text)", ["explain", *base], None),
            ("explain --format json", ["explain", *base, "--format", "json"], None),
            ("explain --format dot", ["explain", *base, "--format", "dot"], None),
            ("simulate, a week (text)", ["simulate", *base, *start], None),
            ("simulate --format json", ["simulate", *base, *start, "--format", "json"], None),
            ("simulate --format csv", ["simulate", *base, *start, "--format", "csv"], None),
            ("simulate, runaway event script (refused)",
             ["simulate", *base, *start, "--events", str(tmp / "runaway.yaml")], None),
        ]
        subprocess.run([str(Path(sys.executable).parent / "mp-policy"), "validate", *base], env=env,
                       capture_output=True, check=False)  # fills the bytecode and validation caches
        figures: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "load": os.getloadavg() if hasattr(os, "getloadavg") else None},
            "pools": pools, "policy_bytes": (agent / "multi-pass.yaml").stat().st_size,
            "pythonpath": str(args.pythonpath) if args.pythonpath else None, "target_s": TARGET_S, "commands": {},
        }
        for label, command, before in cases:
            print(f"{label} ...", file=sys.stderr, flush=True)
            figures["commands"][label] = _measure(command, env, runs, tmp, before=before)
    if args.format == "json":
        print(json.dumps(figures, indent=2))
        return
    machine = figures["machine"]
    print(f"machine: {machine['cpus']} CPUs, Python {machine['python']}, load {machine['load']}")
    print(f"policy: {pools:,} pools, 160 accounts, 100 chains, 100 presets; {figures['policy_bytes']:,} bytes of YAML"
          + (f"; code from {args.pythonpath}" if args.pythonpath else ""))
    print(f"{'command':<44} {'median':>9} {'best':>9} {'peak RSS':>9} {'exit':>4} {'output':>12}")
    for label, row in figures["commands"].items():
        mark = "target met" if row["median_s"] <= TARGET_S else "OVER TARGET"
        print(f"{label:<44} {row['median_s']:8.2f}s {row['best_s']:8.2f}s {row['peak_mb']:7.0f}MB {row['exit']:>4} "
              f"{row['output_bytes']:>12,}  {mark}")
    print(f"target: each command within {TARGET_S:.0f} s (median of {runs} run(s))")


if __name__ == "__main__":
    main()
