"""The Lua scripts of the Redis state store: each runs atomically on the server, in one round trip.

``APPLY`` writes a batch with the merge rules of :class:`~policy_engine.state.StateChanges` and,
when it is given the digest of the state its batch was decided on, first checks it (optimistic
concurrency): the digest is a SHA-1 of the cooldowns, cursors and quota as stored, and a turn is
compared by its stored text. A check that fails writes nothing and answers the current state
instead, so the caller decides again without another read. ``READ`` is one consistent read of the
state, its digest and a turn. The digest is of the content itself, so no key is added to a
namespace, every writer (of any version) is seen, and a state that changed and changed back is
still the state the decision saw.

Fairness: a caller whose checks keep failing (others keep writing first) asks for the turnstile
(``mp-policy:{ns}:turnstile``, a short-lived key): while one caller holds it, every other checked
write is refused, so the holder's next try, decided on the state its refusal answered, goes
through; its write removes the key, and it expires by itself after a fraction of a second when
the holder is gone.
"""

from __future__ import annotations

__all__ = ["APPLY", "CLEAR_TURNS", "PURGE", "READ"]

# The state of a namespace (cooldowns, cursors, quota: flat HGETALL answers) and its digest.
_STATE = """
local function state(cd, cur, q)
  return redis.call('HGETALL', cd), redis.call('HGETALL', cur), redis.call('HGETALL', q)
end
-- Each value as "length:value" (unambiguous), joined by one table.concat: no string is built per value.
local function digest(a, b, c)
  local parts, n = {}, 0
  for _, t in ipairs({a, b, c}) do
    n = n + 1
    parts[n] = #t
    for i = 1, #t do
      parts[n + 1] = #t[i]
      parts[n + 2] = t[i]
      n = n + 2
    end
  end
  return redis.sha1hex(table.concat(parts, ':'))
end
"""

# KEYS: cooldowns, cursors, quota, trace stream, turns index, turnstile [, turn key of the checked turn].
# ARGV: payload JSON (with p.entries, p.every, p.trim: the log's retention), turn key prefix, log limit
#       (unused: the payload carries the retention), the digest of the state the batch was decided on
#       ('' = write without a check), the expected text of the checked turn ('' = it must not exist),
#       the latest server time (epoch µs) at which the caller still waits for the answer ('' = no limit),
#       the caller's token, and '1' when the caller asks for the turnstile should its check fail.
# Answers {1, '', server time} after an unchecked write; after a checked one {1, digest, server time,
# cooldowns, cursors, quota} (the state just written); when the check fails {0, digest, server time,
# cooldowns, cursors, quota, turn}, or {3, ...} the same when another caller holds the turnstile;
# {2, '', server time} when the script ran after the caller had stopped waiting (a server that was
# frozen): nothing is written, since the caller has written its decision elsewhere
# (settings.stateFallback) or reported an error meanwhile.
APPLY = _STATE + """
local cd, cur, q, log, tidx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local tprefix, limit, expected = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
if ARGV[6] ~= '' and now > tonumber(ARGV[6]) then return {2, '', now} end
local gate, token = KEYS[6], ARGV[7]
if expected ~= '' then
  local holder = redis.call('GET', gate)
  local blocked = holder and holder ~= token
  local a, b, c = state(cd, cur, q)
  local d = digest(a, b, c)
  local turn = KEYS[7] and (redis.call('GET', KEYS[7]) or '')
  if blocked or d ~= expected or (KEYS[7] and turn ~= ARGV[5]) then
    if ARGV[8] == '1' and not holder then redis.call('SET', gate, token, 'PX', 250) end
    return {blocked and 3 or 0, d, now, a, b, c, turn or false}
  end
  if holder then redis.call('DEL', gate) end
end
local p = cjson.decode(ARGV[1])
-- Redis does not roll a script back: check every key the batch writes before the first write.
local function expect(key, kind)
  local t = redis.call('TYPE', key).ok
  if t ~= 'none' and t ~= kind then error('WRONGTYPE ' .. key .. ' is a ' .. t) end
end
if #p.clear > 0 or #p.cooldowns > 0 then expect(cd, 'hash') end
if #p.cursors > 0 then expect(cur, 'hash') end
if #p.quota > 0 then expect(q, 'hash') end
if #p.log > 0 then expect(log, 'stream') end
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
  local first
  for _, entry in ipairs(p.log) do
    local id = redis.call('XADD', log, '*', 'e', entry)
    first = first or id
  end
  -- the count: exact, once the stream holds `every` entries too many (XLEN is O(1))
  if p.entries >= 0 and redis.call('XLEN', log) >= p.entries + p.every then
    redis.call('XTRIM', log, 'MAXLEN', p.entries)
  end
  if p.trim then  -- p.trim: [age in ms or -1, bytes or -1], on about one batch in `every`
    local age, bytes = p.trim[1], p.trim[2]
    if age >= 0 then
      local now = redis.call('TIME')
      local cut = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - age
      local oldest = tonumber(string.match(first, '^(%d+)'))
      if cut > oldest then cut = oldest end  -- never this batch's own entries
      redis.call('XTRIM', log, 'MINID', cut)
    end
    if bytes >= 0 then
      local used = redis.call('MEMORY', 'USAGE', log, 'SAMPLES', 0) or 0
      if used > bytes then
        local n = redis.call('XLEN', log)
        redis.call('XTRIM', log, 'MAXLEN', math.max(#p.log, math.floor(n * bytes / used)))
      end
    end
  end
end
if expected == '' then return {1, '', now} end
local a, b, c = state(cd, cur, q)
return {1, digest(a, b, c), now, a, b, c}
"""

# KEYS: cooldowns, cursors, quota [, a turn key]. One atomic read: an EVALSHA reply is cheaper to parse than
# a MULTI/EXEC pipeline of the same reads. Answers {cooldowns, cursors, quota, digest, turn}.
READ = _STATE + """
local a, b, c = state(KEYS[1], KEYS[2], KEYS[3])
local out = {a, b, c, digest(a, b, c)}
if KEYS[4] then out[5] = redis.call('GET', KEYS[4]) end
return out
"""

# KEYS: cooldowns, turns index, cursors, quota. ARGV: now (epoch µs), turn key prefix.
# Answers {count, digest, cooldowns, cursors, quota}: how many were deleted, and the state left.
PURGE = _STATE + """
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
local a, b, c = state(KEYS[1], KEYS[3], KEYS[4])
return {count, digest(a, b, c), a, b, c}
"""

# KEYS: turns index. ARGV: turn key prefix.
CLEAR_TURNS = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return #ids
"""
