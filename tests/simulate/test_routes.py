"""Tests of :mod:`policy_engine.simulate.routes`: route specs, defaults, reachable accounts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policy_engine.compile.graph import Graph
from policy_engine.engine import Engine
from policy_engine.evaluate.route import RouteError
from policy_engine.policy.loader import load_file
from policy_engine.simulate.routes import RouteSpec, default_routes, parse_route, route_providers

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "policies" / "demo"


@pytest.fixture(scope="module")
def graph() -> Graph:
    """The demo policy's graph."""
    return Engine.from_documents(load_file(DEMO / "multi-pass.yaml")).graph


def test_parse_routes(graph: Graph) -> None:
    assert parse_route("chain:main", graph) == RouteSpec("chain", "main")
    assert parse_route(" pool:codex@gpt-5 ", graph) == RouteSpec("pool", "codex", "gpt-5")
    assert parse_route("provider:anthropic-2@claude-opus-4", graph).request() == {
        "provider": "anthropic-2", "model": "claude-opus-4"}
    assert parse_route("preset:coding-budget", graph).request() == {"preset": "coding-budget", "model": None}
    assert RouteSpec("pool", "codex", "gpt-5").label == "pool:codex@gpt-5"


@pytest.mark.parametrize(("text", "message"), [
    ("main", "is not a route: write KIND:NAME"),
    ("chian:main", "did you mean chain:main?"),
    ("chain:mian", "there is no chain named 'mian'; did you mean 'main'?"),
    ("pool:", "is not a route"),
    ("chain:main@gpt-5", "a chain route takes no @MODEL"),
    ("pool:codex@", "an empty model"),
    ("provider:antropic", "there is no account named 'antropic'; did you mean 'anthropic'?"),
])
def test_bad_routes(graph: Graph, text: str, message: str) -> None:
    with pytest.raises(RouteError, match=re.escape(message)):
        parse_route(text, graph)


def test_default_routes_are_enabled_chains_presets_pools_without_emptied_ones() -> None:
    engine = Engine.from_documents(
        load_file(DEMO / "multi-pass.yaml"),
        {"allowedSubs": ["anthropic-2"], "pools": [
            {"name": "a", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"]},
            {"name": "off", "baseProvider": "anthropic", "members": ["anthropic-2"], "enabled": False},
            {"name": "emptied", "baseProvider": "openai-codex", "members": ["openai-codex"]}],
         "chains": [{"name": "c", "entries": [{"pool": "a", "model": "m"}]},
                    {"name": "d", "enabled": False, "entries": [{"pool": "a", "model": "m"}]}]})
    labels = [r.label for r in default_routes(engine.graph)]
    assert labels == ["chain:c", "preset:coding-premium", "preset:coding-budget", "pool:a"]


def test_route_providers(graph: Graph) -> None:
    chain = RouteSpec("chain", "main")
    assert route_providers(graph, chain.segments(graph)) == frozenset(
        {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli"})
    pool = RouteSpec("pool", "gemini")
    assert route_providers(graph, pool.segments(graph)) == frozenset({"google-gemini-cli"})
