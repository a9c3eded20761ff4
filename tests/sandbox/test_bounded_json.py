"""JSON from a worker is measured (size, depth) before it is parsed; deep or large text is refused."""

from __future__ import annotations

import json

import pytest

from policy_engine.sandbox.bounded_json import MAX_ANSWER_BYTES, MAX_ANSWER_DEPTH, JSONLimitError, depth, loads


@pytest.mark.parametrize(("text", "expected"), [
    ("1", 0), ('"x"', 0), ("[]", 1), ("[[1], {\"a\": [2]}]", 3), ('["[[[", "]]]]]", {"k": "{"}]', 2),
    (r'["a\"[[[", "\\", [1]]', 2), ("[" * 5000 + "]" * 5000, 5000),
])
def test_depth_counts_brackets_outside_strings(text: str, expected: int) -> None:
    assert depth(text) == expected
    assert depth(text.encode()) == expected


def test_a_value_at_the_limits_is_parsed() -> None:
    text = "[" * MAX_ANSWER_DEPTH + "]" * MAX_ANSWER_DEPTH
    assert loads(text) == json.loads(text)
    assert loads(b'{"members": ["a", "b"]}') == {"members": ["a", "b"]}


def test_deeper_text_is_refused_without_recursion() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(JSONLimitError, match="nested too deeply"):
        loads(deep, max_bytes=1 << 20)
    with pytest.raises(RecursionError):  # what the parent used to do with such an answer
        json.loads(deep)


def test_larger_text_is_refused_before_it_is_scanned() -> None:
    big = '"' + "x" * MAX_ANSWER_BYTES + '"'
    with pytest.raises(JSONLimitError, match="too large"):
        loads(big)
    assert isinstance(JSONLimitError("x"), ValueError)  # callers that catch bad JSON catch this too


def test_invalid_json_is_still_a_value_error() -> None:
    with pytest.raises(ValueError):
        loads("[1, 2")
