"""Child-process code of ``test_fleet_processes.py`` (spawned processes import this module by name).

Every entry point runs in its own process, started with the ``spawn`` context. The test module puts
this directory on ``sys.path`` before it starts them, and spawn hands the parent's ``sys.path`` to each
child before it unpickles its target, so ``fleet_worker`` imports by name there. The entry points that take
a ``results`` queue report one ``("ok", ident, payload)`` or ``("error", ident, traceback)`` tuple on
it; ``hammer`` and ``hold_write_lock`` never finish on their own (the parent kills or releases them).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_engine.engine import Engine
from policy_engine.evaluate.decision import Decision
from policy_engine.state import Cooldown, QuotaSnapshot, SqliteStore, StateChanges, StateError, StateStore, TurnRecord
from policy_engine.state import open_store as open_url
from policy_engine.state.sqlite import sqlite_path_from_url

BASE = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
POOL = "fleet"
MODEL = "claude-sonnet-4"
MEMBERS = ("anthropic", *(f"anthropic-{k}" for k in range(2, 7)))
COOLDOWN = timedelta(minutes=10)
EPOCH = timedelta(hours=2)  # engine time between epochs of the decision run: longer than any cooldown written
PHASE = timedelta(minutes=30)  # engine time between phases of the outage run: > COOLDOWN, < the 1 h turn lifetime
RETRY_AFTER = (11 * 60, 40 * 60)  # seconds a 429's retry-after header asks for (longer than COOLDOWN)

# Phases of the Redis outage run (a shared integer the parent moves forward).
UP, DOWN, BACK, STOP = 0, 1, 2, 3


def fleet_policy(*, fallback: bool = False) -> dict[str, Any]:
    """One round-robin pool of six accounts with a 10-minute cooldown (``stateFallback: local`` on demand)."""
    settings: dict[str, Any] = {"timezone": "UTC", "cooldown": "10m"}
    if fallback:
        settings["stateFallback"] = "local"
    return {
        "settings": settings,
        "subscriptions": [{"provider": "anthropic", "index": k} for k in range(2, 7)],
        "pools": [{"name": POOL, "baseProvider": "anthropic", "members": list(MEMBERS), "strategy": "round-robin",
                   "cooldown": "10m"}],
    }


def open_engine(state: str | StateStore | None, agent_dir: str | Path, clock: Callable[[], datetime], *,
                fallback: bool = False) -> Engine:
    """An engine over :func:`fleet_policy` on ``state`` (a URL or a store), with every account authenticated.

    ``None`` is the default state file in ``agent_dir``.
    """
    return Engine.from_documents(fleet_policy(fallback=fallback), state=state, env={}, auth=MEMBERS, clock=clock,
                                 agent_dir=agent_dir)


def open_state_store(url: str, *, log_limit: int | None = None) -> StateStore:
    """The store behind ``url`` (``sqlite://…`` or ``redis://…?namespace=…``), optionally with a log limit."""
    if log_limit is None:
        return open_url(url, agent_dir=Path("."))
    if url.startswith("sqlite://"):
        return SqliteStore(sqlite_path_from_url(url), log_limit=log_limit)
    from policy_engine.state.redis_store import RedisStore

    return RedisStore(url, log_limit=log_limit)


class SettableClock:
    """The engine clock of one child: a fixed time that the child moves between epochs."""

    def __init__(self, at: datetime = BASE) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _report(results: Any, ident: Any, body: Callable[[], Any]) -> None:
    try:
        results.put(("ok", ident, body()))
    except BaseException:
        results.put(("error", ident, traceback.format_exc()))


# --------------------------------------------------------------------------- 1. decisions


def decide(url: str, agent_dir: str, p: int, epochs: int, turns: int, barrier: Any, results: Any) -> None:
    """Process ``p``: per epoch, ``turns`` turns of select → fail(429) → … until no target is left.

    All processes run an epoch at the same fixed engine time (a barrier separates epochs), so
    every cooldown written in an epoch runs for the whole epoch. Reports every call with the
    system-wide monotonic time just before it and just after it returned, and (process 0) the
    store's active cooldowns at the end of each epoch, when every process has finished it.
    """

    def run() -> dict[str, Any]:
        rng = random.Random(1000 + p)
        clock = SettableClock()
        events: list[dict[str, Any]] = []
        snapshots: dict[int, dict[str, float]] = {}
        with open_engine(url, agent_dir, clock) as engine:
            for epoch in range(epochs):
                clock.at = BASE + epoch * EPOCH
                barrier.wait()
                for _ in range(turns):
                    start = time.monotonic()
                    decision = engine.select(pool=POOL, model=MODEL)
                    end = time.monotonic()
                    events.append(_event(epoch, "select", None, None, start, end, decision))
                    while decision.target is not None:
                        failing = decision.target.provider
                        retry = rng.randint(*RETRY_AFTER)
                        start = time.monotonic()
                        decision = engine.fail(decision.turn, status=429, message="rate limit",
                                               headers={"retry-after": str(retry)})
                        end = time.monotonic()
                        written = (clock.at + timedelta(seconds=retry)).timestamp()
                        events.append(_event(epoch, "fail", failing, written, start, end, decision))
                barrier.wait()  # everybody is done with this epoch
                if p == 0:
                    active = engine.store.snapshot().active_cooldowns(clock.at)
                    snapshots[epoch] = {name: c.until.timestamp() for name, c in active.items()}
                barrier.wait()  # nobody starts the next epoch (and purges) before the snapshot
        return {"events": events, "snapshots": snapshots}

    _report(results, p, run)


def _event(epoch: int, op: str, failed: str | None, written: float | None, start: float, end: float,
           decision: Decision) -> dict[str, Any]:
    error = decision.error
    return {
        "epoch": epoch, "op": op, "failed": failed, "written": written, "start": start, "end": end,
        "target": decision.target.provider if decision.target else None,
        "retry_after": decision.retry_after.timestamp() if decision.retry_after else None,
        "cooldown_until": error.cooldown_until.timestamp() if error and error.cooldown_until else None,
    }


def cursor_writer(url: str, p: int, batches: int, start: Any, results: Any) -> None:
    """Process ``p``: ``batches`` store batches, each setting the pool cursor and logging that same cursor."""

    def run() -> int:
        with open_state_store(url) as store:
            start.wait(timeout=60)
            for i in range(batches):
                name = f"p{p}-{i:04d}"
                store.apply(StateChanges(cursors={POOL: name}, log=[{"cursor": name, "p": p, "i": i}]))
        return batches

    _report(results, p, run)


# --------------------------------------------------------------------------- 2. SIGKILL


def hammer_batch(tag: str, i: int, rows: int) -> StateChanges:
    """Batch ``i``: ``rows`` cooldowns, cursors and turns, one quota row and one log entry, all tagged."""
    key = f"{tag}-{i}"
    return StateChanges(
        cooldowns=[Cooldown(f"{key}-{k}", BASE + timedelta(minutes=k + 1), f"rl {key}", BASE) for k in range(rows)],
        cursors={f"pool-{key}-{k}": f"m{k}" for k in range(rows)},
        turns={f"{key}-{k}": TurnRecord(f"{key}-{k}", {"i": i, "k": k, "pad": "x" * 64}, BASE, BASE + timedelta(days=1))
               for k in range(rows)},
        quota=[QuotaSnapshot(f"q-{key}", 50.0, BASE, source="test")],
        log=[{"tag": tag, "i": i}],
    )


def hammer(url: str, tag: str, rows: int, done: Any) -> None:
    """Apply tagged batches forever, publishing how many were acknowledged; the parent SIGKILLs it."""
    store = open_state_store(url, log_limit=10**6)
    i = 0
    while True:
        store.apply(hammer_batch(tag, i, rows))
        i += 1
        done.value = i


# --------------------------------------------------------------------------- 3. Redis outage


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def outage_client(url: str, agent_dir: str, p: int, fallback: bool, phase: Any, since: Any, counts: Any,
                  results: Any) -> None:
    """Decide in a loop against ``url`` until the phase is STOP; report every engine call.

    The engine clock is ``BASE + phase × PHASE`` at each call, so cooldowns written in one phase
    have ended in the next (accounts are free again) while turns live on. For each call: the
    phase and the monotonic times when it started and ended, the exception (type, whether it is a
    StateError, message), whether the fallback store was degraded after it, the turn it wrote,
    the provider it failed and the cooldown end it got. ``counts[p * 4 + phase]`` counts the
    calls that started after ``since`` (a monotonic time the parent sets) and went as expected
    in that phase (fallback: answered, by the local store only in DOWN; no fallback: answered,
    except in DOWN where they raised), so the parent knows when to move on.
    """
    collect = _Collect()
    log = logging.getLogger("mp_policy.state")
    log.addHandler(collect)
    log.propagate = False

    def run() -> dict[str, Any]:
        def clock() -> datetime:
            return BASE + min(phase.value, BACK) * PHASE

        calls: list[dict[str, Any]] = []
        with open_engine(url, agent_dir, clock, fallback=fallback) as engine:
            turn: str | None = None
            current: str | None = None
            while phase.value != STOP:
                ph = phase.value
                call: dict[str, Any] = {"phase": ph, "op": "fail" if turn else "select", "error": None,
                                        "failed": current if turn else None, "until": None, "turn": None}
                start = call["start"] = time.monotonic()
                try:
                    if turn:
                        # provider= too: a turn begun on the other store is unknown to this one
                        decision = engine.fail(turn, provider=current, status=429, message="rate limit")
                        call["until"] = decision.error.cooldown_until.timestamp()
                    else:
                        decision = engine.select(pool=POOL, model=MODEL)
                    call["turn"] = decision.turn
                    turn = decision.turn if decision.target else None
                    current = decision.target.provider if decision.target else None
                    call["target"] = current
                    call["retry_after"] = decision.retry_after.timestamp() if decision.retry_after else None
                except Exception as exc:
                    turn = current = None
                    call["error"] = [type(exc).__name__, isinstance(exc, StateError), str(exc)]
                call["end"] = time.monotonic()
                call["seconds"] = call["end"] - start
                call["degraded"] = bool(getattr(engine.store, "degraded", False))
                calls.append(call)
                if fallback:
                    served = call["error"] is None and call["degraded"] == (ph == DOWN)
                else:
                    served = (call["error"] is not None) == (ph == DOWN)
                if served and ph < STOP and start > since.value:
                    counts[p * 4 + ph] += 1
                time.sleep(0.005)
            warnings = engine.state_warnings
        return {"calls": calls, "warnings": warnings, "logged": collect.messages}

    _report(results, p, run)


# --------------------------------------------------------------------------- 4. SQLite lock holder


def hold_write_lock(path: str, ready: Any, release: Any) -> None:
    """Open a write transaction on the state file (an uncommitted cursor row), then wait; COMMIT on ``release``.

    ``ready`` and ``release`` are lock-free shared integers, polled: the parent stops this process
    (SIGSTOP) at any moment, and a process stopped inside an ``Event`` would hold its lock.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO cursors (ns, pool, member) VALUES ('default', 'held', 'by-holder')")
    ready.value = 1
    deadline = time.monotonic() + 120
    while not release.value and time.monotonic() < deadline:
        time.sleep(0.01)
    conn.execute("COMMIT")
    conn.close()

