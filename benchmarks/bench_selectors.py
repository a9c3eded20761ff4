"""Benchmark of custom selectors: what a sandboxed selector call costs next to round-robin.

Run from the repository root::

    .venv/bin/python benchmarks/bench_selectors.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_selectors.py --quick    # fewer iterations
    .venv/bin/python benchmarks/bench_selectors.py --format json

Figures (p50 / p99 in µs unless noted):

1. **Selector call** through the runner (``runner.call``: JSON context to a warm worker and back),
   Python (RestrictedPython worker) and JavaScript (node worker, ``vm`` context). Target: p50 ≤ 200 µs.
2. **Decision** (``engine.select(..., dry_run=True)``) for a pool of 3 with ``round-robin``, with a
   Python ``custom`` selector and with a JavaScript one: what the selector adds to a whole decision.
3. **Starting node once** (``node -e 0`` as a subprocess, wall time in ms): what a persistent worker saves
   on every call compared with spawning node per call.
4. **First call after a policy loads** (ms): workers stopped, then ``Engine.from_documents`` (which starts
   a worker in the background) followed at once by ``select``. Target: ≤ 150 ms.

The script only measures: it prints figures and "target met" / "over target", never fails.
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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from policy_engine.engine import Engine  # noqa: E402
from policy_engine.sandbox.node_runner import get_node_runner  # noqa: E402
from policy_engine.sandbox.python_runner import get_python_runner  # noqa: E402

CALL_P50_TARGET_US = 200.0
FIRST_CALL_TARGET_MS = 150.0
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)

PY_SOURCE = """\
def select(ctx):
    # Prefer the account with the most quota left, else keep rotation order.
    ranked = sorted(ctx["members"], key=lambda m: -ctx["quota"].get(m, 0))
    return ranked[:1] if ctx["hour"] < 18 else None
"""
JS_SOURCE = """\
module.exports = async function select(ctx) {
  const ranked = [...ctx.members].sort((a, b) => (ctx.quota[b] || 0) - (ctx.quota[a] || 0));
  return ctx.hour < 18 ? ranked.slice(0, 1) : null;
};
"""
CTX = {
    "members": ["anthropic", "anthropic-2", "anthropic-3"], "currentProvider": None, "modelId": "claude-sonnet-4-5",
    "pool": {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2", "anthropic-3"]},
    "timestamp": 1795000000000, "hour": 10, "day": "tue", "prompt": None,
    "quota": {"anthropic": 12.0, "anthropic-2": 80.0}, "cooldowns": {},
}


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    """p50 / p99 / mean in µs."""
    ordered = sorted(samples_ns)
    return {"p50": ordered[len(ordered) // 2] / 1000, "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            / 1000, "mean": statistics.fmean(ordered) / 1000, "n": len(ordered)}


def timed(fn: Callable[[], Any], n: int, warmup: int = 50) -> dict[str, float]:
    """Call ``fn`` ``warmup`` times, then time ``n`` calls one by one."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


def policy(strategy: str, script: str | None) -> dict[str, Any]:
    """A pool of three Claude accounts with ``strategy``."""
    pool: dict[str, Any] = {"name": "claude", "baseProvider": "anthropic",
                            "members": ["anthropic", "anthropic-2", "anthropic-3"], "strategy": strategy}
    if script:
        pool["selectorScript"] = script
    return {"subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
            "pools": [pool], "settings": {"selectorTimeout": "1s"}}


def engine_for(folder: Path, strategy: str, script: str | None) -> Engine:
    """An engine on the in-memory store with every account logged in."""
    return Engine.from_documents(policy(strategy, script), auth={"anthropic", "anthropic-2", "anthropic-3"},
                                 clock=lambda: NOW, base_dir=str(folder), state="memory://")


def main() -> None:
    """Run every section and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    n = 500 if args.quick else 5000
    report: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python "
                                         f"{platform.python_version()}, node {_node_version()}"}
    ctx_json = json.dumps(CTX)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "pick.py").write_text(PY_SOURCE)
        (folder / "pick.js").write_text(JS_SOURCE)
        py, js = get_python_runner(), get_node_runner()
        print("selector calls ...", file=sys.stderr)
        report["call_python"] = timed(lambda: _ok(py.call(PY_SOURCE, "pick.py", ctx_json, 1.0)), n)
        report["call_js"] = timed(lambda: _ok(js.call(JS_SOURCE, "pick.js", ctx_json, 1.0)), n)
        print("decisions ...", file=sys.stderr)
        for name, strategy, script in (("round-robin", "round-robin", None), ("custom-python", "custom", "pick.py"),
                                       ("custom-js", "custom", "pick.js")):
            engine = engine_for(folder, strategy, script)
            check = engine.select(pool="claude", dry_run=True)
            assert not any(s.fallback for s in check.strategy), check.to_dict()["strategy"]
            report[f"decision_{name}"] = timed(lambda e=engine: e.select(pool="claude", dry_run=True), n)
        print("node start ...", file=sys.stderr)
        node = shutil.which("node") or "node"
        starts = []
        for _ in range(5 if args.quick else 20):
            start = time.perf_counter_ns()
            subprocess.run([node, "-e", "0"], check=True)
            starts.append(time.perf_counter_ns() - start)
        report["node_start_ms"] = statistics.median(starts) / 1e6
        print("first call after load ...", file=sys.stderr)
        for language, script in (("python", "pick.py"), ("js", "pick.js")):
            firsts = []
            for _ in range(3 if args.quick else 10):
                py.close()
                js.close()
                start = time.perf_counter_ns()
                engine = engine_for(folder, "custom", script)
                decision = engine.select(pool="claude", dry_run=True)
                firsts.append(time.perf_counter_ns() - start)
                assert not decision.strategy[0].fallback, decision.to_dict()["strategy"]
            report[f"first_call_{language}_ms"] = statistics.median(firsts) / 1e6
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    print("\nselector call (runner.call, warm worker)          p50 µs    p99 µs")
    for key, label in (("call_python", "Python (RestrictedPython worker)"), ("call_js", "JavaScript (node worker)")):
        row = report[key]
        verdict = "target met" if row["p50"] <= CALL_P50_TARGET_US else "over target"
        print(f"  {label:<45} {row['p50']:8.1f}  {row['p99']:8.1f}   ({verdict}: p50 ≤ {CALL_P50_TARGET_US:.0f})")
    print("\ndecision, pool of 3 (engine.select, dry run)      p50 µs    p99 µs")
    for key in ("round-robin", "custom-python", "custom-js"):
        row = report[f"decision_{key}"]
        print(f"  {key:<45} {row['p50']:8.1f}  {row['p99']:8.1f}")
    print(f"\nstarting node once (node -e 0, median): {report['node_start_ms']:.1f} ms")
    for language in ("python", "js"):
        ms = report[f"first_call_{language}_ms"]
        verdict = "target met" if ms <= FIRST_CALL_TARGET_MS else "over target"
        print(f"first call after a policy loads ({language}, median): {ms:.1f} ms "
              f"({verdict}: ≤ {FIRST_CALL_TARGET_MS:.0f} ms)")


def _ok(outcome: Any) -> None:
    if not outcome.ok:
        raise SystemExit(f"selector call failed: {outcome.kind}: {outcome.detail}")


def _node_version() -> str:
    node = shutil.which("node")
    if not node:
        return "missing"
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()


if __name__ == "__main__":
    main()
