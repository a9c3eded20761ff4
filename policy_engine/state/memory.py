"""In-memory state store: for tests and embedding. ``memory://`` is fresh per open; ``memory://NAME`` is
shared by every store opened with that name in this process (separate data per namespace)."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Collection
from dataclasses import field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from policy_engine.common import fast_json
from policy_engine.common.records import dataclass

from .base import (
    LOG_LIMIT,
    Cooldown,
    QuotaSnapshot,
    StateChanges,
    StateError,
    StateSnapshot,
    StateStore,
    TurnRecord,
    check_parts,
    dump_document,
    json_text,
)
from .log import LogRecord, LogRetention, entry_time, trim_every

__all__ = ["MemoryStore", "reset_shared_memory"]


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (itself when it already is)."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


class _Turn(NamedTuple):
    """A stored turn: its data as JSON text (a private copy, checked serialisable), its times, and whether
    its numbers are plain (written from a batch marked ``plain_numbers``: read back on the fast path)."""

    text: str
    updated_at: datetime
    expires_at: datetime
    plain: bool = False

    def record(self, turn_id: str) -> TurnRecord:
        return TurnRecord(turn_id, fast_json.loads(self.text, plain_numbers=self.plain), self.updated_at,
                          self.expires_at)


#: A stored log entry is a plain tuple ``(id, t, size, text)``: its cursor, its time (epoch seconds, when it
#: has one), its size in bytes and its JSON text. A plain tuple of atoms leaves the garbage collector's
#: lists at its first pass (a ``NamedTuple`` would stay in them: 10,000 entries walked by every full pass).
_Entry = tuple[int, float | None, int, str]
_ID, _T, _SIZE, _TEXT = range(4)


@dataclass
class _Tables:
    """One namespace's data.

    ``cooldowns``, ``cursors`` and ``quota`` are never changed in place: an apply builds changed
    copies of the tables it touches and swaps them in, so a snapshot can hand them out read-only
    without copying. ``turns`` and ``log`` (never part of a snapshot) are changed in place, under the
    lock, once every new record has been built.
    """

    cooldowns: dict[str, Cooldown] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    turns: dict[str, _Turn] = field(default_factory=dict)
    quota: dict[str, QuotaSnapshot] = field(default_factory=dict)
    log: deque[_Entry] = field(default_factory=deque)
    log_bytes: int = 0
    log_next: int = 1


class _Shared:
    """Data behind one ``memory://NAME`` (or one anonymous store): namespaces and one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.namespaces: dict[str, _Tables] = {}

    def tables(self, namespace: str) -> _Tables:
        tables = self.namespaces.get(namespace)
        if tables is None:
            tables = self.namespaces[namespace] = _Tables()
        return tables


_SHARED: dict[str, _Shared] = {}
_SHARED_LOCK = threading.Lock()


def reset_shared_memory(name: str | None = None) -> None:
    """Forget the shared data behind ``memory://NAME`` (all names when ``None``); for test isolation."""
    with _SHARED_LOCK:
        if name is None:
            _SHARED.clear()
        else:
            _SHARED.pop(name, None)


class MemoryStore(StateStore):
    """A store held in this process's memory, with the same merge rules and atomicity as the others."""

    def __init__(
        self,
        name: str = "",
        *,
        readonly: bool = False,
        namespace: str = "default",
        log_limit: int = LOG_LIMIT,
    ) -> None:
        if not namespace:
            raise ValueError("namespace must be a non-empty string")
        self.url = f"memory://{name}"
        self.readonly = readonly
        self.namespace = namespace
        self._retention = LogRetention(entries=log_limit)
        self._closed = False
        if name:
            with _SHARED_LOCK:
                self._shared = _SHARED.setdefault(name, _Shared())
        else:
            self._shared = _Shared()

    # -- internals

    def _tables(self) -> _Tables:
        if self._closed:
            raise StateError(f"state store {self.url} is closed")
        return self._shared.tables(self.namespace)

    # -- reads

    def snapshot(self) -> StateSnapshot:
        """One consistent read (the tables are swapped atomically, never changed in place)."""
        with self._shared.lock:
            t = self._tables()
            return StateSnapshot(cooldowns=MappingProxyType(t.cooldowns), cursors=MappingProxyType(t.cursors),
                                 quota=MappingProxyType(t.quota))

    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """The turn, or ``None`` when missing or expired at ``now``."""
        with self._shared.lock:
            turn = self._tables().turns.get(turn_id)
        if turn is None or turn.expires_at <= now:
            return None
        return turn.record(turn_id)

    def dump(self) -> dict[str, Any]:
        """Everything in this namespace as JSON-able data."""
        with self._shared.lock:
            t = self._tables()
            return dump_document(
                self,
                cooldowns=t.cooldowns.values(),
                cursors=t.cursors,
                turns=[turn.record(turn_id) for turn_id, turn in t.turns.items()],
                quota=t.quota.values(),
                log=[fast_json.loads(e[_TEXT]) for e in t.log],
            )

    def log_before(self, cursor: str | None = None, count: int = 100) -> list[LogRecord]:
        """Up to ``count`` entries before ``cursor`` (the newest when ``None``), oldest first."""
        with self._shared.lock:
            log = self._tables().log
            out: list[LogRecord] = []
            limit = None if cursor is None else int(cursor)
            for e in reversed(log):
                if len(out) >= count:
                    break
                if limit is None or e[_ID] < limit:
                    out.append(LogRecord(str(e[_ID]), fast_json.loads(e[_TEXT])))
        out.reverse()
        return out

    def log_after(self, cursor: str | None = None, count: int = 1000) -> list[LogRecord]:
        """Up to ``count`` entries after ``cursor`` (from the oldest when ``None``), oldest first."""
        after = 0 if cursor is None else int(cursor)
        with self._shared.lock:
            log = self._tables().log
            skip = max(0, after + 1 - log[0][_ID]) if log else 0  # ids are consecutive in the deque
            picked = list(itertools.islice(log, skip, skip + max(count, 0)))
        return [LogRecord(str(e[_ID]), fast_json.loads(e[_TEXT])) for e in picked]

    # -- writes

    def apply(self, changes: StateChanges) -> None:
        """Apply a batch: build changed copies of the tables, then swap them in (all or nothing)."""
        if changes.is_empty():
            return
        self._check_writable()
        # Build everything that can fail first (serialising turn data and log entries).
        plain = changes.plain_numbers
        new_turns: dict[str, _Turn | None] = {}
        for turn_id, turn in changes.turns.items():
            if turn is None:
                new_turns[turn_id] = None
                continue
            text = json_text(turn.data, "turn {!r} data", plain_numbers=plain, name=turn_id)
            # tuple.__new__: the NamedTuple without its Python-level __new__ (this runs on every write)
            new_turns[turn_id] = tuple.__new__(_Turn, (text, _utc(turn.updated_at), _utc(turn.expires_at), plain))
        texts: list[tuple[str, float | None]] = []
        for e in changes.log:  # a loop, not a comprehension: no function frame for the usual one entry
            texts.append((json_text(e, "log entry", plain_numbers=plain), entry_time(e)))
        with self._shared.lock:
            t = self._tables()
            cooldowns = t.cooldowns
            if changes.clear_cooldowns or changes.cooldowns:
                cooldowns = dict(t.cooldowns)
                for provider in changes.clear_cooldowns:
                    cooldowns.pop(provider, None)
                for new in changes.cooldowns:
                    old = cooldowns.get(new.provider)
                    if old is None or new.until > old.until:
                        utc = new.until.tzinfo is UTC and new.since.tzinfo is UTC
                        cooldowns[new.provider] = new if utc else new.to_utc()
            cursors = t.cursors
            for pool, member in changes.cursors.items():
                if cursors.get(str(pool)) != str(member):  # only a table whose cursor moved is copied
                    cursors = {**cursors, **{str(k): str(v) for k, v in changes.cursors.items()}}
                    break
            quota = t.quota
            if changes.quota:
                quota = dict(t.quota)
                for snap in changes.quota:
                    old_q = quota.get(snap.provider)
                    if old_q is None or snap.fetched_at >= old_q.fetched_at:
                        quota[snap.provider] = snap.normalised()
            # Nothing above touched the live tables; swap everything in at once.
            t.cooldowns, t.cursors, t.quota = cooldowns, cursors, quota
            if texts:
                self._append_log(t, texts, changes.retention or self._retention)
            for turn_id, stored in new_turns.items():
                if stored is None:
                    t.turns.pop(turn_id, None)
                else:
                    t.turns[turn_id] = stored

    @staticmethod
    def _append_log(t: _Tables, texts: list[tuple[str, float | None]], retention: LogRetention) -> None:
        """Append the entries (never failing: they are serialised already), then trim by ``retention`` on
        the beat of :func:`~policy_engine.state.log.trim_every`, as the other stores do."""
        newest: float | None = None
        first = t.log_next
        for text, at in texts:
            newest = at if at is not None else newest
            size = len(text) if text.isascii() else len(text.encode())
            t.log.append((t.log_next, at, size, text))
            t.log_next += 1
            t.log_bytes += size
        every = trim_every(retention.entries)
        if (first - 1) // every == (t.log_next - 1) // every:
            return  # no multiple of ``every`` was passed: the next trim is still ahead
        log, batch = t.log, len(texts)
        if retention.entries is not None:
            while len(log) > max(retention.entries, 0):
                t.log_bytes -= log.popleft()[_SIZE]
        if retention.max_bytes is not None:
            while len(log) > batch and t.log_bytes > retention.max_bytes:
                t.log_bytes -= log.popleft()[_SIZE]
        if retention.age is not None and newest is not None:
            cutoff = newest - retention.age.total_seconds()
            while len(log) > batch and (log[0][_T] is None or log[0][_T] < cutoff):
                t.log_bytes -= log.popleft()[_SIZE]

    def purge(self, now: datetime) -> int:
        """Delete expired turns and cooldowns; returns how many."""
        self._check_writable()
        with self._shared.lock:
            t = self._tables()
            cooldowns = {p: c for p, c in t.cooldowns.items() if c.until > now}
            turns = {k: v for k, v in t.turns.items() if v.expires_at > now}
            count = len(t.cooldowns) - len(cooldowns) + len(t.turns) - len(turns)
            t.cooldowns, t.turns = cooldowns, turns
            return count

    def clear(self, parts: Collection[str] | None = None) -> None:
        """Empty the given parts of this namespace (all when ``None``)."""
        chosen = check_parts(parts)
        self._check_writable()
        with self._shared.lock:
            t = self._tables()
            if "cooldowns" in chosen:
                t.cooldowns = {}
            if "cursors" in chosen:
                t.cursors = {}
            if "turns" in chosen:
                t.turns = {}
            if "quota" in chosen:
                t.quota = {}
            if "log" in chosen:
                t.log, t.log_bytes = deque(), 0

    def close(self) -> None:
        """Mark closed (shared data stays for other stores of the same name)."""
        self._closed = True
