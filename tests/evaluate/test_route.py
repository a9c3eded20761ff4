"""Routes: the segments a request walks, for provider / pool / chain / preset requests (DESIGN §4 "Routes").

The route is a pure function of the graph and the request; these tests pin its shape (which
segments, in which order, with which model, ``via`` and written ``entry`` index), the
``disabled`` markers and the request errors (:class:`RouteError` with a "did you mean").
"""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.compile.graph import Graph
from policy_engine.engine import Engine
from policy_engine.evaluate.route import RouteError, Segment, build_route, describe_route

POLICY: dict[str, Any] = {
    "subscriptions": [
        {"provider": "anthropic", "index": 2},
        {"provider": "anthropic", "index": 3},
        {"provider": "openai-codex", "index": 2},
    ],
    "pools": [
        {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2", "anthropic-3"]},
        {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex", "openai-codex-2"]},
        {"name": "gem", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]},
        {"name": "off", "baseProvider": "github-copilot", "members": ["github-copilot"], "enabled": False},
    ],
    "chains": [
        {"name": "main", "entries": [
            {"pool": "claude", "model": "sonnet"},
            {"pool": "off", "model": "gpt-4.1"},
            {"pool": "codex", "model": "gpt-5"},
            {"pool": "gem", "model": "gemini-2.5-pro", "enabled": False},
        ]},
        {"name": "sleeping", "enabled": False, "entries": [{"pool": "gem", "model": "gemini-2.5-pro"}]},
    ],
    "presets": [
        {"name": "premium", "entries": [
            {"provider": "anthropic-2", "model": "opus"},
            {"provider": "github-copilot", "model": "gpt-4.1", "enabled": False},
            {"provider": "openai-codex", "model": "gpt-5"},
            {"provider": "google-antigravity", "model": "gemini-3"},
        ]},
        {"name": "paused", "enabled": False, "entries": [{"provider": "anthropic", "model": "m"}]},
    ],
}


@pytest.fixture(scope="module")
def graph() -> Graph:
    """The compiled graph of :data:`POLICY`."""
    return Engine.from_documents(POLICY).graph


def shape(route: list[Segment]) -> list[dict[str, Any]]:
    """The JSON form of each segment."""
    return [s.to_dict() for s in route]


# --- provider ---------------------------------------------------------------------------------


def test_provider_route_is_the_provider_then_its_pool_then_the_chain_tail(graph: Graph) -> None:
    route = build_route(graph, provider="anthropic-2", model="sonnet-x")
    assert shape(route) == [
        {"kind": "provider", "model": "sonnet-x", "via": "current", "provider": "anthropic-2"},
        {"kind": "pool", "model": "sonnet-x", "via": "pool", "pool": "claude", "after": "anthropic-2"},
        {"kind": "disabled", "model": "gpt-4.1", "via": "chain", "pool": "off", "chain": "main", "entry": 1,
         "detail": "pool off is disabled"},
        {"kind": "pool", "model": "gpt-5", "via": "chain", "pool": "codex", "chain": "main", "entry": 2},
        {"kind": "disabled", "model": "gemini-2.5-pro", "via": "chain", "pool": "gem", "chain": "main", "entry": 3,
         "detail": "chain entry 3 (gem) is disabled"},
    ]


def test_provider_route_from_the_middle_of_a_chain_only_goes_forward(graph: Graph) -> None:
    route = build_route(graph, provider="openai-codex", model="gpt-5-mini")
    assert [(s.kind, s.pool, s.entry) for s in route] == [
        ("provider", None, None), ("pool", "codex", None), ("disabled", "gem", 3),
    ]
    assert route[1].model == "gpt-5-mini"  # rotation in the starting pool keeps the request's model


def test_provider_in_no_pool_is_a_route_of_one(graph: Graph) -> None:
    route = build_route(graph, provider="google-antigravity", model="m")
    assert shape(route) == [{"kind": "provider", "model": "m", "via": "current", "provider": "google-antigravity"}]


def test_provider_only_in_a_disabled_pool_is_a_route_of_one(graph: Graph) -> None:
    assert [s.kind for s in build_route(graph, provider="github-copilot", model="m")] == ["provider"]


def test_unknown_provider_is_not_a_request_error(graph: Graph) -> None:
    # An unknown provider is a runtime skip (reason "unknown"), not a validation error.
    route = build_route(graph, provider="anthropic-9", model="m")
    assert [s.kind for s in route] == ["provider"]


def test_provider_route_without_a_model(graph: Graph) -> None:
    route = build_route(graph, provider="anthropic")
    assert route[0].model is None and route[1].model is None
    assert route[3].model == "gpt-5"


# --- pool ---------------------------------------------------------------------------------------


def test_pool_route_is_its_members_from_the_cursor_then_the_chain_tail(graph: Graph) -> None:
    route = build_route(graph, pool="claude", model="sonnet")
    assert shape(route)[0] == {"kind": "pool", "model": "sonnet", "via": "pool", "pool": "claude"}
    assert route[0].after is None
    assert [(s.kind, s.pool, s.entry, s.model) for s in route[1:]] == [
        ("disabled", "off", 1, "gpt-4.1"), ("pool", "codex", 2, "gpt-5"), ("disabled", "gem", 3, "gemini-2.5-pro"),
    ]


def test_pool_at_the_end_of_its_chain_is_a_route_of_one(graph: Graph) -> None:
    # gem is the last entry of "main" (a disabled entry still places the pool in the chain).
    route = build_route(graph, pool="gem", model="g")
    assert [(s.kind, s.pool) for s in route] == [("pool", "gem")]


def test_disabled_pool_request_gives_only_a_disabled_marker(graph: Graph) -> None:
    route = build_route(graph, pool="off", model="m")
    assert shape(route) == [{"kind": "disabled", "model": "m", "via": "pool", "pool": "off",
                             "detail": "pool off is disabled"}]


def test_unknown_pool_is_a_route_error_with_did_you_mean(graph: Graph) -> None:
    with pytest.raises(RouteError, match=r"there is no pool named 'cluade'; did you mean 'claude'\?"):
        build_route(graph, pool="cluade")


# --- chain --------------------------------------------------------------------------------------


def test_chain_route_is_every_entry_with_its_model_and_written_index(graph: Graph) -> None:
    route = build_route(graph, chain="main", model="ignored")
    assert [(s.kind, s.pool, s.model, s.entry, s.via, s.chain) for s in route] == [
        ("pool", "claude", "sonnet", 0, "chain", "main"),
        ("disabled", "off", "gpt-4.1", 1, "chain", "main"),
        ("pool", "codex", "gpt-5", 2, "chain", "main"),
        ("disabled", "gem", "gemini-2.5-pro", 3, "chain", "main"),
    ]
    assert all(s.after is None for s in route)  # every pool starts at its cursor


def test_disabled_chain_request_gives_only_a_disabled_marker(graph: Graph) -> None:
    route = build_route(graph, chain="sleeping")
    assert [(s.kind, s.chain, s.detail) for s in route] == [("disabled", "sleeping", "chain sleeping is disabled")]


def test_unknown_chain_is_a_route_error_with_did_you_mean(graph: Graph) -> None:
    with pytest.raises(RouteError, match=r"no chain named 'mian'; did you mean 'main'\?"):
        build_route(graph, chain="mian")


# --- preset -------------------------------------------------------------------------------------


def test_preset_route_is_each_entry_provider_then_its_pool_siblings(graph: Graph) -> None:
    route = build_route(graph, preset="premium")
    assert shape(route) == [
        {"kind": "provider", "model": "opus", "via": "preset", "provider": "anthropic-2", "preset": "premium",
         "entry": 0},
        {"kind": "pool", "model": "opus", "via": "pool", "pool": "claude", "preset": "premium", "entry": 0,
         "after": "anthropic-2"},
        {"kind": "disabled", "model": "gpt-4.1", "via": "preset", "provider": "github-copilot", "preset": "premium",
         "entry": 1, "detail": "preset entry 1 is disabled"},
        {"kind": "provider", "model": "gpt-5", "via": "preset", "provider": "openai-codex", "preset": "premium",
         "entry": 2},
        {"kind": "pool", "model": "gpt-5", "via": "pool", "pool": "codex", "preset": "premium", "entry": 2,
         "after": "openai-codex"},
        {"kind": "provider", "model": "gemini-3", "via": "preset", "provider": "google-antigravity",
         "preset": "premium", "entry": 3},
    ]


def test_preset_route_does_not_follow_chains(graph: Graph) -> None:
    route = build_route(graph, preset="premium")
    assert all(s.chain is None for s in route)


def test_disabled_preset_request_gives_only_a_disabled_marker(graph: Graph) -> None:
    route = build_route(graph, preset="paused")
    assert [(s.kind, s.preset) for s in route] == [("disabled", "paused")]


def test_unknown_preset_is_a_route_error_with_did_you_mean(graph: Graph) -> None:
    with pytest.raises(RouteError, match=r"no preset named 'premuim'; did you mean 'premium'\?"):
        build_route(graph, preset="premuim")


def test_unknown_name_far_from_anything_lists_the_known_names(graph: Graph) -> None:
    with pytest.raises(RouteError, match=r"known: main, sleeping"):
        build_route(graph, chain="zzzzzz")


# --- exactly one of -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"model": "m"},
        {"provider": "anthropic", "pool": "claude"},
        {"chain": "main", "preset": "premium"},
        {"provider": "anthropic", "pool": "claude", "chain": "main", "preset": "premium"},
    ],
)
def test_a_request_names_exactly_one_of_provider_pool_chain_preset(graph: Graph, request_: dict[str, str]) -> None:
    with pytest.raises(RouteError, match="exactly one of provider, pool, chain or preset"):
        build_route(graph, **request_)


def test_engine_select_applies_the_exactly_one_rule() -> None:
    engine = Engine.from_documents(POLICY)
    with pytest.raises(RouteError):
        engine.select("anthropic", pool="claude")
    with pytest.raises(RouteError):
        engine.select()


def test_route_error_is_a_value_error() -> None:
    assert issubclass(RouteError, ValueError)


# --- serialisation ------------------------------------------------------------------------------


def test_segments_round_trip_through_their_json_form(graph: Graph) -> None:
    for request in ({"provider": "anthropic"}, {"pool": "claude"}, {"chain": "main"}, {"preset": "premium"}):
        route = build_route(graph, model="m", **request)
        assert [Segment.from_dict(s.to_dict()) for s in route] == route


def test_describe_route_is_human_readable(graph: Graph) -> None:
    lines = describe_route(build_route(graph, provider="anthropic", model="sonnet"))
    assert lines[0] == "anthropic → sonnet"
    assert lines[1] == "pool claude (after anthropic) → sonnet"
    assert lines[3] == "[chain main#2] pool codex (from its cursor) → gpt-5"


def test_segments_round_trip_through_json_without_a_model() -> None:
    """A turn started without a model stores segments whose model is None; they must come back."""
    from policy_engine.evaluate.route import Segment

    for seg in (
        Segment("pool", None, "pool", pool="p"),
        Segment("provider", None, "current", provider="anthropic"),
        Segment("disabled", "m", "chain", pool="p", chain="c", entry=2, detail="pool p is disabled"),
    ):
        assert Segment.from_dict(seg.to_dict()) == seg
