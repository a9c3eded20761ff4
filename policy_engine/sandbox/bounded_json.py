"""JSON from a sandboxed worker, parsed only once its size and nesting depth are known to be small.

``json.loads`` recurses once per nesting level: an answer such as ``[[[[...]]]]`` 1,500 levels
deep raises ``RecursionError`` in the parent (not ``ValueError``), and a large one costs the
parent memory and time. :func:`loads` measures both before parsing (linear, no recursion) and
refuses with :class:`JSONLimitError`, a ``ValueError``, so callers that already treat bad JSON as
a worker fault need nothing else.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

__all__ = ["MAX_ANSWER_BYTES", "MAX_ANSWER_DEPTH", "JSONLimitError", "depth", "loads"]

MAX_ANSWER_BYTES = 256 * 1024  # the JSON of a selector's answer (a few names in practice)
MAX_ANSWER_DEPTH = 64  # nesting of a selector's answer

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRING_BYTES = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NOT_BRACKET_BYTES = re.compile(rb"[^\[\]{}]+")
_STEP: dict[str | int, int] = {"[": 1, "{": 1, "]": -1, "}": -1, 0x5B: 1, 0x7B: 1, 0x5D: -1, 0x7D: -1}


class JSONLimitError(ValueError):
    """The text is larger or nested more deeply than allowed; it was not parsed."""


def depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not count)."""
    brackets: str | bytes
    if isinstance(text, bytes):
        brackets = _NOT_BRACKET_BYTES.sub(b"", _STRING_BYTES.sub(b"", text))
    else:
        brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(text: str | bytes, max_bytes: int = MAX_ANSWER_BYTES, max_depth: int = MAX_ANSWER_DEPTH) -> Any:
    """``json.loads(text)`` after checking that it is at most ``max_bytes`` long and ``max_depth`` deep."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise JSONLimitError(f"the JSON is too large ({size} bytes; at most {max_bytes})")
    nesting = depth(text)
    if nesting > max_depth:
        raise JSONLimitError(f"the JSON is nested too deeply ({nesting} levels; at most {max_depth})")
    return json.loads(text)
