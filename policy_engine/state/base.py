"""State store types: cooldowns, cursors, turns and quota snapshots, and the :class:`StateStore` interface.

Every store implements the same small contract so the engine never cares where state lives:

* :meth:`StateStore.snapshot` is one consistent read of cooldowns, cursors and quota (per decision);
* :meth:`StateStore.apply` writes one :class:`StateChanges` batch atomically, with merge rules that
  make concurrent writers safe without read-modify-write on the caller's side. Each rule is a
  single conditional upsert, so a Redis store can run a whole batch as one Lua script.

All datetimes are timezone-aware; stores return them in UTC (the engine converts to the policy's zone).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from policy_engine.common import fast_json
from policy_engine.common.records import dataclass

from .log import LOG_LIMIT, LogRecord, LogRetention

T = TypeVar("T")

__all__ = [
    "LOG_LIMIT",
    "STATE_PARTS",
    "Cooldown",
    "Decide",
    "LogRecord",
    "LogRetention",
    "QuotaSnapshot",
    "QuotaWindow",
    "StateChanges",
    "StateError",
    "StateReadOnlyError",
    "StateSnapshot",
    "StateStore",
    "StateUnavailableError",
    "TurnRecord",
    "check_parts",
    "dump_document",
    "from_epoch",
    "iso",
    "json_copy",
    "json_text",
    "to_epoch",
]

#: The parts of a store that :meth:`StateStore.clear` can empty.
STATE_PARTS: frozenset[str] = frozenset({"cooldowns", "cursors", "turns", "quota", "log"})



class StateError(Exception):
    """A state store cannot be opened, read or written; the message names the store and what to do."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None) -> None:
        self.path = path
        self.hint = hint
        super().__init__(f"{message}\n    hint: {hint}" if hint else message)


class StateURLError(StateError):
    """A state URL that names no known kind of store (a usage error, not a broken store)."""


class StateUnavailableError(StateError):
    """The store cannot be reached (network, server down, timeout); its data is not known to be lost."""


class StateReadOnlyError(StateError):
    """A write was attempted on a store opened read-only (e.g. by the dry-run ``mp-policy eval``)."""


# --------------------------------------------------------------------------- helpers


def _aware(value: datetime, what: str) -> datetime:
    if getattr(value, "tzinfo", None) is UTC and isinstance(value, datetime):
        return value  # the common case: the engine's clock is in UTC
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value


def to_epoch(value: datetime) -> float:
    """An aware datetime as UTC epoch seconds (what stores keep: fast and sortable)."""
    return _aware(value, "time").timestamp()


def from_epoch(value: float) -> datetime:
    """UTC epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 with offset, or ``None``."""
    return None if value is None else value.isoformat()


def _parse_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def json_copy(value: Any, what: str = "value") -> Any:
    """A deep copy through JSON; raises :class:`TypeError` naming ``what`` when it is not JSON-able."""
    return fast_json.loads(json_text(value, what))


def json_text(value: Any, what: str = "value", *, plain_numbers: bool = False, name: object = None) -> str:
    """Compact JSON text; raises :class:`TypeError` naming ``what`` when it is not JSON-able.

    ``plain_numbers=True``: the caller vouches that every number is finite and every integer fits in
    64 bits (a batch marked :attr:`StateChanges.plain_numbers`), which allows the fast encoder
    (:mod:`policy_engine.common.fast_json`). ``name``: filled into ``what`` (``"turn {!r} data"``)
    only when there is an error to report, so a write does not format a message it will not show.
    """
    try:
        return fast_json.dumps(value, plain_numbers=plain_numbers)
    except (TypeError, ValueError) as exc:
        label = what if name is None else what.format(name)
        raise TypeError(f"{label} is not JSON-serialisable: {exc}") from exc


def check_parts(parts: Collection[str] | None) -> frozenset[str]:
    """Validate the ``parts`` argument of :meth:`StateStore.clear`; ``None`` means all of them."""
    if parts is None:
        return STATE_PARTS
    if isinstance(parts, str):
        parts = [parts]
    chosen = frozenset(parts)
    unknown = chosen - STATE_PARTS
    if unknown:
        known = ", ".join(sorted(STATE_PARTS))
        raise ValueError(f"unknown state part(s) {', '.join(sorted(unknown))}; expected some of {known}")
    return chosen


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Cooldown:
    """A provider cooling down until ``until``; ``reason`` is short and never holds a secret."""

    provider: str
    until: datetime
    reason: str
    since: datetime
    source: str | None = None

    def __post_init__(self) -> None:
        _aware(self.until, "Cooldown.until")
        _aware(self.since, "Cooldown.since")

    def active(self, now: datetime) -> bool:
        """Whether the cooldown still runs at ``now``."""
        return self.until > now

    def to_utc(self) -> Cooldown:
        """The same cooldown with its times in UTC."""
        return Cooldown(self.provider, self.until.astimezone(UTC), self.reason, self.since.astimezone(UTC), self.source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (ISO times)."""
        return {
            "provider": self.provider,
            "until": iso(self.until),
            "reason": self.reason,
            "since": iso(self.since),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cooldown:
        """Inverse of :meth:`to_dict`."""
        return cls(
            provider=data["provider"],
            until=datetime.fromisoformat(data["until"]),
            reason=data["reason"],
            since=datetime.fromisoformat(data["since"]),
            source=data.get("source"),
        )


@dataclass(frozen=True)
class QuotaWindow:
    """One quota window of a provider (e.g. ``5h`` or ``weekly``): remaining percent and reset time."""

    name: str
    remaining: float | None
    resets_at: datetime | None

    def __post_init__(self) -> None:
        if self.resets_at is not None:
            _aware(self.resets_at, "QuotaWindow.resets_at")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (ISO times)."""
        return {"name": self.name, "remaining": self.remaining, "resets_at": iso(self.resets_at)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuotaWindow:
        """Inverse of :meth:`to_dict`."""
        return cls(data["name"], data.get("remaining"), _parse_iso(data.get("resets_at")))


@dataclass(frozen=True)
class QuotaSnapshot:
    """What a quota checker (or response headers) last said about a provider's remaining quota."""

    provider: str
    remaining: float | None
    fetched_at: datetime
    source: str = "unknown"
    status: str | None = None
    windows: tuple[QuotaWindow, ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        _aware(self.fetched_at, "QuotaSnapshot.fetched_at")
        if not isinstance(self.windows, tuple):
            object.__setattr__(self, "windows", tuple(self.windows))

    def normalised(self) -> QuotaSnapshot:
        """The same snapshot with UTC times and float percentages (what every store returns)."""
        return QuotaSnapshot(
            provider=self.provider,
            remaining=None if self.remaining is None else float(self.remaining),
            fetched_at=self.fetched_at.astimezone(UTC),
            source=self.source,
            status=self.status,
            windows=tuple(
                QuotaWindow(
                    w.name,
                    None if w.remaining is None else float(w.remaining),
                    None if w.resets_at is None else w.resets_at.astimezone(UTC),
                )
                for w in self.windows
            ),
            summary=self.summary,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (ISO times)."""
        return {
            "provider": self.provider,
            "remaining": self.remaining,
            "fetched_at": iso(self.fetched_at),
            "source": self.source,
            "status": self.status,
            "windows": [w.to_dict() for w in self.windows],
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuotaSnapshot:
        """Inverse of :meth:`to_dict`."""
        return cls(
            provider=data["provider"],
            remaining=data.get("remaining"),
            fetched_at=datetime.fromisoformat(data["fetched_at"]),
            source=data.get("source", "unknown"),
            status=data.get("status"),
            windows=tuple(QuotaWindow.from_dict(w) for w in data.get("windows", ())),
            summary=data.get("summary", ""),
        )


@dataclass(frozen=True)
class TurnRecord:
    """A turn's cascade (route, attempted providers, visited entries, position); ``data`` is opaque JSON."""

    turn_id: str
    data: Mapping[str, Any]
    updated_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        _aware(self.updated_at, "TurnRecord.updated_at")
        _aware(self.expires_at, "TurnRecord.expires_at")

    def expired(self, now: datetime) -> bool:
        """Whether the turn is gone at ``now``."""
        return self.expires_at <= now

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (ISO times)."""
        return {
            "turn_id": self.turn_id,
            "data": json_copy(self.data, f"turn {self.turn_id!r} data"),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            turn_id=data["turn_id"],
            data=data["data"],
            updated_at=datetime.fromisoformat(data["updated_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )


@dataclass(frozen=True)
class StateSnapshot:
    """One consistent read: cooldowns (may include expired ones; compare with now), cursors and quota."""

    cooldowns: Mapping[str, Cooldown]
    cursors: Mapping[str, str]
    quota: Mapping[str, QuotaSnapshot]

    def active_cooldowns(self, now: datetime) -> dict[str, Cooldown]:
        """The cooldowns still running at ``now``."""
        return {p: c for p, c in self.cooldowns.items() if c.until > now}


@dataclass
class StateChanges:
    """One atomic batch of writes, applied in this order by :meth:`StateStore.apply`.

    1. ``clear_cooldowns``: those providers' cooldowns are removed;
    2. ``cooldowns``: merged, keeping the LATER ``until`` (a new cooldown never shortens a running one;
       when the new one wins, its reason/since/source replace the old ones; equal ``until`` keeps the old);
    3. ``cursors``: last writer wins;
    4. ``turns``: upserted, ``None`` deletes;
    5. ``quota``: replaced when the new ``fetched_at`` is newer or equal;
    6. ``log``: appended; the store trims its log by ``retention`` (else its own default; see
       :mod:`policy_engine.state.log`).
    """

    cooldowns: list[Cooldown] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    turns: dict[str, TurnRecord | None] = field(default_factory=dict)
    quota: list[QuotaSnapshot] = field(default_factory=list)
    clear_cooldowns: list[str] = field(default_factory=list)
    log: list[Mapping[str, Any]] = field(default_factory=list)
    retention: LogRetention | None = None
    #: Set by the engine for the batches it builds: every number in the turns' data and the log entries is
    #: finite and every integer fits in 64 bits, so stores may use their fast JSON path (see :func:`json_text`).
    plain_numbers: bool = False

    def is_empty(self) -> bool:
        """Whether the batch writes nothing."""
        return not (self.cooldowns or self.cursors or self.turns or self.quota or self.clear_cooldowns or self.log)


# --------------------------------------------------------------------------- interface

Decide = Callable[[TurnRecord | None, StateSnapshot], tuple[StateChanges, T]]
"""What :meth:`StateStore.transact` calls: the turn and a snapshot in, the changes to write and a result out."""



class StateStore(ABC):
    """Where routing state lives; shared by several processes. Use as a context manager to close it."""

    url: str
    readonly: bool
    namespace: str

    @abstractmethod
    def snapshot(self) -> StateSnapshot:
        """One consistent read of cooldowns, cursors and quota (cheap: runs per decision, never writes)."""

    @abstractmethod
    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """The turn, or ``None`` when it is missing or expired at ``now``."""

    def read(self, turn_id: str, now: datetime) -> tuple[TurnRecord | None, StateSnapshot]:
        """:meth:`get_turn` and :meth:`snapshot` together (what a ``fail`` needs); a remote store does
        both in one round trip."""
        return self.get_turn(turn_id, now), self.snapshot()

    def transact(self, turn_id: str | None, now: datetime, decide: Decide[T]) -> T:
        """Read the turn (when ``turn_id`` is given) and a snapshot, call ``decide(turn, snapshot)``, write
        the :class:`StateChanges` it returns as one batch, and return its result.

        This is how the engine's ``select`` and ``fail`` change state. ``decide`` must be a pure
        function of its arguments: a store may call it again with newer data. The Redis store
        decides on the state it saw last and writes with a version check, so a call costs one
        round trip unless another process wrote meanwhile.
        """
        if turn_id is None:
            record, snap = None, self.snapshot()
        else:
            record, snap = self.read(turn_id, now)
        changes, result = decide(record, snap)
        self.apply(changes)
        return result

    @abstractmethod
    def apply(self, changes: StateChanges) -> None:
        """Write a batch atomically (all or nothing) with the merge rules of :class:`StateChanges`.

        An empty batch is a no-op. Raises :class:`StateReadOnlyError` on a read-only store.
        """

    @abstractmethod
    def purge(self, now: datetime) -> int:
        """Delete turns and cooldowns that have expired at ``now``; returns how many were deleted."""

    @abstractmethod
    def clear(self, parts: Collection[str] | None = None) -> None:
        """Empty some parts (``cooldowns``, ``cursors``, ``turns``, ``quota``, ``log``), all when ``None``."""

    @abstractmethod
    def dump(self) -> dict[str, Any]:
        """Everything, as JSON-able data with ISO times (for ``mp-policy state show``)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store; closing twice is harmless."""

    # -- the decision log (see policy_engine.state.log); stores override these with indexed reads

    def log_before(self, cursor: str | None = None, count: int = 100) -> list[LogRecord]:
        """Up to ``count`` entries just before ``cursor`` (the newest when ``None``), oldest first."""
        records = self._all_log()
        if cursor is not None:
            records = [r for r in records if int(r.id) < int(cursor)]
        return records[-count:] if count > 0 else []

    def log_after(self, cursor: str | None = None, count: int = 1000) -> list[LogRecord]:
        """Up to ``count`` entries written after ``cursor`` (from the oldest when ``None``), oldest first."""
        records = self._all_log()
        if cursor is not None:
            records = [r for r in records if int(r.id) > int(cursor)]
        return records[:count]

    def wait_log(self, cursor: str | None, timeout: float, count: int = 1000) -> list[LogRecord]:
        """Entries after ``cursor``, waiting up to ``timeout`` seconds for the first one (a poll by default)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            records = self.log_after(cursor, count)
            left = deadline - time.monotonic()
            if records or left <= 0:
                return records
            time.sleep(min(0.05, left))

    def _all_log(self) -> list[LogRecord]:
        return [LogRecord(str(i), e) for i, e in enumerate(self.dump().get("log", []))]

    def _check_writable(self) -> None:
        if self.readonly:
            raise StateReadOnlyError(
                f"state store {self.url} is open read-only (dry run); it cannot be changed",
                hint="dry runs (such as `mp-policy eval`) only read state; open it writable to change it",
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"<{type(self).__name__} {self.url} ns={self.namespace!r} {mode}>"


def dump_document(
    store: StateStore,
    *,
    cooldowns: Iterable[Cooldown],
    cursors: Mapping[str, str],
    turns: Iterable[TurnRecord],
    quota: Iterable[QuotaSnapshot],
    log: Iterable[Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The common shape of :meth:`StateStore.dump` (sorted keys, ISO times)."""
    doc: dict[str, Any] = {"store": store.url, "namespace": store.namespace, "readonly": store.readonly}
    if extra:
        doc.update(extra)
    doc["cooldowns"] = {c.provider: c.to_dict() for c in sorted(cooldowns, key=lambda c: c.provider)}
    doc["cursors"] = dict(sorted(cursors.items()))
    doc["turns"] = {t.turn_id: t.to_dict() for t in sorted(turns, key=lambda t: t.turn_id)}
    doc["quota"] = {q.provider: q.to_dict() for q in sorted(quota, key=lambda q: q.provider)}
    doc["log"] = list(log)
    return doc
