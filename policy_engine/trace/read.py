"""Reading the decision trace: from a store (newest first, one turn, following new writes) or a JSONL export.

Entries of a format version this mp-policy does not know (``v`` other than :data:`TRACE_VERSION`) and
lines that are not JSON objects are skipped, never fatal: a trace is read to understand, not to judge.
An entry of this version whose fields cannot be what the engine wrote (:func:`entry_problem`: a time that
is no time, a request that is no object, ...) is an error in an export (:func:`read_jsonl`), which would
otherwise be replayed wrongly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.state.base import StateStore
from policy_engine.state.log import LogRecord
from policy_engine.trace.entry import TRACE_VERSION, with_at, zone_of

__all__ = ["SCAN_LIMIT", "FollowFilter", "TraceFileError", "TraceFilter", "entry_problem", "known", "read_jsonl",
           "since", "store_entries", "turn_entries", "turns_starting_with"]

#: How many entries (newest first) a search for one turn looks through at most.
SCAN_LIMIT = 100_000
_CHUNK = 500


class TraceFileError(ValueError):
    """A ``--from`` file that cannot be read; the message names the file (and the line)."""


def known(entry: Any) -> bool:
    """Whether ``entry`` is a trace entry of a version this reader understands."""
    return isinstance(entry, Mapping) and entry.get("v") == TRACE_VERSION and isinstance(entry.get("turn"), str)


#: The latest time an entry may carry (the end of year 9999, as far as Python's datetime goes).
_LAST_TIME = 253_402_300_799.0
_OPS = ("select", "fail", "succeed")
_NAMES = ("provider", "pool", "chain", "preset", "model")


def _iso_problem(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} must be an ISO-8601 time or null, not {type(value).__name__}"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return f"{what} {value!r} is not an ISO-8601 time"
    return None


def entry_problem(entry: Mapping[str, Any]) -> str | None:
    """What makes an entry of this version unusable (``None``: nothing): the fields a reader relies on must
    have the types the engine writes (``docs/trace.md``), and ``t`` must be a time."""
    t = entry.get("t")
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or not 0 <= t <= _LAST_TIME:
        return f"'t' must be a time in UTC epoch seconds, not {t!r}"
    if entry.get("op") not in _OPS:
        return f"'op' must be one of {', '.join(_OPS)}, not {entry.get('op')!r}"
    for key in ("request", "target", "error"):
        value = entry.get(key)
        if value is not None and not isinstance(value, Mapping):
            return f"{key!r} must be an object or null, not {type(value).__name__}"
    for key, value in (entry.get("request") or {}).items():
        if key in _NAMES and value is not None and not isinstance(value, str):
            return f"'request.{key}' must be a name, not {value!r}"
    provider = (entry.get("target") or {}).get("provider")
    if provider is not None and not isinstance(provider, str):
        return f"'target.provider' must be a name, not {provider!r}"
    if entry.get("failing") is not None and not isinstance(entry.get("failing"), str):
        return f"'failing' must be a name, not {entry.get('failing')!r}"
    if entry.get("project") is not None and not isinstance(entry.get("project"), str):
        return f"'project' must be a folder's path, not {entry.get('project')!r}"
    error = entry.get("error") or {}
    status = error.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        return f"'error.status' must be an HTTP status, not {status!r}"
    for key in ("type", "code", "kind"):
        if error.get(key) is not None and not isinstance(error.get(key), str):
            return f"'error.{key}' must be text, not {error.get(key)!r}"
    for key in ("retryAfter", "cooldownUntil"):
        problem = _iso_problem(error.get(key), f"'error.{key}'")
        if problem:
            return problem
    return _iso_problem(entry.get("retryAfter"), "'retryAfter'")


@dataclass(frozen=True)
class TraceFilter:
    """The filters of ``mp-policy trace`` (all optional; an entry must pass every one given)."""

    turn: str | None = None
    account: str | None = None
    pool: str | None = None
    chain: str | None = None
    since: datetime | None = None
    errors: bool = False

    @property
    def needs_context(self) -> bool:
        """Whether a ``succeed`` entry's match depends on its turn's entry before it (the succeed names no route)."""
        return self.account is not None or self.pool is not None or self.chain is not None

    def matches(self, entry: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> bool:
        """Whether the entry passes: the account was asked for, served or failed; the pool/chain was asked for or
        served through (skips are not matched: a walk notes skips all along the rest of the route).

        ``before``: for a ``succeed``, the turn's entry before it (its ``select`` or last ``fail``): the succeed
        ended what that entry asked for, on its target (a ``succeed`` entry names neither).
        """
        if before is not None and entry.get("op") == "succeed":
            entry = {**entry, "request": before.get("request") or {},
                     "target": entry.get("target") or before.get("target")}
        if self.turn is not None and entry.get("turn") != self.turn:
            return False
        if self.since is not None and not since(entry, self.since):
            return False
        if self.errors and "error" not in entry:
            return False
        request = entry.get("request") or {}
        target = entry.get("target") or {}
        if self.account is not None and self.account not in {target.get("provider"), entry.get("failing"),
                                                             request.get("provider")}:
            return False
        if self.pool is not None and self.pool not in {request.get("pool"), target.get("pool")}:
            return False
        return self.chain is None or self.chain in {request.get("chain"), target.get("chain")}


class FollowFilter:
    """A :class:`TraceFilter` over entries read oldest first (``trace --follow``). A ``succeed`` is matched by its
    turn's newest ``select`` or ``fail`` seen before it, or, for a turn begun before the follower, found in the
    store; at most ``remember`` open turns are kept (the oldest are forgotten)."""

    def __init__(self, where: TraceFilter, store: StateStore, remember: int = 10_000) -> None:
        self.where, self.store, self.remember = where, store, remember
        self._latest: dict[str, Mapping[str, Any]] = {}

    def matches(self, entry: Mapping[str, Any]) -> bool:
        """Whether the entry (of a known version) passes; it is remembered for the succeed that ends its turn."""
        if not self.where.needs_context:
            return self.where.matches(entry)
        turn, op = entry["turn"], entry.get("op")
        before = self._latest.pop(turn, None)
        if before is None and op == "succeed":
            before = next((e for e in reversed(turn_entries(self.store, turn)) if e.get("op") != "succeed"), None)
        if op != "succeed":
            self._latest[turn] = entry
            if len(self._latest) > self.remember:
                self._latest.pop(next(iter(self._latest)))
        return self.where.matches(entry, before)


def since(entry: Mapping[str, Any], moment: datetime) -> bool:
    """Whether the entry is at or after ``moment``: an instant, or a naive wall time read in the entry's own zone
    (``tz``, the zone its row is shown in)."""
    t = float(entry.get("t") or 0)
    if moment.tzinfo is not None:
        return t >= moment.timestamp()
    return t >= moment.replace(tzinfo=zone_of(entry.get("tz"))).timestamp()


def store_entries(store: StateStore, last: int, where: TraceFilter | None = None,
                  scan_limit: int = SCAN_LIMIT) -> list[LogRecord]:
    """The newest ``last`` entries passing ``where`` (oldest first), looking through at most ``scan_limit``.

    A ``succeed`` that does not pass on its own waits for its turn's entry before it (further back) when the
    filter names an account, pool or chain (:meth:`TraceFilter.matches`).
    """
    found: list[tuple[int, LogRecord]] = []  # (position back from the newest, record)
    waiting: dict[str, list[tuple[int, LogRecord]]] = {}
    contextual = where is not None and where.needs_context
    for position, record in enumerate(_backwards(store, scan_limit)):
        entry = record.entry
        if not known(entry):
            continue
        if waiting and entry["turn"] in waiting and entry.get("op") != "succeed":
            for at, held in waiting.pop(entry["turn"]):
                if where is not None and where.matches(held.entry, entry):
                    found.append((at, LogRecord(held.id, with_at(held.entry))))
        if where is None or where.matches(entry):
            found.append((position, LogRecord(record.id, with_at(entry))))
        elif contextual and entry.get("op") == "succeed":
            waiting.setdefault(entry["turn"], []).append((position, record))
        if len(found) >= last and not waiting:
            break
    found.sort(key=lambda item: item[0])
    return [record for _, record in reversed(found[:last])]


def turn_entries(store: StateStore, turn: str, scan_limit: int = SCAN_LIMIT) -> list[dict[str, Any]]:
    """Every entry of ``turn`` (oldest first): the search stops at the turn's ``select`` (its first entry)."""
    found: list[dict[str, Any]] = []
    for record in _backwards(store, scan_limit):
        entry = record.entry
        if known(entry) and entry["turn"] == turn:
            found.append(with_at(entry))
            if entry.get("op") == "select":
                break
    found.reverse()
    return found


def turns_starting_with(store: StateStore, prefix: str, scan_limit: int = SCAN_LIMIT, limit: int = 5) -> list[str]:
    """The distinct turn ids that start with ``prefix`` (newest first, at most ``limit``): the table shows the
    first eight characters of an id, and a person types those back."""
    found: list[str] = []
    for record in _backwards(store, scan_limit):
        entry = record.entry
        if known(entry) and entry["turn"].startswith(prefix) and entry["turn"] not in found:
            found.append(entry["turn"])
            if len(found) >= limit:
                break
    return found


def _backwards(store: StateStore, scan_limit: int) -> Iterator[LogRecord]:
    """The store's entries, newest first, in pages."""
    cursor: str | None = None
    seen = 0
    while seen < scan_limit:
        page = store.log_before(cursor, min(_CHUNK, scan_limit - seen))
        if not page:
            return
        seen += len(page)
        yield from reversed(page)
        cursor = page[0].id


def read_jsonl(path: str | Path, lines: Iterable[str] | None = None, *, skipped: list[int] | None = None
               ) -> list[dict[str, Any]]:
    """The entries of a JSONL export (one entry per line, as ``mp-policy trace --format jsonl`` writes them).

    A line that is not JSON, or an entry of this version with an :func:`entry_problem`, raises
    :class:`TraceFileError` naming the line; the numbers of the lines skipped (JSON that is no entry of this
    version) are added to ``skipped`` when given.
    """
    if lines is None:
        try:
            with open(path, encoding="utf-8") as handle:
                return read_jsonl(path, list(handle), skipped=skipped)
        except OSError as exc:
            raise TraceFileError(f"{path}: cannot read the trace file: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise TraceFileError(f"{path}: not UTF-8 text ({exc.reason}); export it with "
                                 "`mp-policy trace --format jsonl`") from exc
    out: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise TraceFileError(f"{path}:{number}: not a JSON line ({exc}); export a trace with "
                                 "`mp-policy trace --format jsonl`") from exc
        if not known(entry):
            if skipped is not None:
                skipped.append(number)
            continue
        problem = entry_problem(entry)
        if problem:
            raise TraceFileError(f"{path}:{number}: not a trace entry as mp-policy writes it: {problem}")
        out.append(with_at(entry))
    return out
