// Identities across nodes (issue 8 item 4): where each identity is live, the
// identities parked for a resume, and Direct messages to an identity on another
// node or away. What src/core/reducer.ts keeps in `away` (and its clients' secrets) for one
// process, kept in Redis for all of them, so a client resumes on any node, a
// Direct reaches a connection on any node, and a Key's record (what a repeat is
// acked with) follows the identity.
//
// This is an edge module: the hub calls it through effects and hears its
// outcomes as events; the reducer never sees Redis. Every op returns an outcome
// and never throws or rejects (`{ ok: false, code: 'unavailable', reason }` when
// Redis fails or is away: the offline queue is off, nothing is resent, and each
// command times out, as in src/store/redis.ts; `bad_request`, without asking
// Redis, for input past its bounds).
//
// THE INTERFACE (the node is `nodeId`, given at connect):
//   claim(id, token, record)  a connection holds identity `id` with resume token `token` (new or resumed):
//                             live here. Calling it again replaces the record (name, rooms, Keys) kept for
//                             the case this node dies, but unconditionally: use update() for that.
//   update(id, token, record) the record of a live identity, replaced only if `token` is still its own (a
//                             takeover elsewhere is not undone): after a join, leave, rename or keyed Direct.
//   park(token, record, ttl)  its connection ended: kept for resuming for `ttl` ms (≤ resumeWindowMs), under
//                             its token, with Directs to it kept meanwhile. Refused ('superseded') when the
//                             token is no longer the identity's (another node took it over).
//   release(id)               its connection ended and it is not kept (no resume window): forgotten. (A
//                             shutdown parks: Redis outlives the node, and its clients resume on another.)
//   take(token)               a resume: atomically gets and deletes the identity the token names, with the
//                             Directs kept for it (oldest first). Works once, across all nodes. A token whose
//                             identity is still live (half-open socket) is taken all the same: the outcome
//                             says `liveOn: node`, and when that node is not this one, the script has
//                             already published a `cut` on that node's channel (the hub there ends the old
//                             socket, whose later park is refused as superseded). Then call claim().
//   send(to, messageJson, mode)
//                             a Direct. `to` a user (mode 'any' or 'user'; auth on) held by other nodes →
//                             PUBLISH on each of their channels, marked `user` (`delivered: 'user'`, with
//                             how many nodes heard it; never this node, whose hub delivers to its own
//                             connections of the user); mode 'user' stops there, 0 nodes included.
//                             Otherwise (mode 'any' or 'id'), an identity: live on node N → PUBLISH on N's
//                             channel (`delivered: 'live'`; the sender's own node gets it there too); away →
//                             kept in its mailbox (`delivered: 'kept'`); else `no_such_client`, or
//                             `mailbox_full`.
//   holdUser(sub)             with auth on: the user's first connection is here: this node is listed under
//                             the user (kept listed by beat() while it holds the user).
//   dropUser(sub)             its last connection here is gone: this node is no longer listed.
//   whereIs(ids)              the node each identity is live on, or undefined (away, unknown, or its node
//                             stopped beating, or was swept dead by presence).
//   beat()                    every liveTtlMs / 3 or so: this node is alive, and the identities it holds stay.
//                             It also puts back what this node is the source of and Redis lacks (below).
//   close()
// The node's bus subscribes to `nodeChannel(nodeId, prefix)` besides its rooms
// and hands each payload to `parseNodeMessage`: `direct` (send its `message` to
// the local connection of `to`, or with `user: true` to each local connection of
// user `to`) or `cut` (end the local connection of `id` if it
// still holds `token`: it was resumed elsewhere; a connection that resumed again
// since, with a newer token, is not the one meant).
//
// WHAT A NODE PUTS BACK. Redis may lose what a node wrote (a restart without
// persistence, a failover) or miss it (an op refused while the link was down).
// The node is the source of two things, which it keeps and writes again:
//   - the identities live on it (ID, token, last record): when Redis lost its
//     data (`sesslife` changed), a beat whose PEXPIRE finds an identity's sess
//     gone claims it again (with `sesslife` unchanged, a sess gone was taken by
//     a resume elsewhere, and this node is about to hear the cut); and the first
//     beat after a claim or update that failed for want of Redis writes it;
//   - the users it holds connections of (auth on): each beat that refreshes the
//     identities due a refresh writes this node's entry under each user due one
//     (refreshMs) again, with the time, and an emptied Redis gets them all back;
//     a hold or drop that failed is done again by the next beat;
//   - the identities whose park failed for want of Redis (`unparked`): kept for
//     their resume window, at most maxUnparked of them and maxUnparkedBytes of
//     records (the oldest dropped first), and parked by each beat until it works.
// Both go through RESTORE_LUA, which writes the identity only if Redis has none
// or has it under the same token: a takeover elsewhere is never undone. The
// node's `link` (a LinkWatch) says when the connection is back; the session
// runner beats then, so this happens at once, not at the next beat. What only
// Redis held is not put back: identities parked before it lost them (their
// resume is resume_failed) and the Directs kept for away identities.
//
// THE KEYS (P is the prefix, default `rxchat:`; `{…}` are Redis Cluster hash
// tags, so an identity's two keys are on one shard and every script but the
// mailbox accounting (below) stays in one slot):
//   P sess:{ID}      hash    token, node ('' when parked), rec (JSON IdentityRecord), mbytes (mailbox
//                            bytes), b:<bucket> (bytes it put in a global bucket)
//                            TTL live: 2 × liveTtlMs + resumeWindowMs + refreshMs, refreshed by the first beat
//                            at least refreshMs after the last refresh, so the identities of a node that
//                            died stay resumable for at least a resume window after its last beat;
//                            TTL parked: the park's ttl.
//   P mail:{ID}      list    the Directs kept for a parked identity, JSON, oldest first; TTL: its sess's
//                            remaining TTL (set at each push). Never exists while live.
//   P tok:{TOKEN}    string  the identity ID a token names; same TTL as the sess. An index only: a take is
//                            decided by the sess's `token` field, so a stale tok key buys nothing.
//   P node:{NODE}    string  alive marker (the time of its last beat); TTL liveTtlMs, set by beat(); deleted
//                            by presence's sweep of the node once it is dead (src/cluster/presence.ts), so
//                            whereIs stops naming a dead node then (about 20 s), not when this TTL runs out.
//   P mailbytes:<n>  string  bytes pushed into any mailbox during bucket n (n = floor(ms / resumeWindowMs)),
//                            less what take() gave back; TTL 2 × resumeWindowMs + 1 min.
//   P sesslife       string  a random value, set (NX) by the first beat that finds none: the life of Redis's
//                            data. A node that sees it change knows Redis lost what it held (restarted
//                            empty), not that an identity was taken. TTL 2 × (liveTtlMs + resumeWindowMs),
//                            refreshed by beat().
//   P user:{SUB}     hash    with auth on, the nodes holding connections of user SUB (a token's sub): node →
//                            the time (ms) it last wrote its entry. Written by holdUser and by the beat that
//                            refreshes the user (each refreshMs), deleted field by field by dropUser; TTL as
//                            a live sess (2 × liveTtlMs + resumeWindowMs + refreshMs), set at each write. Its
//                            tag is the sub's, as a sess's is its ID's: a Direct's script finds the user and
//                            the identity named by one `To` in one slot. A send drops an entry not written
//                            for userStaleMs (2 × refreshMs + liveTtlMs: its node died, or lost Redis that
//                            long) without publishing to it; a node that is only slow to hear keeps it.
// Channel: P node:{NODE} — the same name as the alive key (a channel is not a key).
//
// BOUNDS. A Direct to a user is published to at most maxUserNodes (100) nodes
// listed under it (other than the sender's). A record keeps at most maxKeys (256) Keys, the newest, and only settled
// ones (a Key still being written is not parked: a repeat of a Broadcast is
// caught by the log's key hash, docs/storage.md), and at most maxRecordBytes of
// JSON. A mailbox holds at most maxDirects (100) messages and maxMailBytes per
// identity (the JSON bytes stored). All mailboxes together: a message lives at
// most resumeWindowMs after its push (a mailbox never outlives its park), so
// every byte still held was pushed in the current bucket or the one before; the
// send script refuses when those two buckets sum past maxMailBytesAll (64 MiB by
// default, as on one node). It over-counts (bytes of mailboxes that expired
// unread stay counted until their bucket ages out), never under-counts, up to
// the clock skew between nodes. On a Redis Cluster the bucket keys are the one
// thing a script touches outside the identity's slot: there, give each node a
// share of the budget instead (a local counter), or put the buckets under the
// identity's tag and lose the global sum.
//
// FOR THE HUB (the reducer integration; wired: src/core/reducer.ts in cluster
// mode, src/cluster/session-runner.ts, docs/scaling.md "Identities across
// nodes"): `away` and the tokens become effects
// (claim on a welcome, park or release on a disconnect, take on `?resume=`,
// send for a Direct whose `To` is not a local client) and events with the
// outcomes; a Direct's Ack waits for send's outcome (live or kept: Ack; else
// its code as the Error, `unavailable` included), and the Key is recorded as
// `{ msgId, to }` only then. The identity's Keys travel in the record, so a
// repeat after a resume on another node is acked with the original MsgID. A
// resume answers `resume_failed` unless take finds the identity; with
// `liveOn` equal to this node, the hub cuts its own old socket as today.
// Pending Keys are not parked: a Direct whose send is still out when its
// sender's connection ends is not remembered (a Broadcast's is, by the log).
// With auth on, holdUser and dropUser follow the hub's index of users to its
// connections (its first and last connection of a user); a Direct to a user
// with connections here is delivered and acked by the hub, then sent on with
// mode 'user'; one to a user not here is a client's send (mode 'any'), whose
// 'user' outcome the runner hands the hub as `live`.
//
// COSTS. send: one round trip, one script (an HGETALL of the user's nodes first, an empty key without auth);
// holdUser, dropUser: one round trip, once per user per node as its first connection comes or its last
// goes; a held user: 2 commands per refreshMs in the beat's pipeline. take: two (GET the tok key, then the
// script; a late UNLINK of the tok key is not waited for). claim, update, park, release:
// one. beat: one pipeline of 4 commands, and 2 PEXPIREs per local identity due a refresh: each identity
// once per refreshMs (default 100 s), not once per beat (10 s); after Redis came back empty, 2 for every one.
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { LastError, LinkWatch, quitLink, openLink, parseObject, started, Script, script, startScripted } from '../store/redis-link';
import { Limits, Message, TOKEN_PATTERN } from '../core/protocol';
import { DEFAULT_RESUME_WINDOW_MS } from '../core/reducer';
import type { IdentityRecord, SettledKey } from '../core/events';
import { DEFAULT_PREFIX, RedisOpenError } from '../store/redis';

// What a Key became once settled, and an identity as parked or claimed (what a resume on any node gives
// back; its Keys at most maxKeys, the newest kept): defined with the hub's events, which carry them.
export type { IdentityRecord, SettledKey };

/** Redis failed or is away: nothing was done (or, for a command whose answer was lost, perhaps it was). */
export interface Unavailable {
  ok: false;
  code: 'unavailable';
  reason: string;
}

/** The caller's input cannot be kept (a record over its bounds, a malformed token, a message not JSON): a bug upstream, not Redis. */
export interface BadRequest {
  ok: false;
  code: 'bad_request';
  reason: string;
}

export type Done = { ok: true } | Unavailable | BadRequest;

export type ParkOutcome =
  | { ok: true; parked: true }
  /** superseded: the identity has another token now (taken over); gone: Redis has no such identity (expired, taken). */
  | { ok: true; parked: false; why: 'superseded' | 'gone' }
  | Unavailable
  | BadRequest;

export type ReleaseOutcome = { ok: true; released: boolean } | Unavailable;

export type TakeOutcome =
  /** malformed: refused without asking Redis; unknown: no identity has that token (used, expired, forged). */
  | { ok: true; found: false; why: 'malformed' | 'unknown' }
  | {
    ok: true;
    found: true;
    record: IdentityRecord;
    /** Kept for it while away, oldest first. */
    directs: Message[];
    /** The node it was still live on (a takeover): this one, or one that has been sent a cut. */
    liveOn?: string;
  }
  | Unavailable;

export type SendOutcome =
  | { ok: true; delivered: 'live'; node: string }
  /** To a user: published to `nodes` nodes holding it that had a listener (mode 'user': 0 too). */
  | { ok: true; delivered: 'user'; nodes: number }
  | { ok: true; delivered: 'kept'; waiting: number }
  | { ok: false; code: 'no_such_client' | 'mailbox_full'; reason: string }
  | Unavailable
  | BadRequest;

/** A beat: `reclaimed` live identities and `parked` ones (whose park had failed) written back to Redis. */
export type BeatOutcome = { ok: true; reclaimed: number; parked: number } | Unavailable;

export type WhereOutcome = { ok: true; nodes: (string | undefined)[] } | Unavailable;

/**
 * Which `To` a send looks for: a user first, then an identity ('any', a client's Direct); only a user ('user',
 * the rest of a Direct this node delivered to its own connections of the user); only an identity ('id', a
 * Direct handed back).
 */
export type SendMode = 'any' | 'user' | 'id';

/** What comes on a node's channel. */
export type NodeMessage =
  | { kind: 'direct'; to: string; message: Message; user?: true }
  /** End the local connection of `id` if it still holds `token`: node `by` took the identity over. */
  | { kind: 'cut'; id: string; token: string; by: string };

export interface SessionsOptions {
  /** This process's name in keys and channels: 1 to 64 of `A-Z a-z 0-9 _ . : -`. */
  nodeId: string;
  /** Put before every key and channel; default `rxchat:`. No `{` or `}`. */
  prefix?: string;
  /** A node that has not beaten for this long is dead: whereIs stops naming it (ms). Default 30000. */
  liveTtlMs?: number;
  /** The longest a park keeps an identity (--resume-window), and the width of the mailbox budget's buckets (ms). Default 5 min. */
  resumeWindowMs?: number;
  /**
   * How often a live identity's TTL is refreshed (ms): a beat refreshes only the identities whose last
   * refresh is this old, so Redis sees 2 commands per identity per refreshMs, not per beat (at a million
   * connections, 20k commands/s instead of 200k). Default max(liveTtlMs, resumeWindowMs / 3).
   */
  refreshMs?: number;
  /** Directs kept per away identity. Default Limits.maxAwayDirects (100). */
  maxDirects?: number;
  /** Bytes (of stored JSON) kept per away identity. Default 1 MiB. */
  maxMailBytes?: number;
  /** Bytes kept for all away identities together, cluster-wide. Default Limits.maxAwayBytes (64 MiB). */
  maxMailBytesAll?: number;
  /** Keys kept per record, the newest. Default Limits.maxKeysRemembered (256). */
  maxKeys?: number;
  /** A record whose JSON is longer than this is refused. Default 128 KiB. */
  maxRecordBytes?: number;
  /** A Direct whose JSON is longer than this is refused. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Nodes a Direct to a user is published to at most. Default 100. */
  maxUserNodes?: number;
  /** Identities whose park failed for want of Redis, kept to park again when it is back. Default 10000. */
  maxUnparked?: number;
  /** Bytes of records (JSON) of those, together. Default 16 MiB. */
  maxUnparkedBytes?: number;
  /** How long `connect` keeps trying to reach Redis (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** How long one op waits for Redis's answer (ms). Default 5000. */
  commandTimeoutMs?: number;
  /** The clock for mailbox buckets; injectable for specs. */
  now?: () => number;
}

export const NODE_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The channel node `node` listens on for Directs and cuts (and the name of its alive key). */
export function nodeChannel(node: string, prefix = DEFAULT_PREFIX): string {
  return `${prefix}node:{${node}}`;
}

/** An ID or token as it goes inside a hash tag (as roomTag: `%`, `{`, `}` encoded; empty is `%`). */
function tag(s: string): string {
  if (s === '') return '%';
  return s.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface SessionKeys {
  sess: string;
  mail: string;
}

export function sessionKeys(id: string, prefix = DEFAULT_PREFIX): SessionKeys {
  const t = tag(id);
  return { sess: `${prefix}sess:{${t}}`, mail: `${prefix}mail:{${t}}` };
}

export function tokenKey(token: string, prefix = DEFAULT_PREFIX): string {
  return `${prefix}tok:{${tag(token)}}`;
}

/** The nodes holding connections of user `sub` (auth on): in the slot of the identity whose ID is `sub`. */
export function userKey(sub: string, prefix = DEFAULT_PREFIX): string {
  return `${prefix}user:{${tag(sub)}}`;
}

export function lifeKey(prefix = DEFAULT_PREFIX): string {
  return `${prefix}sesslife`;
}

export function mailBucketKey(bucket: number, prefix = DEFAULT_PREFIX): string {
  return `${prefix}mailbytes:${bucket}`;
}

/** Checks a node channel's payload: another process's words are input like any other. */
export function parseNodeMessage(payload: string): NodeMessage | string {
  const o = parseObject(payload);
  if (typeof o === 'string') return o;
  if (o.kind === 'direct') {
    if (typeof o.to !== 'string') return 'to is not a string';
    const m = o.message as Record<string, unknown> | null;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'message is not an object';
    if (typeof m.ID !== 'string' || typeof m.Content !== 'string' || typeof m.SentAt !== 'number' || typeof m.Type !== 'number') {
      return 'message lacks ID, Content, SentAt or Type';
    }
    if (o.user !== undefined && o.user !== true) return 'user is not true';
    return o.user === true ? { kind: 'direct', to: o.to, message: m as Message, user: true } : { kind: 'direct', to: o.to, message: m as Message };
  }
  if (o.kind === 'cut') {
    if (typeof o.id !== 'string' || typeof o.token !== 'string' || typeof o.by !== 'string') return 'id, token or by is not a string';
    return { kind: 'cut', id: o.id, token: o.token, by: o.by };
  }
  return `unknown kind ${JSON.stringify(o.kind)}`;
}

// ---------------------------------------------------------------------------
// The scripts. Each runs atomically: no other command runs between its steps.
// Integers go out through string.format('%d') (Lua 5.1 numbers are doubles).

/** KEYS sess, mail. ARGV token, node, rec, ttl. A fresh live identity (or a new record for it). */
const CLAIM_LUA = `
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'node', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/**
 * KEYS sess, mail. ARGV token, rec, ttl. Parks the identity if the token is
 * still its own: 1 parked, 0 superseded, -1 gone.
 */
const PARK_LUA = `
local t = redis.call('HGET', KEYS[1], 'token')
if not t then return -1 end
if t ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'node', '', 'rec', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
`;

/**
 * KEYS sess, mail. ARGV token, node ('' parked), rec, ttl. Writes back an
 * identity this node is the source of (live here, or parked by a park that
 * failed), unless Redis has it under another token (a takeover): 0 superseded,
 * 1 written over its own token, 2 created (Redis had lost it).
 */
const RESTORE_LUA = `
local t = redis.call('HGET', KEYS[1], 'token')
if t and t ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'node', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
if t then return 1 end
return 2
`;

/** KEYS sess. ARGV token, rec. Replaces the record if the token is still the identity's: 1 or 0. */
const UPDATE_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'rec', ARGV[2])
return 1
`;

/** KEYS sess, mail. ARGV token. Forgets the identity if the token is still its own: 1 or 0. */
const RELEASE_LUA = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`;

/**
 * KEYS sess, mail, bucket current, bucket previous.
 * ARGV token, taker node, current bucket n, previous bucket n, channel prefix, cut payload.
 * Gets and deletes the identity if the token is its own: {0} or {1, node, rec, directs}.
 * Gives back to the global buckets the bytes its mailbox took in them. A live
 * identity on another node: that node is sent a cut.
 */
const TAKE_LUA = `
local t = redis.call('HGET', KEYS[1], 'token')
if not t or t ~= ARGV[1] then return {0} end
local f = redis.call('HMGET', KEYS[1], 'node', 'rec', 'b:' .. ARGV[3], 'b:' .. ARGV[4])
local node, rec = f[1] or '', f[2] or ''
local directs = redis.call('LRANGE', KEYS[2], 0, -1)
for i = 3, 4 do
  local b = tonumber(f[i])
  local key = KEYS[i]
  if b and b > 0 and redis.call('EXISTS', key) == 1 then
    if tonumber(redis.call('DECRBY', key, b)) < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
if node ~= '' and node ~= ARGV[2] then
  redis.pcall('PUBLISH', ARGV[5] .. node .. '}', ARGV[6])
end
return {1, node, rec, directs}
`;

/**
 * KEYS sess, mail, bucket current, bucket previous, user.
 * ARGV envelope head, message, channel prefix, max directs, max bytes per identity, max bytes all,
 *      current bucket n, bucket ttl, mode ('any' | 'user' | 'id'), user envelope head, this node,
 *      max nodes, now (ms), stale after (ms).
 * {'none'} | {'user', nodes} | {'live', node} | {'gone', node} | {'full', why} | {'kept', waiting}
 * A user first (not 'id'): each node listed under it but this one, up to max nodes, is published to, and
 * counted if it had a listener; an entry not written since `stale after` is dropped instead. Found on none:
 * 'user' stops there ({'user', 0}), 'any' goes on to the identity.
 */
const SEND_LUA = `
local msg = ARGV[2]
if ARGV[9] ~= 'id' then
  local nodes = redis.call('HGETALL', KEYS[5])
  local reached, tried = 0, 0
  for i = 1, #nodes, 2 do
    local n = nodes[i]
    if n ~= ARGV[11] then
      if tonumber(ARGV[13]) - (tonumber(nodes[i + 1]) or 0) > tonumber(ARGV[14]) then
        redis.call('HDEL', KEYS[5], n)
      elseif tried < tonumber(ARGV[12]) then
        tried = tried + 1
        if redis.call('PUBLISH', ARGV[3] .. n .. '}', ARGV[10] .. msg .. '}') > 0 then reached = reached + 1 end
      end
    end
  end
  if reached > 0 or ARGV[9] == 'user' then return {'user', reached} end
end
local f = redis.call('HMGET', KEYS[1], 'token', 'node', 'mbytes')
if not f[1] then return {'none'} end
local node = f[2] or ''
if node ~= '' then
  local n = redis.call('PUBLISH', ARGV[3] .. node .. '}', ARGV[1] .. msg .. '}')
  if n > 0 then return {'live', node} end
  return {'gone', node}
end
local size = #msg
local waiting = redis.call('LLEN', KEYS[2])
if waiting >= tonumber(ARGV[4]) then return {'full', 'count'} end
if (tonumber(f[3]) or 0) + size > tonumber(ARGV[5]) then return {'full', 'bytes'} end
local all = (tonumber(redis.call('GET', KEYS[3])) or 0) + (tonumber(redis.call('GET', KEYS[4])) or 0)
if all + size > tonumber(ARGV[6]) then return {'full', 'all'} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return {'none'} end
redis.call('RPUSH', KEYS[2], msg)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('HINCRBY', KEYS[1], 'mbytes', size)
redis.call('HINCRBY', KEYS[1], 'b:' .. ARGV[7], size)
redis.call('INCRBY', KEYS[3], size)
if redis.call('PTTL', KEYS[3]) < 0 then redis.call('PEXPIRE', KEYS[3], ARGV[8]) end
return {'kept', waiting + 1}
`;

const SCRIPTS = {
  claim: script(CLAIM_LUA), update: script(UPDATE_LUA), park: script(PARK_LUA), release: script(RELEASE_LUA), take: script(TAKE_LUA), send: script(SEND_LUA),
  restore: script(RESTORE_LUA),
};

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Why a record cannot be kept, or undefined; and the record as kept (settled Keys only, the newest maxKeys). */
function boundRecord(r: IdentityRecord, maxKeys: number, maxBytes: number): { json: string } | { problem: string } {
  if (r === null || typeof r !== 'object') return { problem: 'not an object' };
  if (typeof r.id !== 'string' || r.id.length === 0 || r.id.length > 128) return { problem: 'id must be 1 to 128 characters' };
  if (typeof r.name !== 'string' || r.name.length > 256) return { problem: 'name must be a string of at most 256 characters' };
  if (!Array.isArray(r.rooms) || r.rooms.length > Limits.maxRoomsPerConnection || r.rooms.some((x) => typeof x !== 'string')) {
    return { problem: `rooms must be at most ${Limits.maxRoomsPerConnection} strings` };
  }
  if (!Array.isArray(r.keys)) return { problem: 'keys must be an array' };
  const settled = r.keys.filter((e) => Array.isArray(e) && typeof e[0] === 'string' && e[1] && typeof e[1] === 'object'
    && !('pending' in e[1]) && typeof e[1].msgId === 'string');
  const keys = settled.slice(Math.max(0, settled.length - maxKeys));
  const json = JSON.stringify({ id: r.id, name: r.name, rooms: r.rooms, keys, ...(typeof r.user === 'string' ? { user: r.user } : {}) });
  if (Buffer.byteLength(json) > maxBytes) return { problem: `the record is over ${maxBytes} bytes` };
  return { json };
}

function parseRecord(json: string): IdentityRecord | undefined {
  try {
    const r = JSON.parse(json) as IdentityRecord;
    if (typeof r.id === 'string' && typeof r.name === 'string' && Array.isArray(r.rooms) && Array.isArray(r.keys) && (r.user === undefined || typeof r.user === 'string')) return r;
  } catch {
    // below
  }
  return undefined;
}

export class RedisSessions {
  /**
   * Connects to Redis at `url`, loads the scripts and beats once. Rejects with a
   * RedisOpenError of one line for a bad URL or no answer within
   * connectTimeoutMs, and a RangeError for a bad nodeId or prefix.
   */
  static async connect(url: string, opts: SessionsOptions): Promise<RedisSessions> {
    if (!NODE_PATTERN.test(opts.nodeId ?? '')) {
      throw new RangeError(`a node ID is 1 to 64 of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(opts.nodeId)}`);
    }
    const { redis, where, prefix, connectTimeoutMs } = openLink(url, opts, 'rxchat-sessions');
    const s = new RedisSessions(redis, prefix, opts);
    await started(redis, where, () => s.start(connectTimeoutMs), () => s.lastError.value);
    const beat = await s.beat();
    if (!beat.ok) {
      redis.disconnect();
      throw new RedisOpenError(`cannot use Redis at ${where}: ${beat.reason}`);
    }
    // From here on the link is watched: when it is back, what Redis lacks is put back (the runner beats).
    s.link = new LinkWatch(redis, where, s.lastError);
    return s;
  }

  readonly nodeId: string;
  readonly prefix: string;
  private readonly liveTtlMs: number;
  private readonly refreshMs: number;
  private readonly windowMs: number;
  private readonly maxDirects: number;
  private readonly maxMailBytes: number;
  private readonly maxMailBytesAll: number;
  private readonly maxKeys: number;
  private readonly maxRecordBytes: number;
  private readonly maxMessageBytes: number;
  private readonly maxUserNodes: number;
  private readonly now: () => number;
  private readonly commandTimeoutMs: number;
  private readonly channelHead: string;
  /** The identities live here: ID → token and record (JSON, as bounded), what beat() keeps alive and puts back. */
  private readonly local = new Map<string, { token: string; json: string; refreshed: number }>();
  /** Live identities whose last claim or update failed for want of Redis: the next beat writes them. */
  private readonly unsent = new Set<string>();
  /**
   * Users (subs) with connections here, and when this node's entry under each was last written (0: its
   * write failed, or is due again): beat() writes those due a refresh.
   */
  private readonly users = new Map<string, { refreshed: number }>();
  /** Users whose drop failed for want of Redis: the next beat drops them unless held again. */
  private readonly undropped = new Set<string>();
  /** Identities whose park failed for want of Redis, oldest first: each beat parks them until it works or `until`. */
  private readonly unparked = new Map<string, { token: string; json: string; until: number }>();
  private unparkedBytes = 0;
  private readonly maxUnparked: number;
  private readonly maxUnparkedBytes: number;
  /** The value of `sesslife` this node last saw. */
  private life?: string;
  /** Down and up of this connection (set once started): the runner beats when it is back. */
  link?: LinkWatch;
  /** The connection's last error; the shared start-up (redis-link.ts) reports to it too. */
  private readonly lastError: LastError;
  private closed = false;

  private constructor(private readonly redis: Redis, prefix: string, opts: SessionsOptions) {
    this.nodeId = opts.nodeId;
    this.prefix = prefix;
    this.liveTtlMs = opts.liveTtlMs ?? 30_000;
    this.windowMs = opts.resumeWindowMs ?? DEFAULT_RESUME_WINDOW_MS;
    this.refreshMs = opts.refreshMs ?? Math.max(this.liveTtlMs, Math.round(this.windowMs / 3));
    this.maxDirects = opts.maxDirects ?? Limits.maxAwayDirects;
    this.maxMailBytes = opts.maxMailBytes ?? 1024 * 1024;
    this.maxMailBytesAll = opts.maxMailBytesAll ?? Limits.maxAwayBytes;
    this.maxKeys = opts.maxKeys ?? Limits.maxKeysRemembered;
    this.maxRecordBytes = opts.maxRecordBytes ?? 128 * 1024;
    this.maxMessageBytes = opts.maxMessageBytes ?? 64 * 1024;
    this.maxUserNodes = opts.maxUserNodes ?? 100;
    this.now = opts.now ?? Date.now;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 5_000;
    this.maxUnparked = opts.maxUnparked ?? 10_000;
    this.maxUnparkedBytes = opts.maxUnparkedBytes ?? 16 * 1024 * 1024;
    this.channelHead = `${prefix}node:{`;
    if (!(this.liveTtlMs > 0) || !(this.windowMs > 0)) throw new RangeError('liveTtlMs and resumeWindowMs must be positive');
    this.lastError = new LastError(redis);
  }

  /** Identities this node holds live now (what beat() refreshes). */
  get size(): number {
    return this.local.size;
  }

  /** Users this node holds connections of (auth on). */
  get usersHeld(): number {
    return this.users.size;
  }

  /** Identities whose park failed for want of Redis and that wait to be parked again. */
  get waiting(): number {
    return this.unparked.size;
  }

  private async start(timeoutMs: number): Promise<void> {
    await startScripted(this.redis, Object.values(SCRIPTS), timeoutMs, this.lastError);
  }

  private async run(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!messageOf(e).startsWith('NOSCRIPT')) throw e;
      return this.redis.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  /** Runs `body` unless the connection is down or closed; a rejection becomes an Unavailable. */
  private async guard<T>(what: string, body: () => Promise<T>): Promise<T | Unavailable> {
    if (this.closed) return { ok: false, code: 'unavailable', reason: `${what}: the sessions store is closed` };
    if (this.redis.status !== 'ready') {
      return { ok: false, code: 'unavailable', reason: `${what}: ${this.lastError.notConnected()}` };
    }
    // ioredis times out each command (commandTimeout); this is the backstop for the whole op.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Redis within ${this.commandTimeoutMs} ms`)), this.commandTimeoutMs + 1_000);
    });
    try {
      return await Promise.race([body(), deadline]);
    } catch (e) {
      return { ok: false, code: 'unavailable', reason: `${what}: ${messageOf(e)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  private bucket(): number {
    return Math.floor(this.now() / this.windowMs);
  }

  /** `id`, with resume token `token`, is live on this node. Replaces any record it had; its mailbox is dropped. */
  claim(id: string, token: string, record: IdentityRecord): Promise<Done> {
    const r = boundRecord({ ...record, id }, this.maxKeys, this.maxRecordBytes);
    if ('problem' in r) return Promise.resolve({ ok: false, code: 'bad_request', reason: `claim: bad record: ${r.problem}` });
    if (!TOKEN_PATTERN.test(token)) return Promise.resolve({ ok: false, code: 'bad_request', reason: 'claim: malformed token' });
    // Before the answer: a park or release asked right after this claim (a connection that ends at once)
    // must find it, or beat() would keep refreshing a parked identity.
    this.local.set(id, { token, json: r.json, refreshed: this.now() });
    this.dropUnparked(id);
    return this.failedLive(id, this.guard('claim', async () => {
      const k = sessionKeys(id, this.prefix);
      const ttl = this.liveTtl();
      await Promise.all([
        this.run(SCRIPTS.claim, [k.sess, k.mail], [token, this.nodeId, r.json, ttl]),
        this.redis.set(tokenKey(token, this.prefix), id, 'PX', ttl),
      ]);
      return { ok: true } as const;
    }));
  }

  /** A claim or update of live `id` that Redis did not get: the next beat writes it (if it is still live here). */
  private async failedLive<T extends { ok: boolean }>(id: string, p: Promise<T>): Promise<T> {
    const o = await p;
    if (!o.ok && (o as unknown as Unavailable).code === 'unavailable' && this.local.has(id)) this.unsent.add(id);
    return o;
  }

  /** The record of live identity `id` replaced, if `token` is still its own (`updated: false` otherwise). */
  update(id: string, token: string, record: IdentityRecord): Promise<{ ok: true; updated: boolean } | Unavailable | BadRequest> {
    const r = boundRecord({ ...record, id }, this.maxKeys, this.maxRecordBytes);
    if ('problem' in r) return Promise.resolve({ ok: false, code: 'bad_request', reason: `update: bad record: ${r.problem}` });
    const held = this.local.get(id);
    if (held?.token === token) this.local.set(id, { ...held, json: r.json });
    return this.failedLive(id, this.guard('update', async () => {
      const n = await this.run(SCRIPTS.update, [sessionKeys(id, this.prefix).sess], [token, r.json]);
      return { ok: true, updated: n === 1 } as const;
    }));
  }

  /**
   * The connection of `record.id`, which held `token`, ended: its identity is
   * kept for `ttlMs` (at most resumeWindowMs) for a resume on any node.
   */
  park(token: string, record: IdentityRecord, ttlMs: number): Promise<ParkOutcome> {
    const r = boundRecord(record, this.maxKeys, this.maxRecordBytes);
    if ('problem' in r) return Promise.resolve({ ok: false, code: 'bad_request', reason: `park: bad record: ${r.problem}` });
    if (this.local.get(record.id)?.token === token) this.forgetLive(record.id);
    this.dropUnparked(record.id);
    if (!TOKEN_PATTERN.test(token)) return Promise.resolve({ ok: true, parked: false, why: 'gone' });
    const ttl = Math.max(1, Math.min(Math.floor(ttlMs), this.windowMs));
    const until = this.now() + ttl;
    return this.guard('park', async () => {
      const k = sessionKeys(record.id, this.prefix);
      const [n] = await Promise.all([
        this.run(SCRIPTS.park, [k.sess, k.mail], [token, r.json, ttl]),
        // Its own token's index: harmless if the park is refused (that token no longer names the identity).
        this.redis.pexpire(tokenKey(token, this.prefix), ttl),
      ]);
      if (n === 1) return { ok: true, parked: true } as const;
      return { ok: true, parked: false, why: n === 0 ? 'superseded' : 'gone' } as const;
    }).then((o) => (o.ok || this.closed ? o : { ...o, reason: `${o.reason}; ${this.keepUnparked(record.id, token, r.json, until)}` }));
  }

  /** Keeps a park Redis did not get, to park it again when Redis is back; says what became of it. */
  private keepUnparked(id: string, token: string, json: string, until: number): string {
    this.dropUnparked(id);
    const now = this.now();
    // The oldest first, whose windows end first (most parks get the whole window); beat() drops the others.
    for (const [other, u] of this.unparked) {
      if (u.until > now) break;
      this.dropUnparked(other);
    }
    const bytes = Buffer.byteLength(json);
    if (bytes > this.maxUnparkedBytes) return 'too big to keep for parking again';
    let dropped = 0;
    while (this.unparked.size > 0 && (this.unparked.size >= this.maxUnparked || this.unparkedBytes + bytes > this.maxUnparkedBytes)) {
      this.dropUnparked(this.unparked.keys().next().value as string);
      dropped += 1;
    }
    this.unparked.set(id, { token, json, until });
    this.unparkedBytes += bytes;
    return `parked again when Redis is back${dropped > 0 ? ` (${dropped} older ones dropped: at most ${this.maxUnparked} wait)` : ''}`;
  }

  private dropUnparked(id: string): void {
    const u = this.unparked.get(id);
    if (u === undefined) return;
    this.unparked.delete(id);
    this.unparkedBytes -= Buffer.byteLength(u.json);
  }

  private forgetLive(id: string): void {
    this.local.delete(id);
    this.unsent.delete(id);
  }

  /** The connection of `id` ended and it is not kept: forgotten, with its mailbox and token. */
  release(id: string): Promise<ReleaseOutcome> {
    const token = this.local.get(id)?.token;
    if (token === undefined) return Promise.resolve({ ok: true, released: false });
    this.forgetLive(id);
    return this.guard('release', async () => {
      const k = sessionKeys(id, this.prefix);
      const [n] = await Promise.all([
        this.run(SCRIPTS.release, [k.sess, k.mail], [token]),
        this.redis.unlink(tokenKey(token, this.prefix)),
      ]);
      return { ok: true, released: n === 1 } as const;
    });
  }

  /**
   * A resume with `token`: the identity it names, with its Directs, taken out
   * of Redis at once (a second take, here or on any node, finds nothing).
   */
  take(token: string): Promise<TakeOutcome> {
    if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return Promise.resolve({ ok: true, found: false, why: 'malformed' });
    return this.guard('take', async () => {
      const tk = tokenKey(token, this.prefix);
      const id = await this.redis.get(tk);
      if (id === null) return { ok: true, found: false, why: 'unknown' } as const;
      const k = sessionKeys(id, this.prefix);
      const b = this.bucket();
      const cut = JSON.stringify({ kind: 'cut', id, token, by: this.nodeId });
      const res = await this.run(SCRIPTS.take,
        [k.sess, k.mail, mailBucketKey(b, this.prefix), mailBucketKey(b - 1, this.prefix)],
        [token, this.nodeId, b, b - 1, this.channelHead, cut]) as [number, string?, string?, string[]?];
      // The index is spent either way (a token that no longer names its identity is stale); not waited for.
      this.redis.unlink(tk).catch(() => undefined);
      if (res[0] !== 1) return { ok: true, found: false, why: 'unknown' } as const;
      const [, node, rec, mail] = res as [number, string, string, string[]];
      const record = parseRecord(rec);
      if (record === undefined) return { ok: false, code: 'unavailable', reason: `take: the record of "${id}" does not parse` } as const;
      if (this.local.get(id)?.token === token) this.forgetLive(id);
      if (this.unparked.get(id)?.token === token) this.dropUnparked(id);
      const directs: Message[] = [];
      for (const m of mail) {
        try {
          directs.push(JSON.parse(m) as Message);
        } catch {
          // a message that does not parse is dropped: it came from nowhere we wrote
        }
      }
      return node === ''
        ? { ok: true, found: true, record, directs } as const
        : { ok: true, found: true, record, directs, liveOn: node } as const;
    });
  }

  /**
   * A Direct (its frame as JSON, as the recipient gets it) to identity `to`,
   * wherever it is. `delivered: 'live'` means its node's channel had a listener
   * (PUBLISH counts receivers); a node with none is gone, and its identities
   * are not reachable (no_such_client) until they resume somewhere.
   */
  send(to: string, message: string, mode: SendMode = 'any'): Promise<SendOutcome> {
    if (typeof to !== 'string' || to.length === 0 || to.length > 128) {
      return Promise.resolve({ ok: false, code: 'no_such_client', reason: 'no identity has that ID' });
    }
    if (typeof message !== 'string' || message[0] !== '{' || Buffer.byteLength(message) > this.maxMessageBytes) {
      return Promise.resolve({ ok: false, code: 'bad_request', reason: `send: the message must be a JSON object of at most ${this.maxMessageBytes} bytes` });
    }
    return this.guard('send', async () => {
      const k = sessionKeys(to, this.prefix);
      const b = this.bucket();
      const head = `{"kind":"direct","to":${JSON.stringify(to)},"message":`;
      const userHead = `{"kind":"direct","to":${JSON.stringify(to)},"user":true,"message":`;
      const [what, arg] = await this.run(SCRIPTS.send,
        [k.sess, k.mail, mailBucketKey(b, this.prefix), mailBucketKey(b - 1, this.prefix), userKey(to, this.prefix)],
        [head, message, this.channelHead, this.maxDirects, this.maxMailBytes, this.maxMailBytesAll, b, 2 * this.windowMs + 60_000,
          mode, userHead, this.nodeId, this.maxUserNodes, this.now(), this.userStaleMs()],
      ) as [string, string | number];
      switch (what) {
        case 'user': return { ok: true, delivered: 'user', nodes: Number(arg) } as const;
        case 'live': return { ok: true, delivered: 'live', node: String(arg) } as const;
        case 'kept': return { ok: true, delivered: 'kept', waiting: Number(arg) } as const;
        case 'gone': return { ok: false, code: 'no_such_client', reason: `"${to}" was on node ${String(arg)}, which is not listening` } as const;
        case 'full': {
          const why = arg === 'count' ? `already has ${this.maxDirects} messages waiting`
            : arg === 'bytes' ? `already has ${this.maxMailBytes} bytes of messages waiting`
              : 'and the chat holds all the messages for away users it can';
          return { ok: false, code: 'mailbox_full', reason: `"${to}" is away ${why}` } as const;
        }
        default: return { ok: false, code: 'no_such_client', reason: mode === 'id' ? `no identity has ID "${to}"` : `no user or identity "${to}" is connected` } as const;
      }
    });
  }

  /**
   * With auth on: user `sub` has its first connection here. This node is listed under it (with the time),
   * and stays listed while it holds the user: beat() writes the entry again each refreshMs. A failed write
   * is done by the next beat.
   */
  holdUser(sub: string): Promise<Done> {
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) return Promise.resolve({ ok: false, code: 'bad_request', reason: 'holdUser: a sub is 1 to 256 characters' });
    const held = { refreshed: this.now() };
    this.users.set(sub, held);
    this.undropped.delete(sub);
    return this.guard('holdUser', async () => {
      const replies = await this.holdUsers(this.redis.pipeline(), [sub], this.liveTtl()).exec();
      const failed = (replies ?? []).find(([e]) => e);
      if (failed) throw failed[0] as Error;
      return { ok: true } as const;
    }).then((o) => {
      if (!o.ok && this.users.get(sub) === held) held.refreshed = 0;
      return o;
    });
  }

  /** With auth on: user `sub`'s last connection here is gone: this node is no longer listed under it. */
  dropUser(sub: string): Promise<Done> {
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) return Promise.resolve({ ok: false, code: 'bad_request', reason: 'dropUser: a sub is 1 to 256 characters' });
    this.users.delete(sub);
    return this.guard('dropUser', async () => {
      await this.redis.hdel(userKey(sub, this.prefix), this.nodeId);
      return { ok: true } as const;
    }).then((o) => {
      if (!o.ok && !this.users.has(sub)) this.undropped.add(sub);
      return o;
    });
  }

  /** Adds to `pipe` this node's entry under each user, with the time, and the key's TTL. */
  private holdUsers(pipe: ReturnType<Redis['pipeline']>, subs: Iterable<string>, ttl: number): ReturnType<Redis['pipeline']> {
    const now = String(this.now());
    for (const sub of subs) {
      const k = userKey(sub, this.prefix);
      pipe.hset(k, this.nodeId, now);
      pipe.pexpire(k, ttl);
    }
    return pipe;
  }

  /** An entry under a user that was not written for this long is a dead node's (or one cut off from Redis that long). */
  private userStaleMs(): number {
    return 2 * this.refreshMs + this.liveTtlMs;
  }

  /** The node each ID is live on (one that beat within liveTtlMs), or undefined. Two round trips. */
  whereIs(ids: readonly string[]): Promise<WhereOutcome> {
    if (ids.length === 0) return Promise.resolve({ ok: true, nodes: [] });
    return this.guard('whereIs', async () => {
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hget(sessionKeys(id, this.prefix).sess, 'node');
      const replies = (await pipe.exec()) ?? [];
      const nodes = replies.map(([e, v]) => {
        if (e) throw e;
        return typeof v === 'string' && v !== '' ? v : undefined;
      });
      const distinct = [...new Set(nodes.filter((n): n is string => n !== undefined))];
      if (distinct.length === 0) return { ok: true, nodes } as const;
      const alive = await this.redis.mget(...distinct.map((n) => nodeChannel(n, this.prefix)));
      const up = new Set(distinct.filter((_, i) => alive[i] !== null));
      return { ok: true, nodes: nodes.map((n) => (n !== undefined && up.has(n) ? n : undefined)) } as const;
    });
  }

  /**
   * This node is alive, and so are the identities it holds: call every liveTtlMs / 3 or so, and when the
   * link is back. Puts back what Redis lacks of what this node is the source of (the header, "What a node
   * puts back"): live identities Redis lost or missed, and parks that failed.
   */
  beat(): Promise<BeatOutcome> {
    return this.guard('beat', async () => {
      const ttl = this.liveTtl();
      const pipe = this.redis.pipeline();
      pipe.set(nodeChannel(this.nodeId, this.prefix), String(this.now()), 'PX', this.liveTtlMs);
      const life = lifeKey(this.prefix);
      // A new value each time: one this node set before Redis lost it must not read as unchanged.
      pipe.set(life, randomBytes(9).toString('base64url'), 'PX', 2 * ttl, 'NX');
      pipe.get(life);
      pipe.pexpire(life, 2 * ttl);
      // Only the identities due a refresh (refreshMs): the TTL they were given outlasts the gap.
      const now = this.now();
      const due = [...this.local.keys()].filter((id) => now - (this.local.get(id) as { refreshed: number }).refreshed >= this.refreshMs);
      // The users held here due a refresh (or whose hold failed), and those whose drop failed.
      const dueUsers = [...this.users].filter(([, u]) => now - u.refreshed >= this.refreshMs).map(([sub]) => sub);
      const drops = [...this.undropped];
      const replies = await this.execRefresh(pipe, due, ttl, dueUsers, drops);
      for (const sub of drops) this.undropped.delete(sub);
      this.usersRefreshed(dueUsers, now);
      const seen = String(replies[2][1]);
      const emptied = this.life !== undefined && seen !== this.life;
      this.life = seen;
      const gone = new Set(due.filter((_, i) => replies[4 + 2 * i][1] === 0));
      this.refreshed(due, gone, now);
      if (emptied) {
        // Redis lost what it held: every live identity is checked now, not only those due, and every user held is listed again.
        const rest = [...this.local.keys()].filter((id) => !due.includes(id));
        const restUsers = [...this.users.keys()].filter((sub) => !dueUsers.includes(sub));
        const more = await this.execRefresh(this.redis.pipeline(), rest, ttl, restUsers);
        this.usersRefreshed(restUsers, now);
        rest.forEach((id, i) => {
          if (more[2 * i][1] === 0) gone.add(id);
        });
        this.refreshed(rest, gone, now);
      }
      // A live identity whose sess is gone because Redis lost it, or whose last write Redis did not get.
      const lost = new Set(emptied ? gone : []);
      for (const id of this.unsent) lost.add(id);
      const writes: Promise<boolean>[] = [];
      for (const id of lost) {
        const held = this.local.get(id);
        if (held === undefined) continue;
        this.unsent.delete(id);
        writes.push(this.restore(id, held.token, this.nodeId, held.json, ttl).then((ok) => {
          if (ok === undefined && this.local.get(id) === held) this.unsent.add(id);
          if (ok === true && this.local.get(id) === held) held.refreshed = this.now();
          return ok === true;
        }));
      }
      const reclaimed = (await Promise.all(writes)).filter(Boolean).length;
      const later = this.now();
      const parks: Promise<boolean>[] = [];
      for (const [id, u] of [...this.unparked]) {
        if (u.until <= later) {
          this.dropUnparked(id);
          continue;
        }
        parks.push(this.restore(id, u.token, '', u.json, u.until - later).then((ok) => {
          // Done, or refused (taken over elsewhere): no longer waits. Failed: the next beat tries again.
          if (ok !== undefined && this.unparked.get(id) === u) this.dropUnparked(id);
          return ok === true;
        }));
      }
      const parked = (await Promise.all(parks)).filter(Boolean).length;
      return { ok: true, reclaimed, parked } as const;
    });
  }

  /** The TTL of a live identity: a resume window after its node's last beat, whenever it was last refreshed. */
  private liveTtl(): number {
    return 2 * this.liveTtlMs + this.windowMs + this.refreshMs;
  }

  /**
   * Adds two PEXPIREs per identity to `pipe` (its sess and its token's index), then this node's entry under
   * each of `users` and the drop of it under each of `drops`, and runs it; a failed reply throws.
   */
  private async execRefresh(
    pipe: ReturnType<Redis['pipeline']>, ids: readonly string[], ttl: number, users: readonly string[] = [], drops: readonly string[] = [],
  ): Promise<[Error | null, unknown][]> {
    for (const id of ids) {
      pipe.pexpire(sessionKeys(id, this.prefix).sess, ttl);
      pipe.pexpire(tokenKey((this.local.get(id) as { token: string }).token, this.prefix), ttl);
    }
    this.holdUsers(pipe, users, ttl);
    for (const sub of drops) pipe.hdel(userKey(sub, this.prefix), this.nodeId);
    const replies = (await pipe.exec()) ?? [];
    const failed = replies.find(([e]) => e);
    if (failed) throw failed[0] as Error;
    return replies;
  }

  /** Marks the users whose entry was written as refreshed at `at`. */
  private usersRefreshed(subs: readonly string[], at: number): void {
    for (const sub of subs) {
      const u = this.users.get(sub);
      if (u) u.refreshed = at;
    }
  }

  /** Marks the identities that were refreshed (not those whose sess was gone) as refreshed at `at`. */
  private refreshed(ids: readonly string[], gone: ReadonlySet<string>, at: number): void {
    for (const id of ids) {
      const held = this.local.get(id);
      if (held && !gone.has(id)) held.refreshed = at;
    }
  }

  /** RESTORE_LUA and the token's index: true written, false refused (another token has it), undefined failed. */
  private async restore(id: string, token: string, node: string, json: string, ttl: number): Promise<boolean | undefined> {
    const k = sessionKeys(id, this.prefix);
    try {
      // Sent together, as claim does: a take that comes right after on this connection finds both.
      const [n] = await Promise.all([
        this.run(SCRIPTS.restore, [k.sess, k.mail], [token, node, json, ttl]),
        this.redis.set(tokenKey(token, this.prefix), id, 'PX', ttl),
      ]);
      return n !== 0;
    } catch {
      return undefined;
    }
  }

  /** Quits the connection (its identities stay in Redis until their TTLs run out, as a dead node's). Later ops fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await quitLink(this.redis);
  }
}
