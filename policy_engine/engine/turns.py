"""The pieces of a turn the engine keeps between calls: fresh turn ids, the route left after a failure,
visited chain and preset entries."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from policy_engine.common.durations import format_duration
from policy_engine.compile.graph import Graph
from policy_engine.evaluate.decision import Decision, Target
from policy_engine.evaluate.route import Segment, build_route
from policy_engine.state import Cooldown, QuotaSnapshot, StateChanges, TurnRecord

__all__ = [
    "RemainingRoute",
    "cooldown_source",
    "new_turn_id",
    "remaining_route",
    "route_after",
    "turn_changes",
    "visited_entries",
]

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


#: What :func:`remaining_route` finds: the route to walk, the route the turn started with, and their JSON forms
#: where the turn stored them (``None``: encode the segments). A plain tuple: it is made on every ``fail``, and a
#: ``NamedTuple`` costs a Python-level ``__new__``.
RemainingRoute = tuple[list[Segment], list[Segment], list[dict[str, Any]] | None, list[dict[str, Any]] | None]


def _after_json(after: list[Segment], stored: list[dict[str, Any]], position: int) -> list[dict[str, Any]]:
    """The JSON form of ``route_after(route, position, ...)``: its new head encoded, the segments after
    ``position`` as the turn stored them (they are unchanged; the store encodes the batch anyway)."""
    rest = stored[position + 1:]
    out: list[dict[str, Any]] = []
    for s in after[:len(after) - len(rest)]:  # the new head: the failing pool after the failing member, or none
        out.append(s.to_dict())
    out += rest
    return out


def remaining_route(graph: Graph, data: Mapping[str, Any], failing: str, model: str | None, late: bool
                    ) -> RemainingRoute:
    """The route a rotating failure walks and the route the turn started with (DESIGN §4), each with its JSON
    form as far as the turn stored it (the walked route's segments after the failing one, the origin whole;
    ``None`` for a new route).

    A failure of the current target continues after it (``Fail``). A late failure (another
    provider while the turn is open) evaluates the route again from the turn's current
    position: the current target first, then the rest of its pool after it and the rest of
    the route ("The turn remembers its place"); a turn that has run out stays without a
    target. With no turn behind it, a route is started from the failing provider.
    """
    stored = data.get("route", [])
    route = [Segment.from_dict(s) for s in stored]
    origin = [Segment.from_dict(s) for s in data.get("origin") or ()] or route
    origin_json = data.get("origin") or stored
    current = data.get("target") or {}
    if late and not current:
        return [], origin, [], origin_json  # a turn that has run out stays at target: null
    position = current.get("segment")
    if route and isinstance(position, int) and 0 <= position < len(route):
        if not late:
            after = route_after(route, position, failing)
            return after, origin, _after_json(after, stored, position), origin_json
        seg = route[position]
        pinned = Segment("provider", current.get("model"), current.get("via") or seg.via,
                         provider=current["provider"], pool=current.get("pool"), chain=current.get("chain"),
                         preset=current.get("preset"), entry=current.get("entry"))
        after = route_after(route, position, current["provider"])
        return ([pinned, *after], origin, [pinned.to_dict(), *_after_json(after, stored, position)],
                origin_json)
    for k, seg in enumerate(route):
        pool = graph.pools.get(seg.pool or "") if seg.kind == "pool" else None  # None: renamed or removed since
        if (seg.kind == "provider" and seg.provider == failing) or (pool is not None and failing in pool.member_set):
            after = route_after(route, k, failing)
            return after, origin, _after_json(after, stored, k), origin_json
    if data:
        return route, origin, stored, origin_json  # a turn never goes back: the failing provider is behind it
    fresh = build_route(graph, provider=failing, model=model)
    return route_after(fresh, 0, failing), fresh, None, None


def turn_changes(decision: Decision, record: TurnRecord, cooldown: Cooldown | None = None,
                 quota: QuotaSnapshot | None = None) -> StateChanges:
    """A decision's state changes, written as one batch: the turn, the cooldown, the pool's cursor, quota."""
    changes = StateChanges(turns={record.turn_id: record})
    if cooldown is not None:
        changes.cooldowns.append(cooldown)
    if quota is not None:
        changes.quota.append(quota)
    target = decision.target
    if target is not None and target.pool is not None:
        changes.cursors[target.pool] = target.provider
    return changes


@functools.lru_cache(maxsize=256)
def cooldown_source(pool: str | None, length: timedelta) -> str:
    """Where a cooldown's length comes from: ``pool claude cooldown 5m`` (or ``default cooldown 5m``)."""
    return f"{'pool ' + pool if pool is not None else 'default'} cooldown {format_duration(length)}"
