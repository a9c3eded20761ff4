"""Non-finite numbers in JSON policies: refused by the loader with line, column and JSON path."""

from __future__ import annotations

import json

import pytest

from policy_engine.common import json_finite
from policy_engine.common.diagnostics import PolicyError
from policy_engine.policy.loader import load_text


def _errors(text: str) -> list[tuple[int | None, int | None, str, str]]:
    with pytest.raises(PolicyError) as caught:
        load_text(text, "p.json")
    return [(d.line, d.col, d.json_path, d.message) for d in caught.value.diagnostics]


def test_every_non_finite_number_is_reported_where_it_stands() -> None:
    text = ('{"label": "NaN, Infinity and 1e400 are fine in a string \\" NaN",\n'
            ' "pools": [{"cooldown": NaN}, {"cooldown": 5, "x": [1, -Infinity]}],\n'
            ' "settings": {"cooldown": 1e400, "turnTtl": 1E+309}}')
    assert _errors(text) == [
        (2, 25, "$.pools[0].cooldown", "NaN is not a number JSON allows"),
        (2, 56, "$.pools[1].x[1]", "-Infinity is not a number JSON allows"),
        (3, 27, "$.settings.cooldown", "1e400 is beyond a double's range (it would read as Infinity)"),
        (3, 45, "$.settings.turnTtl", "1E+309 is beyond a double's range (it would read as Infinity)"),
    ]
    # Finite numbers up to a double's range read as before.
    data = load_text('{"a": 1e3, "b": -0, "c": 1.7976931348623157e308, "d": ' + "9" * 308 + "}", "p.json").data
    assert data == {"a": 1000.0, "b": 0, "c": 1.7976931348623157e308, "d": int("9" * 308)}


def test_an_integer_of_thousands_of_digits_is_refused_not_an_internal_error() -> None:
    """Python refuses to convert more than 4300 digits (ValueError, not a JSON error): refused before that."""
    errors = _errors('{"version": ' + "9" * 5000 + "}")
    assert [(line, col, path) for line, col, path, _ in errors] == [(1, 13, "$.version")]
    assert "beyond a double's range" in errors[0][3]


def test_the_hooks_refuse_and_pass_through() -> None:
    assert json.loads("[1.5, 2]", parse_float=json_finite.parse_float, parse_int=json_finite.parse_int) == [1.5, 2]
    for text in ("NaN", "-Infinity", "1e999", "-" + "1" * 400):
        with pytest.raises(json_finite.NonFiniteNumber):
            json.loads(text, parse_constant=json_finite.parse_constant, parse_float=json_finite.parse_float,
                       parse_int=json_finite.parse_int)
