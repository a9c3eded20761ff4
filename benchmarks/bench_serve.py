"""Benchmarks for ``mp-policy serve``: the round trip of a decision, against the cold one-shot command.

Run from the repository root::

    .venv/bin/python benchmarks/bench_serve.py            # full run (about two minutes)
    .venv/bin/python benchmarks/bench_serve.py --quick    # fewer iterations (about 30 s)
    .venv/bin/python benchmarks/bench_serve.py --format json

What it measures (see ``benchmarks/README.md``), all with the SQLite state store (a file in a
temporary directory) and a round-robin pool of 8 accounts whose cooldown is 1 ms (so failures
write real cooldowns and the pool never runs dry):

1. **stdio**: ``mp-policy serve --stdio`` in a subprocess; this process writes a request line
   and reads the answer line. ``select`` alone, and ``select`` + ``fail 429`` on its turn (two
   round trips, timed together). Every turn is ended with ``succeed`` outside the timed window.
2. **socket**: the same over ``mp-policy serve --socket``, one connection; then two connections
   from two client processes at once (each process's p50 / p99, and the decisions per second of
   both together): what a second agent on the same server costs the first.
3. **cold one-shot**: ``mp-policy select`` as a new process per call (and ``select`` followed by
   ``mp-policy fail`` on its turn), median wall time: what an agent pays without a server.

Target: ``select`` p50 ≤ 1 ms over stdio and over the socket. The script only measures and
prints; it never fails. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from harness import Figure, Report, cpu_model, load_average, num, percentile, table

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "mp-policy"
SELECT_TARGET_US = 1000.0
MEMBERS = ["anthropic", *(f"anthropic-{i}" for i in range(2, 9))]
POLICY = "subscriptions:\n" + "".join(f"  - {{provider: anthropic, index: {i}}}\n" for i in range(2, 9)) + f"""\
pools:
  - name: claude
    baseProvider: anthropic
    members: [{", ".join(MEMBERS)}]
    cooldown: 1ms
"""


def summary_us(samples_ns: Sequence[int]) -> dict[str, float | int | None]:
    """p50 / p99 / mean / min in µs of nanosecond samples."""
    values = sorted(s / 1e3 for s in samples_ns)
    return {"iterations": len(values), "p50": round(percentile(values, 50), 1),
            "p99": round(percentile(values, 99), 1), "mean": round(statistics.fmean(values), 1),
            "min": round(values[0], 1)}


def machine_facts() -> dict[str, Any]:
    """CPU count and model, Python, platform, load: the figures depend on them."""
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average": load_average(),
            "when": datetime.now().astimezone().isoformat(timespec="seconds")}


# --------------------------------------------------------------------------- set-up and clients


def make_agent(root: Path) -> Path:
    """An agent directory with the benchmark policy and credentials for every member."""
    agent = root / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(POLICY)
    (agent / "auth.json").write_text(json.dumps({m: {"type": "api_key", "key": f"k-{m}"} for m in MEMBERS}))
    return agent


def child_env(root: Path) -> dict[str, str]:
    """The environment of every measured process: no pi/mp-policy variables, no background quota checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MP_POLICY_", "PI_CODING_AGENT"))}
    env.update(HOME=str(root), MP_POLICY_QUOTA_REFRESH="0")
    return env


class LineClient:
    """Request lines out, answer lines in, over any pair of binary streams."""

    def __init__(self, writer: IO[bytes], reader: IO[bytes]) -> None:
        self.writer, self.reader = writer, reader
        self._next = 0

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """One round trip; the answer (its id checked)."""
        self._next += 1
        self.writer.write(json.dumps({"id": self._next, "op": op, **args}).encode() + b"\n")
        self.writer.flush()
        answer = json.loads(self.reader.readline())
        if answer.get("id") != self._next:
            raise RuntimeError(f"answer for another request: {answer}")
        return answer


def socket_client(path: Path) -> tuple[LineClient, socket.socket]:
    """A connection to a socket server (retried until it listens)."""
    deadline = time.monotonic() + 30
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            break
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return LineClient(sock.makefile("wb"), sock.makefile("rb")), sock


def loop(client: LineClient, iterations: int, with_fail: bool, seconds: float) -> tuple[list[int], int]:
    """Timed rounds of select (+ fail); succeed outside the timing. Samples (ns) and problems found."""
    samples, problems, _ = timed_rounds(client, iterations, with_fail, seconds)
    return samples, problems


def timed_rounds(client: LineClient, iterations: int, with_fail: bool, seconds: float
                 ) -> tuple[list[int], int, float]:
    """:func:`loop`, plus the wall seconds of the measured rounds (warm-up excluded, succeed included)."""
    samples: list[int] = []
    problems = 0
    deadline = time.monotonic() + seconds
    began = 0.0
    for i in range(iterations + 50):
        if i == 50:
            began = time.perf_counter()
        t0 = time.perf_counter_ns()
        chosen = client.call("select", pool="claude")
        moved = None
        if with_fail and chosen.get("ok"):
            moved = client.call("fail", turn=chosen["result"]["turn"], status=429, message="rate_limit_error")
        elapsed = time.perf_counter_ns() - t0
        chose = chosen.get("ok") and chosen["result"]["target"] is not None
        rotated = moved is None or (moved.get("ok") and moved["result"]["error"]["kind"] == "rate_limit")
        problems += not (chose and rotated)
        if chosen.get("ok"):
            client.call("succeed", turn=chosen["result"]["turn"])
        if i >= 50:  # warm-up
            samples.append(elapsed)
        if time.monotonic() > deadline:
            break
    return samples, problems, time.perf_counter() - began


def record(report: Report, section: str, name: str, samples: list[int], problems: int,
           target: float | None = None) -> None:
    """Add a latency row."""
    note = f"{problems} answer(s) without a target or with an error" if problems else ""
    report.add(Figure(section, name, "µs", summary_us(samples), target, note=note))


# --------------------------------------------------------------------------- sections


def bench_stdio(report: Report, root: Path, agent: Path, iterations: int, seconds: float) -> None:
    """select and select+fail over stdin/stdout."""
    proc = subprocess.Popen([str(SCRIPT), "serve", "--stdio", "--agent-dir", str(agent), "--state",
                             f"sqlite:///{root / 'stdio.db'}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=child_env(root))
    assert proc.stdin is not None and proc.stdout is not None
    try:
        client = LineClient(proc.stdin, proc.stdout)
        client.call("hello", protocol=1)
        record(report, "stdio", "select", *loop(client, iterations, False, seconds), target=SELECT_TARGET_US)
        record(report, "stdio", "select + fail 429", *loop(client, iterations, True, seconds))
    finally:
        proc.stdin.close()
        proc.wait(30)


def _socket_worker(path: str, iterations: int, seconds: float, out: str) -> None:
    """A client process of the two-client case: writes its samples to ``out``."""
    client, sock = socket_client(Path(path))
    samples, problems, wall = timed_rounds(client, iterations, False, seconds)
    Path(out).write_text(json.dumps({"samples": samples, "problems": problems, "rate": len(samples) / wall}))
    sock.close()


def bench_socket(report: Report, root: Path, agent: Path, iterations: int, seconds: float) -> None:
    """select and select+fail over one socket connection, then two client processes at once."""
    path = root / "serve.sock"
    proc = subprocess.Popen([str(SCRIPT), "serve", "--socket", str(path), "--agent-dir", str(agent), "--state",
                             f"sqlite:///{root / 'socket.db'}"], stderr=subprocess.DEVNULL, env=child_env(root))
    try:
        client, sock = socket_client(path)
        client.call("hello", protocol=1)
        record(report, "socket", "select", *loop(client, iterations, False, seconds), target=SELECT_TARGET_US)
        record(report, "socket", "select + fail 429", *loop(client, iterations, True, seconds))
        sock.close()
        outs = [root / f"client-{k}.json" for k in range(2)]
        workers = [subprocess.Popen([sys.executable, __file__, "--worker", str(path), str(iterations),
                                     str(seconds), str(out)], env=os.environ.copy()) for out in outs]
        for worker in workers:
            worker.wait(600)
        rate = 0.0
        for k, out in enumerate(outs):
            data = json.loads(out.read_text())
            rate += data["rate"]
            record(report, "socket", f"select, client {k + 1} of 2 at once", data["samples"], data["problems"])
        report.figures[-1].note = (report.figures[-1].note + "; " if report.figures[-1].note else "") + \
            f"both clients together: {rate:,.0f} selects/s (each followed by its succeed; warm-up excluded)"
    finally:
        proc.terminate()
        proc.wait(30)


def _wall_ms(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = (time.perf_counter() - t0) * 1e3
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {run.returncode}: {run.stderr}")
    return elapsed, run.stdout


def bench_cold(report: Report, root: Path, agent: Path, runs: int) -> None:
    """``mp-policy select`` (and select, then fail) as new processes, median wall time."""
    env = child_env(root)
    common = ["--agent-dir", str(agent), "--state", f"sqlite:///{root / 'cold.db'}", "--format", "json"]
    _wall_ms([str(SCRIPT), "select", "--pool", "claude", *common], env)  # bytecode compiled once
    selects: list[float] = []
    pairs: list[float] = []
    for _ in range(runs):
        ms, out = _wall_ms([str(SCRIPT), "select", "--pool", "claude", *common], env)
        selects.append(ms)
        turn = json.loads(out)["turn"]
        fail_ms, _ = _wall_ms([str(SCRIPT), "fail", "--turn", turn, "--status", "429", *common], env)
        pairs.append(ms + fail_ms)
    for name, values in (("mp-policy select (a new process)", selects),
                         ("mp-policy select, then mp-policy fail", pairs)):
        ordered = sorted(values)
        report.add(Figure("cold one-shot", name, "ms", {"runs": len(values), "median": round(statistics.median(
            ordered), 1), "min": round(ordered[0], 1), "max": round(ordered[-1], 1)}))


# --------------------------------------------------------------------------- output


def render_text(report: Report) -> str:
    """The human report."""
    m = report.machine
    out = ["mp-policy serve benchmarks",
           f"machine: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, {m['platform']}",
           f"load average at start: {m['load_average']}; state: SQLite in a temporary directory", ""]
    sections: dict[str, list[Figure]] = {}
    for f in report.figures:
        sections.setdefault(f.section, []).append(f)
    for section, figures in sections.items():
        out.append(f"== {section}")
        if figures[0].unit == "µs":
            head = ("case", "iters", "p50", "p99", "mean", "min", "target p50", "status")
            rows = [(f.name, num(f.values["iterations"]), num(f.values["p50"]), num(f.values["p99"]),
                     num(f.values["mean"]), num(f.values["min"]),
                     f"≤ {num(f.target)}" if f.target is not None else "", f.status) for f in figures]
            out += table(head, rows, unit="round trips in µs")
        else:
            head = ("case", "runs", "median", "min", "max")
            rows = [(f.name, num(f.values["runs"]), num(f.values["median"]), num(f.values["min"]),
                     num(f.values["max"])) for f in figures]
            out += table(head, rows, unit="wall time in ms")
        out += [f"  - {f.name}: {f.note}" for f in figures if f.note]
        out.append("")
    cold = next((f for f in report.figures if f.section == "cold one-shot"), None)
    warm = [f for f in report.figures if f.name == "select" and f.values.get("p50")]
    for f in warm:
        if cold is not None:
            ratio = float(cold.values["median"] or 0) * 1e3 / float(f.values["p50"] or 1)
            out.append(f"{f.section} select p50 is {ratio:,.0f}x faster than the cold one-shot median")
    verdicts = [f for f in report.figures if f.target is not None]
    out.append(f"targets met: {sum(f.status == 'target met' for f in verdicts)} of {len(verdicts)}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run the sections, print the report."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--worker"]:
        _socket_worker(args[1], int(args[2]), float(args[3]), args[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    options = parser.parse_args(args)
    iterations, seconds, runs = (500, 5.0, 3) if options.quick else (5000, 20.0, 10)
    report = Report(machine=machine_facts() | {"mode": "quick" if options.quick else "full"})
    if not SCRIPT.exists():
        print(f"the mp-policy console script is not installed next to {sys.executable}", file=sys.stderr)
        return 0
    root = Path(tempfile.mkdtemp(prefix="mp-policy-bench-serve-"))
    try:
        agent = make_agent(root)
        sections: list[tuple[str, Callable[[], None]]] = [
            ("stdio", lambda: bench_stdio(report, root, agent, iterations, seconds)),
            ("socket", lambda: bench_socket(report, root, agent, iterations, seconds)),
            ("cold one-shot", lambda: bench_cold(report, root, agent, runs)),
        ]
        for name, run in sections:
            print(f"mp-policy serve benchmark: {name}", file=sys.stderr, flush=True)
            run()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if options.format == "json":
        print(json.dumps({"machine": report.machine, "figures": [f.to_dict() for f in report.figures]}, indent=2,
                         ensure_ascii=False))
    else:
        print(render_text(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
