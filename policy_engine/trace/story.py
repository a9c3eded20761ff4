"""Trace entries for people: a table of the latest decisions, and one turn's cascade as a story.

``asked chain main → anthropic rate-limited until 14:32 (retry-after) → anthropic-2 served``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["ERROR_WORDS", "aligned", "asked", "one_line", "story", "table_rows", "turn_lines"]

#: How an error kind reads in a story.
ERROR_WORDS = {
    "rate_limit": "rate-limited",
    "quota_exhausted": "out of quota",
    "overloaded": "overloaded",
    "auth": "refused the credentials",
    "context_overflow": "over the context limit",
    "other": "failed",
}


def _clock(iso: str | None, seconds: bool = False, day_of: str | None = None, dated: bool = False) -> str:
    """``HH:MM`` (``HH:MM:SS``) of an ISO time in its own offset (the policy's zone), with its date in front when
    it falls on another day than the ISO time ``day_of`` (the entry's own: a cooldown that ends in three days
    is not told as a time of today), or always when ``dated``."""
    if not iso:
        return "?"
    try:
        moment = datetime.fromisoformat(iso)
        day = datetime.fromisoformat(day_of).date() if day_of else moment.date()
    except ValueError:
        return iso
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    return clock if moment.date() == day and not dated else f"{moment:%Y-%m-%d} {clock}"


def asked(entry: Mapping[str, Any]) -> str:
    """What the turn asked for: ``chain main``, ``pool claude (claude-sonnet-4-5)``, ``anthropic``."""
    request = entry.get("request") or {}
    name = next((f"{kind} {request[kind]}" for kind in ("chain", "pool", "preset") if request.get(kind)), None)
    name = name or request.get("provider") or "?"
    return f"{name} ({request['model']})" if request.get("model") else name


def _served(entry: Mapping[str, Any]) -> str:
    target = entry.get("target") or None
    if target is None or not target.get("provider"):
        until = entry.get("retryAfter")
        return f"nothing left (retry after {_clock(until, day_of=entry.get('at'))})" if until else "nothing left"
    return str(target["provider"])


def _failure(entry: Mapping[str, Any]) -> str:
    """``anthropic rate-limited until 14:32 (retry-after)``; a kept error: ``anthropic over the context limit``."""
    error = entry.get("error") or {}
    kind = error.get("kind", "other")
    words = ERROR_WORDS.get(kind, f"failed ({kind})")
    text = f"{entry.get('failing') or '?'} {words}"
    until = error.get("cooldownUntil")
    if error.get("rotate") and until:
        # The error's retry time names the end only when it set it: a shorter one leaves the pool's cooldown,
        # and a longer cooldown already running outlasts both. (An answer rebuilt from the store has no
        # retryAfter and gives the cooldown's own source as retrySource.)
        source = error.get("retrySource") if error.get("retryAfter") in (None, until) else None
        text += f" until {_clock(until, day_of=entry.get('at'))} ({(source or 'cooldown').removeprefix('header ')})"
    elif not error.get("rotate"):
        text += " (kept: this error does not rotate)"
    return text


def _relevant(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The skips that explain the target: those on the route up to the target's chain/preset entry (a walk
    also notes skips further down the route, where no account was needed); all of them without a target."""
    skipped = list(entry.get("skipped") or ())
    target = entry.get("target") or {}
    reached = target.get("entry")
    if not target.get("provider") or reached is None:
        return skipped
    return [s for s in skipped if s.get("entry") is None or s["entry"] <= reached]


def _skips(entry: Mapping[str, Any]) -> str:
    parts = []
    for skip in _relevant(entry):
        who = skip.get("provider") or skip.get("pool") or "?"
        until = f" until {_clock(skip['until'], day_of=entry.get('at'))}" if skip.get("until") else ""
        parts.append(f"{who}: {skip.get('reason', '?')}{until}")
    return "; ".join(parts)


def one_line(entry: Mapping[str, Any], current: str | None = None) -> str:
    """What one entry did, in a few words (``current``: the turn's target before it, for a succeed)."""
    op = entry.get("op")
    if op == "succeed":
        provider = (entry.get("target") or {}).get("provider") or current
        return f"{provider} served" if provider else "succeeded"
    if op == "fail":
        return f"{_failure(entry)} → {_served(entry)}"
    return f"asked {asked(entry)} → {_served(entry)}"


def table_rows(entries: Sequence[Mapping[str, Any]], turns: dict[str, tuple[str, str | None]] | None = None
               ) -> list[list[str]]:
    """Rows of ``mp-policy trace``: time, turn, op, asked, who serves (after what), why others were skipped.

    ``turns`` (turn -> what it asked, its current target) carries what earlier rows said into later calls
    (``--follow`` prints entries as they come).
    """
    rows = [["TIME", "TURN", "OP", "ASKED", "OUTCOME", "SKIPPED"]]
    turns = {} if turns is None else turns
    days = {str(e.get("at") or "")[:10] for e in entries}
    dated = len(days) > 1  # rows of several days: each time with its date
    for e in entries:
        turn = str(e.get("turn", "?"))
        what, current = turns.get(turn, ("-", None))
        if e.get("op") != "succeed":
            what = asked(e)
        outcome = one_line(e, current).removeprefix(f"asked {what} → ")
        turns[turn] = (what, (e.get("target") or {}).get("provider"))
        rows.append([_clock(e.get("at"), seconds=True, dated=dated), turn[:8], str(e.get("op", "?")), what, outcome,
                     _skips(e) or "-"])
    return rows


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines with aligned columns (the last column is not padded)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
            for row in rows]


def story(entries: Sequence[Mapping[str, Any]]) -> str:
    """The turn's cascade in one line: ``asked chain main → anthropic rate-limited until … → anthropic-2 served``."""
    if not entries:
        return ""
    parts: list[str] = []
    current: str | None = None
    for e in entries:
        op = e.get("op")
        if op == "select":
            parts.append(f"asked {asked(e)}")
            current = (e.get("target") or {}).get("provider")
            if current is None:
                parts.append(_served(e))
        elif op == "fail":
            parts.append(_failure(e))
            current = (e.get("target") or {}).get("provider")
            if current is None:
                parts.append(_served(e))
        elif op == "succeed":
            provider = (e.get("target") or {}).get("provider") or current
            parts.append(f"{provider} served" if provider else "succeeded")
            current = None
    if current is not None:
        parts.append(f"{current} (turn still open)")
    return " → ".join(parts)


def turn_lines(turn: str, entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """``mp-policy trace TURN``: the story, then every step with its time, skips and strategy notes."""
    if not entries:
        return [f"turn {turn}: no trace entries"]
    first = entries[0]
    about = [f"turn {turn}"]
    if first.get("label"):
        about.append(f"label {first['label']}")
    if first.get("project"):
        about.append(f"project {first['project']}")
    lines = [", ".join(about), f"  {story(entries)}", ""]
    current: str | None = None
    for e in entries:
        lines.append(f"  {_clock(e.get('at'), seconds=True)}  {e.get('op')}: {one_line(e, current)}")
        current = (e.get("target") or {}).get("provider")
        target = e.get("target") or {}
        if target.get("model") or target.get("pool"):
            via = ", ".join(f"{k} {target[k]}" for k in ("model", "pool", "chain", "via") if target.get(k))
            lines.append(f"            target: {target['provider']} ({via})")
        skips = _skips(e)
        if skips:
            lines.append(f"            skipped: {skips}")
        pools = {target.get("pool")} | {s.get("pool") for s in _relevant(e)}
        for note in (n for n in e.get("strategy") or () if not target.get("provider") or n.get("pool") in pools):
            fallback = " (fallback)" if note.get("fallback") else ""
            text = f": {note['note']}" if note.get("note") else ""
            lines.append(f"            strategy: pool {note.get('pool')} {note.get('name')}{fallback}{text}")
        error = e.get("error") or {}
        if error.get("reason"):
            status = f"HTTP {error['status']}, " if error.get("status") and str(error["status"]) not in \
                error["reason"] else ""
            lines.append(f"            error: {error.get('kind')} ({status}{error['reason']})")
    return lines
