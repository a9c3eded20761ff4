"""JSON text for the state stores: ``orjson`` where it gives the same answer as the standard library.

The stores write a turn and a trace entry on every ``select`` and ``fail``; the standard library's
encoder took 5-10 µs for each, ``orjson`` under 1 µs. The two differ only in numbers and in what they
refuse, so the fast path is taken when the caller vouches for its numbers (``plain_numbers``: every
number is finite and every integer fits in 64 bits, as in all the data the engine builds):

* :func:`dumps` with ``plain_numbers=True`` encodes with ``orjson``, told to refuse what the standard
  library refuses (dataclasses, datetimes, subclasses of built-in types); what ``orjson`` cannot take
  (a ``dict`` subclass, a key that is not a string) goes to the standard encoder, which gives the same
  text or the same error. Otherwise the standard encoder with ``allow_nan=False`` runs: ``orjson``
  would write ``NaN`` and infinities as ``null`` where the stores must refuse them.
* :func:`loads` with ``plain_numbers=True`` (for text written that way) parses with ``orjson``; otherwise
  the standard parser runs, because ``orjson`` reads an integer beyond 64 bits as a float.

The text differs from the standard library's only in how a float is spelled (``1e16`` for ``1e+16``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode  # built once


def dumps(value: Any, *, plain_numbers: bool = False) -> str:
    """Compact JSON text of ``value`` (UTF-8, no ASCII escaping); raises :class:`TypeError` or
    :class:`ValueError` for what is not JSON (``NaN`` and infinities included).

    ``plain_numbers=True``: the caller guarantees finite numbers and 64-bit integers (the fast path).
    """
    if plain_numbers:
        try:
            return orjson.dumps(value, option=_OPTIONS).decode()
        except TypeError:  # orjson.JSONEncodeError: let the standard encoder answer or explain
            pass
    return _STRICT(value)


def loads(text: str | bytes, *, plain_numbers: bool = False) -> Any:
    """The value of JSON ``text``; ``plain_numbers=True`` for text :func:`dumps` wrote with it (the fast path)."""
    if plain_numbers:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
