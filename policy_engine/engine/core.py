"""The embedding API: :class:`Engine` (DESIGN §5).

>>> engine = Engine.from_documents({"pools": [...]}, auth={"anthropic"})      # doctest: +SKIP
>>> d = engine.select(pool="claude", model="claude-sonnet-4-5")               # doctest: +SKIP
>>> d = engine.fail(d.turn, status=429, headers={"retry-after": "120"})       # doctest: +SKIP
>>> engine.succeed(d.turn)                                                    # doctest: +SKIP

Prepare once, evaluate many: the policy is loaded, validated and compiled when the engine is
built (graphs are cached by content hash, ``policyRevision``); each call reads one state
snapshot, walks the route and writes its changes (cooldown, cursor, turn) in one atomic batch.

Why this room is a little over 500 lines: it is the one class whose ``select``, ``fail`` and
``succeed`` share the engine's private state (graph, store, clock, quota refresh); what does not
need that state already lives beside it (``building.py``, ``turns.py``, ``async_engine.py``), and
splitting the three calls apart would scatter the decision path a reader follows in one place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policy_engine.classify.model import ErrorInfo
from policy_engine.common.diagnostics import Diagnostic
from policy_engine.compile.graph import Graph
from policy_engine.engine.building import parts_from_documents, parts_from_files, system_clock
from policy_engine.engine.turns import (
    cooldown_source,
    new_turn_id,
    remaining_route,
    turn_changes,
    visited_entries,
)
from policy_engine.evaluate.decision import Decision, ErrorOutcome, Target
from policy_engine.evaluate.route import RouteError, Segment, build_route, describe_route
from policy_engine.evaluate.walk import World, walk
from policy_engine.plugins import Registry, get_registry
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.sources import PolicySources
from policy_engine.providers.auth import AuthFile, AuthSource
from policy_engine.quota.headers import snapshot_from_headers
from policy_engine.state import (
    Cooldown,
    QuotaSnapshot,
    StateChanges,
    StateSnapshot,
    StateStore,
    TurnRecord,
    open_store,
)
from policy_engine.trace.entry import decision_entry, project_dir, succeed_entry, trace_retention

if TYPE_CHECKING:
    from policy_engine.engine.attempts import Attempts
    from policy_engine.quota.refresh import QuotaRefresher

__all__ = ["Engine"]

Clock = Callable[[], datetime]
_ROUTE_CACHE_SIZE = 256  # routes of distinct requests kept per engine
_PURGE_INTERVAL = 300.0  # seconds of engine clock between purges of expired turns (first write purges too)


class Engine:
    """Evaluates ``select`` / ``fail`` / ``succeed`` against one compiled policy and a state store."""

    def __init__(
        self,
        graph: Graph,
        *,
        store: StateStore,
        auth: AuthSource,
        clock: Clock = system_clock,
        sources: PolicySources | None = None,
        registry: Registry | None = None,
        quota_refresh: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning an aware datetime, got {type(clock).__name__} "
                            f"{clock!r} (for a fixed time: clock=lambda: datetime(..., tzinfo=timezone.utc))")
        self.graph = graph
        self.store = store
        self.auth = auth
        self.clock = clock
        self.sources = sources
        self.registry = registry or get_registry()
        self._purged_at: float | None = None
        # select's routes by request: (segments, their JSON for the turn record, the request as recorded)
        self._routes: dict[tuple[str | None, ...], tuple[list[Segment], list[dict[str, Any]], dict[str, Any]]] = {}
        self._bases: dict[str, str] = {}  # account -> base provider
        self._quota_env = dict(os.environ if env is None else env)  # endpoint overrides for quota checks
        self._refresher: QuotaRefresher | None = None
        self._trace = trace_retention(graph.settings.trace)  # None: the trace is off
        self._project = project_dir(sources)
        if quota_refresh:
            from policy_engine.quota.refresh import QuotaRefresher

            refresher = QuotaRefresher(graph, auth, self.registry.quota_checkers, store, env=self._quota_env)
            self._refresher = refresher if refresher.members else None

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        agent_dir: str | os.PathLike[str] | None = None,
        project: str | os.PathLike[str] | None = None,
        policy: str | os.PathLike[str] | None = None,
        state: str | StateStore | None = None,
        *,
        env: Mapping[str, str] | None = None,
        auth: AuthSource | Iterable[str] | None = None,
        clock: Clock | None = None,
        search_project: bool | None = None,
        readonly: bool = False,
        timezone_default: tzinfo | None = None,
        registry: Registry | None = None,
        quota_refresh: bool | None = None,
    ) -> Engine:
        """Build an engine from files: the global policy, the project overlay, ``MULTI_SUB``.

        ``policy`` overrides the global policy file; ``project`` is a project directory (or an
        overlay file); without it the current directory and its parents are searched. ``state``
        is a store URL (default: ``$MP_POLICY_STATE``, else ``settings.state``, else the SQLite
        file in the agent directory). ``quota_refresh`` (default: on, unless
        ``MP_POLICY_QUOTA_REFRESH=0``): stale quota snapshots of ``quota-first`` pools are
        refreshed in the background (:mod:`policy_engine.quota.refresh`); the one-shot CLI
        commands turn it off.
        """
        parts = parts_from_files(agent_dir, project, policy, state, env=env, auth=auth, search_project=search_project,
                                 readonly=readonly, timezone_default=timezone_default, registry=registry,
                                 quota_refresh=quota_refresh)
        return cls(**parts, clock=clock or system_clock)

    @classmethod
    def from_documents(
        cls,
        policy: Mapping[str, Any] | LoadedDocument,
        project: Mapping[str, Any] | LoadedDocument | None = None,
        *,
        state: str | StateStore = "memory://",
        env: Mapping[str, str] | None = None,
        auth: AuthSource | Iterable[str] | None = None,
        clock: Clock | None = None,
        models: Mapping[str, Iterable[str]] | None = None,
        base_dir: str | None = None,
        agent_dir: str | os.PathLike[str] | None = None,
        timezone_default: tzinfo | None = None,
        registry: Registry | None = None,
        quota_refresh: bool = False,
    ) -> Engine:
        """Build an engine from in-memory documents (validated like files). ``env`` defaults to none.

        ``quota_refresh`` turns on the background quota refresh (off by default here).
        """
        parts = parts_from_documents(policy, project, state=state, env=env, auth=auth, models=models,
                                     base_dir=base_dir, agent_dir=agent_dir, timezone_default=timezone_default,
                                     registry=registry, quota_refresh=quota_refresh)
        return cls(**parts, clock=clock or system_clock)

    # -- helpers -------------------------------------------------------------------------------

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Schema warnings and compile warnings of the loaded policy."""
        extra = list(self.sources.diagnostics) if self.sources else []
        return extra + list(self.graph.diagnostics)

    def now(self) -> datetime:
        """The engine clock, in UTC.

        Durations are added to UTC instants (a 5-minute cooldown is 5 real minutes, also on a
        DST change day); times are shown in the policy's time zone only when a Decision is
        rendered. A naive clock reading is taken in the policy's time zone.
        """
        moment = self.clock()
        if not isinstance(moment, datetime):
            hint = " (epoch seconds? use datetime.fromtimestamp(t, timezone.utc))" \
                if isinstance(moment, int | float) and not isinstance(moment, bool) else ""
            raise TypeError(f"the engine's clock returned {type(moment).__name__} {moment!r}; it must return a "
                            f"datetime, preferably an aware one{hint}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.graph.tz)
        return moment.astimezone(UTC)

    def dry_run(self) -> Engine:
        """A copy that reads this engine's state once and keeps its own changes in memory."""
        memory = open_store("memory://", agent_dir=Path("."))
        snap = self.store.snapshot()
        memory.apply(StateChanges(cooldowns=list(snap.cooldowns.values()), cursors=dict(snap.cursors),
                                  quota=list(snap.quota.values())))
        return Engine(self.graph, store=memory, auth=self.auth, clock=self.clock, sources=self.sources,
                      registry=self.registry)

    def _fresh_quota(self, snap: StateSnapshot | None, now: datetime) -> StateSnapshot | None:
        """With background refresh on: refresh stale quota, waiting at most ``quotaBudget``; the snapshot to use."""
        refresher = self._refresher
        if refresher is None:
            return snap
        if snap is None:
            snap = self.store.snapshot()
        if refresher.refresh(snap.quota, now, self.graph.settings.quota_budget):
            return self.store.snapshot()
        return snap

    def refresh_quota(self, accounts: Iterable[str] | None = None, *, timeout: float | None = None,
                      stale_only: bool = True) -> list[QuotaSnapshot]:
        """Check quota now (blocking) and write it to the quota cache; what was written.

        By default the stale or missing snapshots of ``quota-first`` pool members; ``accounts``
        names the accounts instead; ``stale_only=False`` checks them even when fresh.
        """
        from policy_engine.quota.refresh import is_fresh, quota_first_members
        from policy_engine.quota.runner import DEFAULT_TIMEOUT, collect_accounts, run_checks, store_results

        checkers = self.registry.quota_checkers
        now = self.now()
        if accounts is None:
            names = [m for m, _ in quota_first_members(self.graph, checkers) if self.auth.has(m)]
        else:
            names = list(accounts)
        if stale_only:
            quota = self.store.snapshot().quota
            names = [n for n in names if not is_fresh(quota.get(n), now, self.graph.settings.quota_ttl)]
        targets = collect_accounts(self.graph, self.auth, checkers, names)
        results = run_checks(targets, checkers, now=now, env=self._quota_env,
                             endpoints=self.graph.settings.quota_endpoints, timeout=timeout or DEFAULT_TIMEOUT)
        return store_results(self.store, results)

    def _base_of(self, provider: str) -> str:
        """The base provider of an account (remembered: the graph never changes)."""
        base = self._bases.get(provider)
        if base is None:
            base = self._bases[provider] = self.graph.base_of(provider) or provider
        return base

    def _world(self, now: datetime, attempted: Iterable[str], prompt: str | None, explain: bool,
               extra_cooldown: Cooldown | None = None, snapshot: StateSnapshot | None = None) -> World:
        snap = snapshot if snapshot is not None else self.store.snapshot()
        cooldowns: Mapping[str, Cooldown] = snap.cooldowns
        if extra_cooldown is not None:
            existing = cooldowns.get(extra_cooldown.provider)
            if existing is None or existing.until.timestamp() < extra_cooldown.until.timestamp():
                utc = extra_cooldown.until.tzinfo is UTC and extra_cooldown.since.tzinfo is UTC
                cooldowns = {**cooldowns, extra_cooldown.provider: extra_cooldown if utc else extra_cooldown.to_utc()}
        return World(now=now, auth=self.auth, cooldowns=cooldowns, cursors=snap.cursors, quota=snap.quota,
                     attempted=frozenset(attempted), prompt=prompt, explain=explain, base_dir=self.graph.base_dir)

    def _decide(self, route: list[Segment], world: World, turn: str, phase: str, current: str | None,
                started: float, origin: list[Segment] | None = None) -> Decision:
        result = walk(self.graph, route, world, phase=phase, current=current)
        target = result.candidates.first()
        if target is None and origin is not None:
            # retryAfter is about a *new* turn on the route this turn started with (DESIGN §4).
            again = walk(self.graph, origin, replace(world, attempted=(), explain=False))
            result.retry_after = world.now if again.candidates else again.retry_after
        trace = None
        if world.explain:
            trace = [{"step": "route", "segments": describe_route(route)}, *(result.trace or [])]
        return Decision(
            target=target, candidates=result.candidates, skipped=result.skipped, retry_after=result.retry_after,
            strategy=result.strategy, turn=turn, at=world.now, policy_revision=self.graph.revision,
            tz=self.graph.tz, elapsed_us=(time.perf_counter() - started) * 1e6,
            segments=route, trace=trace,
        )

    def _turn_record(self, turn: str, route: list[Segment], origin: list[Segment], target: Target | None,
                     attempted: list[str], visited: list[list[Any]], now: datetime,
                     request: Mapping[str, Any], route_json: list[dict[str, Any]] | None = None,
                     origin_json: list[dict[str, Any]] | None = None) -> TurnRecord:
        """The turn as the store keeps it (``route_json``, ``origin_json``: the routes' JSON forms, when the caller
        has them: a ``fail`` keeps the origin it read, unchanged)."""
        data: dict[str, Any] = {
            "route": route_json if route_json is not None else [s.to_dict() for s in route],
            "origin": None if origin is route else origin_json if origin_json is not None else [
                s.to_dict() for s in origin],
            "attempted": attempted,
            "visited": visited,
            "request": dict(request),
            "target": target.turn_dict() if target else None,
        }
        return TurnRecord(turn_id=turn, data=data, updated_at=now, expires_at=now + self.graph.settings.turn_ttl)

    def _add_entry(self, changes: StateChanges, entry: Mapping[str, Any] | None) -> StateChanges:
        """Put the trace entry in the batch (when the trace is on), with the retention the store trims by.

        Marks the batch :attr:`~StateChanges.plain_numbers`: the engine builds its turn data and entries
        from names, small whole numbers and clock readings, so the store may use its fast JSON path.
        """
        changes.plain_numbers = True
        if entry is not None and self._trace is not None:
            changes.log.append(entry)
            changes.retention = self._trace
        return changes

    def _traced(self, changes: StateChanges, op: str, decision: Decision, request: Mapping[str, Any],
                label: str | None, prompt: str | None, failing: str | None = None,
                failed: Mapping[str, Any] | None = None) -> StateChanges:
        """:meth:`_add_entry` with the decision's entry, built only when the trace is on."""
        entry = None if self._trace is None else decision_entry(
            op, decision, request=request, failing=failing, failed=failed, project=self._project, label=label,
            prompt=prompt)
        return self._add_entry(changes, entry)

    def _purge_due(self, now: datetime) -> None:
        """After a turn was written: purge expired turns and cooldowns every ``_PURGE_INTERVAL`` of engine time."""
        moment = now.timestamp()
        if self._purged_at is None or moment - self._purged_at >= _PURGE_INTERVAL:
            self._purged_at = moment
            self.store.purge(now)

    # -- the three calls -----------------------------------------------------------------------

    def select(
        self,
        provider: str | None = None,
        *,
        pool: str | None = None,
        chain: str | None = None,
        preset: str | None = None,
        model: str | None = None,
        prompt: str | None = None,
        turn: str | None = None,
        explain: bool = False,
        dry_run: bool = False,
        label: str | None = None,
    ) -> Decision:
        """Start a turn from a provider, pool, chain or preset and return the first eligible target.

        ``label`` names the caller (e.g. ``agent/session``) in the trace entry of this decision.
        """
        started = time.perf_counter()
        now = self.now()
        key = (provider, pool, chain, preset, model)
        cached = self._routes.get(key)
        if cached is None:
            built = build_route(self.graph, provider=provider, pool=pool, chain=chain, preset=preset, model=model)
            cached = (built, [s.to_dict() for s in built],
                      {k: v for k, v in zip(("provider", "pool", "chain", "preset", "model"), key, strict=True)
                       if v is not None})
            if len(self._routes) < _ROUTE_CACHE_SIZE:
                self._routes[key] = cached  # the graph is immutable, and so are segments
        route, route_json, request = cached
        turn_id = turn or new_turn_id()
        if dry_run:
            world = self._world(now, (), prompt, explain, snapshot=self._fresh_quota(None, now))
            decision = self._decide(route, world, turn_id, "select", provider, started)
        else:
            def decide(_: TurnRecord | None, snap: StateSnapshot) -> tuple[StateChanges, Decision]:
                world = self._world(now, (), prompt, explain, snapshot=self._fresh_quota(snap, now))
                decision = self._decide(route, world, turn_id, "select", provider, started)
                visited = visited_entries([], decision.target)
                record = self._turn_record(turn_id, route, route, decision.target, [], visited, now, request,
                                           route_json)
                changes = turn_changes(decision, record)
                return self._traced(changes, "select", decision, request, label, prompt), decision

            decision = self.store.transact(None, now, decide)
            self._purge_due(now)
        decision.elapsed_us = (time.perf_counter() - started) * 1e6
        return decision

    def fail(
        self,
        turn: str | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        status: int | None = None,
        message: str = "",
        type: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        prompt: str | None = None,
        explain: bool = False,
        dry_run: bool = False,
        label: str | None = None,
    ) -> Decision:
        """Report an error on the turn's current target (or ``provider``) and return where to go next.

        ``label`` names the caller (e.g. ``agent/session``) in the trace entry of this decision.
        """
        started = time.perf_counter()
        now = self.now()
        turn_id = turn or new_turn_id()
        wrote_turn = False

        def decide(record: TurnRecord | None, snap: StateSnapshot | None) -> tuple[StateChanges, Decision]:
            nonlocal wrote_turn
            changes, decision = self._fail(record, snap, turn, turn_id, now, started, provider=provider, model=model,
                                           status=status, message=message, type=type, code=code, headers=headers,
                                           body=body, prompt=prompt, explain=explain, label=label)
            wrote_turn = bool(changes.turns)
            return changes, decision

        if dry_run:
            _, decision = decide(*(self.store.read(turn, now) if turn else (None, None)))
        else:
            decision = self.store.transact(turn, now, decide)  # one round trip to a remote store, as a rule
            if wrote_turn:
                self._purge_due(now)
        decision.elapsed_us = (time.perf_counter() - started) * 1e6
        return decision

    def _fail(self, record: TurnRecord | None, snap: StateSnapshot | None, turn: str | None, turn_id: str,
              now: datetime, started: float, *, provider: str | None, model: str | None, status: int | None,
              message: str, type: str | None, code: str | None, headers: Mapping[str, str] | None, body: Any,
              prompt: str | None, explain: bool, label: str | None = None) -> tuple[StateChanges, Decision]:
        """The decision of :meth:`fail` on the turn and state read, and the changes it writes."""
        data = dict(record.data) if record is not None else {}
        current = data.get("target") or None
        failing = provider or (current or {}).get("provider")
        if not failing:
            raise RouteError("fail needs a provider, or a turn whose current target is known"
                             + (f" (turn {turn!r} is unknown or expired)" if turn and record is None else ""))
        graph = self.graph
        # A late failure: the turn is open but its current target (if any) is another provider.
        late = bool(data) and (current is None or current.get("provider") != failing)
        if model is None and current and current.get("provider") == failing:
            model = current.get("model")
        base = self._base_of(failing)
        classification = graph.classifier.classify(
            ErrorInfo(provider=failing, base=base, status=status, type=type, code=code, message=message or "",
                      headers=dict(headers or {}), body=body),
            now,
        )
        rotate = classification.rotate if classification.rotate is not None else (
            classification.kind in graph.settings.rotate_on)
        retry_at = classification.retry_at.astimezone(graph.tz) if classification.retry_at else None
        captured = snapshot_from_headers(failing, base, headers, now)  # quota the failing response carried
        failed = {"status": status, "type": type, "code": code, "headers": sorted(headers or ())}  # for the trace
        if not rotate:
            decision = self._keep(turn_id, data, failing, model, classification, retry_at, now, started, explain,
                                  snap)
            request = data.get("request") or {"provider": failing, **({"model": model} if model else {})}
            if not data:
                # No turn behind it: a turn starts at the failing provider, as if select had named it.
                started_route = list(decision.segments)
                record = self._turn_record(turn_id, started_route, started_route, decision.target, [], [],
                                           now, request)
                return self._traced(turn_changes(decision, record, quota=captured), "fail", decision, request, label,
                                    prompt, failing, failed), decision
            # the turn stays as it is: only the quota the response carried, and the trace entry
            return self._traced(StateChanges(quota=[captured] if captured is not None else []), "fail", decision,
                                request, label, prompt, failing, failed), decision

        route, origin, route_json, origin_json = remaining_route(self.graph, data, failing, model, late)
        home_name = (current or {}).get("pool") if current and current.get("provider") == failing else None
        home = graph.pools.get(home_name) if home_name else graph.pool_of(failing)
        length = home.cooldown if home is not None else graph.settings.cooldown
        until = now + length
        source = cooldown_source(home.name if home is not None else None, length)
        if retry_at is not None and retry_at.timestamp() > until.timestamp():
            until, source = retry_at, classification.retry_source or "error retry time"
        cooldown = Cooldown(provider=failing, until=until, reason=f"{classification.kind}: {classification.reason}",
                            since=now, source=source)
        attempted = [*data.get("attempted", []), failing]
        snap = self._fresh_quota(snap, now)
        if captured is not None:  # the failing response's own quota headers are the freshest data
            snap = snap if snap is not None else self.store.snapshot()
            snap = replace(snap, quota={**snap.quota, failing: captured})
        world = self._world(now, attempted, prompt, explain, extra_cooldown=cooldown, snapshot=snap)
        walking_from = (current or {}).get("provider") if late else failing
        decision = self._decide(route, world, turn_id, "fail", walking_from or failing, started, origin)
        decision.error = ErrorOutcome(
            kind=classification.kind, rotate=True, retry_after=retry_at, reason=classification.reason,
            retry_source=classification.retry_source,
            cooldown_until=world.cooldowns[failing].until,  # the longer of this cooldown and a running one
        )
        visited = visited_entries(data.get("visited", []), decision.target)
        request = data.get("request") or {"provider": failing, **({"model": model} if model else {})}
        record = self._turn_record(turn_id, route, origin, decision.target, attempted, visited, now, request,
                                   route_json, origin_json)
        changes = turn_changes(decision, record, cooldown, captured)
        return self._traced(changes, "fail", decision, request, label, prompt, failing, failed), decision

    def succeed(self, turn: str, *, headers: Mapping[str, str] | None = None, provider: str | None = None,
                label: str | None = None) -> None:
        """The turn ended well: forget its cascade (cooldowns and cursors stay).

        ``headers`` of the successful response update the quota cache when they carry quota
        (Codex ``x-codex-*``, Anthropic ``anthropic-ratelimit-unified-*``, Copilot
        ``x-quota-snapshot-*``), in the same batch; the account is ``provider``, else the turn's
        current target. The trace entry rides in the same batch (``label``: the caller, as in :meth:`select`;
        the account only when given or looked up for the headers: the turn's last entry names its target).
        """
        changes = StateChanges(turns={turn: None})
        if headers:
            now = self.now()
            if provider is None:
                record = self.store.get_turn(turn, now)
                target = (record.data.get("target") or {}) if record is not None else {}
                provider = target.get("provider")
            if provider:
                captured = snapshot_from_headers(provider, self.graph.base_of(provider), headers, now)
                if captured is not None:
                    changes.quota.append(captured)
        if self._trace is not None:
            self._add_entry(changes, succeed_entry(turn, self.now(), self.graph.tz, self.graph.revision,
                                                   provider=provider, project=self._project, label=label))
        self.store.apply(changes)

    # -- fail helpers --------------------------------------------------------------------------

    def _keep(self, turn_id: str, data: Mapping[str, Any], failing: str, model: str | None, classification: Any,
              retry_at: datetime | None, now: datetime, started: float, explain: bool,
              snap: StateSnapshot | None) -> Decision:
        """A non-rotating error: keep the turn's current target (else the failing provider), change nothing.

        With no turn behind it the kept target is the failing provider at the start of its
        provider route (``segments``, which the caller stores as the new turn's route); on a
        turn that has run out there is no target, and ``retryAfter`` says when a new turn helps.
        """
        current = data.get("target") or None
        segments: list[Segment] | None = None
        retry_after: datetime | None = None
        target: Target | None
        if current:
            target = Target(current["provider"], current.get("model"), current.get("pool"), "current",
                            current.get("chain"), current.get("preset"), current.get("entry"),
                            current.get("segment") or 0)
        elif data:
            target = None
            origin = [Segment.from_dict(s) for s in data.get("origin") or data.get("route") or ()]
            world = self._world(now, (), None, False, snapshot=snap)
            again = walk(self.graph, origin, world)
            retry_after = world.now.astimezone(self.graph.tz) if again.candidates else again.retry_after
        else:
            segments = build_route(self.graph, provider=failing, model=model)
            home = self.graph.pool_of(failing)
            target = Target(failing, model, home.name if home else None, "current")
        trace = [{"step": "error", "kind": classification.kind, "rotate": False,
                  "reason": classification.reason}] if explain else None
        return Decision(
            target=target, candidates=[target] if target is not None else [], skipped=[], retry_after=retry_after,
            strategy=[], turn=turn_id, at=now, policy_revision=self.graph.revision, tz=self.graph.tz,
            error=ErrorOutcome(classification.kind, False, retry_at, classification.reason,
                               classification.retry_source),
            elapsed_us=(time.perf_counter() - started) * 1e6, segments=segments or (), trace=trace,
        )

    def attempts(self, provider: str | None = None, *, pool: str | None = None, chain: str | None = None,
                 preset: str | None = None, model: str | None = None, prompt: str | None = None,
                 turn: str | None = None, explain: bool = False) -> Attempts:
        """The failover loop of one turn (same arguments as :meth:`select`); see :mod:`policy_engine.engine.attempts`.

        ``for attempt in engine.attempts(chain="main"): with attempt: call(attempt.provider, attempt.model)``
        """
        from policy_engine.engine.attempts import Attempts

        return Attempts(self, provider=provider, pool=pool, chain=chain, preset=preset, model=model,
                        prompt=prompt, turn=turn, explain=explain)

    def close(self) -> None:
        """Stop the background quota refresh and close the state store."""
        if self._refresher is not None:
            self._refresher.close()
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state_warnings(self) -> list[str]:
        """What the state store had to say: e.g. that Redis is unreachable and the local state stands in."""
        return list(getattr(self.store, "warnings", ()))

    @property
    def auth_warnings(self) -> list[str]:
        """Problems reading ``auth.json`` (never its content)."""
        if isinstance(self.auth, AuthFile):
            self.auth.providers()
            return list(self.auth.warnings)
        return []
