"""Protocol 1 of ``mp-policy serve`` (DESIGN §5.1): requests, answers, error codes, argument checks.

A request is one JSON object on one line: ``{"id": <scalar>, "op": "<name>", ...arguments}``.
Its answer is ``{"id": <same>, "ok": true, "result": {...}}`` or
``{"id": <same>, "ok": false, "error": {"code", "message", "hint"}}``, plus ``"warnings": [...]``
(strings) whenever there is something to say (a broken policy edit, an unreadable ``auth.json``,
a state store standing in for an unreachable one).

Choices where DESIGN is silent:

* ``id`` must be a string, a number or a boolean. A missing or ``null`` id, an object or an array
  is a ``bad-request`` answered with ``"id": null`` and the request is not run. A line whose id
  cannot be read (not JSON, not UTF-8, too long) is answered with ``"id": null`` too.
* Unknown argument names are ignored (a newer client may send more); known ones are checked:
  a wrong type is a ``bad-request`` whose message names the argument.
* Empty (or blank) lines are skipped without an answer; ``\\r\\n`` line ends are accepted.
* ``NaN`` and ``Infinity`` are not JSON: a line holding them is a ``bad-request``.
* ``"async": true`` is accepted and changes nothing: this server always answers in order.

Error codes (:data:`ERROR_CODES`) are stable; messages are for people.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from policy_engine.common.line_framing import MAX_LINE, TooLong
from policy_engine.common.records import dataclass

__all__ = [
    "ERROR_CODES",
    "OPS",
    "PROTOCOL",
    "Args",
    "ProtocolError",
    "Request",
    "RequestError",
    "encode",
    "error_answer",
    "ok_answer",
    "parse_line",
]

#: The protocol version this server speaks.
PROTOCOL = 1

#: The operations of protocol 1.
OPS = ("hello", "select", "fail", "succeed", "status", "explain", "reload", "shutdown")

#: Every error code an answer can carry, and what it means.
ERROR_CODES: Mapping[str, str] = {
    "bad-request": "the line is not a JSON object with an id, or an argument is missing or of the wrong type",
    "unknown-op": "the op is not one of protocol 1",
    "unsupported-protocol": "hello asked for a protocol version this server does not speak",
    "not-found": "the request names a pool, chain, preset or turn that does not exist",
    "bad-route": "the engine cannot answer this request (e.g. fail without a provider on a turn that is unknown, "
                 "expired or has no current target)",
    "invalid-policy": "the policy files of this project do not load, and no earlier version of them did",
    "state-error": "the state store could not be read or written",
    "busy": "a socket server already serves its maximum number of clients; the connection is closed",
    "internal": "an unexpected error inside the server (a bug); the server goes on",
}


class ProtocolError(Exception):
    """An error answer: a stable ``code``, a message for people and a hint."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` member of an answer."""
        return {"code": self.code, "message": self.message, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request: its id (echoed), its op, and its arguments."""

    id: str | int | float | bool
    op: str
    args: Args


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_line(line: bytes | TooLong) -> Request:
    """The request on ``line``; raises :class:`ProtocolError` (with the id when it could be read)."""
    if isinstance(line, TooLong):
        raise ProtocolError("bad-request", f"the line is {line.size} bytes long; the limit is {MAX_LINE} bytes "
                            "(1 MiB)", "send one JSON object per line, at most 1 MiB; it was read and discarded")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("bad-request", f"the line is not UTF-8 (byte {exc.start})",
                            "encode requests as UTF-8 JSON") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad-request", f"the line is not JSON: {exc}"[:300],
                            'send one JSON object per line, e.g. {"id": 1, "op": "hello", "protocol": 1}') from None
    if not isinstance(data, dict):
        raise ProtocolError("bad-request", f"a request is a JSON object, not {_kind(data)}",
                            'e.g. {"id": 1, "op": "hello", "protocol": 1}')
    ident = data.get("id")
    if ident is None or isinstance(ident, dict | list) or (isinstance(ident, float) and not math.isfinite(ident)):
        what = "has no id" if ident is None else "has a number beyond a double as its id" if isinstance(
            ident, float) else f"has {_kind(ident)} as its id"
        raise ProtocolError("bad-request", f"the request {what}; the id must be a string, number or boolean",
                            "every request carries an id, which its answer echoes")
    op = data.get("op")
    if not isinstance(op, str):
        raise RequestError(ident, ProtocolError(
            "bad-request", "the request has no op" if op is None else f"op must be a string, not {_kind(op)}",
            f"one of: {', '.join(OPS)}"))
    if op not in OPS:
        raise RequestError(ident, ProtocolError("unknown-op", f"unknown op {op!r}",
                                                f"protocol 1 has: {', '.join(OPS)}"))
    return Request(ident, op, Args(op, data))


class RequestError(Exception):
    """A request that was read far enough to know its id, but cannot be run."""

    def __init__(self, ident: Any, error: ProtocolError) -> None:
        super().__init__(error.message)
        self.id = ident
        self.error = error


def _kind(value: Any) -> str:
    """A JSON type name for messages: ``a string``, ``an array``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class Args:
    """The arguments of one request, read with type checks that name the argument on failure."""

    __slots__ = ("_data", "op")

    def __init__(self, op: str, data: Mapping[str, Any]) -> None:
        self.op = op
        self._data = data

    def _bad(self, name: str, expected: str, value: Any, hint: str | None = None) -> ProtocolError:
        return ProtocolError("bad-request", f"{self.op}: {name!r} must be {expected}, not {_kind(value)}",
                             hint or f"send {name!r} as {expected}, or leave it out")

    def _get(self, name: str, required: bool, hint: str | None, expected: str) -> Any:
        """The argument's value (``None`` when absent or null); a ``bad-request`` when it is ``required``."""
        value = self._data.get(name)
        if value is None and required:
            raise ProtocolError("bad-request", f"{self.op}: {name!r} is required",
                                hint or f"send {name!r} as {expected}")
        return value

    def has(self, name: str) -> bool:
        """Whether the argument is present and not null."""
        return self._data.get(name) is not None

    def string(self, name: str, *, required: bool = False, hint: str | None = None) -> str | None:
        """A string argument (``null`` or absent: ``None``, unless ``required``)."""
        value = self._get(name, required, hint, "a string")
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(name, "a string", value, hint)
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # "\ud800" in the JSON: a lone surrogate, no character of any text
                raise ProtocolError("bad-request", f"{self.op}: {name!r} holds a lone surrogate (a half of a UTF-16 "
                                    "pair), which is no text", "send it as valid Unicode") from None
        return value

    def integer(self, name: str, *, required: bool = False, low: int | None = None, high: int | None = None,
                hint: str | None = None) -> int | None:
        """An integer argument (a JSON number with no fraction), optionally within ``low``..``high``."""
        value = self._get(name, required, hint, "an integer")
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "an integer", value, hint)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ProtocolError("bad-request", f"{self.op}: {name!r} is {value}; it must be between {low} and {high}",
                                hint or f"send {name!r} between {low} and {high}")
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """A boolean argument."""
        value = self._data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "true or false", value)
        return value

    def scalar_text(self, name: str) -> str | None:
        """A string, or a number given as such (e.g. an error ``code`` of 1008), as text."""
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self._bad(name, "a string or a number", value)
        return value if isinstance(value, str) else str(value)

    def headers(self, name: str = "headers") -> dict[str, str] | None:
        """An object of header name -> value; numbers are taken as their text."""
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(name, 'an object of header name -> value (e.g. {"retry-after": "30"})', value)
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ProtocolError("bad-request",
                                    f"{self.op}: header {key!r} in {name!r} must be a string, not {_kind(item)}",
                                    "send each header value as a string (join repeated headers with ', ')")
            out[key] = item if isinstance(item, str) else str(item)
        return out

    def raw(self, name: str) -> Any:
        """An argument of any JSON type (e.g. an error ``body``), ``None`` when absent."""
        return self._data.get(name)

    def names(self) -> frozenset[str]:
        """The argument names present (not null)."""
        return frozenset(k for k, v in self._data.items() if v is not None)


def ok_answer(ident: Any, result: Mapping[str, Any], warnings: list[str]) -> dict[str, Any]:
    """A successful answer."""
    answer: dict[str, Any] = {"id": ident, "ok": True, "result": result}
    if warnings:
        answer["warnings"] = warnings
    return answer


def error_answer(ident: Any, error: ProtocolError, warnings: list[str]) -> dict[str, Any]:
    """An error answer."""
    answer: dict[str, Any] = {"id": ident, "ok": False, "error": error.to_dict()}
    if warnings:
        answer["warnings"] = warnings
    return answer


def encode(answer: Mapping[str, Any]) -> bytes:
    """One answer line: compact UTF-8 JSON and a newline (never NaN; unknown objects as text)."""
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=str).encode("utf-8") + b"\n"
