"""The Redis state store (``redis://``, ``rediss://``, ``unix://``): one state for a fleet of agents.

Layout, per namespace (all keys share the hash tag ``{namespace}``, so a cluster keeps them in one
slot; the prefix ``mp-policy:`` keeps them apart from anything else in the database)::

    mp-policy:{ns}:cooldowns   HASH  provider -> JSON (with "u": until in epoch µs)
    mp-policy:{ns}:cursors     HASH  pool -> member
    mp-policy:{ns}:quota       HASH  provider -> JSON (with "f": fetched_at in epoch µs)
    mp-policy:{ns}:log         LIST  JSON entries, trimmed to the newest ``log_limit``
    mp-policy:{ns}:turns       ZSET  turn id, scored by expires_at (epoch µs)
    mp-policy:{ns}:turn:<id>   STRING JSON of the turn

Every write batch (:meth:`RedisStore.apply`) is ONE Lua script, so it is atomic and the merge
rules of :class:`~policy_engine.state.StateChanges` (a cooldown never shortened, the newest quota
snapshot wins) hold with any number of writers; every read (:meth:`RedisStore.snapshot`) is one
``MULTI``/``EXEC`` round trip. Expiry compares the engine's clock (which tests and ``eval --at``
move freely), so it is checked on read and done by :meth:`RedisStore.purge`; Redis's own expiry
only removes what nobody has touched for a long time: a turn key lives as long as the turn's
lifetime, the cooldown hash a day longer than its longest cooldown.

URL options (query string): ``namespace=NAME`` (default: the engine's, ``default``; a caller's
own namespace other than ``default`` nests inside it as ``NAME/own``),
``socket_timeout`` and ``socket_connect_timeout`` in seconds (default 1), and anything else
redis-py accepts. A Redis that cannot be reached raises :class:`StateUnavailableError` within
at most four timeouts (connect and answer, one reconnection attempt); wrong credentials and
foreign values are a plain :class:`StateError`; the password never appears in a message.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from policy_engine.state.base import (
    LOG_LIMIT,
    Cooldown,
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

__all__ = ["DEFAULT_TIMEOUT", "RedisStore"]

DEFAULT_TIMEOUT = 1.0  # seconds, for connecting and for each command
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def _us(value: datetime) -> int:
    """Epoch microseconds, exact (Lua numbers are doubles: exact below 2**53 µs, the year 2255)."""
    return (value.astimezone(UTC) - _EPOCH) // _MICRO


# KEYS: cooldowns, cursors, quota, log, turns index. ARGV: payload JSON, turn key prefix, log limit.
_APPLY = """
local p = cjson.decode(ARGV[1])
local cd, cur, q, log, tidx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local tprefix, limit = ARGV[2], tonumber(ARGV[3])
-- Redis does not roll a script back: check every key the batch writes before the first write.
local function expect(key, kind)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= kind then error('WRONGTYPE ' .. key .. ' is a ' .. t) end
end
if #p.clear > 0 or #p.cooldowns > 0 then expect(cd, 'hash') end
if #p.cursors > 0 then expect(cur, 'hash') end
if #p.quota > 0 then expect(q, 'hash') end
if #p.log > 0 then expect(log, 'list') end
if #p.turns > 0 or #p.deleted > 0 then expect(tidx, 'zset') end
local function num(text, name)
  local ok, v = pcall(cjson.decode, text)
  if ok and type(v) == 'table' and type(v[name]) == 'number' then return v[name] end
  return nil
end
for _, provider in ipairs(p.clear) do redis.call('HDEL', cd, provider) end
local keep_ms = 0
for _, c in ipairs(p.cooldowns) do
  local old = redis.call('HGET', cd, c[1])
  local u = old and num(old, 'u')
  if (not u) or u < c[2] then redis.call('HSET', cd, c[1], c[3]) end
  if c[4] > keep_ms then keep_ms = c[4] end
end
if keep_ms > 0 then
  local ttl = redis.call('PTTL', cd)
  if ttl >= 0 and ttl < keep_ms then redis.call('PEXPIRE', cd, keep_ms)
  elseif ttl == -1 then redis.call('PEXPIRE', cd, keep_ms) end
end
for _, c in ipairs(p.cursors) do redis.call('HSET', cur, c[1], c[2]) end
local turn_ms = 0
for _, t in ipairs(p.turns) do
  redis.call('SET', tprefix .. t[1], t[2], 'PX', t[3])
  redis.call('ZADD', tidx, t[4], t[1])
  if t[3] > turn_ms then turn_ms = t[3] end
end
if turn_ms > 0 then
  local ttl, want = redis.call('PTTL', tidx), turn_ms + 86400000
  if ttl == -1 or (ttl >= 0 and ttl < want) then redis.call('PEXPIRE', tidx, want) end
end
for _, id in ipairs(p.deleted) do
  redis.call('DEL', tprefix .. id)
  redis.call('ZREM', tidx, id)
end
for _, s in ipairs(p.quota) do
  local old = redis.call('HGET', q, s[1])
  local f = old and num(old, 'f')
  if (not f) or f <= s[2] then redis.call('HSET', q, s[1], s[3]) end
end
if #p.log > 0 then
  for _, entry in ipairs(p.log) do redis.call('RPUSH', log, entry) end
  redis.call('LTRIM', log, -limit, -1)
end
return 1
"""

# KEYS: cooldowns, cursors, quota, and optionally a turn key. One atomic read: an EVALSHA reply is cheaper to
# parse than a MULTI/EXEC pipeline of the same reads.
_READ = """
local out = {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
if KEYS[4] then out[4] = redis.call('GET', KEYS[4]) end
return out
"""

# KEYS: cooldowns, turns index. ARGV: now (epoch µs), turn key prefix.
_PURGE = """
local now, tprefix = tonumber(ARGV[1]), ARGV[2]
local count = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, v = pcall(cjson.decode, all[i + 1])
  if (not ok) or type(v) ~= 'table' or type(v.u) ~= 'number' or v.u <= now then
    redis.call('HDEL', KEYS[1], all[i])
    count = count + 1
  end
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(ids) do
  if redis.call('DEL', tprefix .. id) == 1 then count = count + 1 end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return count
"""

# KEYS: turns index. ARGV: turn key prefix.
_CLEAR_TURNS = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return #ids
"""


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
                hint="pip install 'mp-policy[redis]' (or pip install redis)",
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
        self._closed = False
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        # A subclass of ConnectionError, but a configuration problem: never "unreachable", never a fallback.
        self._auth_errors = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)
        self._redis_error = redis.exceptions.RedisError
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
        self._keys = [prefix + k for k in ("cooldowns", "cursors", "quota", "log", "turns")]
        self._turn_prefix = prefix + "turn:"
        self._read = self._client.register_script(_READ)
        self._apply = self._client.register_script(_APPLY)
        self._parsed: dict[str, Any] = {}  # raw JSON -> parsed cooldown / quota snapshot (values repeat a lot)
        self._purge = self._client.register_script(_PURGE)
        self._clear_turns = self._client.register_script(_CLEAR_TURNS)
        with self._talking("connect to"):
            self._client.ping()

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
            return self._snapshot(self._read(keys=self._keys[:3]))

    def read(self, turn_id: str, now: datetime) -> tuple[TurnRecord | None, StateSnapshot]:
        """The turn and a snapshot in one atomic round trip."""
        with self._talking("read"):
            reply = self._read(keys=[*self._keys[:3], self._turn_prefix + turn_id])
            return self._turn(reply[3] if len(reply) > 3 else None, now), self._snapshot(reply)

    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """The turn, or ``None`` when it is missing or has expired at ``now``."""
        with self._talking("read"):
            return self._turn(self._client.get(self._turn_prefix + turn_id), now)

    @staticmethod
    def _turn(text: str | None, now: datetime) -> TurnRecord | None:
        if not text:
            return None
        turn = TurnRecord.from_dict(json.loads(text))
        return turn if turn.expires_at > now else None

    def _snapshot(self, reply: list[Any]) -> StateSnapshot:
        parsed = self._parsed
        if len(parsed) > 4096:
            parsed.clear()

        def pairs(flat: list[str], kind: Any) -> dict[str, Any]:
            out = {}
            for i in range(0, len(flat), 2):
                raw = flat[i + 1]
                value = parsed.get(raw)
                if value is None:
                    value = parsed[raw] = kind.from_dict(json.loads(raw))
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
            pipe.lrange(log_key, 0, -1)
            pipe.zrange(idx_key, 0, -1)
            raw_cd, cursors, raw_q, log, ids = pipe.execute()
            texts = self._client.mget([self._turn_prefix + i for i in ids]) if ids else []
        return dump_document(
            self,
            cooldowns=[Cooldown.from_dict(json.loads(v)) for v in raw_cd.values()],
            cursors=cursors,
            turns=[TurnRecord.from_dict(json.loads(t)) for t in texts if t is not None],
            quota=[QuotaSnapshot.from_dict(json.loads(v)) for v in raw_q.values()],
            log=[json.loads(e) for e in log],
            extra={"keyPrefix": f"mp-policy:{{{self.namespace}}}:"},
        )

    # -- writes

    def apply(self, changes: StateChanges) -> None:
        """Write a batch atomically (one Lua script) with the merge rules of :class:`StateChanges`."""
        if changes.is_empty():
            return
        self._check_writable()
        cooldowns = []
        for c in changes.cooldowns:
            c = c.to_utc()
            keep_ms = max(0, (c.until - c.since) // timedelta(milliseconds=1)) + 86_400_000
            cooldowns.append([c.provider, _us(c.until), json_text({**c.to_dict(), "u": _us(c.until)}), keep_ms])
        turns, deleted = [], []
        for turn_id, turn in changes.turns.items():
            if turn is None:
                deleted.append(turn_id)
                continue
            text = json_text({"turn_id": turn.turn_id, "data": turn.data,
                              "updated_at": turn.updated_at.astimezone(UTC).isoformat(),
                              "expires_at": turn.expires_at.astimezone(UTC).isoformat()}, f"turn {turn_id!r} data")
            ttl_ms = max(1000, (turn.expires_at - turn.updated_at) // timedelta(milliseconds=1))
            turns.append([turn_id, text, ttl_ms, _us(turn.expires_at)])
        quota = [[s.provider, _us(s.fetched_at), json_text({**s.normalised().to_dict(), "f": _us(s.fetched_at)})]
                 for s in changes.quota]
        payload = {
            "clear": list(changes.clear_cooldowns), "cooldowns": cooldowns,
            "cursors": [[str(k), str(v)] for k, v in changes.cursors.items()],
            "turns": turns, "deleted": deleted, "quota": quota,
            "log": [json_text(e, "log entry") for e in changes.log],
        }
        # cjson decodes an empty JSON array as an (empty) table, so ipairs works on every field.
        with self._talking("write to"):
            self._apply(keys=self._keys, args=[json.dumps(payload, separators=(",", ":")), self._turn_prefix,
                                              self._log_limit])

    def purge(self, now: datetime) -> int:
        """Delete cooldowns and turns that have expired at ``now``; returns how many."""
        self._check_writable()
        with self._talking("write to"):
            return int(self._purge(keys=[self._keys[0], self._keys[4]], args=[_us(now), self._turn_prefix]))

    def clear(self, parts: Collection[str] | None = None) -> None:
        """Empty the given parts of this namespace (all when ``None``)."""
        chosen = check_parts(parts)
        self._check_writable()
        cd_key, cur_key, q_key, log_key, idx_key = self._keys
        with self._talking("write to"):
            if "turns" in chosen:
                self._clear_turns(keys=[idx_key], args=[self._turn_prefix])
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
