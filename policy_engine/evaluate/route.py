"""Routes: the ordered segments a request walks (DESIGN §4, "Routes").

A segment is one provider (``provider``), one pool's members (``pool``; rotation from the cursor
or after a named provider), or a marker for something disabled on the way (``disabled``).
Segments are small and JSON-serialisable, so a turn can keep the route it started with.
"""

from __future__ import annotations

from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.compile.graph import Graph

__all__ = ["RouteError", "Segment", "build_route", "describe_route"]


class RouteError(ValueError):
    """A request that names something the policy does not have (with a "did you mean")."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One step of a route."""

    kind: str  # "provider" | "pool" | "disabled"
    model: str | None
    via: str
    provider: str | None = None
    pool: str | None = None
    chain: str | None = None
    preset: str | None = None
    entry: int | None = None
    after: str | None = None  # pool segments: rotation after this provider (else from the cursor)
    detail: str | None = None  # disabled segments: why
    reason: str | None = None  # disabled segments: the skip reason (default "disabled")

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON form (only the fields that are set), in field order."""
        # Spelled out: a turn record holds its route, and this runs on every select and fail.
        out: dict[str, Any] = {"kind": self.kind}
        if self.model is not None:
            out["model"] = self.model
        out["via"] = self.via
        for key, value in (("provider", self.provider), ("pool", self.pool), ("chain", self.chain),
                           ("preset", self.preset), ("entry", self.entry), ("after", self.after),
                           ("detail", self.detail), ("reason", self.reason)):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Segment:
        """Inverse of :meth:`to_dict`."""
        get = raw.get
        return cls(get("kind"), get("model"), get("via"), get("provider"), get("pool"), get("chain"),  # type: ignore[arg-type]
                   get("preset"), get("entry"), get("after"), get("detail"), get("reason"))

    def describe(self) -> str:
        """A short human form: ``pool primary (after anthropic) → claude-sonnet-4``."""
        where = []
        if self.chain is not None:
            where.append(f"chain {self.chain}#{self.entry}")
        if self.preset is not None:
            where.append(f"preset {self.preset}#{self.entry}")
        prefix = f"[{', '.join(where)}] " if where else ""
        model = f" → {self.model}" if self.model else ""
        if self.kind == "provider":
            return f"{prefix}{self.provider}{model}"
        if self.kind == "pool":
            start = f"after {self.after}" if self.after else "from its cursor"
            return f"{prefix}pool {self.pool} ({start}){model}"
        return f"{prefix}{self.detail}"


def _missing(kind: str, name: str, options: list[str]) -> RouteError:
    import difflib  # only for an error's "did you mean"

    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else (f"; known: {', '.join(options)}" if options else "")
    return RouteError(f"there is no {kind} named {name!r}{hint}")


def _chain_tail(graph: Graph, pool_name: str) -> list[Segment]:
    """The entries after a pool's entry in the first enabled chain that contains it."""
    found = graph.pool_chain.get(pool_name)
    if found is None:
        return []
    chain = graph.chains[found[0]]
    return _chain_entries(graph, chain.name, start_after=found[1])


def _chain_entries(graph: Graph, chain_name: str, start_after: int = -1) -> list[Segment]:
    chain = graph.chains[chain_name]
    out: list[Segment] = []
    for entry in chain.entries:
        if entry.index <= start_after or entry.dropped or entry.pool is None:
            continue
        pool = graph.pools[entry.pool]
        if not entry.enabled:
            out.append(Segment("disabled", entry.model, "chain", pool=pool.name, chain=chain.name,
                               entry=entry.index, detail=f"chain entry {entry.index} ({pool.name}) is disabled"))
        elif not pool.enabled:
            out.append(Segment("disabled", entry.model, "chain", pool=pool.name, chain=chain.name,
                               entry=entry.index, detail=f"pool {pool.name} is disabled"))
        else:
            out.append(Segment("pool", entry.model, "chain", pool=pool.name, chain=chain.name, entry=entry.index))
    return out


def build_route(
    graph: Graph,
    *,
    provider: str | None = None,
    pool: str | None = None,
    chain: str | None = None,
    preset: str | None = None,
    model: str | None = None,
) -> list[Segment]:
    """The route of a new turn started from exactly one of provider / pool / chain / preset."""
    given = [k for k, v in (("provider", provider), ("pool", pool), ("chain", chain), ("preset", preset)) if v]
    if len(given) != 1:
        raise RouteError("name exactly one of provider, pool, chain or preset" + (
            f" (got {', '.join(given)})" if given else ""))
    if provider is not None:
        segments = [Segment("provider", model, "current", provider=provider)]
        home = graph.pool_of(provider)
        if home is not None:
            segments.append(Segment("pool", model, "pool", pool=home.name, after=provider))
            segments.extend(_chain_tail(graph, home.name))
        return segments
    if pool is not None:
        found = graph.pools.get(pool)
        if found is None:
            raise _missing("pool", pool, sorted(graph.pools))
        if not found.enabled:
            return [Segment("disabled", model, "pool", pool=pool, detail=f"pool {pool} is disabled")]
        if found.dropped:
            return [Segment("disabled", model, "pool", pool=pool, reason="not-allowed",
                            detail=f"every member of pool {pool} is outside this project's allowedSubs")]
        return [Segment("pool", model, "pool", pool=pool), *_chain_tail(graph, pool)]
    if chain is not None:
        found_chain = graph.chains.get(chain)
        if found_chain is None:
            raise _missing("chain", chain, sorted(graph.chains))
        if not found_chain.enabled:
            return [Segment("disabled", model, "chain", chain=chain, detail=f"chain {chain} is disabled")]
        return _chain_entries(graph, chain)
    assert preset is not None
    found_preset = graph.presets.get(preset)
    if found_preset is None:
        raise _missing("preset", preset, sorted(graph.presets))
    if not found_preset.enabled:
        return [Segment("disabled", model, "preset", preset=preset, detail=f"preset {preset} is disabled")]
    segments = []
    for entry in found_preset.entries:
        assert entry.provider is not None
        home = graph.pool_of(entry.provider)
        if not entry.enabled:
            # The skip record names the provider's pool as written (DESIGN §4, "Decision").
            segments.append(Segment("disabled", entry.model, "preset", provider=entry.provider,
                                    pool=home.name if home is not None else None, preset=preset,
                                    entry=entry.index, detail=f"preset entry {entry.index} is disabled"))
            continue
        segments.append(Segment("provider", entry.model, "preset", provider=entry.provider, preset=preset,
                                entry=entry.index))
        # A provider the project does not allow is skipped as not-allowed by the walk, while its
        # allowed pool siblings still serve the entry (DESIGN §4, "Project allow-list").
        if home is not None:
            segments.append(Segment("pool", entry.model, "pool", pool=home.name, preset=preset, entry=entry.index,
                                    after=entry.provider))
    return segments


def describe_route(segments: list[Segment]) -> list[str]:
    """Human lines for a route."""
    return [s.describe() for s in segments]
