"""Before and after in one run: a benchmark script on another checkout's code, then on this one's.

    .venv/bin/python benchmarks/compare.py --reference /tmp/old-checkout -- bench_engine.py --quick --only cli
    .venv/bin/python benchmarks/compare.py --reference /tmp/old-checkout --format json -- bench_state.py --quick

The same benchmark script (this checkout's) runs twice with ``--format json``: first with the
reference checkout first on ``PYTHONPATH`` (so ``policy_engine`` is imported from there; copy its
``schemas/`` to ``DIR/policy_engine/schemas`` when they differ, as for ``bench_scale.py``), then
without. The table pairs the figures by name: the before and after value of each (the p50, the
median, failovers per second) and, where a figure has a floor, the multiple of its floor. The
script only measures and prints; it never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness import num, table

HERE = Path(__file__).resolve().parent


def run(script: str, args: Sequence[str], reference: Path | None) -> dict[str, Any]:
    """One run of ``script`` with ``--format json``; the reference's code first on the path when given."""
    env = dict(os.environ)
    if reference is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(reference), *filter(None, [env.get("PYTHONPATH")])])
    label = "reference" if reference is not None else "this checkout"
    print(f"== {script} on {label} ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, str(HERE / script), *args, "--format", "json"], env=env, text=True,
                          stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{script} on {label} failed ({done.returncode})")
    return json.loads(done.stdout)


def figures(report: dict[str, Any]) -> Iterator[tuple[str, float | None, float | None, str]]:
    """(name, value, multiple of the floor, unit) of every figure of a bench_engine or bench_state report."""
    for f in report.get("figures", ()):
        values = f["values"]
        value = values.get("p50", values.get("median"))
        yield f"{f['section']}: {f['name'].strip()}", value, values.get("ratio"), f["unit"]
        if "cpu_ratio" in values:
            yield f"{f['section']}: {f['name'].strip()} (CPU time)", values["cpu_median"], values["cpu_ratio"], "ms"
    for store, r in report.get("single_process", {}).items():
        if "round_trip" in r:
            yield f"single process, {store}: round trip p50", r["round_trip"]["p50"], r.get("floor_ratio"), "µs"
            for op in ("select", "fail", "succeed"):
                yield f"single process, {store}: {op} p50", r[op]["p50"], None, "µs"
    processes = report.get("processes", "?")
    for store, r in report.get("multi_process", {}).items():
        if "per_second" in r:
            yield f"{processes} processes, {store}: failovers per second", r["per_second"], None, "/s"
            yield f"{processes} processes, {store}: p50", r["all"]["p50"], None, "µs"
            for key, what, unit in (("client_cpu_us_per_failover", "client CPU per failover", "µs"),
                                    ("server_cpu_us_per_failover", "server CPU per failover", "µs"),
                                    ("cpu_bound_per_second", "CPU bound", "/s"),
                                    ("refused_per_failover", "refused writes per failover", "")):
                if r.get(key) is not None:
                    yield f"{processes} processes, {store}: {what}", r[key], None, unit


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows pairing the figures of both runs by name."""
    old = {name: (value, ratio, unit) for name, value, ratio, unit in figures(before)}
    rows = []
    for name, value, ratio, unit in figures(after):
        was, was_ratio, _ = old.get(name, (None, None, unit))
        change = value / was if value is not None and was else None
        rows.append({"figure": name, "unit": unit, "before": was, "after": value, "after_over_before": change,
                     "before_floor_multiple": was_ratio, "after_floor_multiple": ratio})
    return rows


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    """The pairs as a Markdown table (what docs/performance.md shows)."""
    def times(x: float | None) -> str:
        return "" if x is None else f"{x:.2f}×"

    lines = ["| figure | before | after | after / before | × floor: before → after |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        floor = ""
        if r["after_floor_multiple"] is not None:
            floor = f"{times(r['before_floor_multiple'])} → {times(r['after_floor_multiple'])}"
        lines.append(f"| {r['figure']} | {num(r['before'])} {r['unit']} | {num(r['after'])} {r['unit']} | "
                     f"{times(r['after_over_before'])} | {floor} |")
    lines.append("")
    lines.append(f"Load average at the start: {machine.get('load_average')}; {machine.get('cpus')} CPUs "
                 f"({machine.get('cpu_model')}).")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the script on both checkouts and print the pairs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="the other checkout (its root directory)")
    parser.add_argument("--format", choices=["text", "json", "markdown"], default="text",
                        help="output format (markdown: the table of docs/performance.md)")
    parser.add_argument("--match", action="append", default=[],
                        help="keep only figures whose name contains this text (repeatable)")
    parser.add_argument("script", help="bench_engine.py or bench_state.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own options")
    options = parser.parse_args(argv)
    args = [a for a in options.args if a != "--"]
    before = run(options.script, args, options.reference.resolve())
    after = run(options.script, args, None)
    rows = [r for r in compare(before, after)
            if not options.match or any(m in r["figure"] for m in options.match)]
    if options.format == "markdown":
        print(markdown(rows, after.get("machine", {})))
        return 0
    if options.format == "json":
        print(json.dumps({"reference": str(options.reference), "script": options.script, "args": args,
                          "machine": after.get("machine"), "rows": rows}, indent=2, ensure_ascii=False))
        return 0

    def times(x: float | None) -> str:
        return "" if x is None else f"{x:.2f}×"

    print(f"{options.script} {' '.join(args)}: before = {options.reference}, after = this checkout "
          f"(load average {after.get('machine', {}).get('load_average')})")
    print("\n".join(table(("figure", "unit", "before", "after", "after/before", "× floor before", "× floor after"),
                          [(r["figure"], r["unit"], num(r["before"]), num(r["after"]), times(r["after_over_before"]),
                            times(r["before_floor_multiple"]), times(r["after_floor_multiple"])) for r in rows])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
