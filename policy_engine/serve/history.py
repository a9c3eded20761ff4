"""What ``explain {turn}`` answers: the cascade of a turn, with the reason of every step.

The server keeps, per turn, the decisions it made itself (:class:`TurnHistory`, bounded: the
last :data:`MAX_TURNS` turns, :data:`MAX_STEPS` steps each): the request, the target, every skip
with its reason, the strategies, the error's kind, status and retry time. It survives ``succeed``
(which deletes the turn from the store), so an agent can ask why its last turn went where it did.

A turn this server did not see (another server's, or from before a restart) is explained from
the turn record in the state store (route, attempted providers, current target, the original
request) and the cooldowns of the attempted providers, which say why each one failed; skips of
accounts that were never tried are not stored there.

The answer names its ``source``: ``"trace"`` (the decision trace in the state store, see
``docs/trace.md``: any server's turn, also after ``succeed`` or a restart), ``"server"`` (this
server's own history, when the trace is off) or ``"store"`` (the turn record); each step has the
same shape whatever the source: ``{turn, source, steps: [{op, at, request, target, error,
skipped, strategy, retryAfter}], route, attempted, target, note}``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from policy_engine.common.timezones import isoformat
from policy_engine.evaluate.route import Segment

if TYPE_CHECKING:
    from policy_engine.state import StateSnapshot, TurnRecord

__all__ = ["MAX_STEPS", "MAX_TURNS", "TurnHistory", "explain_from_steps", "explain_from_trace", "from_record",
           "request_summary", "step_of", "stored_target"]

MAX_TURNS = 1024
MAX_STEPS = 32
_TEXT_LIMIT = 500  # characters of an error message kept


def step_of(op: str, request: Mapping[str, Any], decision: Mapping[str, Any] | None, failing: str | None = None
            ) -> dict[str, Any]:
    """One step of a turn's cascade from the Decision JSON: what was asked and what was decided, with why.

    ``failing`` (on ``fail``) is the provider the error was about: the request's, else the turn's
    target before it.
    """
    step: dict[str, Any] = {"op": op, "request": dict(request)}
    if op == "fail":
        step["failing"] = failing
    if decision is None:  # succeed
        step.update(at=None, target=None, error=None, skipped=[], strategy=[], retryAfter=None)
        return step
    step.update(at=decision["at"], target=decision["target"], error=decision.get("error"),
                skipped=decision["skipped"], strategy=decision["strategy"], retryAfter=decision["retryAfter"],
                candidates=len(decision["candidates"]))
    return step


def request_summary(args: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a request worth keeping: names, model, status, type, code, message (cut), header names."""
    out: dict[str, Any] = {}
    for name in ("provider", "pool", "chain", "preset", "model", "status", "type", "code"):
        if args.get(name) is not None:
            out[name] = args[name]
    message = args.get("message")
    if message:
        out["message"] = message if len(message) <= _TEXT_LIMIT else message[:_TEXT_LIMIT] + "…"
    headers = args.get("headers")
    if headers:
        out["headers"] = sorted(headers)  # names only: values may identify an account
    return out


class TurnHistory:
    """The steps of the turns this server decided (see the module docstring); thread-safe."""

    def __init__(self, max_turns: int = MAX_TURNS, max_steps: int = MAX_STEPS) -> None:
        self.max_turns = max_turns
        self.max_steps = max_steps
        self._turns: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, turn: str, step: dict[str, Any]) -> None:
        """Append a step to ``turn`` (the oldest turn is forgotten past ``max_turns``)."""
        with self._lock:
            steps = self._turns.get(turn)
            if steps is None:
                steps = self._turns[turn] = []
            else:
                self._turns.move_to_end(turn)
            steps.append(step)
            if len(steps) > self.max_steps:
                del steps[1:len(steps) - self.max_steps + 1]  # keep the select that started it
            while len(self._turns) > self.max_turns:
                self._turns.popitem(last=False)

    def get(self, turn: str) -> list[dict[str, Any]] | None:
        """A copy of the steps of ``turn``, or None when this server did not decide it."""
        with self._lock:
            steps = self._turns.get(turn)
            return list(steps) if steps is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._turns)


def stored_target(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The current target of a turn record's data as clients see it (without the route segment it came from)."""
    target = data.get("target")
    return {k: v for k, v in target.items() if k != "segment"} if isinstance(target, dict) else None


def _route(data: Mapping[str, Any]) -> list[str]:
    """The route the turn started with, one human line per step (the store keeps it while the turn lives)."""
    return [Segment.from_dict(s).describe() for s in data.get("origin") or data.get("route") or ()]


def explain_from_steps(turn: str, steps: list[dict[str, Any]], record: TurnRecord | None) -> dict[str, Any]:
    """The explain answer from this server's own history (the store adds the route while the turn lives)."""
    last = next((s for s in reversed(steps) if s["op"] != "succeed"), None)
    attempted = [s.get("failing") for s in steps if s["op"] == "fail" and (s.get("error") or {}).get("rotate")]
    data = record.data if record is not None else {}
    return {
        "turn": turn,
        "source": "server",
        "steps": steps,
        "route": _route(data),
        "attempted": list(data.get("attempted", [p for p in attempted if p])),
        "target": last["target"] if last is not None else None,
        "ended": bool(steps) and steps[-1]["op"] == "succeed",
        "note": "the decisions this server made for the turn, with every skip and its reason",
    }


def explain_from_trace(turn: str, entries: list[dict[str, Any]], record: TurnRecord | None) -> dict[str, Any]:
    """The explain answer from the turn's trace entries (oldest first); the store adds the route while it lives."""
    steps = []
    for e in entries:
        step = {"op": e["op"], "request": dict(e.get("request") or {}), "at": e.get("at"), "target": e.get("target"),
                "error": e.get("error"), "skipped": list(e.get("skipped") or ()),
                "strategy": list(e.get("strategy") or ()), "retryAfter": e.get("retryAfter")}
        if e["op"] == "fail":
            step["failing"] = e.get("failing")
            error = e.get("error") or {}
            step["request"] = {"provider": e.get("failing"), **{k: error[k] for k in ("status", "type", "code",
                                                                                       "headers") if k in error}}
        if e.get("label"):
            step["label"] = e["label"]
        steps.append(step)
    answer = explain_from_steps(turn, steps, record)
    answer["source"] = "trace"
    answer["note"] = "the decisions recorded in the trace for the turn, with every skip and its reason"
    return answer


def from_record(turn: str, record: TurnRecord, snapshot: StateSnapshot, tz: Any) -> dict[str, Any]:
    """The explain answer rebuilt from the turn record in the state store (another server's turn)."""
    data = record.data
    request = dict(data.get("request") or {})
    target = stored_target(data)
    steps: list[dict[str, Any]] = [{"op": "select", "request": request, "at": None, "target": None, "error": None,
                                    "skipped": [], "strategy": [], "retryAfter": None}]
    for provider in data.get("attempted", []):
        cooldown = snapshot.cooldowns.get(provider)
        error = None
        if cooldown is not None:
            kind, _, reason = cooldown.reason.partition(": ")
            error = {"kind": kind, "rotate": True, "reason": reason, "cooldownUntil": isoformat(cooldown.until, tz),
                     "retrySource": cooldown.source}
        steps.append({"op": "fail", "failing": provider, "request": {"provider": provider}, "at": None,
                      "target": None, "error": error, "skipped": [], "strategy": [], "retryAfter": None})
    steps[-1]["target"] = target
    return {
        "turn": turn,
        "source": "store",
        "steps": steps,
        "route": _route(data),
        "attempted": list(data.get("attempted", [])),
        "target": target,
        "ended": False,
        "updatedAt": isoformat(record.updated_at, tz),
        "note": "rebuilt from the turn record in the state store (this server did not decide it): the request, "
                "the providers that failed with their cooldown reasons, and the current target; skips of accounts "
                "never tried are not stored",
    }
