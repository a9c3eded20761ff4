"""The README's performance table, generated from the JSON reports of ``bench_engine.py`` and ``bench_state.py``.

Usage (the reports of one or more runs of each, then the table printed, or written into the README)::

    for run in 1 2 3; do
      .venv/bin/python benchmarks/bench_engine.py --only latency --only cli --format json > engine-$run.json
      .venv/bin/python benchmarks/bench_state.py --processes 1 --duration 3 --format json > state-$run.json
    done
    .venv/bin/python benchmarks/readme_table.py engine-*.json state-*.json --write README.md

The table sits in the README between ``<!-- performance-table -->`` and ``<!-- /performance-table -->``;
``--write`` replaces what is between them and nothing else, and refuses a README without both markers.
Every cell is a p50 (a median for the cold command) next to its floor where the benchmark measured
one; with several runs, the median of the runs' values (a single run on a busy two-core machine moves
the cold command by a third). Which benchmark wrote a report is read from the report. A figure no
report holds (a store not measured, say) is left empty; ``--format json`` names the figures used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["END", "START", "Reports", "render", "replace_table", "table_rows"]

START = "<!-- performance-table -->"
END = "<!-- /performance-table -->"

# The bench_engine figures each cell reads, by (section, name).
DRY = ("decision latency (memory store)", "decision round-robin, 3 accounts, explain=False")
DRY_1000 = ("decision latency (memory store)", "decision round-robin, 1000 accounts, explain=False")
SELECT = ("decision latency (memory store)", "select + turn written (memory store), 3 accounts")
FAIL_MEMORY = ("fail latency (classify + cooldown + walk + state write)", "fail(429) alone, 3 accounts (memory store)")
FAIL_SQLITE = ("fail latency (classify + cooldown + walk + state write)", "fail(429) alone, 3 accounts (SQLite store)")
COLD = ("cold CLI", "mp-policy eval --chain main (demo agent dir)")
WHEEL_FLOOR = ("cold CLI", "  floor of a wheel install: python -S -c 'import site' (no .pth hooks)")


def _median(numbers: Sequence[Any]) -> float | None:
    found = [float(n) for n in numbers if isinstance(n, int | float) and not isinstance(n, bool)]
    return statistics.median(found) if found else None


class Reports:
    """The runs' JSON reports (``bench_engine`` ones hold ``figures``, ``bench_state`` ones ``single_process``),
    with lookups that give the median over the runs and ``None`` for what no report holds."""

    def __init__(self, engine: Sequence[Mapping[str, Any]], state: Sequence[Mapping[str, Any]]) -> None:
        self.engine = list(engine)
        self.state = list(state)
        self.used: list[str] = []
        self._figures = [{(f.get("section"), f.get("name")): f for f in run.get("figures") or []}
                         for run in self.engine]

    @classmethod
    def of(cls, reports: Sequence[Mapping[str, Any]]) -> Reports:
        """Sort reports into bench_engine and bench_state ones; ValueError for one that is neither."""
        engine = [r for r in reports if isinstance(r.get("figures"), list)]
        state = [r for r in reports if isinstance(r.get("single_process"), dict)]
        if len(engine) + len(state) != len(reports):
            raise ValueError("a report is neither bench_engine's (figures) nor bench_state's (single_process)")
        return cls(engine, state)

    def figure(self, key: tuple[str, str], value: str) -> float | None:
        """``value`` (``p50``, ``median``, ``ratio`` ...) of a bench_engine figure, the median over the runs."""
        number = _median([((run.get(key) or {}).get("values") or {}).get(value) for run in self._figures])
        if number is not None:
            self.used.append(f"bench_engine: {key[0]} / {key[1].strip()} / {value}")
        return number

    def store(self, store: str, part: str) -> float | None:
        """The single-process p50 of ``part`` (``select``, ``fail``, ``round_trip``) on ``store`` in µs, the median
        over the runs."""
        number = _median([((((run.get("single_process") or {}).get(store) or {}).get(part)) or {}).get("p50")
                          for run in self.state])
        if number is not None:
            self.used.append(f"bench_state: single process, {store} / {part} / p50")
        return number


def _us(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 1000:
        return f"{value / 1000:.1f} ms"
    return f"{value:,.0f} µs" if value >= 100 else f"{value:.0f} µs" if value >= 10 else f"{value:.1f} µs"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f} ms"


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}×"


def table_rows(reports: Reports) -> list[tuple[str, str, str, str]]:
    """The rows: (call, memory store, SQLite file, Redis on loopback)."""
    dry, dry_1000 = reports.figure(DRY, "p50"), reports.figure(DRY_1000, "p50")
    select, select_ratio = reports.figure(SELECT, "p50"), reports.figure(SELECT, "ratio")
    cold, cold_ratio = reports.figure(COLD, "median"), reports.figure(COLD, "ratio")
    wheel = reports.figure(WHEEL_FLOOR, "median")
    rows = [
        ("a decision without writing (`mp-policy eval`, `Engine.select(dry_run=True)`)",
         _us(dry) + (f" ({_us(dry_1000)} for 1,000 accounts)" if dry_1000 is not None else ""), "", ""),
        ("`select` with its state write",
         _us(select) + (f" ({_times(select_ratio)} the dry run)" if select_ratio is not None else ""),
         _us(reports.store("sqlite", "select")), _us(reports.store("redis", "select"))),
        ("`fail(429)`: classify, cooldown, walk, write",
         _us(reports.figure(FAIL_MEMORY, "p50")), _us(reports.figure(FAIL_SQLITE, "p50")),
         _us(reports.store("redis", "fail"))),
        ("a failover round trip (`select`, `fail`, `succeed`)",
         _us(reports.store("memory", "round_trip")), _us(reports.store("sqlite", "round_trip")),
         _us(reports.store("redis", "round_trip"))),
    ]
    if cold is not None:
        floors = [f"{_times(cold_ratio)} `python -c pass`"] if cold_ratio is not None else []
        if wheel:
            floors.append(f"{_times(cold / wheel)} a wheel install's start ({_ms(wheel)})")
        rows.append(("a cold `mp-policy eval` of the demo", _ms(cold) + (f": {', '.join(floors)}" if floors else ""),
                     "", ""))
    return rows


def render(reports: Reports) -> str:
    """The table (Markdown) with the line that says where its figures come from."""
    runs = [*reports.engine, *reports.state]
    machine = next((r["machine"] for r in runs if isinstance(r.get("machine"), dict)), {})
    loads = [r["machine"]["load_average"][0] for r in runs if (r.get("machine") or {}).get("load_average")]
    lines = ["| call | memory store | SQLite file | Redis (loopback) |", "| --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in table_rows(reports)]
    where = ", ".join(p for p in (
        f"{machine['cpus']} CPUs" if machine.get("cpus") else "",
        f"Python {machine['python']}" if machine.get("python") else "",
        f"load average {min(loads):g}–{max(loads):g}" if loads else "",
        str(machine.get("when", ""))[:10],
    ) if p)
    counted = f"{len(reports.engine)} run{'s' if len(reports.engine) != 1 else ''} of `bench_engine.py`, " \
              f"{len(reports.state)} of `bench_state.py`"
    lines += ["", f"p50, the median over {counted} ({where}; pool of 3 accounts, decision trace on), generated "
                  "by `benchmarks/readme_table.py`."]
    return "\n".join(lines)


def replace_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``; ValueError without both markers."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {START} ... {END} block to fill")
    return f"{readme[:start + len(START)]}\n{table}\n{readme[end:]}"


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into a README (``--write``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("reports", type=Path, nargs="+",
                        help="--format json outputs of bench_engine.py (latency and cli sections) and bench_state.py")
    parser.add_argument("--write", type=Path, metavar="README", help="replace the table between the markers")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    loaded = []
    for path in args.reports:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(report, dict):
                raise ValueError("not a JSON object")
            loaded.append(report)
        except (OSError, ValueError) as exc:
            print(f"readme_table: cannot read the report {path}: {exc}", file=sys.stderr)
            return 2
    try:
        reports = Reports.of(loaded)
    except ValueError as exc:
        print(f"readme_table: {exc}", file=sys.stderr)
        return 2
    table = render(reports)
    if args.write is not None:
        try:
            args.write.write_text(replace_table(args.write.read_text(encoding="utf-8"), table), encoding="utf-8")
        except (OSError, ValueError) as exc:
            print(f"readme_table: {args.write}: {exc}", file=sys.stderr)
            return 2
    if args.format == "json":
        print(json.dumps({"table": table, "figures": reports.used}, indent=2))
    elif args.write is None:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
