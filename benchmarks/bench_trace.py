"""The decision trace's cost: ``select`` (with its state write) with the trace on versus off, memory and SQLite
in the same run (rounds interleaved, so machine load hits both alike); and ``mp-policy trace --follow``
latency from a write to the printed line, on SQLite and Redis.

A third configuration per store splits the cost: the trace on, but every ``select`` hands its store one
entry built before the run (:class:`ReadyEntryEngine`). What that adds over the trace off is encoding and
storing an entry, the part of the trace's cost that no faster way of building the entry can remove.

    python benchmarks/bench_trace.py [--rounds 8] [--calls 400] [--follows 15] [--json FILE]

Target (issue 13): at most +15 % on select's p50 with the trace on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from harness import Figure, Report, cpu_model, load_average, num, percentile, table

from policy_engine.engine import Engine
from policy_engine.evaluate.decision import Decision
from policy_engine.state import StateChanges
from policy_engine.trace.entry import decision_entry

MEMBERS = [f"anthropic-{k}" if k > 1 else "anthropic" for k in range(1, 9)]
SCRIPT = Path(sys.executable).parent / "mp-policy"
TARGET_PCT = 15.0


def policy(trace: bool) -> dict[str, Any]:
    """A chain over a pool of eight accounts; ``trace`` turns the decision trace on or off."""
    return {
        "settings": {"timezone": "UTC", "trace": {"enabled": trace}},
        "subscriptions": [{"provider": "anthropic", "index": k} for k in range(2, 9)],
        "pools": [{"name": "claude", "baseProvider": "anthropic", "members": MEMBERS}],
        "chains": [{"name": "main", "entries": [{"pool": "claude", "model": "claude-sonnet-4-5"}]}],
    }


class Clock:
    """A clock that moves 10 ms per reading (turns never collide, cooldowns never pile up)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(milliseconds=10)
        return self.at


class ReadyEntryEngine(Engine):
    """The trace on, but every decision hands its store the entry of the first one (an ablation, for the
    benchmark only): the store encodes and appends a whole entry each time, and none is built."""

    ready: dict[str, Any] | None = None
    handed: int = 0

    def _traced(self, changes: StateChanges, op: str, decision: Decision, request: Mapping[str, Any],
                label: str | None, prompt: str | None, failing: str | None = None,
                failed: Mapping[str, Any] | None = None) -> StateChanges:
        if self.ready is None:
            self.ready = decision_entry(op, decision, request=request, failing=failing, failed=failed,
                                        project=self._project, label=label, prompt=prompt)
        self.handed += 1
        return self._add_entry(changes, self.ready)


def engine(url: str, trace: bool, kind: type[Engine] = Engine) -> Engine:
    return kind.from_documents(policy(trace), state=url, env={}, auth=set(MEMBERS), clock=Clock())


def time_selects(e: Engine, calls: int) -> list[int]:
    out = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        e.select(chain="main")
        out.append(time.perf_counter_ns() - start)
    return out


def decision_path(report: Report, rounds: int, calls: int, tmp: Path) -> list[list[str]]:
    configs: dict[str, Callable[[], Engine]] = {
        "memory, trace off": lambda: engine("memory://", False),
        "memory, trace on": lambda: engine("memory://", True),
        "sqlite, trace off": lambda: engine(f"sqlite:///{tmp / 'off.db'}", False),
        "sqlite, trace on": lambda: engine(f"sqlite:///{tmp / 'on.db'}", True),
        "memory, ready-made entry": lambda: engine("memory://", True, ReadyEntryEngine),
        "sqlite, ready-made entry": lambda: engine(f"sqlite:///{tmp / 'ready.db'}", True, ReadyEntryEngine),
    }
    engines = {name: make() for name, make in configs.items()}
    samples: dict[str, list[int]] = {name: [] for name in configs}
    for e in engines.values():
        time_selects(e, 50)  # warm up: imports, caches, the SQLite file
        if isinstance(e, ReadyEntryEngine) and e.handed != 50:
            raise SystemExit("the ready-made entry was not used: Engine._traced is no longer how select adds "
                             "its trace entry; update ReadyEntryEngine")
    for _ in range(rounds):
        for name, e in engines.items():
            samples[name] += time_selects(e, calls)
    for e in engines.values():
        e.close()
    rows = []
    p50 = {}
    for name, values in samples.items():
        values.sort()
        p50[name] = percentile(values, 50) / 1000
        p99 = percentile(values, 99) / 1000
        report.add(Figure("select with its state write", name, "us", {"p50": p50[name], "p99": p99}))
        rows.append([name, num(p50[name]), num(p99)])
    for store in ("memory", "sqlite"):
        off, on = p50[f"{store}, trace off"], p50[f"{store}, trace on"]
        pct = (on - off) / off * 100
        report.add(Figure("trace overhead", f"{store}: select p50, on vs off", "%", {"p50": pct},
                          target=TARGET_PCT))
        rows.append([f"{store}: overhead on p50", f"{pct:+.1f} %", f"target <= +{TARGET_PCT:.0f} %"])
        ready = (p50[f"{store}, ready-made entry"] - off) / off * 100
        report.add(Figure("trace overhead", f"{store}: of which encoding and storing the entry", "%",
                          {"p50": ready}, note="a ready-made entry handed to the store, none built"))
        rows.append([f"{store}: of which encoding and storing", f"{ready:+.1f} %", "(a ready-made entry)"])
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lines(stream: Any, into: Queue[float]) -> None:
    for _line in stream:
        into.put(time.perf_counter())


def follow_latency(state: str, follows: int, tmp: Path) -> list[float]:
    """Seconds from the start of a select (in this process) to ``trace --follow`` printing its entry."""
    env = {**os.environ, "HOME": str(tmp), "MP_POLICY_QUOTA_REFRESH": "0"}
    proc = subprocess.Popen([str(SCRIPT), "trace", "--follow", "--format", "jsonl", "--state", state,
                             "--agent-dir", str(tmp)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    printed: Queue[float] = Queue()
    threading.Thread(target=_lines, args=(proc.stdout, printed), daemon=True).start()
    writer = engine(state, True)
    out = []
    try:
        time.sleep(2.0)  # the follower is up
        for _ in range(follows):
            start = time.perf_counter()
            writer.select(chain="main")
            try:
                out.append(printed.get(timeout=10) - start)
            except Empty:
                out.append(float("inf"))
            time.sleep(0.2)
    finally:
        writer.close()
        proc.terminate()
        proc.wait(10)
    return sorted(out)


def follow(report: Report, follows: int, tmp: Path) -> list[list[str]]:
    rows = []
    stores = {"sqlite": f"sqlite:///{tmp / 'follow.db'}"}
    redis = None
    if shutil.which("redis-server"):
        port = _free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        stores["redis"] = f"redis://127.0.0.1:{port}/0?namespace=bench-trace"
    try:
        for name, url in stores.items():
            values = [v * 1000 for v in follow_latency(url, follows, tmp)]
            p50, p99 = percentile(values, 50), percentile(values, 99)
            report.add(Figure("trace --follow latency", name, "ms", {"p50": p50, "p99": p99}))
            rows.append([name, num(p50), num(p99)])
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--follows", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = Report({"cpu": cpu_model(), "python": sys.version.split()[0], "load": load_average()})
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        path = decision_path(report, args.rounds, args.calls, tmp)
        follows = follow(report, args.follows, tmp)
    print(f"machine: {report.machine['cpu']}, python {report.machine['python']}, load {report.machine['load']}")
    print(f"\nselect with its state write ({args.rounds} interleaved rounds x {args.calls} calls each)")
    print("\n".join(table(["configuration", "p50", "p99"], path, unit="µs; overhead rows: p50 change")))
    print("\ntrace --follow: a select in one process to the printed line in another")
    print("\n".join(table(["store", "p50", "p99"], follows, unit="ms")))
    if args.json:
        args.json.write_text(json.dumps({"machine": report.machine, "figures": [f.to_dict() for f in report.figures]},
                                        indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
