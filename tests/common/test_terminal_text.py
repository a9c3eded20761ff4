"""Tests of :mod:`policy_engine.common.terminal_text`: what is escaped before a name reaches a terminal."""

from __future__ import annotations

import json
import re

import pytest

from policy_engine.common.terminal_text import UNSAFE, describe_character, first_unsafe, printable
from policy_engine.policy.schema_validator import schema


@pytest.mark.parametrize(("text", "shown"), [
    ("anthropic-2", "anthropic-2"),
    ("x\x1b[2Jy", "x\\x1b[2Jy"),
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
    ("line\roverwritten", "line\\roverwritten"),
    ("a\tb\nc", "a\\tb\\nc"),
    ("\x00\x7f\x85\x9b", "\\x00\\u007f\\u0085\\u009b"),
    ("1-ko\u202e", "1-ko\\u202e"),
    ("\u061c\u200e\u200f\u2028\u2029\u202a\u2066\u2069", "\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a\\u2066\\u2069"),
    ("Büro – 日本 \u00a0 é", "Büro – 日本 \u00a0 é"),
])
def test_printable_escapes_control_and_bidirectional_characters(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert not UNSAFE.search(printable(text))


def test_keep_leaves_the_listed_characters() -> None:
    assert printable("a\nb\x1b\tc", keep="\n\t") == "a\nb\\x1b\tc"


def test_the_escaped_text_is_still_a_valid_json_string_body() -> None:
    """C1, DEL and bidirectional controls are written as \\uXXXX, which JSON reads back as the character."""
    raw = "m\u202e\x85\x7f"
    assert json.loads(f'"{printable(raw)}"') == raw


def test_first_unsafe_and_describe_character() -> None:
    assert first_unsafe("plain") is None
    assert first_unsafe("ab\u202ec\x1b") == (2, "\u202e")
    assert describe_character("\x1b") == "U+001B (ESC)"
    assert describe_character("\u202e") == "U+202E (RIGHT-TO-LEFT OVERRIDE)"
    assert describe_character("\x9b") == "U+009B (CSI)"
    assert describe_character("\x85") == "U+0085"


def test_the_schemas_plain_text_pattern_refuses_exactly_the_unsafe_characters() -> None:
    pattern = re.compile(schema("policy")["$defs"]["plainText"]["pattern"])
    for code in range(0x3000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert (pattern.search(f"a{char}b") is None) == bool(UNSAFE.search(char)), f"U+{code:04X}"
        assert (pattern.search(f"ab{char}") is None) == bool(UNSAFE.search(char)), f"U+{code:04X} at the end"
