"""What the benchmark scripts share: result rows, nearest-rank percentiles, compact numbers, aligned text
tables and the facts of the machine the figures depend on.

Each script runs as ``python benchmarks/bench_X.py``, so this folder is first on ``sys.path`` and the
scripts import this module as ``harness``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Figure", "Report", "cpu_model", "load_average", "num", "percentile", "table"]


@dataclass
class Figure:
    """One row of a result table: ``values`` (p50, p99, median ...) in ``unit``, and a target on one of them."""

    section: str
    name: str
    unit: str
    values: dict[str, float | int | None]
    target: float | None = None
    target_on: str = "p50"
    binding: bool = True  # False: a reference budget, shown for context
    note: str = ""

    @property
    def status(self) -> str:
        """``target met`` / ``over target`` (or ``within ref`` / ``over ref``), or empty."""
        if self.target is None:
            return ""
        value = self.values.get(self.target_on)
        if value is None:
            return ""
        ok = value <= self.target
        if self.binding:
            return "target met" if ok else "over target"
        return "within ref" if ok else "over ref"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (with the computed status)."""
        return asdict(self) | {"status": self.status}


@dataclass
class Report:
    """Everything a run measured: the machine, the figures, and anything else a script keeps."""

    machine: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        """Record a figure and echo progress on stderr."""
        self.figures.append(figure)
        shown = ", ".join(f"{k}={num(v)}" for k, v in figure.values.items() if k in ("p50", "p99", "median"))
        print(f"  .. {figure.section}: {figure.name}: {shown} {figure.unit}", file=sys.stderr, flush=True)
        return figure


def num(value: float | int | None) -> str:
    """A compact human form of a figure (thousands separated, fewer decimals when large)."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if value >= 999.5:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, nearest-rank (NaN for no values)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def table(head: Sequence[str], rows: Sequence[Sequence[str]], *, unit: str | None = None, left: int = 1
          ) -> list[str]:
    """Lines of an aligned text table: the first ``left`` columns left-aligned, the rest right-aligned,
    under a ``(unit)`` line when ``unit`` is given."""
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def fmt(r: Sequence[str]) -> str:
        return "  " + "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                                for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    lines = [fmt(head), "  " + "-" * (sum(widths) + 2 * (len(widths) - 1)), *map(fmt, rows)]
    return [f"  ({unit})", *lines] if unit is not None else lines


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other work on the machine inflates the figures), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
