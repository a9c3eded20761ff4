"""The stores' JSON: orjson where it gives the standard library's answer, the standard library elsewhere."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from policy_engine.common import fast_json

VALUES: list[Any] = [
    {"v": 1, "t": 1796601600.25, "tz": "Europe/Vienna", "turn": "9f3c", "target": None, "ok": True,
     "skipped": [{"provider": "anthropic", "until": "2026-12-07T10:00:00+01:00"}], "elapsedUs": 85.1},
    {"unicode": "Grüße ✓ \u2028", "control": "a\tb\n\x00", "quote": '"\\'},
    [1e16, 1e-7, -0.0, 2**53, -(2**63), 0.1 + 0.2],
    {"nested": [[[]], {}], "empty": ""},
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("plain", [True, False])
def test_the_text_is_the_standard_library_text_up_to_the_spelling_of_floats(value: Any, plain: bool) -> None:
    text = fast_json.dumps(value, plain_numbers=plain)
    assert json.loads(text) == value
    assert fast_json.loads(text, plain_numbers=plain) == value
    if not isinstance(value, list):  # (the list holds floats, which orjson spells its own way)
        assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_unless_the_caller_vouches_for_its_numbers(bad: float) -> None:
    with pytest.raises(ValueError):
        fast_json.dumps({"x": [bad]})


@dataclass
class Point:
    x: int


@pytest.mark.parametrize("plain", [True, False])
@pytest.mark.parametrize("bad", [object(), {1, 2}, Point(1), datetime(2026, 1, 1, tzinfo=UTC), b"bytes"])
def test_what_the_standard_library_refuses_is_refused_on_both_paths(bad: Any, plain: bool) -> None:
    with pytest.raises(TypeError):
        fast_json.dumps({"x": bad}, plain_numbers=plain)


def test_what_orjson_cannot_take_goes_to_the_standard_encoder() -> None:
    big = 2**70  # (a broken promise: still written exactly)
    assert json.loads(fast_json.dumps({"n": big}, plain_numbers=True)) == {"n": big}
    ordered = OrderedDict([("b", 1), ("a", 2)])  # a dict subclass
    assert fast_json.dumps(ordered, plain_numbers=True) == '{"b":1,"a":2}'
    assert fast_json.dumps({1: "int key"}, plain_numbers=True) == '{"1":"int key"}'


@pytest.mark.parametrize("plain", [True, False])
def test_loads_reads_what_the_standard_parser_reads(plain: bool) -> None:
    assert math.isnan(fast_json.loads('{"x": NaN}', plain_numbers=plain)["x"])  # written by another program
    assert fast_json.loads('"\\ud800"', plain_numbers=plain) == "\ud800"  # a lone surrogate
    with pytest.raises(json.JSONDecodeError):
        fast_json.loads("{not json", plain_numbers=plain)


def test_only_plain_text_is_read_on_the_fast_path() -> None:
    """orjson reads an integer beyond 64 bits as a float: text that may hold one takes the standard parser."""
    assert fast_json.loads(b"[123456789012345678901234567890]") == [123456789012345678901234567890]
    assert fast_json.loads(b"[18446744073709551615]", plain_numbers=True) == [2**64 - 1]
