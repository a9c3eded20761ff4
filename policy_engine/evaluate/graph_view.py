"""The whole compiled policy at a glance: pools, chains, presets, what each route reaches, what nothing reaches.

:func:`build_view` turns a compiled :class:`~policy_engine.compile.graph.Graph` (plus, when known, who is
logged in and the running cooldowns) into a :class:`GraphView`, which renders as text
(:func:`~policy_engine.evaluate.graph_render.render_text`), as Graphviz DOT
(:func:`~policy_engine.evaluate.graph_render.render_dot`, no ``graphviz`` package needed) and as
JSON (:meth:`GraphView.to_dict`).

*Reach* follows the real routes (:func:`policy_engine.evaluate.route.build_route`): a pool route is its
members and then the rest of the first enabled chain containing it; a chain is its entries'
pools in order; a preset entry is its provider and then the other members of that provider's
pool. A (account, model) pair already on the route earlier adds nothing (the evaluator lists it
once), so an entry whose pairs all came before is reported as redundant.

*Unreachable* parts: disabled pools, chains, presets and entries; entries into disabled pools
or into pools the project allow-list emptied; preset entries naming an unknown account, or a
not-allowed one whose pool has no allowed sibling to serve the entry; redundant entries;
members that are not known accounts or that the allow-list removed; preferred members whose
windows never open; pools that no chain or preset uses (only reached when named); declared or
logged-in accounts that no pool or preset names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime, tzinfo
from typing import Any

from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.durations import format_duration
from policy_engine.common.records import dataclass
from policy_engine.compile.graph import CompiledEntry, CompiledPool, Graph
from policy_engine.evaluate.route import Segment, build_route

__all__ = [
    "EntryView",
    "GraphView",
    "MemberView",
    "PoolView",
    "Reach",
    "SequenceView",
    "Unreachable",
    "build_view",
]


@dataclass(frozen=True, slots=True)
class MemberView:
    """A pool member: its state (``ok``, ``unknown``, ``no-auth``, ``cooldown``) and schedule role."""

    name: str
    status: str
    role: str | None = None
    schedule: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "status": self.status, "role": self.role, "schedule": self.schedule,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class PoolView:
    """A pool: strategy, members in rotation order, and how it connects to chains and presets."""

    name: str
    base: str
    strategy: str
    enabled: bool
    dropped: bool
    cooldown: str
    members: tuple[MemberView, ...]
    removed: tuple[str, ...]  # members the project allow-list removed
    continues: tuple[str, int] | None  # (chain, entry) where failover goes after this pool
    used_by: tuple[str, ...]  # chain:NAME / preset:NAME that reach this pool

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "baseProvider": self.base, "strategy": self.strategy, "enabled": self.enabled,
                "dropped": self.dropped, "cooldown": self.cooldown, "members": [m.to_dict() for m in self.members],
                "removedByAllowList": list(self.removed),
                "continuesIn": {"chain": self.continues[0], "entry": self.continues[1]} if self.continues else None,
                "usedBy": list(self.used_by)}


@dataclass(frozen=True, slots=True)
class EntryView:
    """A chain entry (``pool``) or preset entry (``provider``) with its status and the accounts it adds."""

    index: int
    model: str | None
    status: str  # ok | disabled | pool-disabled | dropped | unknown | not-allowed | redundant
    pool: str | None = None
    provider: str | None = None
    adds: tuple[str, ...] = ()
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"entry": self.index, "pool": self.pool, "provider": self.provider, "model": self.model,
                "status": self.status, "adds": list(self.adds), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SequenceView:
    """A chain or a preset: its entries in order."""

    kind: str  # "chain" | "preset"
    name: str
    enabled: bool
    entries: tuple[EntryView, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "enabled": self.enabled, "entries": [e.to_dict() for e in self.entries]}


@dataclass(frozen=True, slots=True)
class Reach:
    """The (account, model) targets a new turn on a route can end on, in route order."""

    route: str
    targets: tuple[tuple[str, str | None], ...]
    blocked: tuple[tuple[str, str], ...] = ()  # (account, reason) named on the route but never usable

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts, each once, in order."""
        return tuple(dict.fromkeys(p for p, _ in self.targets))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"route": self.route, "accounts": list(self.accounts),
                "targets": [{"provider": p, "model": m} for p, m in self.targets],
                "blocked": [{"provider": p, "reason": r} for p, r in self.blocked]}


@dataclass(frozen=True, slots=True)
class Unreachable:
    """A part of the policy that no new turn can use, with a reason code and why."""

    kind: str  # pool | chain | preset | entry | member | account
    name: str
    code: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "name": self.name, "code": self.code, "why": self.why}


@dataclass
class GraphView:
    """Everything :mod:`policy_engine.evaluate.graph_view` shows about one compiled policy."""

    revision: str
    timezone: str
    allowed: tuple[str, ...] | None
    accounts: tuple[str, ...]
    logged_in: frozenset[str] | None
    pools: tuple[PoolView, ...]
    chains: tuple[SequenceView, ...]
    presets: tuple[SequenceView, ...]
    reach: tuple[Reach, ...]
    unreachable: tuple[Unreachable, ...]
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        return {
            "policyRevision": self.revision,
            "timezone": self.timezone,
            "allowedSubs": list(self.allowed) if self.allowed is not None else None,
            "accounts": [{"name": a, "loggedIn": None if self.logged_in is None else a in self.logged_in}
                         for a in self.accounts],
            "pools": [p.to_dict() for p in self.pools],
            "chains": [c.to_dict() for c in self.chains],
            "presets": [p.to_dict() for p in self.presets],
            "reach": [r.to_dict() for r in self.reach],
            "unreachable": [u.to_dict() for u in self.unreachable],
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


# -- building ----------------------------------------------------------------------------------------


def _window_text(raw: Any) -> str:
    if not isinstance(raw, Mapping):
        return str(raw)
    parts = []
    if "cron" in raw:
        parts.append(f"cron '{raw['cron']}' for {raw.get('duration')}")
    if isinstance(raw.get("hours"), list) and len(raw["hours"]) == 2:
        start, end = raw["hours"]
        parts.append(f"{start:02d}-{end:02d}" if isinstance(start, int) and isinstance(end, int) else str(raw["hours"]))
    if raw.get("days"):
        parts.append(",".join(str(d) for d in raw["days"]))
    date_range = raw.get("dateRange")
    if isinstance(date_range, Mapping):
        parts.append(f"{date_range.get('from', '…')}..{date_range.get('to', '…')}")
    return " ".join(parts) or "all day"


def _members(pool: CompiledPool, graph: Graph, logged_in: frozenset[str] | None,
             cooldowns: Mapping[str, datetime], tz: tzinfo) -> tuple[MemberView, ...]:
    out = []
    for name in pool.members:
        raw = pool.member_schedule.get(name) if pool.strategy_name == "scheduled" else None
        role = schedule = None
        if isinstance(raw, Mapping):
            role = str(raw.get("role", "default"))
            windows = raw.get("windows") or []
            if windows:
                schedule = "; ".join(_window_text(w) for w in windows)
        if name not in graph.accounts:
            status, detail = "unknown", "not a known account (not a base provider nor a subscription)"
        elif logged_in is not None and name not in logged_in:
            status, detail = "no-auth", "no stored credentials"
        elif name in cooldowns:
            status, detail = "cooldown", f"cooling down until {cooldowns[name].astimezone(tz):%a %Y-%m-%d %H:%M}"
        else:
            status, detail = "ok", None
        out.append(MemberView(name, status, role, schedule, detail))
    return tuple(out)


class _Walker:
    """Follows one route's segments statically: which (account, model) pairs each segment adds."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.seen: set[tuple[str, str | None]] = set()
        self.targets: list[tuple[str, str | None]] = []
        self.blocked: list[tuple[str, str]] = []

    def segment(self, seg: Segment) -> list[str]:
        """The accounts this segment adds to the route (new (account, model) pairs only)."""
        graph = self.graph
        if seg.kind == "provider":
            candidates = [seg.provider or ""]
        elif seg.kind == "pool" and seg.pool in graph.pools:
            pool = graph.pools[seg.pool]
            candidates = pool.rotation_after(seg.after) if seg.after else list(pool.members)
        else:
            return []
        added = []
        for name in candidates:
            if name not in graph.accounts:
                self.blocked.append((name, "unknown"))
                continue
            if graph.allowed is not None and name not in graph.allowed:
                self.blocked.append((name, "not-allowed"))
                continue
            key = (name, seg.model)
            if key in self.seen:
                continue
            self.seen.add(key)
            self.targets.append(key)
            added.append(name)
        return added

    def reach(self, label: str) -> Reach:
        return Reach(label, tuple(self.targets), tuple(dict.fromkeys(self.blocked)))


def _reach(graph: Graph, label: str, segments: list[Segment]) -> tuple[Reach, dict[int, list[str]]]:
    """The route's reach, and the accounts each chain/preset entry index added."""
    walker = _Walker(graph)
    per_entry: dict[int, list[str]] = {}
    for seg in segments:
        added = walker.segment(seg)
        if seg.entry is not None:
            per_entry.setdefault(seg.entry, []).extend(added)
    return walker.reach(label), per_entry


_REDUNDANT = {
    "chain": "every account of the pool was already on the chain with this model",
    "preset": "the account and its pool were already on the preset with this model",
}


def _chain_entry_status(graph: Graph, entry: CompiledEntry) -> tuple[str, str | None]:
    """A chain entry's status apart from redundancy: disabled, into a disabled or emptied pool, else ok."""
    pool = graph.pools[entry.pool or ""]
    if not entry.enabled:
        return "disabled", "the entry is disabled"
    if not pool.enabled:
        return "pool-disabled", f"pool {pool.name} is disabled"
    if entry.dropped:
        return "dropped", f"every member of pool {pool.name} is outside this project's allowedSubs"
    return "ok", None


def _preset_entry_status(graph: Graph, entry: CompiledEntry) -> tuple[str, str | None]:
    """A preset entry's status apart from redundancy: disabled, an unknown or not-allowed account, else ok."""
    provider = entry.provider or ""
    if not entry.enabled:
        return "disabled", "the entry is disabled"
    if provider not in graph.accounts:
        return "unknown", f"{provider} is not a known account"
    if graph.allowed is not None and provider not in graph.allowed:
        return "not-allowed", f"{provider} is not in this project's allowedSubs"
    return "ok", None


def _sequence_view(graph: Graph, kind: str, name: str,
                   unreachable: list[Unreachable]) -> tuple[SequenceView, Reach | None]:
    """A chain or preset (``kind``) with its entries' status and reach; what nothing reaches goes to ``unreachable``."""
    seq = graph.chains[name] if kind == "chain" else graph.presets[name]
    entry_status = _chain_entry_status if kind == "chain" else _preset_entry_status
    reach = None
    added: dict[int, list[str]] = {}
    if seq.enabled:
        reach, added = _reach(graph, f"{kind}:{name}", build_route(graph, **{kind: name}))
    else:
        unreachable.append(Unreachable(kind, name, "disabled", f"{kind} {name} is disabled"))
    entries = []
    for entry in seq.entries:
        adds = tuple(added.get(entry.index, ()))
        status, detail = entry_status(graph, entry)
        if status == "not-allowed" and adds:
            # Its allowed pool siblings serve the entry (DESIGN §4, "Project allow-list").
            status, detail = "ok", f"{detail}; its pool siblings serve the entry"
        if status == "ok" and seq.enabled and not adds:
            status, detail = "redundant", _REDUNDANT[kind]
        if status != "ok" and seq.enabled:
            what = f"pool {entry.pool}" if kind == "chain" else entry.provider
            unreachable.append(Unreachable("entry", f"{kind} {name} #{entry.index} ({what})", status,
                                           detail or status))
        entries.append(EntryView(entry.index, entry.model, status, pool=entry.pool, provider=entry.provider,
                                 adds=adds, detail=detail))
    return SequenceView(kind, name, seq.enabled, tuple(entries)), reach


def _never_opens(pool: CompiledPool, member: str, now: datetime) -> bool:
    plan = pool.prepared.get(member) if isinstance(pool.prepared, Mapping) else None
    schedule = getattr(plan, "schedule", None)
    if getattr(plan, "role", None) != "preferred" or schedule is None:
        return False
    active, until = schedule.state(now)
    return not active and until is None


def build_view(graph: Graph, *, logged_in: Iterable[str] | None = None, cooldowns: Mapping[str, datetime] | None = None,
               now: datetime | None = None, diagnostics: Sequence[Diagnostic] = ()) -> GraphView:
    """The explanation of a whole compiled policy (see the module docstring).

    ``logged_in``: accounts with credentials (``None``: unknown, not reported); ``cooldowns``:
    running cooldowns (account → until); ``now`` (aware) is when "never opens" is judged.
    """
    moment = now or datetime.now(UTC)
    auth = frozenset(logged_in) if logged_in is not None else None
    running = {p: u for p, u in (cooldowns or {}).items() if u.timestamp() > moment.timestamp()}
    unreachable: list[Unreachable] = []
    chains, presets, reach = [], [], []
    for kind, names, views in (("chain", graph.chains, chains), ("preset", graph.presets, presets)):
        for name in names:
            view, found = _sequence_view(graph, kind, name, unreachable)
            views.append(view)
            if found is not None:
                reach.append(found)
    used_by: dict[str, list[str]] = {}
    for chain in graph.chains.values():
        if chain.enabled:
            for entry in chain.entries:
                if entry.enabled and entry.pool:
                    used_by.setdefault(entry.pool, []).append(f"chain:{chain.name}")
    for preset in graph.presets.values():
        if preset.enabled:
            for entry in preset.entries:
                home = graph.pool_of(entry.provider or "") if entry.enabled else None
                if home is not None:
                    used_by.setdefault(home.name, []).append(f"preset:{preset.name}")
    pools = []
    for pool in graph.pools.values():
        removed = tuple(m for m in dict.fromkeys(pool.written_members) if m not in pool.member_set)
        users = tuple(dict.fromkeys(used_by.get(pool.name, ())))
        pools.append(PoolView(pool.name, pool.base, pool.strategy_name, pool.enabled, pool.dropped,
                              format_duration(pool.cooldown), _members(pool, graph, auth, running, graph.tz), removed,
                              graph.pool_chain.get(pool.name), users))
        if not pool.enabled:
            unreachable.append(Unreachable("pool", pool.name, "disabled", f"pool {pool.name} is disabled"))
            continue
        if pool.dropped:
            unreachable.append(Unreachable("pool", pool.name, "not-allowed",
                                           f"every member of pool {pool.name} is outside this project's allowedSubs"))
            continue
        reach.append(_reach(graph, f"pool:{pool.name}", build_route(graph, pool=pool.name))[0])
        for member in removed:
            unreachable.append(Unreachable("member", f"{pool.name}/{member}", "not-allowed",
                                           f"{member} is removed from pool {pool.name} by this project's allowedSubs"))
        for member in pool.members:
            if member not in graph.accounts:
                unreachable.append(Unreachable("member", f"{pool.name}/{member}", "unknown",
                                               f"{member} is not a known account; it is always skipped"))
            elif pool.strategy_name == "scheduled" and _never_opens(pool, member, moment):
                unreachable.append(Unreachable("member", f"{pool.name}/{member}", "never-opens",
                                               f"{member} is a preferred member whose windows never open again"))
        if not users:
            unreachable.append(Unreachable("pool", pool.name, "no-route",
                                           f"no enabled chain or preset uses pool {pool.name}: only a request that "
                                           f"names it (pool:{pool.name}) or one of its members reaches it"))
    named = {m for p in graph.pools.values() if p.enabled for m in p.members}
    named |= {e.provider for p in graph.presets.values() if p.enabled for e in p.entries if e.enabled and e.provider}
    interesting = (graph.accounts - graph.bases) | (auth or frozenset())
    for account in sorted(interesting & graph.accounts):
        if account not in named and (graph.allowed is None or account in graph.allowed):
            unreachable.append(Unreachable("account", account, "no-route",
                                           f"{account} is in no enabled pool and no preset: only a request that "
                                           f"names it (provider:{account}) uses it"))
    return GraphView(
        revision=graph.revision, timezone=getattr(graph.tz, "key", None) or str(graph.tz),
        allowed=tuple(sorted(graph.allowed)) if graph.allowed is not None else None,
        accounts=tuple(sorted(graph.accounts)), logged_in=auth, pools=tuple(pools), chains=tuple(chains),
        presets=tuple(presets), reach=tuple(reach), unreachable=tuple(unreachable),
        diagnostics=tuple(d for d in diagnostics if d.severity == "warning"),
    )
