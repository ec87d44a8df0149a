// Presence across nodes, and node liveness, on Redis (issue 8 items 4 and 6):
// who is in which room whatever node holds their connection, the rooms list
// with counts, and the removal of a dead node's members by the nodes that
// survive it. An edge module like RedisLog: the hub sees only outcomes (data),
// never a Redis handle.
//
// THE INTERFACE (for the hub's integration)
//   RedisPresence.connect(url, { nodeId, prefix?, ttlMs?, deadAfterMs?, ... })
//   run(ops)            a batch of PresenceOp, one pipeline, outcomes in order; never throws
//   join(room, id, name, { list?, at? })   → JoinOutcome   (list: true = every member, n = the first n)
//   leave(room, id, reason, { at? })       → LeaveOutcome
//   rename(id, name, rooms, { at? })       → RenameOutcome (one renamed event per room where it is a member)
//   members(room, { after?, limit })       → MembersOutcome, in JOIN ORDER; `after` a member id; one that
//                                            is not in the room is `{ ok: false, code: 'bad_cursor' }`
//   rooms(limit)                           → RoomsOutcome, biggest first, with the total number of rooms
//   beat(now)            every 5 s: refreshes this node's TTLs; `swept: true` if others took it for dead
//   sweep(now)           every 5 s: removes the members of dead nodes (reason node_down), heals counts
//   leaveAll(reason?)    a clean stop: this node's members leave (default reason 'shutdown'), its keys go
//   close()              leaveAll, then quits the connection
// Every op acts only on this node's own members: a leave, or a rename, of an ID
// that another node now holds (a client that resumed there) changes nothing
// and says which node holds it (`owner`). A join of an ID another node holds
// moves it here (`tookFrom`), keeps its place in the join order and publishes
// nothing (the room already sees it). Nothing is cached here but the rooms in
// which this node has members (to refresh their TTLs).
//
// Presence events go out on the room's channel (roomChannel, the one the log's
// append script publishes lines on) as `PresenceEvent` JSON, which has `kind`
// ("joined" | "left" | "renamed"): parsePresence. A join, leave or rename that
// changes nothing publishes nothing. Every presence payload begins `{"kind":"`
// (a line begins with its Seq, or as an older node's LiveLine `{"room":`), so a
// subscriber can route a payload before parsing it.
//
// The rooms list orders rooms of one size by name, descending (ZREVRANGE), not
// in the order they reached that size as the single-process hub does.
//
// KEYS (P = the prefix, default `rxchat:`; R = roomTag(room); N = roomTag(nodeId))
//   P{R}:members        hash    member id → JSON {name, node, at}     roomTtlMs (1 h), refreshed on each change
//                                                                     and by each beat of a node with members there;
//                                                                     deleted with the room's last member
//   P{R}:order          zset    member id → join number (1, 2, ...)   as P{R}:members
//   P{roomsizes}        zset    room → member count (count > 0 only)  none (global index; healed by sweep)
//   P{roomsizes}:ver    hash    room → version (µs, Redis TIME) of    none; an emptied room's field goes a
//                               the last count applied                minute after it emptied
//   P{roomsizes}:gone   zset    emptied room → its version            as :ver
//   Pnode:{N}:alive     string  JSON {node, at} of the last beat      ttlMs (15 s), refreshed by beat
//   Pnode:{N}:rooms     set     "<length of room>:<room><id>" per     roomTtlMs (1 h), refreshed by beat
//                               membership of this node's members
//   Pnode:{N}:sweep     string  the node id of its sweeper           claimMs (10 s)
//   Pnode:{N}           string  sessions.ts's alive marker, not      its own (sessions.ts); a sweep of the dead
//                               written here                         node deletes it with the node's other keys
//   Pnodes              zset    node id → last beat (ms, the node's   none (global index; a node leaves it when
//                               clock)                                swept or stopped cleanly)
// A room's keys share its hash tag (so a room's scripts are single-slot, as a
// Redis Cluster needs, and it sits on the shard of its log), a node's keys
// share the node's, and no script touches two tags: the room count goes to the
// rooms index by a second script (SIZES) after the room's own, in a second
// round trip, versioned by Redis's clock at the room's change so that two
// nodes' updates applied out of order cannot leave an old count. A count lost
// between the two (the connection broke) is healed by sweep's reconcile step.
//
// LIVENESS. A node is dead when its `Pnode:{N}:alive` key has expired (Redis's clock:
// ttlMs after its last beat) and its last beat in `Pnodes` is older than
// deadAfterMs (the sweeper's clock). With beats every 5 s, ttlMs = deadAfterMs =
// 15 s and sweeps every 5 s, a dead node's members leave presence at most ttlMs
// + one sweep interval + the sweep's own time after it died: about 20 s, under
// issue 8's 30 s (a sweeper that dies midway adds up to claimMs). Each dead node is claimed with SET NX PX, so one survivor
// cleans it, in steps of `sweepBatch` memberships; a sweeper that dies midway
// leaves its claim to expire and the next sweep goes on where it stopped. The
// sweep that ends a dead node's cleaning deletes sessions.ts's alive marker of it
// too (P node:{N}): one verdict on a node's death for both modules. If no
// node survives, everything of the node still expires: its alive key after
// ttlMs, its memberships set and the rooms it alone kept after roomTtlMs.
import Redis from 'ioredis';
import { LastError, LinkWatch, Reply, execWithin, quitLink, openLink, parseObject, started, loadScripts, script, startScripted } from '../store/redis-link';
import { DEFAULT_PREFIX, roomChannel, roomTag } from '../store/redis';
import { messageOf } from '../store/memory';
import { nodeChannel } from './sessions';

import type {
  LeaveReason, Member, PresenceEvent, PresenceOp, PresenceFailure, JoinOutcome, LeaveOutcome, RenameOutcome, MembersOutcome, PresenceOutcome, RoomsOutcome,
} from '../core/presence';

export type {
  LeaveReason, Member, PresenceEvent, PresenceOp, PresenceFailure, JoinOutcome, LeaveOutcome, RenameOutcome, MembersOutcome, PresenceOutcome, RoomsOutcome,
};
const REASONS: ReadonlySet<string> = new Set(['left', 'closed', 'timeout', 'error', 'slow', 'shutdown', 'node_down']);

export type BeatOutcome = PresenceFailure | { ok: true; swept: boolean };
export type SweepOutcome = PresenceFailure | {
  ok: true;
  /** Dead nodes this sweep cleaned (or began to: `more`), and how many memberships it removed of each. */
  nodes: { node: string; removed: number; more: boolean }[];
  /** Rooms whose count the reconcile step checked. */
  reconciled: number;
};
export type LeaveAllOutcome = PresenceFailure | { ok: true; removed: number; more: boolean };

export interface PresenceOptions {
  /** This process's name in keys and events (`--node-id`). */
  nodeId: string;
  prefix?: string;
  /** Life of the node's alive key after each beat (ms). Default 15000. */
  ttlMs?: number;
  /** A node whose last beat is older than this (and whose alive key is gone) is dead (ms). Default ttlMs. */
  deadAfterMs?: number;
  /** Life of a room's presence keys and of a node's memberships set after their last refresh (ms). Default 1 h. */
  roomTtlMs?: number;
  /** How long a sweeper's claim on a dead node lasts (ms). Default 10000. */
  claimMs?: number;
  /** Memberships removed per step of a sweep. Default 200. */
  sweepBatch?: number;
  /** Steps per dead node per sweep call. Default 50. */
  sweepSteps?: number;
  /** Rooms whose count one sweep checks against their members hash. Default 50. */
  reconcileRooms?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /** The time put on events when an op names none (ms). */
  clock?: () => number;
}

// ---- Lua. Each script touches one hash tag's keys, given as KEYS. Redis rolls nothing back, so the
// reads that can fail come first; PUBLISH runs under pcall (the change stands if the publish fails).

const PRELUDE = `
-- The version of a room's change: Redis's clock in microseconds, as a string (exact past 2^31).
local function version()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end
-- id, JSON, id, JSON... of the members of ids (HMGET in chunks: unpack has a stack limit).
local function entries(members, ids)
  local out = {}
  for i = 1, #ids, 1000 do
    local chunk = {}
    for j = i, math.min(i + 999, #ids) do chunk[#chunk + 1] = ids[j] end
    local vals = redis.call('HMGET', members, unpack(chunk))
    for j = 1, #chunk do out[#out + 1] = chunk[j]; out[#out + 1] = vals[j] end
  end
  return out
end
`;

/**
 * KEYS members, order. ARGV 1 id, 2 node, 3 entry JSON, 4 channel, 5 the joined JSON without its closing brace
 * (the count is added), 6 room TTL (ms),
 * 7 list: -1 none, 0 all, n the first n, 8 max: 0 none, n refuse a new member when there are n already.
 * Returns {joined 0/1, count, version, tookFrom|nil, list}, or {-1, count} when refused as full.
 */
const JOIN_LUA = `${PRELUDE}
local members, order = KEYS[1], KEYS[2]
local id, node = ARGV[1], ARGV[2]
local cur = redis.call('HGET', members, id)
local joined, took = 0, false
if cur then
  local owner = cjson.decode(cur).node
  if owner ~= node then
    took = owner
    redis.call('HSET', members, id, ARGV[3])
  end
else
  local max = tonumber(ARGV[8])
  if max > 0 then
    local n = redis.call('HLEN', members)
    if n >= max then return {-1, n} end
  end
  local last = redis.call('ZRANGE', order, -1, -1, 'WITHSCORES')
  local n = 1
  if last[2] then n = tonumber(last[2]) + 1 end
  redis.call('ZADD', order, n, id)
  redis.call('HSET', members, id, ARGV[3])
  joined = 1
end
redis.call('PEXPIRE', members, ARGV[6])
redis.call('PEXPIRE', order, ARGV[6])
local count = redis.call('HLEN', members)
if joined == 1 then redis.pcall('PUBLISH', ARGV[4], ARGV[5] .. ',"count":' .. count .. '}') end
local list = {}
local want = tonumber(ARGV[7])
if want >= 0 then list = entries(members, redis.call('ZRANGE', order, 0, want - 1)) end
return {joined, count, version(), took, list}
`;

/**
 * KEYS members, order. ARGV 1 id, 2 node (the member must be this node's), 3 channel, 4 the left JSON
 * without its name, count and closing brace, 5 room TTL (ms). Returns {left 0/1, count, version, owner|nil}.
 */
const LEAVE_LUA = `${PRELUDE}
local members, order = KEYS[1], KEYS[2]
local id, node = ARGV[1], ARGV[2]
local cur = redis.call('HGET', members, id)
local left, owner, name = 0, false, ''
if cur then
  local e = cjson.decode(cur)
  if e.node == node then
    redis.call('HDEL', members, id)
    redis.call('ZREM', order, id)
    left = 1
    name = e.name
  else
    owner = e.node
  end
end
local count = redis.call('HLEN', members)
if left == 1 then redis.pcall('PUBLISH', ARGV[3], ARGV[4] .. ',"name":' .. cjson.encode(name) .. ',"count":' .. count .. '}') end
if count == 0 then
  redis.call('DEL', members, order)
elseif left == 1 then
  redis.call('PEXPIRE', members, ARGV[5])
  redis.call('PEXPIRE', order, ARGV[5])
end
return {left, count, version(), owner}
`;

/**
 * KEYS members. ARGV 1 id, 2 node, 3 new name, 4 channel, 5 the renamed JSON without oldName and
 * closing brace. Returns {renamed 0/1, owner|nil}.
 */
const RENAME_LUA = `
local members = KEYS[1]
local id, node, name = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('HGET', members, id)
if not cur then return {0, false} end
local e = cjson.decode(cur)
if e.node ~= node then return {0, e.node} end
redis.call('HSET', members, id, '{"name":' .. cjson.encode(name) .. ',"node":' .. cjson.encode(node) .. ',"at":' .. string.format('%d', e.at) .. '}')
redis.pcall('PUBLISH', ARGV[4], ARGV[5] .. ',"oldName":' .. cjson.encode(e.name) .. ',"count":' .. redis.call('HLEN', members) .. '}')
return {1, false}
`;

/**
 * KEYS members, order. ARGV 1 after ('' for the first page), 2 limit. Read only.
 * Returns {count, more 0/1, list} in join order, or {-1} when after is not a member.
 */
const MEMBERS_LUA = `${PRELUDE}
local members, order = KEYS[1], KEYS[2]
local start = 0
if ARGV[1] ~= '' then
  local r = redis.call('ZRANK', order, ARGV[1])
  if not r then return {-1} end
  start = r + 1
end
local limit = tonumber(ARGV[2])
local ids = redis.call('ZRANGE', order, start, start + limit)
local more = 0
if #ids > limit then more = 1; ids[#ids] = nil end
return {redis.call('HLEN', members), more, entries(members, ids)}
`;

/** KEYS members. Returns {count, version}: the room's count as of now, for the reconcile step. */
const CENSUS_LUA = `${PRELUDE}
return {redis.call('HLEN', KEYS[1]), version()}
`;

/**
 * KEYS sizes (zset), ver (hash), gone (zset), all under one tag. ARGV 1 how long an emptied room's
 * version is kept (µs), then room, count, version triples. Applies each count unless a later version
 * of that room was applied before; a room of 0 leaves the index. Returns how many it applied.
 */
const SIZES_LUA = `
local sizes, ver, gone = KEYS[1], KEYS[2], KEYS[3]
local applied, newest = 0, 0
for i = 2, #ARGV, 3 do
  local room, count, v = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if v > newest then newest = v end
  local old = tonumber(redis.call('HGET', ver, room))
  if not old or old <= v then
    redis.call('HSET', ver, room, ARGV[i + 2])
    if count > 0 then
      redis.call('ZADD', sizes, count, room)
      redis.call('ZREM', gone, room)
    else
      redis.call('ZREM', sizes, room)
      redis.call('ZADD', gone, ARGV[i + 2], room)
    end
    applied = applied + 1
  end
end
-- An update arrives late by a round trip, not by a minute: an emptied room's version can go then.
local stale = redis.call('ZRANGEBYSCORE', gone, '-inf', '(' .. string.format('%d', newest - tonumber(ARGV[1])), 'LIMIT', 0, 32)
for _, r in ipairs(stale) do
  redis.call('HDEL', ver, r)
  redis.call('ZREM', gone, r)
end
return applied
`;

const SCRIPTS = {
  join: script(JOIN_LUA), leave: script(LEAVE_LUA), rename: script(RENAME_LUA),
  members: script(MEMBERS_LUA), census: script(CENSUS_LUA), sizes: script(SIZES_LUA),
};

// ---- Keys.

export interface PresenceRoomKeys { members: string; order: string }

export function presenceKeys(room: string, prefix = DEFAULT_PREFIX): PresenceRoomKeys {
  const base = `${prefix}{${roomTag(room)}}`;
  return { members: `${base}:members`, order: `${base}:order` };
}

export interface NodeKeys {
  alive: string; rooms: string; sweep: string;
  /** sessions.ts's alive marker of the node (P node:{N}, also its channel): written there, deleted by a sweep here. */
  sessionsAlive: string;
}

export function nodeKeys(nodeId: string, prefix = DEFAULT_PREFIX): NodeKeys {
  const base = `${prefix}node:{${roomTag(nodeId)}}`;
  // Not `base` itself: sessions.ts's alive marker (and channel) is P node:{N}, with its own TTL.
  return { alive: `${base}:alive`, rooms: `${base}:rooms`, sweep: `${base}:sweep`, sessionsAlive: nodeChannel(nodeId, prefix) };
}

export function nodesKey(prefix = DEFAULT_PREFIX): string {
  return `${prefix}nodes`;
}

export interface SizesKeys { sizes: string; ver: string; gone: string }

export function sizesKeys(prefix = DEFAULT_PREFIX): SizesKeys {
  const base = `${prefix}{roomsizes}`;
  return { sizes: base, ver: `${base}:ver`, gone: `${base}:gone` };
}

/** A membership as the node's set holds it: the room's length first, so no two (room, id) pairs meet. */
export function membership(room: string, id: string): string {
  return `${room.length}:${room}${id}`;
}

export function parseMembership(entry: string): { room: string; id: string } | undefined {
  const m = /^(\d+):/.exec(entry);
  if (!m) return undefined;
  const start = m[0].length;
  const len = Number(m[1]);
  if (start + len > entry.length) return undefined;
  return { room: entry.slice(start, start + len), id: entry.slice(start + len) };
}

// ---- Payloads.

/** Checks a payload from the room's channel that begins as JSON: a presence event, or why not (an older node's LiveLine has no `kind`). */
export function parsePresence(payload: string): PresenceEvent | string {
  const o = parseObject(payload);
  if (typeof o === 'string') return o;
  if (o.kind !== 'joined' && o.kind !== 'left' && o.kind !== 'renamed') return 'kind is not joined, left or renamed';
  for (const f of ['room', 'id', 'name', 'node'] as const) {
    if (typeof o[f] !== 'string') return `${f} is not a string`;
  }
  if (typeof o.at !== 'number' || !Number.isSafeInteger(o.at)) return 'at is not a whole number';
  if (o.kind === 'left' && (typeof o.reason !== 'string' || !REASONS.has(o.reason))) return 'reason is not a leave reason';
  if (o.kind === 'renamed' && typeof o.oldName !== 'string') return 'oldName is not a string';
  if (typeof o.count !== 'number' || !Number.isSafeInteger(o.count) || o.count < 0) return 'count is not a whole number';
  return o as unknown as PresenceEvent;
}

function memberList(flat: unknown): Member[] {
  const out: Member[] = [];
  const a = flat as (string | null)[];
  for (let i = 0; i + 1 < a.length; i += 2) {
    const json = a[i + 1];
    if (json === null) continue;
    try {
      const e = JSON.parse(json) as { name: string; node: string; at: number };
      out.push({ id: a[i] as string, name: e.name, node: e.node, at: e.at });
    } catch {
      // A member entry that does not parse is not listed (nothing here writes one).
    }
  }
  return out;
}

/** Replies to the ops sent in one pipeline, for `run` to read back. */
type Sent =
  | { kind: 'join' | 'leave' | 'members'; i: number; room: string; at: number }
  | { kind: 'rename'; i: number; rooms: string[]; at: number };

interface SizeUpdate { room: string; count: number; ver: string }

const KEEP_GONE_US = 60_000_000;

export class RedisPresence {
  /** Connects like RedisLog.connect (one line RedisOpenError for a bad URL or no Redis within connectTimeoutMs). */
  static async connect(url: string, opts: PresenceOptions): Promise<RedisPresence> {
    if (typeof opts.nodeId !== 'string' || opts.nodeId === '') throw new RangeError('a node id is needed');
    const { redis, where, prefix, connectTimeoutMs, commandTimeoutMs } = openLink(url, opts, 'rxchat-presence');
    const p = new RedisPresence(redis, prefix, commandTimeoutMs, opts);
    await started(redis, where, () => p.start(connectTimeoutMs), () => p.lastError.value);
    // From here on the link is watched: when it is back the runner beats at once (Redis may be back empty).
    p.link = new LinkWatch(redis, where, p.lastError);
    return p;
  }

  /** Down and up of this connection (set once started). */
  link?: LinkWatch;
  readonly nodeId: string;
  private readonly ttlMs: number;
  private readonly deadAfterMs: number;
  private readonly roomTtlMs: number;
  private readonly claimMs: number;
  private readonly sweepBatch: number;
  private readonly sweepSteps: number;
  private readonly reconcileRooms: number;
  private readonly clock: () => number;
  private readonly node: NodeKeys;
  private readonly nodes: string;
  private readonly sizes: SizesKeys;
  /** Room → this node's members there (what beat refreshes). */
  private readonly local = new Map<string, Set<string>>();
  private beaten = false;
  private lastRoomRefresh = -Infinity;
  private reconcileCursor = '0';
  private closed = false;
  /** The connection's last error; the shared start-up (redis-link.ts) reports to it too. */
  private readonly lastError: LastError;

  private constructor(private readonly redis: Redis, private readonly prefix: string, private readonly commandTimeoutMs: number, opts: PresenceOptions) {
    this.nodeId = opts.nodeId;
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.deadAfterMs = opts.deadAfterMs ?? this.ttlMs;
    this.roomTtlMs = opts.roomTtlMs ?? 3_600_000;
    this.claimMs = opts.claimMs ?? 10_000;
    this.sweepBatch = opts.sweepBatch ?? 200;
    this.sweepSteps = opts.sweepSteps ?? 50;
    this.reconcileRooms = opts.reconcileRooms ?? 50;
    this.clock = opts.clock ?? Date.now;
    this.node = nodeKeys(this.nodeId, prefix);
    this.nodes = nodesKey(prefix);
    this.sizes = sizesKeys(prefix);
    this.lastError = new LastError(redis);
  }

  private async start(timeoutMs: number): Promise<void> {
    await startScripted(this.redis, Object.values(SCRIPTS), timeoutMs, this.lastError);
  }

  private loadScripts(): Promise<void> {
    return loadScripts(this.redis, Object.values(SCRIPTS));
  }

  // ---- The ops, one at a time.

  async join(room: string, id: string, name: string, o: { list?: boolean | number; at?: number } = {}): Promise<JoinOutcome> {
    const [out] = await this.run([{ op: 'join', room, id, name, at: o.at ?? this.clock(), list: o.list }]);
    return out as JoinOutcome;
  }

  async leave(room: string, id: string, reason: LeaveReason, o: { at?: number } = {}): Promise<LeaveOutcome> {
    const [out] = await this.run([{ op: 'leave', room, id, reason, at: o.at ?? this.clock() }]);
    return out as LeaveOutcome;
  }

  async rename(id: string, name: string, rooms: readonly string[], o: { at?: number } = {}): Promise<RenameOutcome> {
    const [out] = await this.run([{ op: 'rename', id, name, rooms, at: o.at ?? this.clock() }]);
    return out as RenameOutcome;
  }

  async members(room: string, o: { after?: string; limit: number }): Promise<MembersOutcome> {
    const [out] = await this.run([{ op: 'members', room, after: o.after, limit: o.limit }]);
    return out as MembersOutcome;
  }

  /** The `limit` biggest rooms over every node, biggest first (rooms of one size in reverse name order), and how many there are. */
  async rooms(limit: number): Promise<RoomsOutcome> {
    if (!Number.isSafeInteger(limit) || limit < 1) return fail('bad_request', `limit must be a whole number of at least 1, got ${limit}`);
    return this.guard(async () => {
      const pipe = this.redis.pipeline();
      pipe.zrevrange(this.sizes.sizes, 0, limit - 1, 'WITHSCORES');
      pipe.zcard(this.sizes.sizes);
      const [[e1, flat], [e2, total]] = await execWithin(pipe, this.commandTimeoutMs);
      if (e1 || e2) return fail('store', `store: ${messageOf(e1 ?? e2)}`);
      const a = flat as string[];
      const rooms: { room: string; count: number }[] = [];
      for (let i = 0; i + 1 < a.length; i += 2) rooms.push({ room: a[i], count: Number(a[i + 1]) });
      return { ok: true, rooms, total: Number(total) };
    });
  }

  /**
   * Runs the batch: one pipeline (each op one script; a join also records the membership in this
   * node's set, first, so a node that dies after the script is still swept clean), then one SIZES
   * script for the rooms whose count changed. Never throws; an op fails alone.
   */
  async run(ops: readonly PresenceOp[]): Promise<PresenceOutcome[]> {
    const out: (PresenceOutcome | undefined)[] = new Array(ops.length);
    if (this.closed) return ops.map(() => fail('unavailable', 'presence is closed'));
    if (this.redis.status !== 'ready') return ops.map(() => this.down());
    const pipe = this.redis.pipeline();
    const sent: Sent[] = [];
    let replies = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      const problem = opProblem(op);
      if (problem) {
        out[i] = fail('bad_request', problem);
        continue;
      }
      switch (op.op) {
        case 'join': {
          const k = presenceKeys(op.room, this.prefix);
          pipe.sadd(this.node.rooms, membership(op.room, op.id));
          pipe.pexpire(this.node.rooms, this.roomTtlMs);
          const entry = JSON.stringify({ name: op.name, node: this.nodeId, at: op.at });
          const event = JSON.stringify({ kind: 'joined', room: op.room, id: op.id, name: op.name, node: this.nodeId, at: op.at }).slice(0, -1);
          const list = op.list === true ? 0 : typeof op.list === 'number' ? op.list : -1;
          pipe.evalsha(SCRIPTS.join.sha, 2, k.members, k.order, op.id, this.nodeId, entry, roomChannel(op.room, this.prefix), event,
            String(this.roomTtlMs), String(list), String(op.max ?? 0));
          sent.push({ kind: 'join', i, room: op.room, at: replies + 2 });
          replies += 3;
          break;
        }
        case 'leave': {
          const k = presenceKeys(op.room, this.prefix);
          const head = leftHead(op.room, op.id, this.nodeId, op.at, op.reason);
          pipe.evalsha(SCRIPTS.leave.sha, 2, k.members, k.order, op.id, this.nodeId, roomChannel(op.room, this.prefix), head, String(this.roomTtlMs));
          // After the script: a node that dies in between has a membership its sweeper will find gone.
          pipe.srem(this.node.rooms, membership(op.room, op.id));
          sent.push({ kind: 'leave', i, room: op.room, at: replies });
          replies += 2;
          break;
        }
        case 'rename': {
          const rooms = [...new Set(op.rooms)];
          for (const room of rooms) {
            const head = JSON.stringify({ kind: 'renamed', room, id: op.id, name: op.name, node: this.nodeId, at: op.at }).slice(0, -1);
            pipe.evalsha(SCRIPTS.rename.sha, 1, presenceKeys(room, this.prefix).members, op.id, this.nodeId, op.name, roomChannel(room, this.prefix), head);
          }
          sent.push({ kind: 'rename', i, rooms, at: replies });
          replies += rooms.length;
          break;
        }
        case 'members': {
          const k = presenceKeys(op.room, this.prefix);
          pipe.evalsha(SCRIPTS.members.sha, 2, k.members, k.order, op.after ?? '', String(op.limit));
          sent.push({ kind: 'members', i, room: op.room, at: replies });
          replies += 1;
          break;
        }
        default: {
          const never: never = op;
          out[i] = fail('bad_request', `unknown op ${(never as { op: unknown }).op}`);
        }
      }
    }
    if (sent.length === 0) return out as PresenceOutcome[];
    let r: Reply[];
    try {
      r = await execWithin(pipe, this.commandTimeoutMs);
    } catch (e) {
      const f = this.redis.status === 'ready' ? fail('store', `store: ${messageOf(e)}`) : this.down();
      for (const s of sent) out[s.i] = f;
      return out as PresenceOutcome[];
    }
    const updates: SizeUpdate[] = [];
    let changed = false;
    let noScript = false;
    const reply = (at: number): Reply => r[at] ?? [new Error('no reply'), null];
    const failed = (e: Error): PresenceFailure => {
      if (messageOf(e).startsWith('NOSCRIPT')) noScript = true;
      // Sent just before the connection broke: it failed because Redis went away.
      if (this.redis.status !== 'ready') return fail('unavailable', `Redis went away: ${messageOf(e)}`);
      return fail('store', `store: ${messageOf(e)}`);
    };
    for (const s of sent) {
      const op = ops[s.i];
      if (s.kind === 'rename') {
        const done: string[] = [];
        let bad: PresenceFailure | undefined;
        s.rooms.forEach((room, j) => {
          const [e, res] = reply(s.at + j);
          if (e) bad ??= failed(e);
          else if ((res as [number])[0] === 1) done.push(room);
        });
        out[s.i] = bad ?? { ok: true, rooms: done };
        continue;
      }
      const [e, res] = reply(s.at);
      if (e) {
        out[s.i] = failed(e);
        continue;
      }
      if (s.kind === 'join' && op.op === 'join') {
        const [joined, count, ver, took, list] = res as [number, number, string, string | null, unknown];
        if (joined === -1) {
          out[s.i] = fail('full', `room ${op.room} has ${count} members, as many as it may have (${op.max})`);
          continue;
        }
        updates.push({ room: s.room, count, ver });
        changed ||= joined === 1;
        this.track(s.room, op.id, true);
        const o: JoinOutcome = { ok: true, count, joined: joined === 1 };
        if (took) o.tookFrom = took;
        if (op.list !== undefined && op.list !== false) o.members = memberList(list);
        out[s.i] = o;
      } else if (s.kind === 'leave' && op.op === 'leave') {
        const [left, count, ver, owner] = res as [number, number, string, string | null];
        updates.push({ room: s.room, count, ver });
        changed ||= left === 1;
        this.track(s.room, op.id, false);
        const o: LeaveOutcome = { ok: true, count, left: left === 1 };
        if (owner) o.owner = owner;
        out[s.i] = o;
      } else if (s.kind === 'members' && op.op === 'members') {
        const a = res as [number, number?, unknown?];
        if (a[0] === -1) {
          out[s.i] = fail('bad_cursor', `"${op.after}" is not (or no longer) a member of ${op.room}`);
          continue;
        }
        const members = memberList(a[2]);
        const o: MembersOutcome = { ok: true, count: a[0], members };
        if (a[1] === 1 && members.length > 0) o.next = members[members.length - 1].id;
        out[s.i] = o;
      }
    }
    if (noScript) this.loadScripts().catch((e) => this.lastError.error(e));
    // The counts are right in the rooms' own keys whatever happens here: a failed index update is
    // healed by the next change of that room, or by sweep's reconcile step.
    if (changed) await this.applySizes(updates).catch((e) => this.lastError.error(e));
    return out as PresenceOutcome[];
  }

  // ---- Liveness.

  /**
   * Says this node lives: its alive key for ttlMs, its score in the nodes index, its memberships
   * set's TTL, and (every roomTtlMs / 3) the TTL of the rooms it has members in. `swept`: another node
   * took this one for dead since the last beat and removed its members (a long pause, a partition);
   * the caller should join its local members again (with a fresh node id is safest, so a sweep still
   * running cannot remove them).
   */
  async beat(now: number): Promise<BeatOutcome> {
    if (this.closed) return fail('unavailable', 'presence is closed');
    return this.guard(async () => {
      const pipe = this.redis.pipeline();
      pipe.zscore(this.nodes, this.nodeId);
      pipe.zadd(this.nodes, now, this.nodeId);
      pipe.set(this.node.alive, JSON.stringify({ node: this.nodeId, at: now }), 'PX', this.ttlMs);
      pipe.pexpire(this.node.rooms, this.roomTtlMs);
      const refresh = now - this.lastRoomRefresh >= this.roomTtlMs / 3;
      if (refresh) {
        for (const room of this.local.keys()) {
          const k = presenceKeys(room, this.prefix);
          pipe.pexpire(k.members, this.roomTtlMs);
          pipe.pexpire(k.order, this.roomTtlMs);
        }
      }
      const r = await execWithin(pipe, this.commandTimeoutMs);
      const e = r.slice(0, 3).find(([err]) => err)?.[0];
      if (e) return fail('store', `store: ${messageOf(e)}`);
      if (refresh) this.lastRoomRefresh = now;
      const swept = this.beaten && r[0][1] === null;
      this.beaten = true;
      return { ok: true, swept };
    });
  }

  /**
   * Finds dead nodes (alive key gone, last beat older than deadAfterMs at `now`), claims each with
   * SET NX PX claimMs (one sweeper per node), and removes its memberships in steps of sweepBatch
   * (each a LEAVE script with reason node_down: HDEL, ZREM, a left event), up to sweepSteps steps per
   * node; a node cleaned to the end loses its keys and its place in the nodes index. Then checks
   * reconcileRooms rooms' counts. Never throws.
   */
  async sweep(now: number): Promise<SweepOutcome> {
    if (this.closed) return fail('unavailable', 'presence is closed');
    return this.guard(async () => {
      const stale = (await this.redis.zrangebyscore(this.nodes, '-inf', `(${now - this.deadAfterMs}`, 'LIMIT', 0, 64))
        .filter((n) => n !== this.nodeId);
      const cleaned: { node: string; removed: number; more: boolean }[] = [];
      if (stale.length > 0) {
        const check = this.redis.pipeline();
        for (const n of stale) check.exists(nodeKeys(n, this.prefix).alive);
        const alive = await execWithin(check, this.commandTimeoutMs);
        const dead = stale.filter((_, i) => alive[i][0] === null && alive[i][1] === 0);
        if (dead.length > 0) {
          const claim = this.redis.pipeline();
          for (const n of dead) {
            claim.set(nodeKeys(n, this.prefix).sweep, this.nodeId, 'PX', this.claimMs, 'NX');
            claim.get(nodeKeys(n, this.prefix).sweep);
          }
          const claims = await execWithin(claim, this.commandTimeoutMs);
          for (let i = 0; i < dead.length; i++) {
            // Ours if SET NX took it, or if an earlier sweep of ours holds it (it stopped at its step bound).
            if (claims[2 * i + 1][1] !== this.nodeId) continue;
            const { removed, more } = await this.clean(dead[i], 'node_down', now);
            cleaned.push({ node: dead[i], removed, more });
          }
        }
      }
      const reconciled = await this.reconcile();
      return { ok: true, nodes: cleaned, reconciled };
    });
  }

  /** A clean stop: every member of this node leaves (reason `shutdown` by default), and its keys go. */
  async leaveAll(reason: LeaveReason = 'shutdown', now = this.clock()): Promise<LeaveAllOutcome> {
    if (this.closed) return fail('unavailable', 'presence is closed');
    return this.guard(async () => {
      const r = await this.clean(this.nodeId, reason, now);
      this.local.clear();
      this.beaten = false;
      return { ok: true, ...r };
    });
  }

  /** leaveAll (best effort), then quits the connection. Later ops fail with `unavailable`. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.redis.status === 'ready') await this.leaveAll();
    this.closed = true;
    await quitLink(this.redis);
  }

  /** Drops the connection without leaving (specs: a node that dies). */
  kill(): void {
    this.closed = true;
    this.redis.disconnect();
  }

  // ---- Inside.

  /**
   * Removes `node`'s memberships, sweepBatch at a time, at most sweepSteps times: reads some (SRANDMEMBER,
   * so a sweeper that dies midway loses nothing), runs their LEAVE scripts as `node`, then drops them
   * from the set. When the set is empty the node's keys go.
   */
  private async clean(node: string, reason: LeaveReason, at: number): Promise<{ removed: number; more: boolean }> {
    const keys = nodeKeys(node, this.prefix);
    let removed = 0;
    for (let step = 0; step < this.sweepSteps; step++) {
      const batch = (await this.redis.srandmember(keys.rooms, this.sweepBatch)) as string[];
      if (batch.length === 0) {
        const pipe = this.redis.pipeline();
        pipe.del(keys.alive, keys.rooms);
        pipe.zrem(this.nodes, node);
        // A dead node's: sessions.ts's alive marker goes with presence's (whereIs stops naming it now, not
        // when its longer TTL runs out). A node's own clean stop leaves it to that TTL: its sessions still beat.
        if (node !== this.nodeId) pipe.del(keys.sweep, keys.sessionsAlive);
        await execWithin(pipe, this.commandTimeoutMs);
        return { removed, more: false };
      }
      const pipe = this.redis.pipeline();
      const rooms: string[] = [];
      for (const entry of batch) {
        const m = parseMembership(entry);
        if (!m) continue;
        const k = presenceKeys(m.room, this.prefix);
        pipe.evalsha(SCRIPTS.leave.sha, 2, k.members, k.order, m.id, node, roomChannel(m.room, this.prefix),
          leftHead(m.room, m.id, node, at, reason), String(this.roomTtlMs));
        rooms.push(m.room);
      }
      const r = await execWithin(pipe, this.commandTimeoutMs);
      const updates: SizeUpdate[] = [];
      const done: string[] = [];
      let j = 0;
      for (const entry of batch) {
        if (!parseMembership(entry)) {
          done.push(entry);
          continue;
        }
        const [e, res] = r[j] ?? [new Error('no reply'), null];
        const room = rooms[j];
        j += 1;
        if (e) {
          // Redis away, or its scripts gone: stop here, and the next sweep goes on. Anything else (a key of
          // the wrong type) cannot hold a member: the entry is dropped rather than block the node forever.
          if (this.redis.status !== 'ready' || messageOf(e).startsWith('NOSCRIPT')) throw e;
          done.push(entry);
          continue;
        }
        const [left, count, ver] = res as [number, number, string];
        if (left === 1) removed += 1;
        updates.push({ room, count, ver });
        done.push(entry);
      }
      await this.applySizes(updates);
      if (done.length > 0) await this.redis.srem(keys.rooms, ...done);
    }
    return { removed, more: true };
  }

  /** One step of healing the rooms index: the next reconcileRooms rooms of it, counted again. */
  private async reconcile(): Promise<number> {
    if (this.reconcileRooms < 1) return 0;
    const [cursor, flat] = await this.redis.zscan(this.sizes.sizes, this.reconcileCursor, 'COUNT', this.reconcileRooms);
    this.reconcileCursor = cursor;
    const rooms: string[] = [];
    for (let i = 0; i < flat.length; i += 2) rooms.push(flat[i]);
    if (rooms.length === 0) return 0;
    const pipe = this.redis.pipeline();
    for (const room of rooms) pipe.evalsha(SCRIPTS.census.sha, 1, presenceKeys(room, this.prefix).members);
    const r = await execWithin(pipe, this.commandTimeoutMs);
    const updates: SizeUpdate[] = [];
    rooms.forEach((room, i) => {
      const [e, res] = r[i];
      if (!e) updates.push({ room, count: (res as [number, string])[0], ver: (res as [number, string])[1] });
    });
    await this.applySizes(updates);
    return updates.length;
  }

  private async applySizes(updates: readonly SizeUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const args: string[] = [String(KEEP_GONE_US)];
    for (const u of updates) args.push(u.room, String(u.count), String(u.ver));
    await this.redis.evalsha(SCRIPTS.sizes.sha, 3, this.sizes.sizes, this.sizes.ver, this.sizes.gone, ...args);
  }

  private track(room: string, id: string, here: boolean): void {
    let ids = this.local.get(room);
    if (here) {
      if (!ids) this.local.set(room, (ids = new Set()));
      ids.add(id);
    } else if (ids) {
      ids.delete(id);
      if (ids.size === 0) this.local.delete(room);
    }
  }

  /** Runs `body`, turning any rejection into a failure outcome. */
  private async guard<T>(body: () => Promise<T>): Promise<T | PresenceFailure> {
    if (this.redis.status !== 'ready') return this.down();
    try {
      return await body();
    } catch (e) {
      if (messageOf(e).startsWith('NOSCRIPT')) this.loadScripts().catch((x) => this.lastError.error(x));
      return this.redis.status === 'ready' ? fail('store', `store: ${messageOf(e)}`) : this.down();
    }
  }

  private down(): PresenceFailure {
    return fail('unavailable', this.lastError.notConnected());
  }
}

function fail(code: PresenceFailure['code'], reason: string): PresenceFailure {
  return { ok: false, code, reason };
}

/** The left event without its name (the script adds it from the member's entry) and closing brace. */
function leftHead(room: string, id: string, node: string, at: number, reason: LeaveReason): string {
  return JSON.stringify({ kind: 'left', room, id, node, at, reason }).slice(0, -1);
}

function opProblem(op: PresenceOp): string | undefined {
  const o = op as Record<string, unknown>;
  const str = (f: string) => (typeof o[f] !== 'string' ? `bad ${String(o.op)}: ${f} must be a string` : undefined);
  switch (op.op) {
    case 'join':
      return str('room') ?? str('id') ?? str('name') ?? (Number.isSafeInteger(op.at) ? undefined : 'bad join: at must be a whole number')
        ?? (op.list === undefined || typeof op.list === 'boolean' || (Number.isSafeInteger(op.list) && op.list >= 1)
          ? undefined : 'bad join: list must be true, false or a whole number of at least 1')
        ?? (op.max === undefined || (Number.isSafeInteger(op.max) && op.max >= 0) ? undefined : 'bad join: max must be a whole number');
    case 'leave':
      return str('room') ?? str('id') ?? (REASONS.has(op.reason) ? undefined : `bad leave: unknown reason ${String(op.reason)}`)
        ?? (Number.isSafeInteger(op.at) ? undefined : 'bad leave: at must be a whole number');
    case 'rename':
      return str('id') ?? str('name') ?? (Array.isArray(op.rooms) && op.rooms.every((r) => typeof r === 'string')
        ? undefined : 'bad rename: rooms must be strings') ?? (Number.isSafeInteger(op.at) ? undefined : 'bad rename: at must be a whole number');
    case 'members':
      return str('room') ?? (op.after === undefined || typeof op.after === 'string' ? undefined : 'bad members: after must be a string')
        ?? (Number.isSafeInteger(op.limit) && op.limit >= 1 ? undefined : 'bad members: limit must be a whole number of at least 1');
    default:
      return `unknown op ${String(o.op)}`;
  }
}
