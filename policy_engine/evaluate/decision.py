"""The Decision: what the engine answers for ``select`` and ``fail`` (DESIGN §4, "Decision").

``Decision.to_dict()`` is the JSON that ``mp-policy eval --format json`` prints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.common.timezones import isoformat

__all__ = ["Candidates", "Decision", "ErrorOutcome", "SkipRecord", "StrategyNote", "Target"]


@dataclass(slots=True)
class Target:
    """A (provider, model) on the route, with what put it there.

    ``via``: ``current`` (the provider the request named), ``pool`` (a member of the starting
    pool, or a sibling in a pool's rotation), ``chain`` (a chain entry's pool) or ``preset`` (a
    preset entry's own provider). ``entry`` is the 0-based index of the chain or preset entry.
    """

    provider: str
    model: str | None
    pool: str | None
    via: str
    chain: str | None = None
    preset: str | None = None
    entry: int | None = None
    segment: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "provider": self.provider,
            "model": self.model,
            "pool": self.pool,
            "chain": self.chain,
            "preset": self.preset,
            "entry": self.entry,
            "via": self.via,
        }

    def turn_dict(self) -> dict[str, Any]:
        """The JSON form with the route position (``segment``), as a turn record keeps its target."""
        out = self.to_dict()
        out["segment"] = self.segment  # added to the one dict (a merge would build a second)
        return out


class Candidates(Sequence[Target]):
    """The eligible targets of a route, in order, built only when read.

    The walk records runs of members that share a segment; :meth:`first` gives the target
    without building the others (large pools pay for the full list only when it is used).
    A (provider, model) pair reached twice is listed once, at its first place.
    """

    __slots__ = ("_items", "_runs")

    def __init__(self) -> None:
        self._runs: list[tuple[Sequence[str], str | None, str | None, str, str | None, str | None, int | None,
                               int]] = []
        self._items: list[Target] | None = None

    def add_run(self, members: Sequence[str], model: str | None, pool: str | None, via: str, chain: str | None,
                preset: str | None, entry: int | None, segment: int) -> None:
        """Append members that share one segment (in order)."""
        if members:
            self._runs.append((members, model, pool, via, chain, preset, entry, segment))
            self._items = None

    def first(self) -> Target | None:
        """The first candidate (the target), or None."""
        if not self._runs:
            return None
        members, *rest = self._runs[0]
        return Target(members[0], *rest)  # type: ignore[arg-type]

    def _build(self) -> list[Target]:
        if self._items is None:
            seen: set[tuple[str, str | None]] = set()
            items: list[Target] = []
            append = items.append
            for members, model, pool, via, chain, preset, entry, segment in self._runs:
                for member in members:
                    key = (member, model)
                    if key not in seen:
                        seen.add(key)
                        append(Target(member, model, pool, via, chain, preset, entry, segment))
            self._items = items
        return self._items

    def __bool__(self) -> bool:
        return bool(self._runs)

    def __len__(self) -> int:
        return len(self._build())

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        return self._build()[index]

    def __iter__(self) -> Iterator[Target]:
        return iter(self._build())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return f"Candidates({self._build()!r})"


@dataclass(slots=True)
class SkipRecord:
    """Something on the route that was passed over, with a reason code and a human detail."""

    reason: str
    detail: str
    provider: str | None = None
    pool: str | None = None
    chain: str | None = None
    preset: str | None = None
    entry: int | None = None
    until: datetime | None = None

    def to_dict(self, tz: tzinfo) -> dict[str, Any]:
        """The JSON form; ``until`` when known (and ``null`` for a window that never opens again)."""
        out: dict[str, Any] = {
            "provider": self.provider,
            "pool": self.pool,
            "chain": self.chain,
            "preset": self.preset,
            "entry": self.entry,
            "reason": self.reason,
            "detail": self.detail,
        }
        if self.until is not None or self.reason == "outside-window":
            out["until"] = isoformat(self.until, tz)  # outside-window: null when it never opens again
        return out


@dataclass(frozen=True, slots=True)
class StrategyNote:
    """How one pool on the route was ordered."""

    pool: str
    name: str
    fallback: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"pool": self.pool, "name": self.name, "fallback": self.fallback, "note": self.note}


@dataclass(frozen=True, slots=True)
class ErrorOutcome:
    """How a failure was classified, whether it rotates, and the retry time it carried."""

    kind: str
    rotate: bool
    retry_after: datetime | None
    reason: str = ""
    retry_source: str | None = None
    cooldown_until: datetime | None = None

    def to_dict(self, tz: tzinfo) -> dict[str, Any]:
        """The JSON form."""
        return {
            "kind": self.kind,
            "rotate": self.rotate,
            "retryAfter": isoformat(self.retry_after, tz),
            "reason": self.reason,
            "retrySource": self.retry_source,
            "cooldownUntil": isoformat(self.cooldown_until, tz),
        }


@dataclass(slots=True)
class Decision:
    """The answer to one request: a target (or none, with ``retry_after``) and why."""

    target: Target | None
    candidates: Sequence[Target]
    skipped: list[SkipRecord]
    retry_after: datetime | None
    strategy: list[StrategyNote]
    turn: str
    at: datetime
    policy_revision: str
    tz: tzinfo
    error: ErrorOutcome | None = None
    elapsed_us: float = 0.0
    segments: Sequence[Any] = ()  # the route walked (policy_engine.evaluate.route.Segment), described on demand
    trace: list[dict[str, Any]] | None = None

    @property
    def route(self) -> list[str]:
        """The route walked, one human line per step."""
        return [s.describe() for s in self.segments]

    def to_dict(self) -> dict[str, Any]:
        """The Decision JSON (DESIGN §4)."""
        tz = self.tz
        out: dict[str, Any] = {
            "target": self.target.to_dict() if self.target else None,
            "candidates": [
                {"provider": c.provider, "model": c.model, "pool": c.pool, "via": c.via,
                 "chain": c.chain, "preset": c.preset, "entry": c.entry}
                for c in self.candidates
            ],
            "skipped": [s.to_dict(tz) for s in self.skipped],
            "retryAfter": isoformat(self.retry_after, tz),
            "strategy": [s.to_dict() for s in self.strategy],
            "turn": self.turn,
            "at": isoformat(self.at, tz),
            "policyRevision": self.policy_revision,
            "elapsedUs": round(self.elapsed_us, 1),
            "route": list(self.route),
        }
        if self.error is not None:
            out["error"] = self.error.to_dict(tz)
        if self.trace is not None:
            out["trace"] = self.trace
        return out
