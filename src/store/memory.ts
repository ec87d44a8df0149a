// The message log in this process's memory: `--store memory`, throwaway servers
// and tests. It is also the plainest statement of the log's meaning, which the
// SQLite log is held to by the same contract specs (spec/store.contract.spec.ts);
// the few rules both share (epochs, retention, read checks) are exported here.
//
// Bounded: each room keeps at most `maxPerRoom` lines in a ring. What is never
// dropped is one small record per room ever heard of (its epoch and last Seq),
// because forgetting it would restart the room's Seq at 1 under the same epoch.
import { customAlphabet } from 'nanoid';
import { wireSize } from '../core/protocol';
import type {
  AppendOutcome, AppendRequest, LogOp, LogOutcome, MessageLog, ReadOutcome, ReadRequest, Retention, StoredMessage,
} from './log';

const DAY_MS = 86_400_000;
const EPOCH_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * 8 characters of [A-Za-z0-9] from the OS's randomness: about 47 bits, plenty to tell one history from another.
 * nanoid's customAlphabet: uniform over the alphabet, and it draws random bytes in blocks (a cluster node makes a
 * candidate epoch for every room of every append batch, and one randomBytes call each was ~5 % of a node's CPU;
 * docs/benchmarks.md, "The JIT in the window").
 */
export const randomEpoch: () => string = customAlphabet(EPOCH_ALPHABET, 8);

/** Throws on a retention no log could keep; config.ts has already named the flag, so this only guards the API. */
export function checkRetention(r: Retention): Retention {
  if (!Number.isSafeInteger(r.maxPerRoom) || r.maxPerRoom < 1) {
    throw new RangeError(`retention.maxPerRoom must be a whole number of at least 1, got ${r.maxPerRoom}`);
  }
  if (!(r.maxDays > 0)) throw new RangeError(`retention.maxDays must be more than 0, got ${r.maxDays}`);
  return r;
}

/** Lines accepted before this time (ms) are past retention. */
export function cutoff(now: number, r: Retention): number {
  return now - r.maxDays * DAY_MS;
}

/** Why a read cannot be answered, or undefined. A bad read fails alone, not its batch. */
export function readProblem(req: ReadRequest): string | undefined {
  if (!Number.isSafeInteger(req.limit) || req.limit < 0) return `bad read: limit must be a whole number, got ${req.limit}`;
  if (req.after !== undefined && req.before !== undefined) return 'bad read: after or before, not both';
  if (req.after !== undefined && !(Number.isSafeInteger(req.after) && req.after >= 0)) {
    return `bad read: after must be a whole number, got ${req.after}`;
  }
  if (req.before !== undefined && !(Number.isSafeInteger(req.before) && req.before >= 0)) {
    return `bad read: before must be a whole number, got ${req.before}`;
  }
  if (req.maxBytes !== undefined && !(Number.isSafeInteger(req.maxBytes) && req.maxBytes >= 0)) {
    return `bad read: maxBytes must be a whole number, got ${req.maxBytes}`;
  }
  return undefined;
}

/** What one bounded step of trimming did. `more`: it stopped at its budget, and the pass is not over. */
export interface TrimReport {
  deleted: number;
  more: boolean;
}

/** An error's message; not by `instanceof Error`, which fails for errors made in another realm (Node's own, under jest). */
export function messageOf(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(e);
}

/** A failed batch: every op fails with the same reason. */
export function failAll(ops: readonly LogOp[], e: unknown): LogOutcome[] {
  const reason = `store: ${messageOf(e)}`;
  return ops.map(() => ({ ok: false, reason }));
}

/**
 * A kept line as a record for a reader or a commit: a fresh object, so no caller can change the log
 * through an object it holds. Not frozen (a freeze per line is a cost on the hot path, and STYLE.md
 * keeps such checks to specs).
 */
export function stored(req: AppendRequest, seq: number): StoredMessage {
  const m: StoredMessage = {
    room: req.room, seq, msgId: req.msgId, from: req.from, name: req.name, content: req.content, at: req.at,
  };
  if (req.key !== undefined) m.key = req.key;
  return m;
}

/**
 * The Seqs a read returns from a room whose kept lines are exactly first..head
 * (trimming only ever drops the oldest, so they are contiguous). With limit 0
 * the page is empty and `more` says whether any line lies in the direction read.
 */
export function pageOf(req: ReadRequest, first: number, head: number): { from: number; to: number; more: boolean } {
  if (req.after !== undefined) {
    const from = Math.max(req.after + 1, first);
    const to = Math.min(head, from + req.limit - 1);
    return { from, to, more: Math.max(to, from - 1) < head };
  }
  const to = Math.min((req.before ?? head + 1) - 1, head);
  const from = Math.max(first, to - req.limit + 1);
  return { from, to, more: from > first && to >= first };
}

/**
 * A double-ended queue of at most `cap` items in a circular array that doubles
 * as it fills: O(1) at both ends, and a room with 3 lines does not hold an
 * array of 10,000 slots.
 */
class Ring<T> {
  private buf: (T | undefined)[] = [];
  private start = 0;
  length = 0;

  constructor(private readonly cap: number) {}

  /** The i-th oldest. */
  at(i: number): T {
    return this.buf[(this.start + i) % this.buf.length] as T;
  }

  /** Adds at the new end; when full, the oldest makes room and is returned. */
  push(x: T): T | undefined {
    if (this.length === this.cap) {
      const oldest = this.buf[this.start] as T;
      this.buf[this.start] = x;
      this.start = (this.start + 1) % this.buf.length;
      return oldest;
    }
    if (this.length === this.buf.length) this.grow();
    this.buf[(this.start + this.length) % this.buf.length] = x;
    this.length++;
    return undefined;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const x = this.buf[this.start];
    this.buf[this.start] = undefined;
    this.start = (this.start + 1) % this.buf.length;
    if (--this.length === 0) { this.buf = []; this.start = 0; } // an emptied room gives its array back
    return x;
  }

  pop(): T | undefined {
    if (this.length === 0) return undefined;
    const i = (this.start + this.length - 1) % this.buf.length;
    const x = this.buf[i];
    this.buf[i] = undefined;
    this.length--;
    return x;
  }

  /** Puts back an oldest item (undoing a push that evicted it). */
  unshift(x: T): void {
    if (this.length === this.cap) throw new Error('Ring.unshift on a full ring');
    if (this.length === this.buf.length) this.grow();
    this.start = (this.start - 1 + this.buf.length) % this.buf.length;
    this.buf[this.start] = x;
    this.length++;
  }

  private grow(): void {
    const next: (T | undefined)[] = new Array(Math.min(this.cap, Math.max(8, this.buf.length * 2)));
    for (let i = 0; i < this.length; i++) next[i] = this.at(i);
    this.buf = next;
    this.start = 0;
  }
}

/** A kept line that came with a client key: its Seq, and the request it was kept as. */
interface Keyed {
  readonly seq: number;
  readonly req: AppendRequest;
}

interface Room {
  readonly epoch: string;
  head: number;
  /**
   * The kept lines, oldest first, as the requests they were appended with: the
   * i-th has Seq head - length + 1 + i (kept lines are contiguous), so no record
   * per line carries it. Requests are data the hub never changes once made; the
   * log keeps the one it was given rather than a copy (one object less per line,
   * which is most of what a retained line costs the garbage collector; reads and
   * commits hand out fresh records, `stored`).
   */
  readonly kept: Ring<AppendRequest>;
  /**
   * Sender and client key (`keyOf`) → its kept line, for dedupe. Only kept lines
   * are here: a trimmed line's key is free again.
   */
  readonly keys: Map<string, Keyed>;
}

/**
 * A key is the sender's: the same key from another identity is another line
 * (protocol.md "Sending twice"), so a client that learns someone's key cannot
 * have their next line taken for a repeat of its own.
 */
export function keyOf(m: { from: string; key?: string }): string | undefined {
  return m.key === undefined ? undefined : `${m.from}\u0000${m.key}`;
}

export interface MemoryLogOptions {
  retention: Retention;
  /** Makes a room's epoch; injectable so specs can name it. */
  random?: () => string;
  /**
   * A test seam standing where a disk log commits: called with the batch's new
   * lines before `run` returns. If it throws, the batch fails as a failed SQLite
   * commit does: every outcome fails and nothing of the batch is kept.
   */
  onCommit?: (appended: readonly StoredMessage[]) => void;
}

export class MemoryLog implements MessageLog {
  private readonly rooms = new Map<string, Room>();
  private readonly retention: Retention;
  private readonly random: () => string;
  private readonly onCommit?: (appended: readonly StoredMessage[]) => void;
  private closed = false;

  constructor(opts: MemoryLogOptions) {
    this.retention = checkRetention(opts.retention);
    this.random = opts.random ?? randomEpoch;
    this.onCommit = opts.onCommit;
  }

  run(ops: readonly LogOp[]): LogOutcome[] {
    if (this.closed) return failAll(ops, new Error('the log is closed'));
    // Every change is applied at once. With a commit that can fail (onCommit),
    // each is journalled, so a failed commit can put things back exactly, evicted
    // lines included; without one nothing can fail after the ops, and the
    // journal (a closure per line) is not kept.
    const commit = this.onCommit;
    const undo: (() => void)[] | undefined = commit ? [] : undefined;
    const appended: StoredMessage[] | undefined = commit ? [] : undefined;
    const out: LogOutcome[] = new Array(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      switch (op.op) {
        case 'append': out[i] = this.append(op.req, undo, appended); break;
        case 'read': out[i] = this.read(op.req, undo); break;
        default: out[i] = { ok: false, reason: `unknown op ${(op as { op: unknown }).op}` };
      }
    }
    if (commit) {
      try {
        commit(appended as StoredMessage[]);
      } catch (e) {
        for (let i = (undo as (() => void)[]).length - 1; i >= 0; i--) (undo as (() => void)[])[i]();
        return failAll(ops, e);
      }
    }
    return out;
  }

  /**
   * Drops lines past maxDays, oldest first, stopping at the first line still
   * young (so what is kept stays contiguous). All rooms in one go: the work is
   * bounded by what the rings hold, maxPerRoom per room.
   */
  trim(now: number): void {
    this.trimStep(now);
  }

  /** `trim`, saying what it did (the same shape as SqliteLog.trimStep, for specs). */
  trimStep(now: number): TrimReport {
    const cut = cutoff(now, this.retention);
    let deleted = 0;
    for (const r of this.rooms.values()) {
      while (r.kept.length > 0 && r.kept.at(0).at < cut) {
        this.forget(r, r.kept.shift()!);
        deleted++;
      }
    }
    return { deleted, more: false };
  }

  close(): void {
    this.closed = true;
  }

  private room(name: string, undo: (() => void)[] | undefined): Room {
    let r = this.rooms.get(name);
    if (r === undefined) {
      r = { epoch: this.random(), head: 0, kept: new Ring(this.retention.maxPerRoom), keys: new Map() };
      this.rooms.set(name, r);
      undo?.push(() => this.rooms.delete(name));
    }
    return r;
  }

  private append(req: AppendRequest, undo: (() => void)[] | undefined, appended: StoredMessage[] | undefined): AppendOutcome {
    const r = this.room(req.room, undo);
    const key = keyOf(req);
    if (key !== undefined) {
      const original = r.keys.get(key);
      if (original) return { ok: true, seq: original.seq, epoch: r.epoch, duplicate: { msgId: original.req.msgId } };
    }
    const seq = r.head + 1;
    r.head = seq;
    const evicted = r.kept.push(req);
    const evictedKeyed = evicted === undefined ? undefined : this.forget(r, evicted);
    if (key !== undefined) r.keys.set(key, { seq, req });
    if (undo === undefined || appended === undefined) return { ok: true, seq, epoch: r.epoch };
    appended.push(stored(req, seq));
    undo.push(() => {
      r.kept.pop();
      r.head = seq - 1;
      if (key !== undefined) r.keys.delete(key);
      if (evicted !== undefined) {
        r.kept.unshift(evicted);
        if (evictedKeyed !== undefined) r.keys.set(keyOf(evicted) as string, evictedKeyed);
      }
    });
    return { ok: true, seq, epoch: r.epoch };
  }

  private read(req: ReadRequest, undo: (() => void)[] | undefined): ReadOutcome {
    const problem = readProblem(req);
    if (problem) return { ok: false, reason: problem };
    const r = this.room(req.room, undo);
    const first = r.head - r.kept.length + 1;
    const { from, to, more } = pageOf(req, first, r.head);
    const messages: StoredMessage[] = [];
    const cap = req.after === undefined ? undefined : req.maxBytes;
    let bytes = 0;
    for (let s = from; s <= to; s++) {
      const m = stored(r.kept.at(s - first), s);
      messages.push(m);
      // history.ts ReadRequest.maxBytes: the page stops at the line that passes it.
      if (cap !== undefined && (bytes += wireSize(m.content, m.name)) > cap) return { ok: true, epoch: r.epoch, head: r.head, first, messages, more: s < r.head };
    }
    return { ok: true, epoch: r.epoch, head: r.head, first, messages, more };
  }

  /** A line leaves the log: its key is free again. Returns what the key named, for an undo. */
  private forget(r: Room, req: AppendRequest): Keyed | undefined {
    const key = keyOf(req);
    if (key === undefined) return undefined;
    const keyed = r.keys.get(key);
    if (keyed?.req !== req) return undefined;
    r.keys.delete(key);
    return keyed;
  }
}
