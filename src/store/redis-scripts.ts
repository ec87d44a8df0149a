// The Lua scripts of the Redis message log (redis.ts). Each runs atomically in
// Redis: no other client's command runs between its steps, so two server
// processes appending to one room can never hand out the same Seq.
//
// Every script touches only the three keys of one room, passed as KEYS, which
// share a hash tag: a script is a single-slot operation, as Redis Cluster needs.
// The rooms index (a global key) is never touched from a script for that reason.
//
// A room's keys (docs/storage.md "Redis"):
//   KEYS[1] meta  hash    epoch, head (the room's last Seq)
//   KEYS[2] log   stream  one entry per kept line, ID "<seq>-0", fields at, msg, from, name, content[, key]
//   KEYS[3] keys  hash    "<length of from>:<from><key>" -> Seq, one field per kept line that has a client key
//
// Redis does not roll a script back when a command in it fails: what ran before
// the failure stays. So each writing script makes every check and every read
// that can fail first, and its first write that can fail (XADD) comes before
// every other write; what follows it cannot fail (the keys' types are known by
// then), except PUBLISH, which runs under pcall: a line that is kept is acked
// even if its publish failed (healing a missed publish from the stream is the
// cross-node bus's job, issue 8 item 5).
//
// Lua here is 5.1: numbers are doubles, and tostring() would print a Seq of
// 1e14 or more with an exponent, so integers go out through int().

const PRELUDE = `
local function int(n) return string.format('%d', n) end
local function sid(n) return int(n) .. '-0' end
local function seqOf(id) return tonumber(string.match(id, '^%d+')) end
-- A client key is its sender's: the field names both, the sender's length first so that no
-- two (from, key) pairs give the same field, whatever characters they hold.
local function keyField(from, key) return #from .. ':' .. from .. key end

-- Drops the room's oldest lines, in order, while their Seq is at most upto or
-- (when cut is given) their at is before cut: at most budget of them. Frees the
-- client key of each line it drops (only if the key still names that line: a
-- line past the count may have had its key taken again by a newer line).
-- Returns how many it dropped, the at of the oldest line left (false if none
-- is left, or the budget ran out first) and whether the budget ran out.
-- first, by count only: the oldest Seq in the stream, if the caller knows it.
local function drop(log, keys, upto, cut, budget, first)
  if cut == nil and upto < 1 then return 0, false, false end
  local n, last, oldest, full = 0, nil, false, false
  local keyed = redis.call('EXISTS', keys) == 1
  if cut == nil and first and not keyed then
    -- No key to free: one XTRIM, without reading the lines (kept lines are first..head, no holes).
    local to = math.min(upto, first + budget - 1)
    if to < first then return 0, false, false end
    redis.call('XTRIM', log, 'MINID', sid(to + 1))
    return to - first + 1, false, to < upto
  end
  local stop = '+'
  if cut == nil then stop = sid(upto) end
  local start, size = '-', 8
  while true do
    if n >= budget then full = true; break end
    -- Small chunks first: most calls drop one line, or find the oldest young at once.
    local want = math.min(budget - n, size)
    size = math.min(size * 4, 128)
    local chunk = redis.call('XRANGE', log, start, stop, 'COUNT', want)
    local young = false
    for i = 1, #chunk do
      local id, f = chunk[i][1], chunk[i][2]
      local seq = seqOf(id)
      if seq > upto and not (cut and tonumber(f[2]) < cut) then
        oldest = f[2]; young = true; break
      end
      if keyed and f[11] == 'key' then
        local field = keyField(f[6], f[12])
        if redis.pcall('HGET', keys, field) == int(seq) then redis.pcall('HDEL', keys, field) end
      end
      last = seq; n = n + 1
    end
    if young or #chunk < want then break end
    start = sid(last + 1)
  end
  if last then redis.call('XTRIM', log, 'MINID', sid(last + 1)) end
  return n, oldest, full
end

-- The room's epoch and head, making its record if it has none. A room without
-- a record has lost its history (Redis came back empty, or the key was
-- deleted): whatever is left of its lines and keys goes, and it starts again
-- at Seq 1 under the new epoch the caller brought. Returns epoch, head, and 1
-- if the record is new (the caller writes it; write says whether to now).
local function state(meta, log, keys, candidate, write)
  local s = redis.call('HMGET', meta, 'epoch', 'head')
  if s[1] then return s[1], tonumber(s[2]), 0 end
  redis.call('DEL', log, keys)
  if write then redis.call('HSET', meta, 'epoch', candidate, 'head', '0') end
  return candidate, 0, 1
end
`;

/**
 * One append. ARGV: 1 candidate epoch, 2 maxPerRoom, 3 drop budget, 4 channel,
 * 5 the publish payload up to the Seq (redis.ts `LivePayload`), 6 at, 7 msgId,
 * 8 from, 9 name, 10 content, 11 the line's frame after its Epoch, 12 client key
 * (absent when none).
 * Returns {seq, epoch, fresh} for a new line, {seq, epoch, fresh, msgId} for a
 * repeat of a kept key; an error (nothing written) when the line cannot be kept.
 */
export const APPEND_LUA = `${PRELUDE}
local meta, log, keys = KEYS[1], KEYS[2], KEYS[3]
local max, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
-- The record is written after XADD, so a line that cannot be kept makes no room.
local epoch, head, fresh = state(meta, log, keys, ARGV[1], false)
local from, key = ARGV[8], ARGV[12]
local field = nil
if key then
  field = keyField(from, key)
  -- Also proves early that the keys hash is a hash, so the HSET below cannot fail.
  local n = tonumber(redis.call('HGET', keys, field))
  -- Kept lines only: above the count (the limit may have been lowered since) and still in the stream.
  if n and n > head - max then
    local e = redis.call('XRANGE', log, sid(n), sid(n))[1]
    if e then return {n, epoch, fresh, e[2][4]} end
  end
end
local seq = head + 1
if field then
  redis.call('XADD', log, sid(seq), 'at', ARGV[6], 'msg', ARGV[7], 'from', from, 'name', ARGV[9], 'content', ARGV[10], 'key', key)
else
  redis.call('XADD', log, sid(seq), 'at', ARGV[6], 'msg', ARGV[7], 'from', from, 'name', ARGV[9], 'content', ARGV[10])
end
-- The line is kept. Nothing below can fail.
if fresh == 1 then
  redis.call('HSET', meta, 'epoch', epoch, 'head', int(seq))
else
  redis.call('HSET', meta, 'head', int(seq))
end
if field then redis.call('HSET', keys, field, int(seq)) end
-- Lines over maxPerRoom are gone for reads and keys at once (both count from head - max); the stream
-- lets them go a slack's worth at a time, since dropping the oldest entry one append at a time is what
-- cost most here (measured: 33-43 us of Redis time per append, against 19-25 us with the slack).
local len = redis.call('XLEN', log)
if len - max >= math.min(100, math.ceil(max / 10)) then drop(log, keys, seq - max, nil, budget, seq - len + 1) end
redis.pcall('PUBLISH', ARGV[4], int(seq) .. ' ' .. epoch .. ' ' .. ARGV[5] .. int(seq) .. ',"Epoch":' .. cjson.encode(epoch) .. ARGV[11])
return {seq, epoch, fresh}
`;

/**
 * One read. ARGV: 1 candidate epoch, 2 maxPerRoom, 3 mode (after, before or
 * latest), 4 the Seq after or before, 5 limit. The page is memory.ts pageOf,
 * over kept lines first..head, where first also counts lines over maxPerRoom as
 * gone (a lowered limit takes effect at once, before the next append drops them).
 * Returns {epoch, head, first, more (0/1), fresh, entries}.
 */
export const READ_LUA = `${PRELUDE}
local meta, log, keys = KEYS[1], KEYS[2], KEYS[3]
local max, mode, s, limit = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local epoch, head, fresh = state(meta, log, keys, ARGV[1], true)
local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
local first = head + 1
if oldest then first = seqOf(oldest[1]) end
first = math.max(first, head - max + 1)
local from, to, more
if mode == 'after' then
  from = math.max(s + 1, first)
  to = math.min(head, from + limit - 1)
  more = math.max(to, from - 1) < head
else
  local before = head + 1
  if mode == 'before' then before = s end
  to = math.min(before - 1, head)
  from = math.max(first, to - limit + 1)
  more = from > first and to >= first
end
local entries = {}
if from <= to then entries = redis.call('XRANGE', log, sid(from), sid(to)) end
local m = 0
if more then m = 1 end
return {epoch, head, first, m, fresh, entries}
`;

/**
 * One room's share of a trim step. ARGV: 1 cutoff (ms), 2 maxPerRoom, 3 budget
 * (lines), 4 now (ms). Drops lines past maxDays (stopping at the first young
 * one, so what is kept stays contiguous) and over maxPerRoom; never renumbers.
 * Returns {dropped, next, full}: next is the at of the oldest line left, or now
 * when none is (the room's new score in the rooms index); full, that the budget
 * ran out and the room has more to drop.
 */
export const TRIM_LUA = `${PRELUDE}
local meta, log, keys = KEYS[1], KEYS[2], KEYS[3]
local cut, max, budget, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local head = tonumber(redis.call('HGET', meta, 'head'))
if not head then return {0, now, 0} end
local n, oldest, full = drop(log, keys, head - max, cut, budget)
local f = 0
if full then f = 1 end
return {n, oldest or now, f}
`;
