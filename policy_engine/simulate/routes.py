"""The routes a simulation follows: ``pool:NAME``, ``chain:NAME``, ``preset:NAME``, ``provider:NAME``.

A pool or provider route may name the requested model after an ``@`` (``pool:codex@gpt-5``);
chain and preset entries carry their own models. By default a simulation follows every enabled
chain, preset and pool (pools the project allow-list emptied are left out), in that order.
"""

from __future__ import annotations

from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.common.suggestions import did_you_mean
from policy_engine.compile.graph import Graph
from policy_engine.evaluate.route import RouteError, Segment, _missing, build_route

__all__ = ["KINDS", "RouteSpec", "default_routes", "parse_route", "route_providers"]

#: The kinds of route, as written before the colon.
KINDS = ("pool", "chain", "preset", "provider")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route to simulate: what a new turn starts from (and the model, for pools and providers)."""

    kind: str
    name: str
    model: str | None = None

    @property
    def label(self) -> str:
        """``chain:main``, ``pool:codex@gpt-5``."""
        return f"{self.kind}:{self.name}" + (f"@{self.model}" if self.model else "")

    def request(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`policy_engine.engine.Engine.select` for this route."""
        if self.kind == "provider":
            return {"provider": self.name, "model": self.model}
        return {self.kind: self.name, "model": self.model}

    def segments(self, graph: Graph) -> list[Segment]:
        """The route's segments (raises :class:`RouteError` for a name the policy does not have)."""
        return build_route(graph, **self.request())


def parse_route(text: str, graph: Graph) -> RouteSpec:
    """Read ``KIND:NAME[@MODEL]`` and check the name against the policy (with a "did you mean")."""
    kind, sep, rest = text.strip().partition(":")
    if not sep or kind not in KINDS or not rest.strip():
        close = did_you_mean(kind, KINDS) if sep else None
        hint = f"; did you mean {close}:{rest}?" if close else ""
        raise RouteError(f"{text!r} is not a route: write KIND:NAME with KIND one of {', '.join(KINDS)} "
                         f"(e.g. chain:main, pool:codex@gpt-5){hint}")
    name, at, model = rest.strip().partition("@")
    if at and kind in ("chain", "preset"):
        raise RouteError(f"{text!r}: a {kind} route takes no @MODEL (its entries name their models)")
    if at and not model:
        raise RouteError(f"{text!r}: an empty model after '@'")
    spec = RouteSpec(kind, name, model or None)
    if kind == "provider":
        if name not in graph.accounts:
            raise _missing("account", name, sorted(graph.accounts))
        return spec
    spec.segments(graph)  # raises RouteError with a "did you mean" for an unknown name
    return spec


def default_routes(graph: Graph) -> list[RouteSpec]:
    """Every enabled chain, then preset, then pool (not those the allow-list emptied), in document order."""
    routes = [RouteSpec("chain", c.name) for c in graph.chains.values() if c.enabled]
    routes += [RouteSpec("preset", p.name) for p in graph.presets.values() if p.enabled]
    routes += [RouteSpec("pool", p.name) for p in graph.pools.values() if p.enabled and not p.dropped]
    return routes


def route_providers(graph: Graph, segments: list[Segment]) -> frozenset[str]:
    """Every account a route's segments name (named providers and the members of its pools)."""
    found: set[str] = set()
    for seg in segments:
        if seg.provider is not None:
            found.add(seg.provider)
        if seg.kind == "pool" and seg.pool in graph.pools:
            found.update(graph.pools[seg.pool].members)
    return frozenset(found)
