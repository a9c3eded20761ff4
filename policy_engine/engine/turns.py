"""The pieces of a turn the engine keeps between calls: fresh turn ids, the rest of a route, visited entries."""

from __future__ import annotations

import os
import random
from typing import Any

from policy_engine.evaluate.decision import Target
from policy_engine.evaluate.route import Segment

__all__ = ["new_turn_id", "route_after", "visited_entries"]

_TURN_IDS = random.Random(int.from_bytes(os.urandom(8)))  # os.urandom: what secrets.randbits reads
os.register_at_fork(after_in_child=lambda: _TURN_IDS.seed(int.from_bytes(os.urandom(8))))  # forks: own ids


def new_turn_id() -> str:
    """A fresh 16-hex-digit turn id (random, unique across processes; no system call per id)."""
    return f"{_TURN_IDS.getrandbits(64):016x}"


def route_after(route: list[Segment], position: int, failing: str) -> list[Segment]:
    """The route after ``failing`` at ``position``: the rest of its pool in rotation order, then the rest."""
    seg = route[position]
    rest = route[position + 1:]
    if seg.kind != "pool":
        return rest
    replaced = Segment("pool", seg.model, seg.via, pool=seg.pool, chain=seg.chain, preset=seg.preset,
                       entry=seg.entry, after=failing)
    return [replaced, *rest]


def visited_entries(previous: list[list[Any]], target: Target | None) -> list[list[Any]]:
    """The chain and preset entries a turn has visited, with ``target``'s entry added."""
    visited = [list(v) for v in previous]
    if target is not None and target.entry is not None:
        key = ["chain" if target.chain else "preset", target.chain or target.preset, target.entry]
        if key not in visited:
            visited.append(key)
    return visited
