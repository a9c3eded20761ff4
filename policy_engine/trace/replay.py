"""Replay a recorded trace against another policy: the backtest before committing a policy change.

The recorded turns run again, in time order, through an engine of the candidate policy with its own
fresh in-memory state and the recorded times as its clock (so the replay is deterministic). What
the recording saw happen is injected where the candidate meets it.

Assumptions (printed with every report):

1. A turn asks what it asked in the recording, at the recorded time (its ``select``).
2. When the candidate's target is an account that failed in the same recorded turn, it fails the
   same way (status, type, code and retry time as recorded), at the recorded time of that failure.
3. Otherwise, when the recording shows that account failing at that time (a recorded failure of it
   in another turn whose cooldown or retry time still ran), it fails the same way again.
4. Otherwise the account serves the turn: an account the candidate picks but the recording never
   called is assumed to succeed.
5. Credentials are the set-up's (``auth.json``), quota snapshots are not replayed, and custom
   selectors run as configured.

A turn recorded in a project runs through the candidate with that project's overlay as it is now; all
turns share one state, as agents in different projects share the agent directory's. A turn the candidate
cannot route (it has no pool, chain or preset of that name) or cannot set up (the project's overlay is
gone or invalid) is reported as a difference with the reason, not fatal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from datetime import UTC, datetime
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.evaluate.route import RouteError
from policy_engine.trace.read import entry_problem
from policy_engine.trace.read import since as after

__all__ = ["ASSUMPTIONS", "MakeEngine", "Outcome", "ReplayReport", "ReplaySetupError", "recorded_outcome", "replay"]

#: Builds the candidate's engine for the turns of one recorded project (``None``: turns without one), reading
#: the time from the clock it is given; raises :class:`ReplaySetupError` for a project it cannot set up.
MakeEngine = Callable[[Callable[[], datetime], str | None], Any]


class ReplaySetupError(Exception):
    """The candidate cannot run a recorded project's turns (its overlay is gone or invalid); the message says why."""

ASSUMPTIONS = (
    "each turn asks what it asked in the recording, at the recorded time",
    "an account that failed in the same recorded turn fails the same way (status, retry time) when the "
    "candidate calls it",
    "an account the recording shows failing at that time (in another turn, while its cooldown or retry "
    "time ran) fails the same way again",
    "an account the candidate picks but the recording never called (nor saw failing then) serves the turn",
    "credentials are the set-up's; quota snapshots are not replayed",
)


@dataclass
class Outcome:
    """How a turn went: the first target, the account that served it, or that it ran out (with a retry time)."""

    first: str | None
    served_by: str | None
    ran_out: bool
    retry_after: str | None = None
    failed: list[str] = field(default_factory=list)
    open: bool = False
    error: str | None = None  # the candidate could not replay the turn: why

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"first": self.first, "servedBy": self.served_by, "ranOut": self.ran_out,
                "retryAfter": self.retry_after, "failed": list(self.failed), "open": self.open, "error": self.error}

    def same(self, other: Outcome) -> bool:
        """Whether two outcomes agree on the first target and how the turn ended."""
        return (self.first, self.served_by, self.ran_out, self.error) == (
            other.first, other.served_by, other.ran_out, other.error)


@dataclass
class ReplayReport:
    """Every replayed turn with both outcomes, the differences and a summary per account."""

    turns: list[dict[str, Any]]
    revision: str
    skipped: int = 0  # entries left out: their fields are not what the engine writes

    @property
    def differences(self) -> list[dict[str, Any]]:
        """The turns where the candidate decided otherwise."""
        return [t for t in self.turns if not t["same"]]

    def summary(self) -> dict[str, dict[str, int]]:
        """Per account: turns served and failures, recorded and with the candidate."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for t in self.turns:
            for side in ("recorded", "candidate"):
                outcome = t[side]
                if outcome["servedBy"]:
                    counts[outcome["servedBy"]][f"{side}Served"] += 1
                for account in outcome["failed"]:
                    counts[account][f"{side}Failed"] += 1
        keys = ("recordedServed", "candidateServed", "recordedFailed", "candidateFailed")
        return {a: {k: c[k] for k in keys} for a, c in sorted(counts.items())}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``mp-policy replay --format json``)."""
        ran_out = sum(1 for t in self.turns if t["candidate"]["ranOut"])
        failed = sum(1 for t in self.turns if t["candidate"]["error"])
        return {"policyRevision": self.revision, "turns": len(self.turns), "different": len(self.differences),
                "candidateRanOut": ran_out, "candidateCouldNot": failed, "skippedEntries": self.skipped,
                "differences": self.differences, "accounts": self.summary(), "assumptions": list(ASSUMPTIONS)}


def recorded_outcome(entries: Sequence[Mapping[str, Any]]) -> Outcome:
    """How the recorded turn went, from its entries (oldest first)."""
    first = None
    current: Mapping[str, Any] | None = None
    failed: list[str] = []
    ended = False
    retry = None
    for e in entries:
        if e.get("op") == "select":
            first = (e.get("target") or {}).get("provider")
            current, retry = e.get("target"), e.get("retryAfter")
        elif e.get("op") == "fail":
            if (e.get("error") or {}).get("rotate") and e.get("failing"):
                failed.append(e["failing"])
            current, retry = e.get("target"), e.get("retryAfter")
        elif e.get("op") == "succeed":
            ended = True
    served = (current or {}).get("provider")
    return Outcome(first, served, served is None, retry if served is None else None, failed, open=not ended)


@dataclass(frozen=True)
class _Failure:
    """A recorded rotating failure of an account."""

    turn: str
    t: float
    until: float
    entry: Mapping[str, Any]


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def _failures(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[_Failure]]:
    out: dict[str, list[_Failure]] = defaultdict(list)
    for e in entries:
        error = e.get("error") or {}
        if e.get("op") == "fail" and e.get("failing") and error.get("rotate"):
            t = float(e["t"])
            until = _epoch(error.get("cooldownUntil")) or _epoch(error.get("retryAfter")) or t
            out[e["failing"]].append(_Failure(e["turn"], t, until, e))
    return out


def _error_args(entry: Mapping[str, Any], at: float) -> dict[str, Any]:
    """The fail arguments that reproduce a recorded error: status, type, code, the retry time as retry-after."""
    error = entry.get("error") or {}
    args: dict[str, Any] = {"status": error.get("status"), "type": error.get("type"), "code": error.get("code")}
    retry = _epoch(error.get("retryAfter"))
    if retry is not None and retry > at:
        args["headers"] = {"retry-after": str(max(1, round(retry - at)))}
    if args["status"] is None and args["type"] is None:
        args["type"] = {"rate_limit": "rate_limit_error", "overloaded": "overloaded_error"}.get(error.get("kind", ""))
        args["status"] = {"rate_limit": 429, "quota_exhausted": 429, "overloaded": 529}.get(error.get("kind", ""))
    return args


def replay(entries: Sequence[Mapping[str, Any]], make_engine: MakeEngine, since: datetime | None = None
           ) -> ReplayReport:
    """Replay ``entries`` (a recorded trace) through the candidate: ``make_engine(clock, project)`` gives its
    engine for the turns recorded in ``project`` (``None``: no project), all on one fresh in-memory state,
    reading the time from ``clock``. Entries with an :func:`~policy_engine.trace.read.entry_problem` are left
    out and counted (:attr:`ReplayReport.skipped`); so are, uncounted, those before ``since``
    (:func:`~policy_engine.trace.read.since`)."""
    usable = [e for e in entries if entry_problem(e) is None]
    ordered = sorted((e for e in usable if since is None or after(e, since)), key=lambda e: float(e["t"]))
    turns: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for e in ordered:
        turns[e["turn"]].append(e)
    failures = _failures(ordered)
    now = {"t": 0.0}

    def clock() -> datetime:
        return datetime.fromtimestamp(now["t"], UTC)

    engines: dict[str | None, Any] = {None: make_engine(clock, None)}
    problems: dict[str, str] = {}

    def engine_for(project: str | None) -> Any:
        if project not in engines and project is not None and project not in problems:
            try:
                engines[project] = make_engine(clock, project)
            except ReplaySetupError as exc:
                problems[project] = str(exc)
        return engines.get(project)

    try:
        report = []
        for turn, steps in turns.items():
            if steps[0].get("op") != "select":
                continue  # a turn whose start fell out of the recording is skipped
            project: str | None = steps[0].get("project")
            engine = engine_for(project)
            if engine is not None:
                report.append(_replay_turn(engine, turn, steps, failures, now))
            elif project is not None:
                report.append(_unreplayable(turn, steps, f"project {project}: {problems[project]}"))
        return ReplayReport(report, engines[None].graph.revision, skipped=len(entries) - len(usable))
    finally:
        for engine in {id(e): e for e in engines.values()}.values():  # make_engine may give one for several projects
            engine.close()


def _unreplayable(turn: str, steps: list[Mapping[str, Any]], why: str) -> dict[str, Any]:
    """A turn the candidate could not run: the recorded outcome, and the reason in the candidate's place."""
    start = steps[0]
    candidate = Outcome(None, None, False, error=why)
    recorded = recorded_outcome(steps)
    return {"turn": turn, "at": start.get("at"), "request": dict(start.get("request") or {}),
            "recorded": recorded.to_dict(), "candidate": candidate.to_dict(), "same": recorded.same(candidate)}


def _replay_turn(engine: Any, turn: str, steps: list[Mapping[str, Any]], failures: Mapping[str, list[_Failure]],
                 now: dict[str, float]) -> dict[str, Any]:
    start = steps[0]
    now["t"] = float(start["t"])
    request = dict(start.get("request") or {})
    try:
        decision = engine.select(request.get("provider"), pool=request.get("pool"), chain=request.get("chain"),
                                 preset=request.get("preset"), model=request.get("model"), turn=turn)
    except RouteError as exc:  # the candidate has no such route (a renamed or removed pool, chain or preset)
        return _unreplayable(turn, steps, str(exc))
    first = decision.target.provider if decision.target else None
    used: set[int] = set()
    failed: list[str] = []
    while decision.target is not None:
        account = decision.target.provider
        failure = _same_turn(steps, account, used) or _failing_then(failures.get(account, ()), turn, now["t"])
        if failure is None:
            engine.succeed(turn, provider=account)
            break
        now["t"] = max(now["t"], float(failure["t"]))
        failed.append(account)
        decision = engine.fail(turn, provider=account, **_error_args(failure, now["t"]))
        if len(failed) > 64:  # a loop guard: a route never has that many distinct failures
            break
    served = decision.target.provider if decision.target else None
    retry = decision.to_dict()["retryAfter"] if served is None else None
    candidate = Outcome(first, served, served is None, retry, failed)
    recorded = recorded_outcome(steps)
    return {"turn": turn, "at": start.get("at"), "request": request, "recorded": recorded.to_dict(),
            "candidate": candidate.to_dict(), "same": recorded.same(candidate)}


def _same_turn(steps: Sequence[Mapping[str, Any]], account: str, used: set[int]) -> Mapping[str, Any] | None:
    for k, e in enumerate(steps):
        if k not in used and e.get("op") == "fail" and e.get("failing") == account and \
                (e.get("error") or {}).get("rotate"):
            used.add(k)
            return e
    return None


def _failing_then(recorded: Sequence[_Failure], turn: str, at: float) -> Mapping[str, Any] | None:
    for failure in recorded:
        if failure.turn != turn and failure.t <= at < failure.until:
            return failure.entry
    return None
