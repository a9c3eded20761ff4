"""Numbers a ``.json`` policy may not hold: ``NaN``, ``Infinity``, ``-Infinity`` and beyond a double's range.

:func:`json.loads` accepts ``NaN`` and ``Infinity`` (they are not JSON) and reads ``1e400`` as
infinity; JavaScript (pi-multi-pass) reads ``1e400`` and a 400-digit integer as ``Infinity`` too.
A policy has no use for any of them, so the loader passes these hooks to :func:`json.loads`;
the first such number stops the parse, and :func:`non_finite_diagnostics` then finds every one
in the text with its line and column (diagnostic code ``non-finite-number``).
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, NoReturn

from policy_engine.common.diagnostics import Diagnostic

__all__ = ["NonFiniteNumber", "is_finite_token", "non_finite_diagnostics", "parse_constant", "parse_float",
           "parse_int"]

#: A JSON string (taken whole, so nothing inside one is taken for a number), a bracket or separator,
#: or a number-like token.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|-?(?:Infinity|NaN)|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?')


class NonFiniteNumber(ValueError):
    """Raised by the hooks: the text holds a number that is not finite."""


def is_finite_token(token: str) -> bool:
    """Whether a JSON number token (or ``NaN``, ``Infinity``) is a finite double; an integer counts when it
    is within a double's range (JavaScript reads a larger one as ``Infinity``)."""
    if token.lstrip("-") in ("Infinity", "NaN"):
        return False
    if any(c in token for c in ".eE"):
        return math.isfinite(float(token))
    return len(token.lstrip("-")) <= 309 and abs(int(token)) <= sys.float_info.max


def parse_constant(name: str) -> NoReturn:
    """``parse_constant`` of :func:`json.loads`: ``NaN``, ``Infinity``, ``-Infinity`` are refused."""
    raise NonFiniteNumber(name)


def parse_float(token: str) -> float:
    """``parse_float`` of :func:`json.loads`: a number that overflows to infinity is refused."""
    value = float(token)
    if not math.isfinite(value):
        raise NonFiniteNumber(token)
    return value


def parse_int(token: str) -> int:
    """``parse_int`` of :func:`json.loads`: an integer beyond a double's range is refused (before
    Python is asked to convert thousands of digits)."""
    if not is_finite_token(token):
        raise NonFiniteNumber(token)
    return int(token)


def non_finite_diagnostics(text: str, source: str) -> list[Diagnostic]:
    """One ``non-finite-number`` diagnostic (line, column, JSON path) per such number in a JSON ``text``."""
    found: list[Diagnostic] = []
    stack: list[list[Any]] = []  # per open container: [kind, key or index, whether a key comes next]
    for match in _TOKEN.finditer(text):
        token = match.group()
        top = stack[-1] if stack else None
        if token in ("{", "["):
            stack.append(["object", "", True] if token == "{" else ["array", 0, False])
        elif token in ("}", "]"):
            if stack:
                stack.pop()
        elif top is None:
            if token[0] not in '",:' and not is_finite_token(token):
                found.append(_diagnostic(text, source, match.start(), token, ()))
        elif token == ",":
            if top[0] == "array":
                top[1] += 1
            else:
                top[2] = True
        elif token == ":":
            top[2] = False
        elif token.startswith('"'):
            if top[2]:
                top[1] = json.loads(token)
        elif not is_finite_token(token):
            found.append(_diagnostic(text, source, match.start(), token, tuple(entry[1] for entry in stack)))
    return found or [Diagnostic(code="non-finite-number", message="the file holds a number that is not finite",
                                file=source)]


def _diagnostic(text: str, source: str, pos: int, token: str, path: tuple[str | int, ...]) -> Diagnostic:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    shown = token if len(token) <= 24 else f"{token[:12]}…{token[-6:]}"
    what = "is not a number JSON allows" if token.lstrip("-")[:1].isalpha() else \
        "is beyond a double's range (it would read as Infinity)"
    return Diagnostic(code="non-finite-number", message=f"{shown} {what}", file=source, line=line, col=col,
                      path=path, hint="a policy needs finite numbers: write the value itself (a duration can be a "
                                      "string such as \"90s\")")
