"""The options: the JSON Schema the strategy exposes, and the checks ``prepare`` makes."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mp_policy_weighted import OPTIONS_SCHEMA, Weighted, WeightedPlan, parse_options
from weighted_helpers import make_pool

VALIDATOR = Draft202012Validator(OPTIONS_SCHEMA)

VALID: list[dict[str, Any]] = [
    {},
    {"weights": {}},
    {"weights": {"work": 70, "personal": 30}},
    {"weights": {"work": 0.7}, "defaultWeight": 0.3},
    {"weights": {"work": 1e-6}, "defaultWeight": 1e6, "seed": -12},
    {"seed": 2**70},
    {"seed": 3.0},  # JSON Schema counts an integral float as an integer
]

# (options, a word the problem must mention)
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"weights": {"work": 0}}, "weights.work"),
    ({"weights": {"work": -1}}, "weights.work"),
    ({"weights": {"work": "70%"}}, "weights.work"),
    ({"weights": {"work": True}}, "weights.work"),
    ({"weights": {"work": None}}, "weights.work"),
    ({"weights": {"work": [1]}}, "weights.work"),
    ({"weights": ["work", "personal"]}, "weights"),
    ({"weights": None}, "weights"),
    ({"weights": {"": 1}}, "weights"),
    ({"defaultWeight": 0}, "defaultWeight"),
    ({"defaultWeight": -0.5}, "defaultWeight"),
    ({"defaultWeight": "1"}, "defaultWeight"),
    ({"seed": 1.5}, "seed"),
    ({"seed": "abc"}, "seed"),
    ({"seed": True}, "seed"),
    ({"seed": None}, "seed"),
    ({"weight": {"work": 1}}, "weight"),
    ({"salt": 1}, "salt"),
]


def test_the_schema_is_a_valid_draft_2020_12_schema_with_docs() -> None:
    Draft202012Validator.check_schema(OPTIONS_SCHEMA)
    assert OPTIONS_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert OPTIONS_SCHEMA["additionalProperties"] is False
    assert OPTIONS_SCHEMA["title"] and OPTIONS_SCHEMA["description"]
    for name, prop in OPTIONS_SCHEMA["properties"].items():
        assert prop.get("title") and prop.get("description"), name
    assert set(OPTIONS_SCHEMA["properties"]) == {"weights", "defaultWeight", "seed"}
    assert Weighted.options_schema is OPTIONS_SCHEMA


@pytest.mark.parametrize("options", VALID)
def test_valid_options_pass_the_schema_and_prepare(options: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(options)) == []
    pool = make_pool(["work", "personal"], options)
    assert isinstance(pool.prepared, WeightedPlan)


@pytest.mark.parametrize(("options", "word"), INVALID)
def test_invalid_options_are_found_by_the_schema_and_by_the_parser(options: dict[str, Any], word: str) -> None:
    assert list(VALIDATOR.iter_errors(options)), f"the schema accepts {options}"
    _, problems = parse_options(options, ["work", "personal"])
    assert problems, f"parse_options accepts {options}"
    assert all(p.in_schema for p in problems)
    assert any(word in str(p) for p in problems), problems


@pytest.mark.parametrize(("options", "word"), INVALID)
def test_prepare_leaves_what_the_schema_catches_to_the_core(options: dict[str, Any], word: str) -> None:
    # The core validates options against OPTIONS_SCHEMA with JSON paths; prepare must not report it twice.
    pool = make_pool(["work", "personal"], options)
    assert isinstance(pool.prepared, WeightedPlan)


def test_a_bad_weight_makes_its_member_unusable_in_the_plan() -> None:
    plan, _ = parse_options({"weights": {"work": 0, "personal": 2}, "defaultWeight": "x", "seed": "y"})
    assert plan == WeightedPlan(weights={"personal": 2.0}, default_weight=None, seed=0, unusable=frozenset({"work"}))


def test_a_zero_weight_says_how_to_stop_using_a_member() -> None:
    assert list(VALIDATOR.iter_errors({"weights": {"work": 0}}))
    _, problems = parse_options({"weights": {"work": 0}})
    assert [str(p) for p in problems] == [
        "options.weights.work: must be greater than 0 (a weight of 0 is not allowed: to stop using a member, "
        "remove it from the pool's members)"
    ]


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400])
def test_weights_that_are_not_finite_are_rejected_by_prepare(value: Any) -> None:
    # YAML `.inf`/`.nan` and huge integers get past a JSON Schema `number`; prepare catches them.
    assert list(VALIDATOR.iter_errors({"weights": {"work": value}, "defaultWeight": value})) == []
    with pytest.raises(ValueError, match=r"options\.weights\.work: must be a finite number"):
        make_pool(["work", "personal"], {"weights": {"work": value}})
    with pytest.raises(ValueError, match=r"options\.defaultWeight: must be a finite number"):
        make_pool(["work", "personal"], {"defaultWeight": value})


def test_minus_infinity_is_left_to_the_schema() -> None:
    assert list(VALIDATOR.iter_errors({"weights": {"work": float("-inf")}}))
    _, problems = parse_options({"weights": {"work": float("-inf")}})
    assert [p.in_schema for p in problems] == [True]


def test_prepare_returns_the_plan_the_options_describe() -> None:
    pool = make_pool(["work", "personal", "spare"], {"weights": {"work": 7, "personal": 3}, "defaultWeight": 0.5,
                                                     "seed": 9})
    plan = pool.prepared
    assert plan == WeightedPlan(weights={"work": 7.0, "personal": 3.0}, default_weight=0.5, seed=9)
    assert plan.weight("spare") == 0.5


def test_defaults_without_options() -> None:
    plan = make_pool(["work", "personal"], None).prepared
    assert plan == WeightedPlan(weights={}, default_weight=1.0, seed=0)


def test_weights_naming_a_non_member_are_an_error_with_a_did_you_mean() -> None:
    with pytest.raises(ValueError) as info:
        make_pool(["anthropic", "anthropic-2"], {"weights": {"anthropic": 2, "anthropc-2": 1}})
    message = str(info.value)
    assert "options.weights: 'anthropc-2' is not a member of the pool" in message
    assert "did you mean 'anthropic-2'?" in message


def test_a_non_member_without_a_close_match_lists_the_members() -> None:
    expected = r"options\.weights: 'zzz' is not a member of the pool \(members: work, personal\)"
    with pytest.raises(ValueError, match=expected):
        make_pool(["work", "personal"], {"weights": {"zzz": 1}})


def test_a_member_removed_by_the_allow_list_may_keep_its_weight() -> None:
    # Weights are checked against the members as written; a project allow-list may narrow the pool.
    pool = make_pool(["work", "personal"], {"weights": {"personal": 3}}, allowed=["work"])
    assert pool.members == ("work",)
    assert pool.prepared.weight("personal") == 3.0


def test_an_unknown_option_gets_a_did_you_mean() -> None:
    _, problems = parse_options({"default_weight": 2, "salt": 1})
    assert [str(p) for p in problems] == [
        "options: unknown option 'default_weight' (did you mean 'defaultWeight'?)",
        "options: unknown option 'salt' (known options: weights, defaultWeight, seed)",
    ]


def test_every_problem_beyond_the_schema_is_reported_at_once() -> None:
    options = {"weights": {"work": float("inf"), "nobody": 1}, "seed": "x"}
    _, problems = parse_options(options, ["work", "personal"])
    assert [(p.where, p.in_schema) for p in problems] == [("weights.work", False), ("weights", False),
                                                          ("seed", True)]
    with pytest.raises(ValueError) as info:
        make_pool(["work", "personal"], options)
    assert str(info.value) == f"{problems[0]}; {problems[1]}"


def test_options_that_are_not_a_mapping_are_rejected() -> None:
    plan, problems = parse_options(["work"])
    assert [str(p) for p in problems] == ["options: must be a mapping, got list"]
    assert plan == WeightedPlan(weights={})


def test_prepare_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("prepare opened a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert isinstance(make_pool(["work", "personal"], {"weights": {"work": 2}}).prepared, WeightedPlan)
    with pytest.raises(ValueError):
        make_pool(["work", "personal"], {"weights": {"wrok": 2}, "extra": 1})
