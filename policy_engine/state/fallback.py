"""``settings.stateFallback: local``: keep deciding on the local SQLite state while a remote store is down.

:class:`FallbackStore` forwards every call to the primary store (e.g. Redis). When the primary
cannot be reached (:class:`~policy_engine.state.StateUnavailableError`, at start or
in the middle of a run) it warns once and uses the local store instead; every
``retry_interval`` seconds it checks whether the primary is back, warns again and goes back to
it. State written to the local store meanwhile stays there: the fleet's shared state is the
primary's, and a local cooldown is at worst a few minutes of one agent avoiding an account. A
turn this process began on one store can be continued (failed, succeeded) after a switch: the
store remembers the last turns it wrote.
Without the setting (``stateFallback: error``, the default) an unreachable store is an error.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from policy_engine.state.base import (
    Decide,
    LogRecord,
    StateChanges,
    StateError,
    StateSnapshot,
    StateStore,
    StateUnavailableError,
    TurnRecord,
)

__all__ = ["MAX_REMEMBERED_TURNS", "RETRY_INTERVAL", "FallbackStore"]

RETRY_INTERVAL = 5.0  # seconds between checks whether the primary store is back
MAX_REMEMBERED_TURNS = 256  # turns written through this process, kept to survive a switch of stores
_log = logging.getLogger("mp_policy.state")
_log.addHandler(logging.NullHandler())  # an embedding application decides where warnings go; the CLI prints them
T = TypeVar("T")


class FallbackStore(StateStore):
    """The primary store while it answers, the local one while it does not (see the module docstring)."""

    def __init__(self, open_primary: Callable[[], StateStore], open_local: Callable[[], StateStore], *,
                 primary_url: str, readonly: bool = False, namespace: str = "default",
                 retry_interval: float = RETRY_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self._open_primary = open_primary
        self._open_local = open_local
        self._local: StateStore | None = None
        self._primary: StateStore | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self.retry_interval = retry_interval
        self._clock = clock
        self.warnings: list[str] = []
        self._closed = False
        # Turns written through this store, so that a turn begun on one store can go on after a switch.
        self._turns: OrderedDict[str, TurnRecord | None] = OrderedDict()
        self.url = primary_url
        self.readonly = readonly
        self.namespace = namespace
        try:
            self._primary = open_primary()
            self.namespace = self._primary.namespace
        except StateError as exc:
            if not _unavailable(exc):
                raise
            self._degrade(exc)

    # -- switching

    @property
    def degraded(self) -> bool:
        """True while the local store stands in for the primary."""
        return self._primary is None

    @property
    def current(self) -> StateStore:
        """The store calls go to right now."""
        return self._primary if self._primary is not None else self._local_store()

    def _local_store(self) -> StateStore:
        if self._local is None:
            self._local = self._open_local()
        return self._local

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        _log.warning(message)

    def _degrade(self, exc: StateError) -> None:
        primary, self._primary = self._primary, None
        if primary is not None:
            with contextlib.suppress(StateError):
                primary.close()
        self._retry_at = self._clock() + self.retry_interval
        local = self._local_store()
        self._warn(f"{str(exc).splitlines()[0]}; using the local state store {local.url} until it is back "
                   "(settings.stateFallback: local)")

    def _maybe_recover(self) -> None:
        if self._primary is not None or self._clock() < self._retry_at:
            return
        with self._lock:
            if self._primary is not None or self._clock() < self._retry_at:
                return
            self._retry_at = self._clock() + self.retry_interval
            try:
                self._primary = self._open_primary()
            except StateError:
                return
            self._warn(f"the state store {self.url} is reachable again; using it (what was written to the "
                       f"local store meanwhile stays there)")

    def _call(self, method: Callable[[StateStore], T]) -> T:
        if self._closed:
            raise StateError(f"state store {self.url} is closed")
        self._maybe_recover()
        primary = self._primary
        if primary is not None:
            try:
                return method(primary)
            except StateError as exc:
                if not _unavailable(exc):
                    raise
                with self._lock:
                    if self._primary is primary:
                        self._degrade(exc)
        return method(self._local_store())

    # -- the StateStore interface

    def snapshot(self) -> StateSnapshot:
        """See :meth:`StateStore.snapshot`."""
        return self._call(lambda s: s.snapshot())

    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """See :meth:`StateStore.get_turn`; a turn this process wrote to the other store is found too."""
        return self._recall(turn_id, now, self._call(lambda s: s.get_turn(turn_id, now)))

    def read(self, turn_id: str, now: datetime) -> tuple[TurnRecord | None, StateSnapshot]:
        """See :meth:`StateStore.read`."""
        turn, snap = self._call(lambda s: s.read(turn_id, now))
        return self._recall(turn_id, now, turn), snap

    def apply(self, changes: StateChanges) -> None:
        """See :meth:`StateStore.apply`."""
        self._call(lambda s: s.apply(changes))
        self._remember(changes)

    def transact(self, turn_id: str | None, now: datetime, decide: Decide[T]) -> T:
        """See :meth:`StateStore.transact`; a turn this process wrote to the other store is found too."""
        written: list[StateChanges] = []

        def recalled(record: TurnRecord | None, snap: StateSnapshot) -> tuple[StateChanges, T]:
            if turn_id is not None:
                record = self._recall(turn_id, now, record)
            changes, result = decide(record, snap)
            written.append(changes)
            return changes, result

        result = self._call(lambda s: s.transact(turn_id, now, recalled))
        if written:
            self._remember(written[-1])
        return result

    def _remember(self, changes: StateChanges) -> None:
        for turn_id, turn in changes.turns.items():
            self._turns[turn_id] = turn
            self._turns.move_to_end(turn_id)
        while len(self._turns) > MAX_REMEMBERED_TURNS:
            self._turns.popitem(last=False)

    def _recall(self, turn_id: str, now: datetime, found: TurnRecord | None) -> TurnRecord | None:
        if found is None and turn_id in self._turns:
            remembered = self._turns[turn_id]
            if remembered is not None and not remembered.expired(now):
                return remembered
        return found

    def purge(self, now: datetime) -> int:
        """See :meth:`StateStore.purge`."""
        return self._call(lambda s: s.purge(now))

    def clear(self, parts: Collection[str] | None = None) -> None:
        """See :meth:`StateStore.clear`."""
        self._call(lambda s: s.clear(parts))

    def log_before(self, cursor: str | None = None, count: int = 100) -> list[LogRecord]:
        """See :meth:`StateStore.log_before` (of the store in use)."""
        return self._call(lambda s: s.log_before(cursor, count))

    def log_after(self, cursor: str | None = None, count: int = 1000) -> list[LogRecord]:
        """See :meth:`StateStore.log_after` (of the store in use)."""
        return self._call(lambda s: s.log_after(cursor, count))

    def wait_log(self, cursor: str | None, timeout: float, count: int = 1000) -> list[LogRecord]:
        """See :meth:`StateStore.wait_log` (of the store in use)."""
        return self._call(lambda s: s.wait_log(cursor, timeout, count))

    def dump(self) -> dict[str, Any]:
        """See :meth:`StateStore.dump`; says which store answered."""
        doc = self._call(lambda s: s.dump())
        doc["fallback"] = {"primary": self.url, "degraded": self.degraded}
        return doc

    def close(self) -> None:
        """Close both stores; the store refuses use afterwards."""
        self._closed = True
        for store in (self._primary, self._local):
            if store is not None:
                with contextlib.suppress(StateError):
                    store.close()


def _unavailable(exc: StateError) -> bool:
    return isinstance(exc, StateUnavailableError)
