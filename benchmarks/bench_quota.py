"""Benchmarks for the quota checkers and the quota cache.

Run from the repository root::

    .venv/bin/python benchmarks/bench_quota.py            # full run (about half a minute)
    .venv/bin/python benchmarks/bench_quota.py --quick
    .venv/bin/python benchmarks/bench_quota.py --format json

Two sections (targets from the quota issue; see ``benchmarks/README.md``):

1. **Parallel checks**: ten accounts (two of each built-in family) checked against the local
   provider test server (``tests/quota/provider_server.py``, in a child process so that it does
   not compete for this interpreter's GIL) answering every request after 100 ms. Target: about
   one latency, not ten (we print the ratio of wall time to the latency). The Google families
   refresh nothing (tokens are valid); Antigravity answers on its first endpoint.
2. **Decisions with a warm quota cache**: ``Engine.select`` on a ``quota-first`` pool whose
   members all have fresh snapshots, against the same pool with ``round-robin``, on the
   in-memory store. Target: quota-first within 2x of round-robin (p50).

The script only measures and prints; it never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "quota"))

import payloads as P  # noqa: E402 - the test server's payloads
from provider_server import ProviderServer, Reply  # noqa: E402

from policy_engine.engine import Engine  # noqa: E402
from policy_engine.plugins import get_registry  # noqa: E402
from policy_engine.providers.families import read_credential  # noqa: E402
from policy_engine.quota.runner import QuotaAccount, check_accounts  # noqa: E402
from policy_engine.quota.status import snapshot_from_windows  # noqa: E402
from policy_engine.state import QuotaWindow, StateChanges  # noqa: E402

LATENCY = 0.100
PARALLEL_TARGET_RATIO = 1.5  # wall time / latency: "about one latency"
DECISION_TARGET_RATIO = 2.0
NOW = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)

ROUTES = {
    "GET /backend-api/wham/usage": P.CODEX_USAGE,
    "GET /api/oauth/usage": P.ANTHROPIC_USAGE,
    "GET /copilot_internal/user": P.COPILOT_USER_PRO,
    "POST /v1internal:retrieveUserQuota": P.GEMINI_QUOTA,
    "POST /sandbox/v1internal:fetchAvailableModels": P.ANTIGRAVITY_MODELS,
}
CREDENTIALS = {
    "openai-codex": P.codex_credential, "anthropic": P.anthropic_credential, "github-copilot": P.copilot_credential,
    "google-gemini-cli": P.google_credential, "google-antigravity": P.google_credential,
}


def serve(latency: float) -> None:
    """The child process: a provider server answering every quota route after ``latency``; prints its env."""
    with ProviderServer() as server:
        for route, body in ROUTES.items():
            method, path = route.split(" ", 1)
            server.reply(method, path, Reply(json=body, delay=latency))
        print(json.dumps(server.env()), flush=True)
        sys.stdin.read()  # until the parent closes our stdin


def bench_parallel(rounds: int) -> dict[str, Any]:
    """Ten accounts, each answered after LATENCY by a server in another process; wall time per round."""
    checkers = get_registry().quota_checkers
    accounts = [QuotaAccount(f"{base}-{i}", base, base, read_credential(make()))
                for base, make in CREDENTIALS.items() for i in (2, 3)]
    times: list[float] = []
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(LATENCY)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        env = json.loads(child.stdout.readline())
        for _ in range(rounds):
            started = time.perf_counter()
            results = asyncio.run(check_accounts(accounts, checkers, now=NOW, env=env, timeout=5.0))
            times.append(time.perf_counter() - started)
            bad = [r for r in results if r.status == "error"]
            if bad:
                raise SystemExit(f"unexpected errors: {[(r.provider, r.summary) for r in bad]}")
    finally:
        child.communicate("")
    median = statistics.median(times)
    return {"accounts": len(accounts), "latency_ms": LATENCY * 1000, "rounds": rounds,
            "wall_p50_ms": median * 1000, "wall_min_ms": min(times) * 1000, "wall_max_ms": max(times) * 1000,
            "serial_would_be_ms": LATENCY * 1000 * len(accounts), "ratio_to_latency": median / LATENCY,
            "target_ratio": PARALLEL_TARGET_RATIO, "met": median / LATENCY <= PARALLEL_TARGET_RATIO}


def _engine(strategy: str, members: int) -> Engine:
    names = ["openai-codex", *(f"openai-codex-{i}" for i in range(2, members + 1))]
    policy = {"subscriptions": [{"provider": "openai-codex", "index": i} for i in range(2, members + 1)],
              "pools": [{"name": "codex", "baseProvider": "openai-codex", "strategy": strategy, "members": names}]}
    engine = Engine.from_documents(policy, auth=set(names), clock=lambda: NOW)
    snaps = [snapshot_from_windows(n, [QuotaWindow("5h", float(10 + 7 * i % 90), None)], now=NOW,
                                   source="bench", summary="") for i, n in enumerate(names)]
    engine.store.apply(StateChanges(quota=snaps))
    return engine


def _p50_us(engine: Engine, calls: int) -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        decision = engine.select(pool="codex")
        samples.append(time.perf_counter_ns() - started)
        engine.succeed(decision.turn)
    return statistics.median(samples) / 1000


def bench_decisions(calls: int) -> list[dict[str, Any]]:
    """quota-first with a warm cache against round-robin, pools of 3 and 20."""
    rows = []
    for members in (3, 20):
        engines = {s: _engine(s, members) for s in ("round-robin", "quota-first")}
        for engine in engines.values():
            _p50_us(engine, 200)  # warm up
        rr = _p50_us(engines["round-robin"], calls)
        qf = _p50_us(engines["quota-first"], calls)
        note = engines["quota-first"].select(pool="codex", dry_run=True).to_dict()["strategy"][0]
        assert not note["fallback"], note
        rows.append({"members": members, "round_robin_p50_us": rr, "quota_first_p50_us": qf, "ratio": qf / rr,
                     "target_ratio": DECISION_TARGET_RATIO, "met": qf / rr <= DECISION_TARGET_RATIO})
    return rows


def main() -> None:
    """Run both sections and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--serve", type=float, metavar="LATENCY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    machine = f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}"
    parallel = bench_parallel(3 if args.quick else 10)
    decisions = bench_decisions(2000 if args.quick else 20000)
    if args.format == "json":
        print(json.dumps({"machine": machine, "parallel": parallel, "decisions": decisions}, indent=2))
        return
    print(f"machine: {machine}")
    p = parallel
    verdict = "target met" if p["met"] else "over target"
    print(f"parallel checks: {p['accounts']} accounts, {p['latency_ms']:.0f} ms each: p50 {p['wall_p50_ms']:.0f} ms "
          f"(min {p['wall_min_ms']:.0f}, max {p['wall_max_ms']:.0f}; serially {p['serial_would_be_ms']:.0f} ms) "
          f"= {p['ratio_to_latency']:.2f}x one latency (target <= {p['target_ratio']}x): {verdict}")
    for row in decisions:
        verdict = "target met" if row["met"] else "over target"
        print(f"decision, pool of {row['members']}: round-robin p50 {row['round_robin_p50_us']:.1f} µs, "
              f"quota-first (warm cache) p50 {row['quota_first_p50_us']:.1f} µs = {row['ratio']:.2f}x "
              f"(target <= {row['target_ratio']}x): {verdict}")


if __name__ == "__main__":
    main()
