"""Benchmarks for mp-policy: decision latency, policy load/validate/compile, and the cold CLI.

Run from the repository root (figures depend on the machine, which is printed first)::

    .venv/bin/python benchmarks/bench_engine.py            # full run (a few minutes)
    .venv/bin/python benchmarks/bench_engine.py --quick    # fewer iterations (well under a minute)
    .venv/bin/python benchmarks/bench_engine.py --format json

Three sections (see ``benchmarks/README.md`` for the targets):

1. **Decision latency** (``engine_latency.py``): ``Engine.select`` dry runs, ``select`` with its state
   write, ``fail(429)`` alone and a ``select`` + ``fail`` round trip, against a compiled policy, per
   call, with ``time.perf_counter_ns``; p50 / p99 / mean in µs, the per-call thread CPU time and the
   same figures with ``gc`` disabled. Rows with a floor show it next to the p50: the dry-run
   decision for ``select`` with its write, a minimal Python router's pick over the same accounts
   for ``fail``; those targets are ratios to the floor, measured in the same run.
2. **Load + validate + compile** (``engine_startup.py``) of a generated ~1,000-line YAML policy
   through ``Engine.load``: cold, warm, warm with the caches cleared, and per stage.
3. **Cold CLI** (``engine_startup.py``): ``mp-policy eval`` as a subprocess, each run after a
   ``python -c pass`` (its floor); the ten slowest imports (``python -X importtime``).

The scenarios are in ``engine_cases.py``, the timing loop in ``timing.py``. The script only
measures: it prints figures and "target met" / "over target", never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from engine_latency import bench_latency
from engine_startup import bench_cli, bench_load
from harness import Figure, Report, cpu_model, load_average, num, table
from timing import Budget, calibrate_us

PYTHON = sys.executable


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
        "code": _code_under_test(),
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _code_under_test() -> str:
    """Where ``policy_engine`` is imported from (a ``PYTHONPATH`` checkout measures that code instead)."""
    import importlib.util

    spec = importlib.util.find_spec("policy_engine")
    origin = spec.origin if spec is not None and spec.origin else "?"
    return os.path.dirname(os.path.dirname(origin))


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
        f"code under test: {m.get('code', '?')}",
        "  floor: what the figure is compared with, measured in the same run; × floor: p50 (or median) / floor",
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
            head = ("case", "iters", "p50", "floor", "× floor", "p50 best", "p99", "mean", "cpu p50", "cpu p99",
                    "gc-off p50", "gc-off p99", "yard", "target", "status")
            rows = [(f.name, num(f.values.get("iterations")), num(f.values.get("p50")), num(f.values.get("floor")),
                     _times(f.values.get("ratio")), num(f.values.get("p50_best_window")), num(f.values.get("p99")),
                     num(f.values.get("mean")), num(f.values.get("cpu_p50")), num(f.values.get("cpu_p99")),
                     num(f.values.get("gc_off_p50")), num(f.values.get("gc_off_p99")),
                     num(f.values.get("yardstick")), _target(f), f.status) for f in figures]
            out += table(head, rows, unit="all times in µs")
        elif figures[0].unit == "µs":
            head = ("case", "iters", "p50 first", "p50 last", "p50 all")
            rows = [(f.name, num(f.values.get("iterations")), num(f.values.get("first_p50")),
                     num(f.values.get("last_p50")), num(f.values.get("p50"))) for f in figures]
            out += table(head, rows, unit="all times in µs")
        else:
            head = ("case", "runs", "median", "min", "max", "floor", "× floor", "target", "status")
            rows = [(f.name, num(f.values.get("runs")), num(f.values.get("median")), num(f.values.get("min")),
                     num(f.values.get("max")), num(f.values.get("floor")), _times(f.values.get("ratio")),
                     _target(f), f.status) for f in figures]
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
        value = (f"{_times(f.values.get('ratio'))} its floor" if f.target_on == "ratio"
                 else f"{f.target_on} {num(f.values.get(f.target_on))} {f.unit}")
        out.append(f"  [{'x' if f.status == 'target met' else ' '}] {f.section}: {f.name.strip()} "
                   f"({value}, target {_target(f)})")
    return "\n".join(out)


def _times(ratio: Any) -> str:
    return "" if ratio is None else f"{ratio:.2f}×"


def _target(f: Figure) -> str:
    if f.target is None:
        return ""
    return f"≤ {f.target:g}× floor" if f.target_on == "ratio" else f"≤ {num(f.target)}"


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
