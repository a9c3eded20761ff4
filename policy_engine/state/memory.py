"""In-memory state store: for tests and embedding. ``memory://`` is fresh per open; ``memory://NAME`` is
shared by every store opened with that name in this process (separate data per namespace)."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

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
    json_copy,
)

__all__ = ["MemoryStore", "reset_shared_memory"]


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (itself when it already is)."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


class _Turn(NamedTuple):
    """A stored turn: its data as JSON text (a private copy, checked serialisable) and its times."""

    text: str
    updated_at: datetime
    expires_at: datetime

    def record(self, turn_id: str) -> TurnRecord:
        return TurnRecord(turn_id, json.loads(self.text), self.updated_at, self.expires_at)


@dataclass
class _Tables:
    """One namespace's data.

    ``cooldowns``, ``cursors`` and ``quota`` are never changed in place: an apply builds changed
    copies of the tables it touches and swaps them in, so a snapshot can hand them out read-only
    without copying. ``turns`` (never part of a snapshot) is changed in place, under the lock, once
    every new record has been built.
    """

    cooldowns: dict[str, Cooldown] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    turns: dict[str, _Turn] = field(default_factory=dict)
    quota: dict[str, QuotaSnapshot] = field(default_factory=dict)
    log: deque[Any] = field(default_factory=lambda: deque(maxlen=LOG_LIMIT))


class _Shared:
    """Data behind one ``memory://NAME`` (or one anonymous store): namespaces and one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.namespaces: dict[str, _Tables] = {}

    def tables(self, namespace: str, log_limit: int) -> _Tables:
        tables = self.namespaces.get(namespace)
        if tables is None:
            tables = self.namespaces[namespace] = _Tables(log=deque(maxlen=log_limit))
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
        self._log_limit = log_limit
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
        return self._shared.tables(self.namespace, self._log_limit)

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
                log=json_copy(list(t.log)),
            )

    # -- writes

    def apply(self, changes: StateChanges) -> None:
        """Apply a batch: build changed copies of the tables, then swap them in (all or nothing)."""
        if changes.is_empty():
            return
        self._check_writable()
        # Build everything that can fail first (serialising turn data and log entries).
        new_turns: dict[str, _Turn | None] = {}
        for turn_id, turn in changes.turns.items():
            if turn is None:
                new_turns[turn_id] = None
                continue
            try:
                text = json.dumps(turn.data, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"turn {turn_id!r} data is not JSON-serialisable: {exc}") from exc
            new_turns[turn_id] = _Turn(text, _utc(turn.updated_at), _utc(turn.expires_at))
        entries = [json_copy(e, "log entry") for e in changes.log]
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
            if changes.cursors:
                moved = {str(k): str(v) for k, v in changes.cursors.items()}
                if any(cursors.get(k) != v for k, v in moved.items()):  # only what changed is written
                    cursors = {**cursors, **moved}
            quota = t.quota
            if changes.quota:
                quota = dict(t.quota)
                for snap in changes.quota:
                    old_q = quota.get(snap.provider)
                    if old_q is None or snap.fetched_at >= old_q.fetched_at:
                        quota[snap.provider] = snap.normalised()
            log = t.log
            if entries:
                log = deque(t.log, maxlen=self._log_limit)
                log.extend(entries)
            # Nothing above touched the live tables; swap everything in at once.
            t.cooldowns, t.cursors, t.quota, t.log = cooldowns, cursors, quota, log
            for turn_id, stored in new_turns.items():
                if stored is None:
                    t.turns.pop(turn_id, None)
                else:
                    t.turns[turn_id] = stored

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
                t.log = deque(maxlen=self._log_limit)

    def close(self) -> None:
        """Mark closed (shared data stays for other stores of the same name)."""
        self._closed = True
