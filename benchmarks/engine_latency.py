"""Section 1 of ``bench_engine.py``: the latency of one decision, of ``select`` with its state write and of
``fail``, each next to its floor measured in the same run (see ``benchmarks/README.md``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from engine_cases import cooling, make_engine, members_of
from harness import Figure, Report, percentile
from timing import Budget, measure, router_pick_us, run_timed

__all__ = ["FAIL_FLOOR_RATIO", "SELECT_WRITE_RATIO", "bench_latency", "latency_budget_us"]

# Targets (µs); see benchmarks/README.md.
SELECT_P50_AT_3_US = 25.0
SELECT_P50_AT_1000_US = 1000.0
FAIL_FLOOR_RATIO = 35.0  # fail (memory store) p50 ≤ this many times the minimal router's pick
SQLITE_FAIL_FLOOR_RATIO = 2 * FAIL_FLOOR_RATIO  # with SQLite, at most twice that
SELECT_WRITE_RATIO = 2.0  # select with its state write ≤ this many times the dry-run decision
MESSAGE = "Rate limit reached; please try again later."


def latency_budget_us(accounts: int) -> float:
    """The p50 budget for ``accounts`` members: linear from 25 µs at 3 to 1 ms at 1,000."""
    slope = (SELECT_P50_AT_1000_US - SELECT_P50_AT_3_US) / (1000 - 3)
    return SELECT_P50_AT_3_US + slope * (accounts - 3)


def bench_latency(report: Report, budget: Budget) -> None:
    """Section 1: select / fail latency with the in-memory store, and select with SQLite."""
    sizes = {3: 20_000, 50: 10_000, 1000: 2_000}
    for count, full in sizes.items():
        engine = make_engine(count)
        budget_us = latency_budget_us(count)
        dry: dict[bool, Figure] = {}
        for explain in (False, True):
            # The decision itself: route, state snapshot, evaluation, Decision (DESIGN §2 "evaluate");
            # the state write that follows ("apply") is measured separately below.
            def decide(engine: Any = engine, explain: bool = explain) -> Any:
                return engine.select(pool="bench", model="claude-sonnet-4-5", explain=explain, dry_run=True)

            _check_target(decide(), f"round-robin {count}")
            dry[explain] = measure(report, budget, f"decision round-robin, {count} accounts, explain={explain}",
                                   decide, None, full, target=budget_us, binding=not explain,
                                   note="" if not explain else "reference: same budget as explain=False")

        def call(engine: Any = engine) -> Any:
            return engine.select(pool="bench", model="claude-sonnet-4-5")

        def end(decision: Any, engine: Any = engine) -> None:
            engine.succeed(decision.turn)

        measure(report, budget, f"select + turn written (memory store), {count} accounts", call, end, full,
                target=SELECT_WRITE_RATIO, target_on="ratio", binding=count == 3,
                floor=("the dry-run decision above", float(dry[False].values["p50"] or 1)),
                note="decision plus the state write (turn, cursor)" + ("" if count == 3 else "; reference"))
        engine.close()

    for strategy in ("quota-first", "scheduled"):
        engine = make_engine(50, strategy)

        def call_s(engine: Any = engine) -> Any:
            return engine.select(pool="bench", model="claude-sonnet-4-5")

        def end_s(decision: Any, engine: Any = engine) -> None:
            engine.succeed(decision.turn)

        _check_target(call_s(), f"{strategy} 50")
        measure(report, budget, f"select {strategy}, 50 accounts, explain=False", call_s, end_s, 10_000,
                target=latency_budget_us(50), binding=False, note="reference: the 50-account round-robin budget")
        engine.close()

    bench_fail(report, budget)

    for count, full in ((3, 10_000), (50, 5_000)):
        engine = make_engine(count)

        def round_trip(engine: Any = engine) -> tuple[Any, Any]:
            first = engine.select(pool="bench", model="claude-sonnet-4-5")
            second = engine.fail(first.turn, status=429, message="Rate limit reached; please try again later.")
            return first, second

        def reset(result: tuple[Any, Any], engine: Any = engine) -> None:
            from policy_engine.state import StateChanges

            first = result[0]
            engine.store.apply(StateChanges(clear_cooldowns=[first.target.provider], turns={first.turn: None}))

        first, second = round_trip()
        if second.target is None or second.error is None or second.error.kind != "rate_limit":
            raise SystemExit(f"fail round trip at {count} did not rotate: {second.to_dict()}")
        reset((first, second))
        measure(report, budget, f"select + fail(429) round trip, {count} accounts", round_trip, reset, full,
                target=2 * latency_budget_us(count), binding=False, note="reference: twice the select budget")
        engine.close()

    # What happens when turns are never ended (no succeed): the store keeps every turn for turnTtl.
    engine = make_engine(3)
    grow_n = budget.iterations(20_000)
    samples = run_timed(lambda: engine.select(pool="bench", model="claude-sonnet-4-5"), None,
                        iterations=grow_n, warmup=0, max_seconds=budget.max_seconds)
    window = max(100, len(samples.wall) // 10)
    first_p50 = percentile(sorted(samples.wall[:window]), 50) / 1e3
    last_p50 = percentile(sorted(samples.wall[-window:]), 50) / 1e3
    report.add(Figure("state growth", f"select round-robin, 3 accounts, {len(samples.wall):,} turns never ended",
                      "µs", {"iterations": len(samples.wall), "first_p50": first_p50, "last_p50": last_p50,
                             "p50": percentile(sorted(samples.wall), 50) / 1e3},
                      note=f"p50 of the first {window:,} calls vs the last {window:,}"))
    engine.close()

    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-") as tmp:
        url = "sqlite:///" + str(Path(tmp) / "state.db")
        engine = make_engine(3, state=url)
        for explain in (False, True):
            def call_q(engine: Any = engine, explain: bool = explain) -> Any:
                return engine.select(pool="bench", model="claude-sonnet-4-5", explain=explain)

            def end_q(decision: Any, engine: Any = engine) -> None:
                engine.succeed(decision.turn)

            _check_target(call_q(), "sqlite 3")
            measure(report, budget, f"select round-robin, 3 accounts, explain={explain}", call_q, end_q, 5_000,
                    section="decision latency (SQLite store, temp file)", gc_compare=False,
                    note="no target: state I/O dominates")
        engine.close()


def _check_target(decision: Any, what: str) -> None:
    """Stop with a clear message when a benchmark scenario is mis-built and finds no target."""
    if decision.target is None:
        raise SystemExit(f"benchmark setup error: {what} found no target: {decision.to_dict()}")



def bench_fail(report: Report, budget: Budget) -> None:
    """``fail(429)`` alone (classify, cooldown, walk, state write) at 3 accounts, memory and SQLite stores,
    next to the floor: a minimal Python router's pick over the same accounts."""
    from policy_engine.state import StateChanges

    members = members_of(3)
    floor_us = router_pick_us(members, cooling(members))
    floor = ("a minimal router's round-robin pick over the same 3 accounts", floor_us)
    with tempfile.TemporaryDirectory(prefix="mp-policy-bench-") as tmp:
        stores = (("memory", "memory://", FAIL_FLOOR_RATIO),
                  ("SQLite", "sqlite:///" + str(Path(tmp) / "fail.db"), SQLITE_FAIL_FLOOR_RATIO))
        for label, url, ratio in stores:
            engine = make_engine(3, state=url)

            def select(engine: Any = engine) -> Any:
                return engine.select(pool="bench", model="claude-sonnet-4-5")

            def fail(first: Any, engine: Any = engine) -> tuple[Any, Any]:
                return first, engine.fail(first.turn, status=429, message=MESSAGE)

            def reset(result: tuple[Any, Any], engine: Any = engine, label: str = label) -> None:
                first, second = result
                if second.target is None or second.error is None or second.error.kind != "rate_limit":
                    raise SystemExit(f"fail at 3 ({label}) did not rotate: {second.to_dict()}")
                engine.store.apply(StateChanges(clear_cooldowns=[first.target.provider], turns={first.turn: None}))

            measure(report, budget, f"fail(429) alone, 3 accounts ({label} store)", fail, reset, 10_000,
                    before=select, target=ratio, target_on="ratio", floor=floor,
                    section="fail latency (classify + cooldown + walk + state write)",
                    note="the select before it and the reset after it are not timed")
            engine.close()
