"""Trace entries: what the engine appends to its store's log for each ``select``, ``fail`` and ``succeed``.

One entry is a compact JSON object (field by field in ``docs/trace.md``)::

    {"v": 1, "t": 1796601600.25, "tz": "Europe/Vienna", "op": "fail", "turn": "9f3c…",
     "request": {"chain": "main", "model": "claude-sonnet-4-5"}, "failing": "anthropic",
     "error": {"kind": "rate_limit", "status": 429, "headers": ["retry-after"], "rotate": true,
               "retryAfter": "…", "retrySource": "retry-after", "cooldownUntil": "…", "reason": "…"},
     "target": {"provider": "anthropic-2", "model": "…", "pool": "claude", "chain": "main", "preset": null,
                "entry": 0, "via": "chain"},
     "skipped": [{"provider": "anthropic", "pool": "claude", "reason": "attempted", "detail": "…"}],
     "strategy": [{"pool": "claude", "name": "round-robin", "fallback": false, "note": "…"}],
     "retryAfter": null, "policyRevision": "…", "project": "/home/me/app", "label": "pi/session-1",
     "promptChars": 1234, "elapsedUs": 85.1}

What is never in an entry: a credential (the engine never holds one here: accounts are names) nor the
text of a prompt or of an error message (a prompt's length at most; an error's classified kind,
status and the rule that recognised it). Fields with no value are left out, except ``target``.
The time is stored as ``t`` (UTC epoch seconds) with the policy's zone ``tz``; readers add ``at``
(ISO-8601 in that zone, :func:`with_at`), so the decision path never formats a time it may not show.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from policy_engine.common.timezones import isoformat
from policy_engine.compile.graph import TraceSettings
from policy_engine.evaluate.decision import Decision, SkipRecord
from policy_engine.state.log import LogRetention

if TYPE_CHECKING:
    from policy_engine.policy.sources import PolicySources

__all__ = ["TRACE_VERSION", "decision_entry", "project_dir", "succeed_entry", "trace_retention", "with_at", "zone_name",
           "zone_of"]

#: The version of the entry format; a reader skips entries of a version it does not know.
TRACE_VERSION = 1


def zone_name(tz: tzinfo) -> str:
    """A zone as the entry stores it: its IANA key (``Europe/Vienna``), else its UTC offset (``+01:00``)."""
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    offset = datetime(2000, 1, 1, tzinfo=tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_of(name: str | None) -> tzinfo:
    """The inverse of :func:`zone_name` (UTC for a name this machine does not know)."""
    if name and name[0] in "+-" and len(name) == 6:
        sign = -1 if name[0] == "-" else 1
        return timezone(sign * timedelta(hours=int(name[1:3]), minutes=int(name[4:6])))
    try:
        return ZoneInfo(name) if name else UTC
    except (ValueError, KeyError, OSError):
        return UTC


def with_at(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with ``at`` (ISO-8601 in its zone) placed after ``t``, as readers show it."""
    if "at" in entry or not isinstance(entry.get("t"), int | float):
        return dict(entry)
    at = isoformat(datetime.fromtimestamp(float(entry["t"]), UTC), zone_of(entry.get("tz")))
    out: dict[str, Any] = {}
    for key, value in entry.items():
        out[key] = value
        if key == "t":
            out["at"] = at
    return out


def _compact(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


@functools.lru_cache(maxsize=512)
def _iso(moment: datetime, tz: tzinfo) -> str | None:
    """:func:`isoformat`, remembered: a cooldown's end is written into every entry that skips it."""
    return isoformat(moment, tz)


_zone_name = functools.lru_cache(maxsize=64)(zone_name)  # one zone per policy: asked on every entry


def _skip(s: SkipRecord, tz: tzinfo) -> dict[str, Any]:
    """A skipped account as the entry keeps it: the fields that are set, ``until`` (``null``: a window that
    never opens again)."""
    # Spelled out (as in decision_entry): this runs for every skipped account of every decision.
    out: dict[str, Any] = {} if s.provider is None else {"provider": s.provider}
    if s.pool is not None:
        out["pool"] = s.pool
    if s.chain is not None:
        out["chain"] = s.chain
    if s.preset is not None:
        out["preset"] = s.preset
    if s.entry is not None:
        out["entry"] = s.entry
    out["reason"] = s.reason
    out["detail"] = s.detail
    if s.until is not None:
        out["until"] = _iso(s.until, tz)
    elif s.reason == "outside-window":
        out["until"] = None
    return out


def _common(op: str, turn: str, at: datetime, tz: tzinfo, revision: str, request: Mapping[str, Any],
            project: str | None, label: str | None) -> dict[str, Any]:
    # timestamp() is already the double nearest to the exact microsecond count (rounding again costs 1 µs)
    entry: dict[str, Any] = {"v": TRACE_VERSION, "t": at.timestamp(), "tz": _zone_name(tz), "op": op,
                             "turn": turn, "request": dict(request)}
    if project:
        entry["project"] = project
    if label:
        entry["label"] = label
    entry["policyRevision"] = revision
    return entry


def decision_entry(op: str, decision: Decision, *, request: Mapping[str, Any], failing: str | None = None,
                   failed: Mapping[str, Any] | None = None, project: str | None = None, label: str | None = None,
                   prompt: str | None = None) -> dict[str, Any]:
    """The entry of a ``select`` or ``fail`` from its :class:`Decision`.

    A fail names the ``failing`` account and what the error was (``failed``: ``status``, ``type``,
    ``code`` and the header names; never the message or a header's value).
    """
    # It runs on every state-writing decision, so it is written for speed: the fields spelled out instead of
    # going through the to_dict methods (the same JSON forms: see tests/trace/test_entry.py), no
    # comprehension frames.
    tz = decision.tz
    entry = _common(op, decision.turn, decision.at, tz, decision.policy_revision, request, project, label)
    if failing is not None:
        entry["failing"] = failing
    if decision.error is not None:
        error = decision.error
        failed = failed or {}
        entry["error"] = _compact({"kind": error.kind, "status": failed.get("status"), "type": failed.get("type"),
                                   "code": failed.get("code"), "headers": failed.get("headers") or None,
                                   "rotate": error.rotate,
                                   "retryAfter": isoformat(error.retry_after, tz), "retrySource": error.retry_source,
                                   "cooldownUntil": isoformat(error.cooldown_until, tz), "reason": error.reason})
    t = decision.target
    entry["target"] = None if t is None else {"provider": t.provider, "model": t.model, "pool": t.pool,
                                              "chain": t.chain, "preset": t.preset, "entry": t.entry, "via": t.via}
    if decision.skipped:
        skipped = entry["skipped"] = []
        for s in decision.skipped:
            skipped.append(_skip(s, tz))
    if decision.strategy:
        notes = entry["strategy"] = []
        for n in decision.strategy:
            notes.append({"pool": n.pool, "name": n.name, "fallback": n.fallback, "note": n.note})
    if decision.retry_after is not None:
        entry["retryAfter"] = isoformat(decision.retry_after, tz)
    if prompt is not None:
        entry["promptChars"] = len(prompt)
    entry["elapsedUs"] = int(decision.elapsed_us * 10 + 0.5) / 10  # to 0.1 µs (round(x, 1) costs more)
    return entry


def succeed_entry(turn: str, at: datetime, tz: tzinfo, revision: str, *, provider: str | None,
                  project: str | None = None, label: str | None = None) -> dict[str, Any]:
    """The entry of a ``succeed``: the turn ended well on ``provider`` (its last target, when known)."""
    entry = _common("succeed", turn, at, tz, revision, {"provider": provider} if provider else {}, project, label)
    entry["target"] = {"provider": provider} if provider else None
    return entry


def trace_retention(settings: TraceSettings) -> LogRetention | None:
    """The store retention of ``settings.trace``, or ``None`` when the trace is off."""
    if not settings.enabled:
        return None
    return LogRetention(entries=settings.entries, age=settings.age, max_bytes=settings.max_bytes)


def project_dir(sources: PolicySources | None) -> str | None:
    """The project directory of a set-up (the folder holding ``.pi/``), when it has a project overlay."""
    path = sources.project_path if sources is not None else None
    if path is None:
        return None
    folder = path.parent
    return str(folder.parent if folder.name == ".pi" else folder)
