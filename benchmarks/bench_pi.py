"""What the pi extension costs a ``pi -p`` run: its wall time with and without the extension.

Run from the repository root (pi 0.73.1 is installed from npm into the test cache the first time)::

    .venv/bin/python benchmarks/bench_pi.py            # 7 rounds (about a minute)
    .venv/bin/python benchmarks/bench_pi.py --quick    # 3 rounds
    .venv/bin/python benchmarks/bench_pi.py --format json

The real pi answers one prompt (``pi -p --no-session --no-tools -nc``) from the fake Anthropic API of the
tests (``tests/integrations/pi/anthropic_server.py``, in this process, answering at once), one account,
one pool. Each round runs, in turn:

- **without** the extension: ``--no-extensions``;
- **kept** (the default install, ``mp-policy pi install``): the extension asks ``hello`` and ``select``
  before the prompt goes out and sends ``succeed``, to one ``mp-policy serve --socket PATH --idle-exit
  30m`` that the first run started and the next ones reuse (that first, cold run is shown on its own and
  left out);
- **per-session** (``mp-policy pi install --per-session``): the same requests to an ``mp-policy serve
  --stdio`` started for the run, which loads Python and the policy before it answers.

Target (the pi issue): the default install within 10 % of pi without the extension (the medians). The
script only measures and prints; it never fails.
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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integrations" / "pi"))

from anthropic_server import AnthropicServer  # noqa: E402 - the tests' fake provider
from pi_agent import MODEL, MP_POLICY, pi_binary  # noqa: E402

from policy_engine.integrations.pi_setup import stop_server  # noqa: E402

TARGET = 0.10
TOKEN = "sk-ant-oat01-bench-not-a-real-token"


def _world(root: Path, url: str) -> dict[str, str]:
    agent = root / "agent"
    agent.mkdir()
    (agent / "auth.json").write_text(json.dumps(
        {"anthropic": {"type": "oauth", "access": TOKEN, "refresh": "r", "expires": 4_102_444_800_000}}))
    (agent / "models.json").write_text(json.dumps({"providers": {"anthropic": {"baseUrl": url}}}))
    (agent / "multi-pass.yaml").write_text(
        "pools:\n  - {name: claude, baseProvider: anthropic, members: [anthropic]}\n")
    (agent / "settings.json").write_text(json.dumps({"quietStartup": True}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MP_POLICY_", "PI_"))}
    env.update(HOME=str(root), PI_CODING_AGENT_DIR=str(agent), PI_OFFLINE="1", MP_POLICY_QUOTA_REFRESH="0")
    return env


def _install(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(MP_POLICY), "pi", "install", *args], env=env, check=True, capture_output=True, timeout=120)


def _run(pi: Path, env: dict[str, str], cwd: Path, *extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(pi), "--no-session", "--no-tools", "-nc", "--provider", "anthropic", "--model", MODEL,
                           *extra, "-p", "say hi"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "answer from" not in done.stdout:
        raise RuntimeError(f"pi failed (exit {done.returncode}): {done.stderr[-500:]}")
    return elapsed


def _figures(samples: list[float]) -> dict[str, Any]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples),
            "samples_s": [round(s, 3) for s in samples]}


def measure(rounds: int) -> dict[str, Any]:
    """Run the rounds and return the figures."""
    pi, why = pi_binary()
    if pi is None:
        raise SystemExit(f"cannot run the benchmark: {why}")
    samples: dict[str, list[float]] = {"without": [], "kept": [], "stdio": []}
    with tempfile.TemporaryDirectory(prefix="bench-pi-") as tmp, \
            AnthropicServer({TOKEN: "anthropic"}, log=Path(tmp) / "server.log") as server:
        roots = {name: Path(tmp) / name for name in ("stdio", "kept")}
        envs = {}
        for name, root in roots.items():
            root.mkdir()
            envs[name] = _world(root, server.url)
        _install(envs["stdio"], "--per-session")
        _install(envs["kept"])  # the default: the kept engine
        socket = json.loads((roots["kept"] / "agent" / "settings.json").read_text())["mpPolicy"]["socket"]
        try:
            _run(pi, envs["stdio"], roots["stdio"], "--no-extensions")  # warm the file cache (node, pi)
            cold = _run(pi, envs["kept"], roots["kept"])  # starts the kept server
            for index in range(rounds):
                print(f"round {index + 1}/{rounds}", file=sys.stderr)
                samples["without"].append(_run(pi, envs["stdio"], roots["stdio"], "--no-extensions"))
                samples["kept"].append(_run(pi, envs["kept"], roots["kept"]))
                samples["stdio"].append(_run(pi, envs["stdio"], roots["stdio"]))
        finally:
            stop_server(socket)
    base = statistics.median(samples["without"])
    out: dict[str, Any] = {"rounds": rounds, "target_overhead": TARGET, "kept_first_run_s": cold}
    for name, values in samples.items():
        row = _figures(values)
        row["overhead"] = statistics.median(values) / base - 1.0
        out[name] = row
    return out


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    figures = measure(3 if args.quick else 7)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, " \
              f"load {os.getloadavg()[0]:.1f}"
    if args.format == "json":
        print(json.dumps({"machine": machine, **figures}, indent=2))
        return
    print(f"machine: {machine}")
    print(f"pi -p, one prompt, {figures['rounds']} rounds (median, min-max):")
    labels = {"without": "without the extension", "kept": "default install (kept engine)",
              "stdio": "--per-session (engine per run, stdio)"}
    for name, label in labels.items():
        row = figures[name]
        verdict = ""
        if name == "kept":
            verdict = "  target met" if row["overhead"] <= TARGET else "  over target"
            verdict = f"  {row['overhead']:+.0%}{verdict}"
        elif name == "stdio":
            verdict = f"  {row['overhead']:+.0%}  (opt-out, no target)"
        print(f"  {label:<42} {row['median_s']:.2f} s  ({row['min_s']:.2f}-{row['max_s']:.2f}){verdict}")
    print(f"  kept engine, the run that starts it: {figures['kept_first_run_s']:.2f} s (not in the figures above)")
    print(f"target: the default install within {TARGET:.0%} of pi without the extension")


if __name__ == "__main__":
    main()
