// The message log on Redis, for several server processes acting as one chat
// (issue 8, `--redis redis://HOST:PORT/DB`), through ioredis. It keeps the same
// contract as the memory and SQLite logs (spec/store.contract.spec.ts), with
// one difference the interface allows (log.ts): a batch is not all-or-nothing.
// Each op is its own Lua script (redis-scripts.ts), atomic in Redis, and an op
// that fails fails alone, keeping nothing and using up no Seq.
//
// A batch is one round trip: its ops go out as one pipeline, in order, and
// Redis runs them in that order, so a read sees the appends before it. An Ack
// means Redis accepted the append (it is in Redis's memory; whether it is on
// Redis's disk is Redis's persistence setting: docs/storage.md "The Redis log").
//
// Each room's Seq and epoch live in Redis, and only there: this process caches
// nothing of a room but the fact that it has registered its name in the rooms
// index, so any number of processes can append to one room.
//
// When Redis cannot be reached, nothing waits for it: the offline queue is off,
// so a batch fails at once while the connection is down; a command sent just
// before the connection broke fails when it breaks (never resent: resending an
// append that Redis may have run would add the line twice); and a Redis that
// stops answering fails a batch after `commandTimeoutMs`. ioredis reconnects by
// itself, and batches succeed again once it has. Such failures are marked
// `unavailable` (the sender is told so, and retries), and `link` says when the
// connection goes down and comes back, once each (docs/scaling.md "Redis goes away").
import Redis from 'ioredis';
import {
  LastError, LinkWatch, Reply, execWithin, sendAll, isLinkError, quitLink, RedisOpenError, loadScripts, openLink, redisUrlProblem, script, startScripted, started,
} from './redis-link';
import { redactUrl } from '../ops/config';
import type {
  AppendOutcome, AppendRequest, LogLink, LogOp, LogOutcome, MessageLog, ReadOutcome, ReadRequest, Retention, StoredMessage,
} from './log';
import { TrimReport, checkRetention, cutoff, failAll, messageOf, randomEpoch, readProblem } from './memory';
import { APPEND_LUA, READ_LUA, TRIM_LUA } from './redis-scripts';
import { wireSize } from '../core/protocol';
import { lineAround } from '../core/messages';

export const DEFAULT_PREFIX = 'rxchat:';

/**
 * What the append script publishes on a room's channel (`roomChannel`) for each line it keeps, as text:
 * `<seq> <epoch> <length of from> <from><frame>`, where the frame is the line's JSON exactly as clients
 * get it (messages.ts `line`), so that a node that hears it checks the four fields before it and hands
 * the frame on without parsing it (src/cluster/bus.ts `parseWireLine`). A repeat of a kept key and a
 * failed append publish nothing. Nodes before 2026-12-02 published a `LiveLine` as JSON; a node still
 * takes one (a cluster upgraded one node at a time).
 */
export const livePayloadHead = (from: string, frameHead: string): string => `${from.length} ${from}${frameHead}`;

/** The line as JSON, as nodes before 2026-12-02 published it: the line as stored, with its room's epoch. */
export interface LiveLine {
  room: string;
  seq: number;
  epoch: string;
  msgId: string;
  from: string;
  name: string;
  content: string;
  at: number;
}

/**
 * A room name as it goes inside a hash tag: `%`, `{` and `}` percent-encoded
 * (so a brace cannot end or start the tag early, and two names never meet),
 * and the empty name as a lone `%`, since Redis Cluster ignores an empty tag.
 */
export function roomTag(room: string): string {
  if (room === '') return '%';
  return room.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The keys of one room, all under one hash tag, so the room lives on one Redis Cluster shard. */
export interface RoomKeys {
  /** Hash: `epoch`, `head`. */
  meta: string;
  /** Stream: the kept lines, entry ID `<seq>-0`. */
  log: string;
  /** Hash: `<length of from>:<from><key>` → Seq, for each kept line with a client key. */
  keys: string;
}

export function roomKeys(room: string, prefix = DEFAULT_PREFIX): RoomKeys {
  const base = `${prefix}{${roomTag(room)}}`;
  return { meta: `${base}:meta`, log: `${base}:log`, keys: `${base}:keys` };
}

/** The channel the append script publishes a room's lines on (`livePayloadHead`); it carries the room's hash tag too. */
export function roomChannel(room: string, prefix = DEFAULT_PREFIX): string {
  return `${prefix}{${roomTag(room)}}:live`;
}

/** Sorted set of every room name the log has heard of, scored by when its oldest kept line was accepted (ms). */
export function roomsKey(prefix = DEFAULT_PREFIX): string {
  return `${prefix}rooms`;
}

export interface RedisLogOptions {
  /** Put before every key and channel; default `rxchat:`. No `{` or `}` (they would break the hash tags). */
  prefix?: string;
  /** Makes a room's epoch; injectable so specs can name it. */
  random?: () => string;
  /** How long `connect` keeps trying to reach Redis before it gives up (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** How long one batch waits for Redis's answer before it fails (ms). Default 5000. */
  commandTimeoutMs?: number;
  /** Rooms looked at in one trim step. Default 100. */
  trimRooms?: number;
  /** Lines one room may lose in one trim step, or in one append (lines over a lowered maxPerRoom). Default 1000. */
  dropBudget?: number;
  /** Room names remembered as registered in the rooms index. Default 4096. */
  knownRooms?: number;
}

export { RedisOpenError, redactUrl, redisUrlProblem };


/** A Map that forgets the least recently used key past `cap`. */
class Lru<K> {
  private readonly map = new Map<K, true>();

  constructor(private readonly cap: number) {}

  has(k: K): boolean {
    if (!this.map.has(k)) return false;
    this.map.delete(k);
    this.map.set(k, true);
    return true;
  }

  add(k: K): void {
    this.map.delete(k);
    this.map.set(k, true);
    if (this.map.size > this.cap) this.map.delete(this.map.keys().next().value as K);
  }

  delete(k: K): void {
    this.map.delete(k);
  }
}

/** EVALSHA's arguments: the script's SHA, the number of keys, the keys, then ARGV. */
type ScriptCall = [sha: string, numKeys: number, ...args: (string | number)[]];

/** Rooms whose keys RedisLog keeps made (names). */
const NAMED_MAX = 4096;

const SCRIPTS = { append: script(APPEND_LUA), read: script(READ_LUA), trim: script(TRIM_LUA) };

/** A stream entry as XRANGE gives it: ID, then field, value, field, value... */
type Entry = [id: string, fields: string[]];

function toMessage(room: string, [id, f]: Entry): StoredMessage {
  const m: StoredMessage = { room, seq: parseInt(id, 10), msgId: '', from: '', name: '', content: '', at: 0 };
  for (let i = 0; i + 1 < f.length; i += 2) {
    const v = f[i + 1];
    switch (f[i]) {
      case 'at': m.at = Number(v); break;
      case 'msg': m.msgId = v; break;
      case 'from': m.from = v; break;
      case 'name': m.name = v; break;
      case 'content': m.content = v; break;
      case 'key': m.key = v; break;
      default: break;
    }
  }
  return m;
}

/** A room as one batch sees it: the epoch it would get if new, and whether it is registered in the rooms index. */
interface BatchRoom {
  candidate: string;
  /** Registered in the rooms index by this batch's ZADD (false: this process did so before). */
  registering: boolean;
  /** Some op of the batch on this room succeeded. */
  ok: boolean;
}

export class RedisLog implements MessageLog {
  /**
   * Connects to Redis at `url` (redis://[[user]:password@]HOST[:PORT][/DB]) and
   * loads the scripts. Rejects with a RedisOpenError of one line for a bad URL,
   * or when Redis does not answer within `connectTimeoutMs` (ioredis keeps
   * trying until then); the error names the URL without its password.
   */
  static async connect(url: string, retention: Retention, opts: RedisLogOptions = {}): Promise<RedisLog> {
    checkRetention(retention);
    const { redis, where, prefix, connectTimeoutMs, commandTimeoutMs } = openLink(url, opts, 'rxchat-log');
    const log = new RedisLog(redis, retention, prefix, commandTimeoutMs, opts);
    await started(redis, where, () => log.start(connectTimeoutMs), () => log.lastError.value);
    // From here on the link is watched: down and up are told once each (docs/scaling.md "Redis goes away").
    log.watch = new LinkWatch(redis, where, log.lastError);
    return log;
  }

  private readonly maxPerRoom: number;
  private readonly random: () => string;
  private readonly known: Lru<string>;
  private readonly trimRooms: number;
  private readonly dropBudget: number;
  private readonly rooms: string;
  private readonly named = new Map<string, { k: RoomKeys; channel: string }>();
  private readonly maxArg: string;
  private readonly budgetArg: string;
  private closed = false;
  private trimming?: Promise<void>;
  /** The connection's last error; the shared start-up (redis-link.ts) reports to it too. */
  private readonly lastError: LastError;
  private watch?: LinkWatch;

  private constructor(
    private readonly redis: Redis,
    private readonly retention: Retention,
    private readonly prefix: string,
    private readonly commandTimeoutMs: number,
    opts: RedisLogOptions,
  ) {
    this.maxPerRoom = retention.maxPerRoom;
    this.random = opts.random ?? randomEpoch;
    this.known = new Lru(opts.knownRooms ?? 4096);
    this.trimRooms = opts.trimRooms ?? 100;
    this.dropBudget = opts.dropBudget ?? 1000;
    this.rooms = roomsKey(prefix);
    this.maxArg = String(this.maxPerRoom);
    this.budgetArg = String(this.dropBudget);
    this.lastError = new LastError(redis);
  }

  /** Waits for the first connection (ioredis retries meanwhile) and loads the scripts; later connections load them again. */
  private async start(timeoutMs: number): Promise<void> {
    await startScripted(this.redis, Object.values(SCRIPTS), timeoutMs, this.lastError);
  }

  /** Whether Redis can be reached now (`/healthz`, and the server's log says so once per change). */
  get link(): LogLink | undefined {
    return this.watch;
  }

  private loadScripts(): Promise<void> {
    return loadScripts(this.redis, Object.values(SCRIPTS));
  }

  /**
   * Runs the batch as one pipeline, one script per op, in order. Never throws
   * or rejects: an op Redis refuses, or that cannot be sent, fails alone with
   * `store: ...`; everything fails alike when the connection is down.
   */
  async run(ops: readonly LogOp[]): Promise<LogOutcome[]> {
    if (ops.length === 0) return [];
    if (this.closed) return failAll(ops, new Error('the log is closed'));
    // Redis is away: refused at once, as `unavailable` (the sender keeps the line and tries again later).
    if (this.redis.status !== 'ready') return unavailableAll(ops, this.downError());
    try {
      const out = await this.runBatch(ops);
      const away = out.find((o): o is { ok: false; reason: string; unavailable: true } => !o.ok && 'unavailable' in o && o.unavailable === true);
      if (away) this.watch?.trouble(`Redis does not answer: ${away.reason}`);
      else this.watch?.fine();
      return out;
    } catch (e) {
      if (this.redis.status !== 'ready') return unavailableAll(ops, this.downError());
      if (!isLinkError(e)) return failAll(ops, e);
      // No answer in time from a Redis whose socket is still open (it stopped answering, a partition).
      this.watch?.trouble(`Redis does not answer: ${messageOf(e)}`);
      return unavailableAll(ops, e);
    }
  }

  /**
   * Drops lines past maxDays (and over maxPerRoom) in rooms due for it, in
   * steps of bounded work (`trimStep`) until none is due. Resolves when the pass
   * is over (or the log closed); rejects if a step fails. A call during a pass
   * joins it.
   */
  trim(now: number): Promise<void> {
    this.trimming ??= this.trimPass(now).finally(() => { this.trimming = undefined; });
    return this.trimming;
  }

  /**
   * One step: the rooms whose score (the `at` of their oldest kept line, as last
   * seen) is past the cutoff, at most `trimRooms` of them, each trimmed by its
   * own script (at most `dropBudget` lines), then rescored by the oldest line
   * each has left, or by `now` when it has none. Rooms with nothing old are not
   * looked at: the work grows with the lines due, not with the rooms.
   */
  async trimStep(now: number): Promise<TrimReport> {
    const cut = cutoff(now, this.retention);
    const due = await this.redis.zrangebyscore(this.rooms, '-inf', `(${cut}`, 'LIMIT', 0, this.trimRooms);
    if (due.length === 0) return { deleted: 0, more: false };
    const pipe = this.redis.pipeline();
    for (const room of due) {
      const k = roomKeys(room, this.prefix);
      pipe.evalsha(SCRIPTS.trim.sha, 3, k.meta, k.log, k.keys, String(cut), String(this.maxPerRoom), String(this.dropBudget), String(now));
    }
    const replies = await execWithin(pipe, this.commandTimeoutMs);
    let deleted = 0;
    let more = due.length === this.trimRooms;
    const scores: (string | number)[] = [];
    const failed: string[] = [];
    for (let i = 0; i < due.length; i++) {
      const [error, result] = replies[i] ?? [new Error('no reply')];
      if (error) {
        // Set aside until maxDays from now, so one broken room cannot stop every pass at itself.
        failed.push(`${due[i]}: ${messageOf(error)}`);
        scores.push(now, due[i]);
        continue;
      }
      const [dropped, next, full] = result as [number, string, number];
      deleted += dropped;
      // A room whose budget ran out keeps its score, and the next step comes back to it.
      if (full) more = true;
      else scores.push(Number(next), due[i]);
    }
    if (scores.length > 0) await this.redis.zadd(this.rooms, 'XX', ...scores);
    if (failed.length > 0) throw new Error(`could not trim ${failed.length} room(s): ${failed[0]}`);
    return { deleted, more };
  }

  /** Quits the connection (or drops it, when Redis is away). Later batches fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await quitLink(this.redis);
  }

  private async trimPass(now: number): Promise<void> {
    while (!this.closed && (await this.trimStep(now)).more) await new Promise((r) => setImmediate(r));
  }

  private downError(): Error {
    return new Error(this.lastError.notConnected());
  }

  private async runBatch(ops: readonly LogOp[]): Promise<LogOutcome[]> {
    const rooms = new Map<string, BatchRoom>();
    const register: (string | number)[] = [];
    const room = (name: string, score: number): BatchRoom => {
      let r = rooms.get(name);
      if (r === undefined) {
        // The injected `random` makes the epoch of a room this process has not seen; for a room it has
        // seen, the candidate is used only if Redis lost the room, and any fresh random one will do.
        const known = this.known.has(name);
        r = { candidate: known ? randomEpoch() : this.random(), registering: !known, ok: false };
        if (!known) register.push(score, name);
        rooms.set(name, r);
      }
      return r;
    };

    const out: (LogOutcome | undefined)[] = new Array(ops.length);
    const sent: { i: number; op: LogOp; r: BatchRoom }[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.op === 'append') {
        const problem = appendProblem(op.req);
        if (problem) out[i] = { ok: false, reason: problem };
        else sent.push({ i, op, r: room(op.req.room, op.req.at) });
      } else if (op.op === 'read') {
        const problem = readProblem(op.req);
        if (problem) out[i] = { ok: false, reason: problem };
        // Score 0: the first trim step looks at the room once and then scores it by its oldest line.
        else sent.push({ i, op, r: room(op.req.room, 0) });
      } else {
        out[i] = { ok: false, reason: `unknown op ${(op as { op: unknown }).op}` };
      }
    }
    if (sent.length === 0) return out as LogOutcome[];

    const send = sent.map(({ op, r }) => {
      const call = op.op === 'append' ? this.appendCall(op.req, r.candidate) : this.readCall(op.req, r.candidate);
      return (): Promise<unknown> => this.redis.evalsha(...call);
    });
    // Rooms this process has not registered yet join the rooms index, in the same write, first.
    // Not from the scripts: the index is a global key, and a script must stay on one room's slot.
    if (register.length > 0) send.unshift(() => this.redis.zadd(this.rooms, 'NX', ...register));
    const replies: Reply[] = await sendAll(this.redis, send, this.commandTimeoutMs);
    const offset = register.length > 0 ? 1 : 0;
    const registered = offset === 0 || replies[0]?.[0] == null;

    let noScript = false;
    const lost: { name: string; score: number }[] = [];
    for (let j = 0; j < sent.length; j++) {
      const { i, op, r } = sent[j];
      const [error, result] = replies[offset + j] ?? [new Error('no reply')];
      if (error) {
        if (messageOf(error).startsWith('NOSCRIPT')) noScript = true;
        // The connection broke or timed out under this op: Redis may or may not have run it (log.ts), and a
        // retry with the same Key finds it if it did.
        out[i] = isLinkError(error)
          ? { ok: false, reason: `store: ${messageOf(error)}`, unavailable: true }
          : { ok: false, reason: `store: ${messageOf(error)}` };
        continue;
      }
      const fresh = op.op === 'append' ? (result as unknown[])[2] : (result as unknown[])[4];
      // A room Redis had lost (it came back empty), made again under a known name: register it again.
      if (fresh === 1 && !r.registering) lost.push({ name: op.req.room, score: op.op === 'append' ? op.req.at : 0 });
      r.ok = true;
      out[i] = op.op === 'append' ? appendOutcome(result) : readOutcome(op.req, result);
    }
    for (const [name, r] of rooms) if (r.ok && (registered || !r.registering)) this.known.add(name);
    for (const { name, score } of lost) {
      this.redis.zadd(this.rooms, 'NX', score, name).catch(() => this.known.delete(name));
    }
    // Someone flushed the script cache (SCRIPT FLUSH): load them again for the next batch.
    if (noScript) this.loadScripts().catch((e) => this.lastError.error(e));
    return out as LogOutcome[];
  }

  /** A room's keys and channel, made once per room rather than once per line (bounded: dropped whole when full). */
  private names(room: string): { k: RoomKeys; channel: string } {
    let n = this.named.get(room);
    if (n === undefined) {
      if (this.named.size >= NAMED_MAX) this.named.clear();
      n = { k: roomKeys(room, this.prefix), channel: roomChannel(room, this.prefix) };
      this.named.set(room, n);
    }
    return n;
  }

  /** An append's EVALSHA arguments. */
  private appendCall(req: AppendRequest, candidate: string): ScriptCall {
    const { k, channel } = this.names(req.room);
    // The publish payload is made here, not by cjson in the script: Redis's one thread is what every node
    // shares, so the JSON work stays on the nodes. The script puts the Seq and epoch in.
    const { head, tail } = lineAround(req.from, req.name, req.room, req.msgId, req.content, req.at);
    const call: ScriptCall = [
      SCRIPTS.append.sha, 3, k.meta, k.log, k.keys,
      candidate, this.maxArg, this.budgetArg, channel, livePayloadHead(req.from, head), String(req.at), req.msgId, req.from, req.name, req.content, tail,
    ];
    if (req.key !== undefined) call.push(req.key);
    return call;
  }

  /** A read's EVALSHA arguments. */
  private readCall(req: ReadRequest, candidate: string): ScriptCall {
    const { k } = this.names(req.room);
    const [mode, s] = req.after !== undefined ? ['after', req.after] : req.before !== undefined ? ['before', req.before] : ['latest', 0];
    return [SCRIPTS.read.sha, 3, k.meta, k.log, k.keys, candidate, this.maxArg, mode, String(s), String(req.limit)];
  }
}

/** Every op failed because Redis cannot be reached: nothing was kept, and the same ops may be sent again later. */
function unavailableAll(ops: readonly LogOp[], e: unknown): LogOutcome[] {
  const reason = `store: ${messageOf(e)}`;
  return ops.map(() => ({ ok: false, reason, unavailable: true }));
}

/** Why an append cannot be sent, or undefined. The other logs take any line; here each field must be a string Redis can hold. */
function appendProblem(req: AppendRequest): string | undefined {
  if (!Number.isFinite(req.at)) return `bad append: at must be a number, got ${req.at}`;
  for (const f of ['room', 'msgId', 'from', 'name', 'content'] as const) {
    if (typeof req[f] !== 'string') return `bad append: ${f} must be a string`;
  }
  if (req.key !== undefined && typeof req.key !== 'string') return 'bad append: key must be a string';
  return undefined;
}

function appendOutcome(result: unknown): AppendOutcome {
  const [seq, epoch, , duplicateOf] = result as [number, string, number, string | undefined];
  if (duplicateOf !== undefined) return { ok: true, seq, epoch, duplicate: { msgId: duplicateOf } };
  return { ok: true, seq, epoch };
}

function readOutcome(req: ReadRequest, result: unknown): ReadOutcome {
  const [epoch, head, first, more, , entries] = result as [string, number, number, number, number, Entry[]];
  const messages = entries.map((e) => toMessage(req.room, e));
  // history.ts ReadRequest.maxBytes: cut here (the script reads the page whole, at most 1001 lines).
  if (req.after !== undefined && req.maxBytes !== undefined) {
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      if ((bytes += wireSize(messages[i].content, messages[i].name)) > req.maxBytes) {
        return { ok: true, epoch, head, first, messages: messages.slice(0, i + 1), more: messages[i].seq < head };
      }
    }
  }
  return { ok: true, epoch, head, first, messages, more: more === 1 };
}
