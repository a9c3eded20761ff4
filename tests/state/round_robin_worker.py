"""Child-process code of ``test_redis_round_trips.py`` (spawned processes import it by name)."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from typing import Any

from policy_engine.state import StateChanges, StateSnapshot, StateStore, TurnRecord
from policy_engine.state.redis_store import RedisStore

NOW = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)


def count_up(url: str, p: int, times: int, start: Any, results: Any, *, base: bool = False) -> None:
    """Process ``p``: ``times`` read-modify-write increments of one counter (kept as a cursor) through
    ``transact``; reports the value each increment saw. ``base``: the plain read, decide, write of
    :class:`StateStore` instead of the store's own transact (what the engine did before)."""

    def decide(_: TurnRecord | None, snap: StateSnapshot) -> tuple[StateChanges, int]:
        seen = int(snap.cursors.get("counter", "0"))
        return StateChanges(cursors={"counter": str(seen + 1)}), seen

    try:
        with RedisStore(url) as store:
            store.snapshot()
            start.wait()
            transact = (lambda *a: StateStore.transact(store, *a)) if base else store.transact
            seen = [transact(None, NOW, decide) for _ in range(times)]
        results.put(("ok", p, seen))
    except BaseException:
        results.put(("error", p, traceback.format_exc()))
