"""The serve protocol's dispatch: one request line in, one answer line out, never an exception.

:meth:`Server.handle_line` parses a line (:mod:`policy_engine.serve.protocol`), runs its op on
the engine of the request's project (:mod:`policy_engine.serve.engines`) and encodes the answer.
Bad input is an error answer; so is an exception inside an op (``internal``, logged to stderr).

Concurrency: each socket client is served by its own thread and calls the engine directly;
there is no server-wide engine lock. Measured with two client processes on one socket (see
``benchmarks/bench_serve.py``), a lock around every request changed nothing (p50 0.45–0.5 ms
per client both ways: the GIL serialises the engine anyway), while it would make every client
wait for a custom selector that takes up to ``selectorTimeout``. The state store serialises
its own writes (SQLite: a lock per store and the file lock; Redis: atomic scripts). Requests on
one turn are serialised by a striped lock (64 stripes by turn id), so two clients failing the
same turn at once never interleave its read and write.

Where DESIGN §5.1 is silent:

* ``hello`` is optional; its ``cwd``, ``agent`` and ``session`` become the connection's defaults
  for later requests that do not give their own.
* ``fail``, ``succeed`` and ``explain`` use the engine of the project whose ``select`` started the
  turn (remembered for the last 4,096 turns); for a turn this server did not start, the request's
  ``cwd``, else the connection's. ``select`` may also take ``turn`` (reuse an id) and ``explain``
  (add the trace), ``fail`` takes ``prompt``, ``explain``, ``cwd`` and ``session``.
* ``status`` takes ``session`` (default: the connection's); "the current turn" is the last turn a
  ``select`` or ``fail`` of that session started or continued (without any session: of this
  connection).
* ``shutdown`` answers ``{}``; the server then stops as on SIGTERM (a socket server: for every
  client, after their requests in hand are answered).
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from policy_engine import __version__
from policy_engine.common.line_framing import MAX_LINE, TooLong
from policy_engine.common.records import dataclass
from policy_engine.common.timezones import isoformat
from policy_engine.serve.engines import EngineCache, EngineSlot
from policy_engine.serve.history import (
    TurnHistory,
    explain_from_steps,
    explain_from_trace,
    from_record,
    request_summary,
    step_of,
    stored_target,
)
from policy_engine.serve.protocol import (
    OPS,
    PROTOCOL,
    Args,
    ProtocolError,
    RequestError,
    encode,
    error_answer,
    ok_answer,
    parse_line,
)
from policy_engine.trace.read import turn_entries

if TYPE_CHECKING:
    from policy_engine.engine import Engine
    from policy_engine.trace.metrics import ServeMetrics

__all__ = ["Connection", "Server"]

MAX_TURN_SLOTS = 4096  # turn -> project remembered
MAX_SESSIONS = 1024  # session -> current turn remembered
_STRIPES = 64

Handler = Callable[[Args, "Connection"], Mapping[str, Any]]


@dataclass
class Connection:
    """One client: the defaults its ``hello`` gave, and the engine slot its current request used."""

    transport: str = "stdio"
    cwd: str | None = None
    agent: str | None = None
    session: str | None = None
    slot: EngineSlot | None = None
    turn: str | None = None  # the last turn a select or fail of this connection started or continued


class Server:
    """Answers protocol-1 requests for every transport (see the module docstring)."""

    def __init__(self, engines: EngineCache, metrics: ServeMetrics | None = None) -> None:
        self.engines = engines
        self.metrics = metrics
        self.history = TurnHistory()
        self.stopping = threading.Event()
        self._turn_slots: OrderedDict[str, str | None] = OrderedDict()
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._handlers: dict[str, Handler] = {
            "hello": self._hello, "select": self._select, "fail": self._fail, "succeed": self._succeed,
            "status": self._status, "explain": self._explain, "reload": self._reload, "shutdown": self._shutdown,
        }
        assert set(self._handlers) == set(OPS)

    # -- the entry point ---------------------------------------------------------------------------

    def handle_line(self, line: bytes | TooLong, conn: Connection) -> bytes | None:
        """The answer line for one request line (None for a blank line, which gets no answer)."""
        if not isinstance(line, TooLong) and not line.strip():
            return None
        conn.slot = None
        ident: Any = None
        try:
            request = parse_line(line)
            ident = request.id
            result = self._handlers[request.op](request.args, conn)
            answer = ok_answer(ident, result, self._warnings(conn))
            return encode(answer)
        except RequestError as exc:
            return encode(error_answer(exc.id, exc.error, self._warnings(conn)))
        except ProtocolError as exc:
            return encode(error_answer(ident, exc, self._warnings(conn)))
        except Exception as exc:
            return self._internal(ident, exc, conn)

    def _internal(self, ident: Any, exc: Exception, conn: Connection) -> bytes:
        """An answer for an unexpected exception, logged to stderr (with a traceback when MP_POLICY_DEBUG=1)."""
        from policy_engine.state import StateError

        if isinstance(exc, StateError):
            error = ProtocolError("state-error", str(exc).splitlines()[0], exc.hint or
                                  "check the state store (`mp-policy state show`); the server goes on")
        else:
            error = ProtocolError("internal", f"internal error: {type(exc).__name__}: {exc}"[:500],
                                  "this is a bug in mp-policy; please report it (the server goes on)")
            print(f"mp-policy serve: {error.message}", file=sys.stderr, flush=True)
            if os.environ.get("MP_POLICY_DEBUG"):
                traceback.print_exception(exc, file=sys.stderr)
        try:
            warnings = self._warnings(conn)
        except Exception:  # pragma: no cover - the warnings themselves failed
            warnings = []
        try:
            return encode(error_answer(ident, error, warnings))
        except (TypeError, ValueError):
            return encode(error_answer(None, error, []))

    def _warnings(self, conn: Connection) -> list[str]:
        slot = conn.slot
        if slot is None:
            try:
                slot = self.engines.slot(conn.cwd)
            except (OSError, ProtocolError):  # e.g. the connection's directory was removed since its hello
                return []
        return slot.warnings()

    # -- helpers -------------------------------------------------------------------------------------

    def _slot(self, conn: Connection, cwd: str | None = None, turn: str | None = None) -> EngineSlot:
        """The engine slot of a request: the turn's project, else ``cwd``, else the connection's."""
        slot = None
        if turn is not None and cwd is None:
            with self._lock:
                known = turn in self._turn_slots
                key = self._turn_slots.get(turn)
            if known:
                slot = self.engines.slot_for_key(key)
        if slot is None:
            slot = self.engines.slot(cwd if cwd is not None else conn.cwd)
        conn.slot = slot
        return slot

    def _remember(self, turn: str, slot: EngineSlot, session: str | None, conn: Connection) -> None:
        conn.turn = turn
        with self._lock:
            self._turn_slots[turn] = slot.key
            self._turn_slots.move_to_end(turn)
            while len(self._turn_slots) > MAX_TURN_SLOTS:
                self._turn_slots.popitem(last=False)
            if session is not None:
                self._sessions[session] = turn
                self._sessions.move_to_end(session)
                while len(self._sessions) > MAX_SESSIONS:
                    self._sessions.popitem(last=False)

    def _turn_lock(self, turn: str | None) -> AbstractContextManager[Any]:
        return self._stripes[hash(turn) % _STRIPES] if turn is not None else nullcontext()

    @staticmethod
    def _session(args: Args, conn: Connection) -> str | None:
        return args.string("session") or conn.session

    # -- ops -----------------------------------------------------------------------------------------

    def _hello(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        protocol = args.integer("protocol", required=True,
                                hint=f"send the protocol version you speak; this server speaks {PROTOCOL}")
        if protocol != PROTOCOL:
            raise ProtocolError("unsupported-protocol",
                                f"this server speaks protocol {PROTOCOL}, not {protocol}",
                                f"speak protocol {PROTOCOL}, or run an mp-policy that speaks {protocol}")
        cwd, agent, session = args.string("cwd"), args.string("agent"), args.string("session")
        slot = self._slot(conn, cwd)
        conn.cwd = cwd if cwd is not None else conn.cwd
        conn.agent = agent if agent is not None else conn.agent
        conn.session = session if session is not None else conn.session
        engine = slot.get()
        accounts = [{"provider": row["name"], "base": row["provider"], "label": row["label"],
                     "loggedIn": row["loggedIn"]} for row in _accounts(engine)]
        policy_warnings = [d.format() for d in engine.diagnostics if d.severity == "warning"]
        return {"protocol": PROTOCOL, "version": __version__, "policyRevision": engine.graph.revision,
                "accounts": accounts, "warnings": slot.warnings() + policy_warnings, "ops": list(OPS),
                "maxLine": MAX_LINE, "transport": conn.transport, "pid": os.getpid()}

    def _select(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        from policy_engine.evaluate.route import RouteError

        names = [n for n in ("provider", "pool", "chain", "preset") if args.has(n)]
        if len(names) != 1:
            given = f" (got {', '.join(names)})" if names else ""
            raise ProtocolError("bad-request", f"select: name exactly one of provider, pool, chain or preset{given}",
                                'e.g. {"id": 1, "op": "select", "pool": "claude", "model": "claude-sonnet-4-5"}')
        route = {n: args.string(n) for n in names}
        if route[names[0]] == "":
            raise ProtocolError("bad-request", f"select: {names[0]!r} is empty; name the {names[0]} to start from",
                                'e.g. {"id": 1, "op": "select", "pool": "claude", "model": "claude-sonnet-4-5"}')
        model, prompt, turn = args.string("model"), args.string("prompt"), args.string("turn")
        explain = args.boolean("explain")
        session = self._session(args, conn)
        slot = self._slot(conn, args.string("cwd"))
        engine = slot.get()
        with self._turn_lock(turn):
            try:
                decision = engine.select(route.get("provider"), pool=route.get("pool"), chain=route.get("chain"),
                                         preset=route.get("preset"), model=model, prompt=prompt, turn=turn,
                                         explain=explain, label=_label(conn, session))
            except RouteError as exc:
                raise ProtocolError("not-found", str(exc), "name a pool, chain or preset of the policy "
                                    "(`mp-policy pool list`, `chain list`, `preset list`)") from None
        data = decision.to_dict()
        self._remember(decision.turn, slot, session, conn)
        self.history.add(decision.turn, step_of("select", request_summary({**route, "model": model}), data))
        if self.metrics is not None:
            self.metrics.observe("select", route, data)
        return data

    def _fail(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        from policy_engine.evaluate.route import RouteError

        turn, provider, model = args.string("turn"), args.string("provider"), args.string("model")
        status = args.integer("status", low=100, high=599, hint="send the HTTP status of the failed response")
        kind, code, message = args.string("type"), args.scalar_text("code"), args.string("message")
        headers, body, prompt = args.headers(), args.raw("body"), args.string("prompt")
        explain = args.boolean("explain")
        if turn is None and provider is None:
            raise ProtocolError("bad-request", "fail: name the turn ('turn') or the provider that failed ('provider')",
                                "send the turn id that select answered, and the provider when you know it")
        session = self._session(args, conn)
        slot = self._slot(conn, args.string("cwd"), turn)
        engine = slot.get()
        failing = provider
        if failing is None and turn is not None:
            steps = self.history.get(turn)
            last = steps[-1]["target"] if steps else None
            failing = last.get("provider") if isinstance(last, dict) else None
        with self._turn_lock(turn):
            try:
                decision = engine.fail(turn, provider=provider, model=model, status=status, message=message or "",
                                       type=kind, code=code, headers=headers, body=body, prompt=prompt,
                                       explain=explain, label=_label(conn, session))
            except RouteError as exc:
                raise ProtocolError("bad-route", str(exc), "send 'provider' (the account that failed); a turn is "
                                    "forgotten settings.turnTtl (1 h) after its last change") from None
        data = decision.to_dict()
        self._remember(decision.turn, slot, session, conn)
        summary = request_summary({"provider": provider, "model": model, "status": status, "type": kind,
                                   "code": code, "message": message, "headers": headers})
        if self.metrics is not None:
            steps = self.history.get(decision.turn)
            asked = steps[0]["request"] if steps else {"provider": provider or failing}
            self.metrics.observe("fail", asked, data, provider or failing)
        self.history.add(decision.turn, step_of("fail", summary, data, failing))
        return data

    def _succeed(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        turn = args.string("turn", required=True, hint="send the turn id that select answered")
        assert turn is not None
        provider, headers = args.string("provider"), args.headers()
        slot = self._slot(conn, args.string("cwd"), turn)
        engine = slot.get()
        with self._turn_lock(turn):
            engine.succeed(turn, headers=headers, provider=provider, label=_label(conn, self._session(args, conn)))
        if self.metrics is not None:
            self.metrics.succeeded.inc()
        if self.history.get(turn) is not None:
            self.history.add(turn, step_of("succeed", request_summary({"provider": provider, "headers": headers}),
                                           None))
        return {"turn": turn}

    def _status(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        session = self._session(args, conn)
        slot = self._slot(conn, args.string("cwd"))
        engine = slot.get()
        tz = engine.graph.tz
        now = engine.now()
        with self._lock:
            turn_id = self._sessions.get(session) if session is not None else conn.turn
        # The session's turn and the state in one read (one round trip to a remote store).
        record, snapshot = engine.store.read(turn_id, now) if turn_id is not None else (None, engine.store.snapshot())
        accounts = []
        for row in _accounts(engine):
            name = row["name"]
            cooldown = snapshot.cooldowns.get(name)
            quota = snapshot.quota.get(name)
            accounts.append({
                "provider": name, "base": row["provider"], "label": row["label"], "loggedIn": row["loggedIn"],
                "allowed": row["allowed"], "pools": row["pools"],
                "cooldown": None if cooldown is None or not cooldown.active(now) else {
                    "until": isoformat(cooldown.until, tz), "reason": cooldown.reason, "source": cooldown.source},
                "quota": None if quota is None else {
                    "remaining": quota.remaining, "status": quota.status, "summary": quota.summary,
                    "source": quota.source, "fetchedAt": isoformat(quota.fetched_at, tz),
                    "windows": [{"name": w.name, "remaining": w.remaining, "resetsAt": isoformat(w.resets_at, tz)}
                                for w in quota.windows]},
            })
        turn = None
        if turn_id is not None:
            if record is not None:
                turn = {"turn": turn_id, "target": stored_target(record.data),
                        "attempted": list(record.data.get("attempted", [])), "ended": False,
                        "updatedAt": isoformat(record.updated_at, tz)}
            else:
                steps = self.history.get(turn_id) or []
                last = next((s for s in reversed(steps) if s["op"] != "succeed"), None)
                turn = {"turn": turn_id, "target": last["target"] if last else None, "attempted": [],
                        "ended": True, "updatedAt": None}
        return {"at": isoformat(now, tz), "policyRevision": engine.graph.revision,
                "policyFiles": [str(p) for p in engine.sources.files] if engine.sources else [],
                "accounts": accounts, "session": session, "turn": turn}

    def _explain(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        turn = args.string("turn", required=True, hint="send a turn id that select or fail answered")
        assert turn is not None
        slot = self._slot(conn, args.string("cwd"), turn)
        engine = slot.get()
        traced = turn_entries(engine.store, turn)
        if traced:  # the decision trace: this server's turn or another's, before or after a restart
            return explain_from_trace(turn, traced, engine.store.get_turn(turn, engine.now()))
        steps = self.history.get(turn)
        if steps:  # the trace is off (settings.trace.enabled: false): what this server remembers
            return explain_from_steps(turn, steps, engine.store.get_turn(turn, engine.now()))
        record, snapshot = engine.store.read(turn, engine.now())  # the turn and its cooldowns in one read
        if record is not None:
            return from_record(turn, record, snapshot, engine.graph.tz)
        raise ProtocolError("not-found", f"no turn {turn!r}: this server did not decide it and the state store "
                            "does not hold it (it ended with succeed, or expired)",
                            "explain a turn soon after it ran, on the server that ran it")

    def _reload(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        self.engines.forget_cwds()
        projects = []
        for slot in self.engines.slots():
            rebuilt = slot.refresh(force=True)
            projects.append({"project": slot.key, "reloaded": rebuilt, "loaded": slot.engine is not None,
                             "policyRevision": slot.engine.graph.revision if slot.engine else None,
                             "problems": list(slot.problems)})
        self._slot(conn, args.string("cwd"))
        return {"projects": projects}

    def _shutdown(self, args: Args, conn: Connection) -> Mapping[str, Any]:
        self.stopping.set()
        return {}


def _label(conn: Connection, session: str | None) -> str | None:
    """The caller's label in the trace: ``agent/session`` from the request or the connection's hello."""
    parts = [p for p in (conn.agent, session) if p]
    return "/".join(parts) or None


def _accounts(engine: Engine) -> list[dict[str, Any]]:
    from policy_engine.edit.status import account_status

    return account_status(engine)
