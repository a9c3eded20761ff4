"""A simulation as JSON (one document) or CSV (one row per run, or per step and route).

JSON::

    {"start", "end", "period", "step", "stepCount", "timezone", "policyRevision", "mode", "evaluations", "elapsedMs",
     "routes": [{"route", "kind", "name", "model", "perStep", "accounts", "share": {account|"none": steps}}],
     "runs": [{"route", "start", "end", "seconds", "provider", "model", "pool", "chain", "preset", "entry",
               "via", "retryAfter", "reason"}],
     "changes": [{"at", "kind", "text", "providers"}],
     "events": [{"at", "action", "origin"}],
     "warnings": [...],
     "perStep": [{"at", "route", "provider", "model", ...}]     # only with per_step=True}

Times are ISO-8601 with the offset of the policy's time zone; ``end`` is exclusive.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from policy_engine.common.durations import format_duration
from policy_engine.common.terminal_text import printable
from policy_engine.common.timezones import isoformat
from policy_engine.simulate.run import Outcome, SimulationResult

__all__ = ["RUN_COLUMNS", "STEP_COLUMNS", "to_json", "write_csv"]

RUN_COLUMNS = ("route", "start", "end", "seconds", "provider", "model", "pool", "chain", "preset", "entry", "via",
               "retryAfter", "reason")
STEP_COLUMNS = ("at", "route", "provider", "model", "pool", "chain", "preset", "entry", "via", "retryAfter")


def _target(outcome: Outcome, result: SimulationResult) -> dict[str, Any]:
    retry = None
    if outcome.retry_after is not None:
        retry = isoformat(datetime.fromtimestamp(outcome.retry_after, UTC), result.tz)
    return {"provider": outcome.provider, "model": outcome.model, "pool": outcome.pool, "chain": outcome.chain,
            "preset": outcome.preset, "entry": outcome.entry, "via": outcome.via, "retryAfter": retry}


def _runs(result: SimulationResult) -> Iterator[dict[str, Any]]:
    for info in result.routes:
        for run in result.runs[info.label]:
            begin, finish = result.time_of(run.first), result.time_of(run.stop)
            yield {"route": info.label, "start": isoformat(begin, result.tz), "end": isoformat(finish, result.tz),
                   "seconds": round(finish.timestamp() - begin.timestamp()), **_target(run.outcome, result),
                   "reason": "; ".join(run.reasons)}


def _steps(result: SimulationResult) -> Iterator[dict[str, Any]]:
    for info in result.routes:
        for index, outcome in result.per_step(info.label):
            yield {"at": isoformat(result.time_of(index), result.tz), "route": info.label, **_target(outcome, result)}


def to_json(result: SimulationResult, *, per_step: bool = False) -> dict[str, Any]:
    """The JSON document (see the module docstring)."""
    tz = result.tz
    doc: dict[str, Any] = {
        "start": isoformat(result.start, tz),
        "end": isoformat(result.end, tz),
        "period": format_duration(result.period),
        "step": format_duration(result.step),
        "stepCount": result.steps,
        "timezone": result.tz_name,
        "policyRevision": result.revision,
        "mode": result.mode,
        "evaluations": result.evaluations,
        "elapsedMs": round(result.elapsed * 1000, 3),
        "routes": [
            {"route": info.label, "kind": info.spec.kind, "name": info.spec.name, "model": info.spec.model,
             "perStep": info.per_step, "accounts": sorted(info.providers),
             "share": {p or "none": n for p, n in result.share(info.label)}}
            for info in result.routes
        ],
        "runs": list(_runs(result)),
        "changes": [c.to_dict(tz) for c in result.changes],
        "events": [{"at": isoformat(e.at, tz), "action": e.describe(), "origin": e.origin} for e in result.events],
        "warnings": list(result.warnings),
    }
    if per_step:
        doc["perStep"] = list(_steps(result))
    return doc


def write_csv(result: SimulationResult, out: IO[str], *, per_step: bool = False) -> None:
    """CSV with a header row: one row per run, or per step and route with ``per_step``.

    Text cells have control and bidirectional characters escaped (``\\x1b``, ``\\u202e``), as on a terminal.
    """
    columns = STEP_COLUMNS if per_step else RUN_COLUMNS
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    rows = _steps(result) if per_step else _runs(result)
    for row in rows:
        writer.writerow({k: _cell(row[k]) for k in columns})


def _cell(value: Any) -> Any:
    """A CSV cell: empty for None, text with control characters escaped (names may come from auth.json)."""
    if value is None:
        return ""
    return printable(value) if isinstance(value, str) else value
