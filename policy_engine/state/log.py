"""The decision log of a store: retention rules and the records a reader gets back.

Every state-writing ``select``, ``fail`` and ``succeed`` appends one entry (a JSON object, see
``docs/trace.md``) to the log of its store, in the same atomic batch as its other changes.
The log is bounded three ways (:class:`LogRetention`): a number of entries, an age and a size in
bytes. Trimming is amortised: the count is cut every :func:`trim_every` entries (so up to a
sixteenth more entries than the limit may linger between two trims), age and size on the same
beat; the entries of a batch are never trimmed by that batch's own age check.

Readers page through the log by opaque cursors (:class:`LogRecord.id`): SQLite row ids, Redis
stream ids, a counter in memory; a cursor only means something to the store that gave it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from policy_engine.common.records import dataclass

__all__ = ["DEFAULT_RETENTION", "LOG_BYTES", "LOG_LIMIT", "LogRecord", "LogRetention", "entry_time", "trim_every"]

#: Default number of decision-log entries a store keeps (per namespace); older ones are dropped.
LOG_LIMIT = 10_000
#: Default cap of the log's size in bytes (of its JSON text) per namespace.
LOG_BYTES = 16 * 1024 * 1024
#: Default age after which an entry is dropped.
LOG_AGE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class LogRetention:
    """How much of the decision log a store keeps: ``entries`` newest, none older than ``age``, at most
    ``max_bytes`` of JSON text. ``None`` turns a bound off (at least one should stay on)."""

    entries: int | None = LOG_LIMIT
    age: timedelta | None = LOG_AGE
    max_bytes: int | None = LOG_BYTES

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (age in seconds)."""
        return {"entries": self.entries, "age": None if self.age is None else self.age.total_seconds(),
                "bytes": self.max_bytes}


DEFAULT_RETENTION = LogRetention()


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log entry as a store returns it: its cursor ``id`` and the entry (a JSON object)."""

    id: str
    entry: Mapping[str, Any]


def trim_every(entries: int | None) -> int:
    """How many appended entries apart the store trims the log: 1 for tiny limits, at most 64."""
    if entries is None:
        return 64
    every = entries // 16  # spelled out: min() and max() cost more than the rest of a traced write's trim check
    return 64 if every > 64 else every if every > 1 else 1


def entry_time(entry: Mapping[str, Any]) -> float | None:
    """The entry's time in UTC epoch seconds (its ``t`` field), or ``None`` for an entry without one."""
    value = entry.get("t") if type(entry) is dict or isinstance(entry, Mapping) else None
    if type(value) is float:  # what the engine writes
        return value
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
