"""The Redis state store (``redis://``, ``rediss://``, ``unix://``): one state for a fleet of agents.

Layout, per namespace (all keys share the hash tag ``{namespace}``, so a cluster keeps them in one
slot; the prefix ``mp-policy:`` keeps them apart from anything else in the database)::

    mp-policy:{ns}:cooldowns   HASH  provider -> JSON (with "u": until in epoch µs)
    mp-policy:{ns}:cursors     HASH  pool -> member
    mp-policy:{ns}:quota       HASH  provider -> JSON (with "f": fetched_at in epoch µs)
    mp-policy:{ns}:trace       STREAM the decision log: field ``e`` = JSON entry (``--follow`` reads it with
                               ``XREAD BLOCK``), trimmed by the batch's retention (see below)
    mp-policy:{ns}:turns       ZSET  turn id, scored by expires_at (epoch µs)
    mp-policy:{ns}:turn:<id>   STRING JSON of the turn

Every write batch (:meth:`RedisStore.apply`) is ONE Lua script (:mod:`policy_engine.state.redis_scripts`),
so it is atomic and the merge rules of :class:`~policy_engine.state.StateChanges` (a cooldown never
shortened, the newest quota snapshot wins) hold with any number of writers; every read
(:meth:`RedisStore.snapshot`) is one script too. The engine's ``select`` and ``fail`` go through
:meth:`RedisStore.transact`: it decides on the state this store saw last (the answer of its last
read or write) and writes with a check of that state's digest and of the turn's stored text, in
one round trip; when another process wrote meanwhile, the same answer carries the current state
and the decision is made again (optimistic concurrency: no decision is written over a state it
did not see). A write that reaches a server after the caller stopped waiting for it (a frozen
server) is dropped by the script, so a decision written to the local fallback meanwhile is not
written to Redis as well. Expiry compares the engine's clock (which tests and ``eval --at``
move freely), so it is checked on read and done by :meth:`RedisStore.purge`; Redis's own expiry
only removes what nobody has touched for a long time: a turn key lives as long as the turn's
lifetime, the cooldown hash a day longer than its longest cooldown.

The decision log is a stream, so a fleet sees one trace in write order and a reader can block
until the next entry. The count is trimmed exactly once the stream holds
:func:`~policy_engine.state.log.trim_every` entries too many (``XLEN`` is O(1)); about one batch in
that many (chosen at random by each writer) also trims the age (by the Redis server's clock:
``XTRIM MINID``) and the size (``MEMORY USAGE`` of the stream, cut in proportion).

URL options (query string): ``namespace=NAME`` (default: the engine's, ``default``; a caller's
own namespace other than ``default`` nests inside it as ``NAME/own``),
``socket_timeout`` and ``socket_connect_timeout`` in seconds (default 1), and anything else
redis-py accepts. A Redis that cannot be reached raises :class:`StateUnavailableError` within
at most four timeouts (connect and answer, one reconnection attempt); wrong credentials and
foreign values are a plain :class:`StateError`; the password never appears in a message.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from policy_engine.common import fast_json
from policy_engine.state.base import (
    LOG_LIMIT,
    Cooldown,
    Decide,
    QuotaSnapshot,
    StateChanges,
    StateError,
    StateSnapshot,
    StateStore,
    StateUnavailableError,
    TurnRecord,
    check_parts,
    dump_document,
    json_text,
)
from policy_engine.state.log import LogRecord, LogRetention, trim_every
from policy_engine.state.redis_scripts import APPLY, CLEAR_TURNS, PURGE, READ

__all__ = ["DEFAULT_TIMEOUT", "RedisStore"]

DEFAULT_TIMEOUT = 1.0  # seconds, for connecting and for each command
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_TURNSTILE_AFTER = 2  # refused checks in a row before a caller asks for the turnstile
_PAUSE = 0.0005  # seconds: the longest pause of a caller refused because another one holds the turnstile
_REMEMBERED_TURNS = 256  # texts of turns this store read or wrote last, checked by the server before use


def _us(value: datetime) -> int:
    """Epoch microseconds, exact (Lua numbers are doubles: exact below 2**53 µs, the year 2255)."""
    return (value.astimezone(UTC) - _EPOCH) // _MICRO


def _split_url(url: str) -> tuple[str, str | None, dict[str, float]]:
    """The URL for redis-py (without our options), the namespace option, and the timeouts."""
    base, _, query_text = url.partition("?")
    query = parse_qsl(query_text, keep_blank_values=True)
    namespace = next((v for k, v in query if k == "namespace"), None)
    rest = [(k, v) for k, v in query if k != "namespace"]
    timeouts: dict[str, float] = {}
    for key in ("socket_timeout", "socket_connect_timeout"):
        if not any(k == key for k, _ in rest):
            timeouts[key] = DEFAULT_TIMEOUT
    return (f"{base}?{urlencode(rest)}" if rest else base), namespace, timeouts


class RedisStore(StateStore):
    """State in a Redis server, shared by every process and machine that opens the same URL and namespace."""

    def __init__(self, url: str, *, readonly: bool = False, namespace: str = "default",
                 log_limit: int = LOG_LIMIT) -> None:
        from policy_engine.state import redact_url

        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # the optional extra is not installed
            raise StateError(
                f"state store {redact_url(url)} needs the Python package 'redis'",
                hint="pip install redis (mp-policy's extra [redis], docs/install.md)",
            ) from exc
        client_url, url_namespace, timeouts = _split_url(url)
        self.url = redact_url(url)
        self.readonly = readonly
        # ?namespace= names a team's share of the database; a caller's own namespace (a policy test
        # case) nests inside it.
        if url_namespace and namespace != "default":
            self.namespace = f"{url_namespace}/{namespace}"
        else:
            self.namespace = url_namespace or namespace
        if not self.namespace:
            raise ValueError("namespace must be a non-empty string")
        self._log_limit = log_limit
        self._retention = LogRetention(entries=log_limit)
        self._closed = False
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        # A subclass of ConnectionError, but a configuration problem: never "unreachable", never a fallback.
        self._auth_errors = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)
        self._redis_error = redis.exceptions.RedisError
        self._no_script = redis.exceptions.NoScriptError
        try:
            self._client = redis.Redis.from_url(
                client_url, decode_responses=True, retry=Retry(NoBackoff(), 1), health_check_interval=30,
                **timeouts,  # type: ignore[arg-type]
            )
        except (ValueError, TypeError) as exc:
            raise StateError(f"state store {self.url}: {exc}",
                             hint="e.g. redis://host:6379/0, rediss://user:password@host:6380/0, "
                                  "unix:///run/redis.sock?db=0") from exc
        prefix = f"mp-policy:{{{self.namespace}}}:"
        self._keys = [prefix + k for k in ("cooldowns", "cursors", "quota", "trace", "turns")]
        self._turnstile = prefix + "turnstile"
        self._turn_prefix = prefix + "turn:"
        self._read = self._client.register_script(READ)
        self._apply = self._client.register_script(APPLY)
        self._parsed: dict[str, Any] = {}  # raw JSON -> parsed cooldown / quota snapshot (values repeat a lot)
        self._purge = self._client.register_script(PURGE)
        self._clear_turns = self._client.register_script(CLEAR_TURNS)
        # The state as this store saw it last: (digest, snapshot), and the stored texts of recent turns
        # ("" for a turn known to be missing). Used only by transact, and only with the server's check.
        self._seen: tuple[str, StateSnapshot] | None = None
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._texts_lock = threading.Lock()
        #: Checked writes of :meth:`transact` the server refused (another process wrote first), so far.
        self.refused = 0
        timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
        self._patience_us = None if timeout is None else int(float(timeout) * 1e6)  # how long a call waits
        self._offset_us = 0  # the server's clock minus ours, from its last answer
        with self._talking("connect to"):
            seconds, micros = self._client.time()
            self._offset_us = seconds * 1_000_000 + micros - time.time_ns() // 1000

    # -- plumbing

    @contextmanager
    def _talking(self, doing: str) -> Iterator[None]:
        """Turn redis-py errors into :class:`StateError` messages that name the store (never its password)."""
        if self._closed:
            raise StateError(f"state store {self.url} is closed")
        try:
            yield
        except self._auth_errors as exc:
            raise StateError(f"the Redis state store {self.url} refused the credentials: {_reason(exc)}",
                             hint="check the URL's user and password") from None
        except self._errors as exc:
            raise StateUnavailableError(
                f"cannot {doing} the Redis state store {self.url}: {_reason(exc)}",
                hint="check that the server runs and is reachable; with settings.stateFallback: local the engine "
                     "uses the local SQLite state until Redis is back",
            ) from None
        except self._redis_error as exc:
            raise StateError(f"the Redis state store {self.url} refused a command: {_reason(exc)}",
                             hint="check the URL's database, user and password") from None
        except (ValueError, KeyError, TypeError) as exc:  # a value that is not ours (another program, a bad edit)
            raise StateError(f"the Redis state store {self.url} holds a value mp-policy cannot read "
                             f"({type(exc).__name__}: {_reason(exc)})",
                             hint=f"inspect or delete the keys mp-policy:{{{self.namespace}}}:* "
                                  "(mp-policy state clear empties them)") from None

    def _eval(self, script: Any, keys: list[str], args: Sequence[Any] = ()) -> Any:
        """``EVALSHA`` of a registered script on a pooled connection, reconnecting once on a connection error or
        timeout as the client's ``Retry(NoBackoff(), 1)`` does; a server without the script (restarted, flushed)
        gets it through redis-py's own ``Script`` call. The same request as ``script(keys=..., args=...)`` at a
        fraction of the client CPU: redis-py's generic command path (retry wrapper, metrics hooks, option
        handling) costs about as much as the loopback round trip itself."""
        pool = self._client.connection_pool
        for attempt in (0, 1):
            conn = pool.get_connection()
            try:
                conn.send_command("EVALSHA", script.sha, len(keys), *keys, *args)
                return conn.read_response()
            except self._no_script:
                return script(keys=keys, args=args)
            except self._errors as exc:
                conn.disconnect()
                if attempt or isinstance(exc, self._auth_errors):
                    raise
            finally:
                pool.release(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    def ping(self) -> bool:
        """True when the server answers (used to notice that Redis is back)."""
        try:
            with self._talking("reach"):
                return bool(self._client.ping())
        except StateError:
            return False

    # -- reads

    def snapshot(self) -> StateSnapshot:
        """Cooldowns, cursors and quota in one atomic round trip."""
        with self._talking("read"):
            return self._saw(self._eval(self._read, self._keys[:3]))

    def read(self, turn_id: str, now: datetime) -> tuple[TurnRecord | None, StateSnapshot]:
        """The turn and a snapshot in one atomic round trip."""
        text, snap = self._read_text(turn_id)
        return self._turn(text, now), snap

    def _read_text(self, turn_id: str) -> tuple[str | None, StateSnapshot]:
        """The stored text of a turn and a snapshot in one round trip (both remembered for transact)."""
        with self._talking("read"):
            reply = self._eval(self._read, [*self._keys[:3], self._turn_prefix + turn_id])
            text = reply[4] if len(reply) > 4 else None
            self._remember(turn_id, text or "")
            return text, self._saw(reply)

    def _saw(self, reply: list[Any]) -> StateSnapshot:
        """Parse a state (cooldowns, cursors, quota, digest) from a script's answer and remember it."""
        snap = self._snapshot(reply)
        self._seen = (reply[3], snap)
        return snap

    def _remember(self, turn_id: str, text: str) -> None:
        with self._texts_lock:  # serve's socket clients share one store from several threads
            texts = self._texts
            texts[turn_id] = text
            texts.move_to_end(turn_id)
            while len(texts) > _REMEMBERED_TURNS:
                texts.popitem(last=False)

    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """The turn, or ``None`` when it is missing or has expired at ``now``."""
        with self._talking("read"):
            return self._turn(self._client.get(self._turn_prefix + turn_id), now)

    @staticmethod
    def _turn(text: str | None, now: datetime) -> TurnRecord | None:
        if not text:
            return None
        turn = TurnRecord.from_dict(fast_json.loads(text))
        return turn if turn.expires_at > now else None

    def _snapshot(self, reply: list[Any]) -> StateSnapshot:
        """The state in a script's answer (cooldowns, cursors, quota)."""
        parsed = self._parsed
        if len(parsed) > 4096:
            parsed.clear()

        def pairs(flat: list[str], kind: Any) -> dict[str, Any]:
            out = {}
            for i in range(0, len(flat), 2):
                raw = flat[i + 1]
                value = parsed.get(raw)
                if value is None:
                    value = parsed[raw] = kind.from_dict(fast_json.loads(raw))
                out[flat[i]] = value
            return out

        cursors = reply[1]
        return StateSnapshot(cooldowns=pairs(reply[0], Cooldown),
                             cursors={cursors[i]: cursors[i + 1] for i in range(0, len(cursors), 2)},
                             quota=pairs(reply[2], QuotaSnapshot))

    def dump(self) -> dict[str, Any]:
        """Everything in this namespace as JSON-able data."""
        cd_key, cur_key, q_key, log_key, idx_key = self._keys
        with self._talking("read"):
            pipe = self._client.pipeline(transaction=True)
            pipe.hgetall(cd_key)
            pipe.hgetall(cur_key)
            pipe.hgetall(q_key)
            pipe.xrange(log_key, "-", "+")
            pipe.zrange(idx_key, 0, -1)
            raw_cd, cursors, raw_q, log, ids = pipe.execute()
            texts = self._client.mget([self._turn_prefix + i for i in ids]) if ids else []
        return dump_document(
            self,
            cooldowns=[Cooldown.from_dict(fast_json.loads(v)) for v in raw_cd.values()],
            cursors=cursors,
            turns=[TurnRecord.from_dict(fast_json.loads(t)) for t in texts if t is not None],
            quota=[QuotaSnapshot.from_dict(fast_json.loads(v)) for v in raw_q.values()],
            log=[fast_json.loads(fields["e"]) for _, fields in log],
            extra={"keyPrefix": f"mp-policy:{{{self.namespace}}}:"},
        )

    # -- writes

    def apply(self, changes: StateChanges) -> None:
        """Write a batch atomically (one Lua script) with the merge rules of :class:`StateChanges`."""
        if changes.is_empty():
            return
        self._check_writable()
        payload, texts = self._payload(changes)
        with self._talking("write to"):
            self._written(self._eval(self._apply, self._keys, [payload, self._turn_prefix, self._log_limit, "", "",
                                                                self._deadline()]))
        for turn_id, text in texts.items():
            self._remember(turn_id, text)

    def transact(self, turn_id: str | None, now: datetime, decide: Decide[Any]) -> Any:
        """See :meth:`StateStore.transact`: one round trip (decide on the state seen last, write with a check),
        two when nothing was seen yet, more only while other processes keep changing the state (a caller
        refused twice takes the turnstile, see :mod:`~policy_engine.state.redis_scripts`; a
        :class:`StateError` when that lasts ten store timeouts)."""
        seen = self._seen
        text = self._texts.get(turn_id) if turn_id is not None else None
        fresh = seen is None or (turn_id is not None and text is None)  # read in this call: nothing to check
        if fresh:
            if turn_id is None:
                snap = self.snapshot()
            else:
                text, snap = self._read_text(turn_id)
            seen = self._seen
            digest = seen[0] if seen is not None and seen[1] is snap else "-"  # "-" matches no state
        else:
            digest, snap = seen  # type: ignore[misc]
        keys = [*self._keys, self._turnstile, *(() if turn_id is None else (self._turn_prefix + turn_id,))]
        token = f"{random.getrandbits(64):016x}"
        give_up = None if self._patience_us is None else time.monotonic() + 10 * self._patience_us / 1e6
        refused = 0
        while True:
            with self._talking("read"):
                record = self._turn(text, now)
            changes, result = decide(record, snap)
            if fresh and changes.is_empty():
                return result
            self._check_writable()
            payload, texts = self._payload(changes)
            with self._talking("write to"):
                reply = self._written(self._eval(self._apply, keys, [
                    payload, self._turn_prefix, self._log_limit, digest, text or "", self._deadline(), token,
                    "1" if refused + 1 >= _TURNSTILE_AFTER else ""]))
                current = self._saw([*reply[3:6], reply[1]])
            if reply[0] == 1:
                for written, new_text in texts.items():
                    self._remember(written, new_text)
                return result
            digest, snap, fresh = reply[1], current, True  # the answer's own state, read atomically
            text = reply[6] if len(reply) > 6 and reply[6] else ""
            if turn_id is not None:
                self._remember(turn_id, text)
            refused += 1
            self.refused += 1
            if give_up is not None and time.monotonic() > give_up:
                raise StateError(f"the Redis state store {self.url} changed under every one of {refused} "
                                 "decisions in a row; nothing was written",
                                 hint="many processes write the same namespace at once: try again")
            if reply[0] == 3:  # another caller holds the turnstile: let it write first
                time.sleep(random.uniform(0, _PAUSE))

    def _deadline(self) -> str:
        """The server time after which a write must not happen any more: this call has given up by then."""
        if self._patience_us is None:
            return ""
        return str(time.time_ns() // 1000 + self._offset_us + self._patience_us)

    def _written(self, reply: list[Any]) -> list[Any]:
        """Note the server's clock from an APPLY answer; a write that came too late is an unavailable store."""
        self._offset_us = int(reply[2]) - time.time_ns() // 1000
        if reply[0] == 2:
            raise self._errors[1]("the server ran the write after this call had stopped waiting for it")
        return reply

    def _payload(self, changes: StateChanges) -> tuple[str, dict[str, str]]:
        """The APPLY script's payload for a batch, and the stored text of each turn it writes ("" deleted)."""
        cooldowns = []
        for c in changes.cooldowns:
            c = c.to_utc()
            keep_ms = max(0, (c.until - c.since) // timedelta(milliseconds=1)) + 86_400_000
            cooldowns.append([c.provider, _us(c.until), json_text({**c.to_dict(), "u": _us(c.until)}), keep_ms])
        turns, deleted = [], []
        texts: dict[str, str] = {}
        for turn_id, turn in changes.turns.items():
            if turn is None:
                deleted.append(turn_id)
                texts[turn_id] = ""
                continue
            text = json_text({"turn_id": turn.turn_id, "data": turn.data,
                              "updated_at": turn.updated_at.astimezone(UTC).isoformat(),
                              "expires_at": turn.expires_at.astimezone(UTC).isoformat()}, f"turn {turn_id!r} data",
                             plain_numbers=changes.plain_numbers)
            ttl_ms = max(1000, (turn.expires_at - turn.updated_at) // timedelta(milliseconds=1))
            turns.append([turn_id, text, ttl_ms, _us(turn.expires_at)])
            texts[turn_id] = text
        quota = [[s.provider, _us(s.fetched_at), json_text({**s.normalised().to_dict(), "f": _us(s.fetched_at)})]
                 for s in changes.quota]
        payload = {
            "clear": list(changes.clear_cooldowns), "cooldowns": cooldowns,
            "cursors": [[str(k), str(v)] for k, v in changes.cursors.items()],
            "turns": turns, "deleted": deleted, "quota": quota,
            "log": [json_text(e, "log entry", plain_numbers=changes.plain_numbers) for e in changes.log],
        }
        if changes.log:
            retention = changes.retention or self._retention
            every = trim_every(retention.entries)
            payload["entries"] = -1 if retention.entries is None else max(retention.entries, 0)
            payload["every"] = every
            if every == 1 or random.random() * every < 1:  # amortised across every writer of the fleet
                payload["trim"] = [-1 if retention.age is None else int(retention.age.total_seconds() * 1000),
                                   -1 if retention.max_bytes is None else retention.max_bytes]
        # cjson decodes an empty JSON array as an (empty) table, so ipairs works on every field.
        return fast_json.dumps(payload, plain_numbers=True), texts  # texts and whole numbers only

    # -- the decision log

    def log_before(self, cursor: str | None = None, count: int = 100) -> list[LogRecord]:
        """Up to ``count`` entries before stream id ``cursor`` (the newest when ``None``), oldest first."""
        if count <= 0:
            return []
        with self._talking("read"):
            rows = self._client.xrevrange(self._keys[3], "+" if cursor is None else f"({cursor}", "-", count=count)
        return [LogRecord(i, fast_json.loads(f["e"])) for i, f in reversed(rows)]

    def log_after(self, cursor: str | None = None, count: int = 1000) -> list[LogRecord]:
        """Up to ``count`` entries after stream id ``cursor`` (from the oldest when ``None``), oldest first."""
        if count <= 0:
            return []
        with self._talking("read"):
            rows = self._client.xrange(self._keys[3], "-" if cursor is None else f"({cursor}", "+", count=count)
        return [LogRecord(i, fast_json.loads(f["e"])) for i, f in rows]

    def wait_log(self, cursor: str | None, timeout: float, count: int = 1000) -> list[LogRecord]:
        """Entries after ``cursor``, blocking in Redis (``XREAD BLOCK``) up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + max(timeout, 0)
        limit = max(0.05, 0.5 * float(self._client.connection_pool.connection_kwargs.get("socket_timeout") or 1.0))
        while True:
            block = int(max(0.0, min(deadline - time.monotonic(), limit)) * 1000)
            if block <= 0:
                return self.log_after(cursor, count)
            with self._talking("read"):  # the block stays well inside the socket timeout
                reply = self._client.xread({self._keys[3]: cursor or "0-0"}, count=count, block=block)
            if reply:
                return [LogRecord(i, fast_json.loads(f["e"])) for i, f in reply[0][1]]
            if deadline - time.monotonic() <= 0:
                return []

    def purge(self, now: datetime) -> int:
        """Delete cooldowns and turns that have expired at ``now``; returns how many."""
        self._check_writable()
        with self._talking("write to"):
            reply = self._purge(keys=[self._keys[0], self._keys[4], self._keys[1], self._keys[2]],
                                args=[_us(now), self._turn_prefix])
            self._saw([*reply[2:5], reply[1]])  # what is left is the state the next decision starts from
            return int(reply[0])

    def clear(self, parts: Collection[str] | None = None) -> None:
        """Empty the given parts of this namespace (all when ``None``)."""
        chosen = check_parts(parts)
        self._check_writable()
        cd_key, cur_key, q_key, log_key, idx_key = self._keys
        with self._talking("write to"):
            if "turns" in chosen:
                self._clear_turns(keys=[idx_key], args=[self._turn_prefix])
                self._texts.clear()
            names = {"cooldowns": cd_key, "cursors": cur_key, "quota": q_key, "log": log_key}
            doomed = [key for part, key in names.items() if part in chosen]
            if doomed:
                self._client.delete(*doomed)

    def close(self) -> None:
        """Close the connection pool; closing twice is harmless."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):  # a dead connection cannot fail a close
                self._client.close()


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300].rstrip(".")
