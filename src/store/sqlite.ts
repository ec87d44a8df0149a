// The message log on disk: one SQLite file, DIR/rxchat.db, through better-sqlite3.
// The driver is synchronous, so `run` has committed a batch by the time it
// returns, and the runner acks only what is on disk (issue 7: "an ack means it
// is on disk"). One transaction per batch is what makes that cheap: the commit,
// not the row, is the expensive part (TOOLCHAIN.md, docs/storage.md).
//
// Durability: WAL with synchronous=NORMAL. A commit has written its pages to
// the -wal file before `run` returns, so a killed process (SIGKILL, a crash)
// loses nothing committed; the operating system still has the writes. Only a
// power loss or kernel crash can lose the last few transactions, since NORMAL
// does not fsync the WAL at each commit (FULL would, at about 4× the cost of a
// one-line transaction, TOOLCHAIN.md). The issue asks for the first guarantee.
//
// Several processes may share the file (the issue's "a room's Seq comes from
// the log"): every batch runs under BEGIN IMMEDIATE, which holds SQLite's one
// write lock, and knows each room's epoch and last Seq as the database has them
// inside it. The in-process cache maps room name → row id, which never changes
// once committed (rooms are never deleted), and remembers the epoch and last Seq
// this connection committed, trusted only while `PRAGMA data_version` (read
// under the lock, once a batch) says no other connection has committed since:
// otherwise they are read again. So it cannot make two processes hand out the
// same Seq, and a batch over many rooms does not read each room's row.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type {
  AppendOutcome, AppendRequest, LogOp, LogOutcome, MessageLog, ReadOutcome, ReadRequest, Retention, StoredMessage,
} from './log';
import { TrimReport, checkRetention, cutoff, failAll, messageOf, randomEpoch, readProblem } from './memory';
import { migrate } from './migrations';
import { wireSize } from '../core/protocol';

export const DB_FILE = 'rxchat.db';

export interface SqliteLogOptions {
  /** Makes a room's epoch; injectable so specs can name it. */
  random?: () => string;
  /** How long a batch waits for another process's write lock before it fails (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** Room names whose row id is remembered. Default 4096. */
  roomCache?: number;
  /** Bounds on one `trim` call: rooms looked at, and lines deleted. Defaults 500 and 2000 (about 10 ms here). */
  trimRooms?: number;
  trimRows?: number;
}

/** The data directory cannot be used; the message names it and says why. */
export class StoreOpenError extends Error {
  readonly code = 'STORE_OPEN';

  constructor(readonly dir: string, cause: unknown) {
    super(`cannot use data directory ${dir}: ${causeText(cause)}`, { cause });
    this.name = 'StoreOpenError';
  }
}

/** The cause's message, with its code (SQLITE_CANTOPEN...) when the message does not say it already. */
function causeText(e: unknown): string {
  const message = messageOf(e);
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
}

interface MessageRow {
  seq: number;
  at: number;
  key: string | null;
  msg_id: string;
  from_id: string;
  name: string;
  content: string;
}

/** A room as one batch sees it, read from the database under the write lock. */
interface TxRoom {
  id: number;
  epoch: string;
  head: number;
  /** The head when lines over maxPerRoom were last deleted: below head - maxPerRoom, none is left. */
  trimmedAt: number;
  appended: boolean;
}

/** What the cache knows of a room: its id, and its position as of `version` (data_version). */
interface KnownRoom {
  id: number;
  epoch: string;
  head: number;
  trimmedAt: number;
  /** The data_version under which this connection committed that position. */
  version: number;
}

/** A Map that forgets the least recently used name past `cap`. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();

  constructor(private readonly cap: number) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.cap) this.map.delete(this.map.keys().next().value as K);
  }
}

/** Lines a multi-row INSERT writes at once, and the columns of each. */
const ROWS_PER_INSERT = 16;
const COLUMNS_PER_ROW = 8;
const COLUMNS = 'seq, at, key, msg_id, from_id, name, content';

function toMessage(room: string, row: MessageRow): StoredMessage {
  const m: StoredMessage = {
    room, seq: row.seq, msgId: row.msg_id, from: row.from_id, name: row.name, content: row.content, at: row.at,
  };
  if (row.key !== null) m.key = row.key;
  return m;
}

/**
 * fs.mkdirSync(dir, { recursive: true }) without its loop: Node 20's spins for ever, never throwing, when
 * a parent that exists answers mkdir with ENOENT (/proc/x), and the server would hang at start.
 */
function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) fs.mkdirSync(d);
  // All there now: this only says EEXIST when DIR is a file.
  fs.mkdirSync(dir, { recursive: true });
}

export class SqliteLog implements MessageLog {
  /**
   * Opens (creating if missing) DIR and DIR/rxchat.db, switches it to WAL and
   * brings its schema up to date. Throws a StoreOpenError naming DIR when any of
   * that fails, so the server stops at start rather than at the first append.
   */
  static open(dir: string, retention: Retention, opts: SqliteLogOptions = {}): SqliteLog {
    checkRetention(retention);
    let db: Database.Database | undefined;
    try {
      makeDir(dir);
      db = new Database(path.join(dir, DB_FILE), { timeout: opts.busyTimeoutMs ?? 5000 });
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`SQLite could not use WAL here (journal_mode is ${String(mode)})`);
      db.pragma('synchronous = NORMAL');
      // SQLite's own default page cache, 2 MB: better-sqlite3 builds it with 16 MB, which the soak saw
      // fill over its first ten minutes as the log grew (RSS outside the V8 heap climbing 13 MiB after
      // the warm-up). Appends touch the last pages of the table and its indexes; reads of older lines
      // come from the OS's file cache, outside this process.
      db.pragma('cache_size = -2000');
      migrate(db);
      return new SqliteLog(db, retention, opts);
    } catch (e) {
      db?.close();
      throw new StoreOpenError(dir, e);
    }
  }

  private readonly maxPerRoom: number;
  private readonly random: () => string;
  private readonly rooms: Lru<string, KnownRoom>;
  /** data_version as read at the start of the batch under way (or the last one). */
  private version = -1;
  private readonly trimRooms: number;
  private readonly trimRows: number;
  /** Where the next `trim` call starts: rooms are visited in id order, a few hundred per call. */
  private trimCursor = 0;
  private trimming?: Promise<void>;

  private readonly dataVersion: Database.Statement<[], number>;
  private readonly roomId: Database.Statement<[string], number>;
  private readonly roomState: Database.Statement<[number], { epoch: string; last_seq: number }>;
  private readonly insertRoom: Database.Statement<[string, string]>;
  private readonly setHead: Database.Statement<[number, number]>;
  private readonly insert: Database.Statement<[number, number, number, string | null, string, string, string, string]>;
  /** INSERTs of ROWS_PER_INSERT rows at once: one call and one statement run for that many lines. */
  private readonly insertMany: Database.Statement<unknown[]>;
  /** Lines of this batch not inserted yet, their columns one after another (append, insertPending). */
  private readonly pending: unknown[] = [];
  private readonly byKey: Database.Statement<[number, string, string], { seq: number; msg_id: string }>;
  private readonly dropUpTo: Database.Statement<[number, number]>;
  private readonly firstSeq: Database.Statement<[number], number | null>;
  private readonly pageAfter: Database.Statement<[number, number, number], MessageRow>;
  private readonly pageBefore: Database.Statement<[number, number, number], MessageRow>;
  private readonly roomsFrom: Database.Statement<[number, number], { id: number; last_seq: number }>;
  private readonly oldest: Database.Statement<[number, number, number], { seq: number; at: number }>;
  private readonly batch: Database.Transaction<(ops: readonly LogOp[], rooms: Map<string, TxRoom>) => LogOutcome[]>;
  private readonly trimBatch: Database.Transaction<(cut: number) => TrimReport>;

  private constructor(private readonly db: Database.Database, private readonly retention: Retention, opts: SqliteLogOptions) {
    this.maxPerRoom = retention.maxPerRoom;
    this.random = opts.random ?? randomEpoch;
    this.rooms = new Lru(opts.roomCache ?? 4096);
    this.trimRooms = opts.trimRooms ?? 500;
    this.trimRows = opts.trimRows ?? 2000;
    // Prepared once: preparing is about as costly as running one of these.
    // Changes whenever another connection has committed (never for this one's own commits).
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.roomId = db.prepare<[string], number>('SELECT id FROM rooms WHERE name = ?').pluck();
    this.roomState = db.prepare('SELECT epoch, last_seq FROM rooms WHERE id = ?');
    this.insertRoom = db.prepare('INSERT INTO rooms (name, epoch, last_seq) VALUES (?, ?, 0)');
    this.setHead = db.prepare('UPDATE rooms SET last_seq = ? WHERE id = ?');
    this.insert = db.prepare(
      'INSERT INTO messages (room_id, seq, at, key, msg_id, from_id, name, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertMany = db.prepare(
      `INSERT INTO messages (room_id, seq, at, key, msg_id, from_id, name, content) VALUES ${Array(ROWS_PER_INSERT).fill('(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`);
    // A key is its sender's (memory.ts keyOf): matched with from_id, as the index is.
    this.byKey = db.prepare('SELECT seq, msg_id FROM messages WHERE room_id = ? AND from_id = ? AND key = ?');
    this.dropUpTo = db.prepare('DELETE FROM messages WHERE room_id = ? AND seq <= ?');
    this.firstSeq = db.prepare<[number], number | null>('SELECT min(seq) FROM messages WHERE room_id = ?').pluck();
    this.pageAfter = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?`);
    this.pageBefore = db.prepare(`SELECT ${COLUMNS} FROM messages WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`);
    this.roomsFrom = db.prepare('SELECT id, last_seq FROM rooms WHERE id > ? ORDER BY id LIMIT ?');
    this.oldest = db.prepare('SELECT seq, at FROM messages WHERE room_id = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.batch = db.transaction((ops: readonly LogOp[], rooms: Map<string, TxRoom>) => this.runInTx(ops, rooms));
    this.trimBatch = db.transaction((cut: number) => this.trimInTx(cut));
  }

  /**
   * One write transaction for the whole batch, reads included: a read may be
   * the first the log hears of a room, and then it makes the room's epoch.
   * If anything fails, SQLite rolls the batch back and every op fails.
   */
  run(ops: readonly LogOp[]): LogOutcome[] {
    if (ops.length === 0) return [];
    const rooms = new Map<string, TxRoom>();
    let out: LogOutcome[];
    try {
      out = this.batch.immediate(ops, rooms);
    } catch (e) {
      return failAll(ops, e);
    }
    // Only now: a room row made by a batch that rolled back does not exist, and its id may be reused;
    // and a position is worth remembering only once committed.
    for (const [name, r] of rooms) {
      this.rooms.set(name, { id: r.id, epoch: r.epoch, head: r.head, trimmedAt: r.trimmedAt, version: this.version });
    }
    return out;
  }

  /**
   * Drops lines past maxDays (oldest first, stopping at the first still young,
   * as the memory log does) and lines over maxPerRoom left by a lower limit at
   * an earlier start: one pass over every room, in steps of bounded work
   * (`trimStep`), each its own short transaction, with a turn of the event loop
   * between steps so that appends are never held up for long. Resolves when the
   * pass is over (or the log closed); rejects if a step fails, leaving what that
   * step would have dropped for the next pass. A call during a pass joins it.
   */
  trim(now: number): Promise<void> {
    this.trimming ??= this.trimPass(now).finally(() => { this.trimming = undefined; });
    return this.trimming;
  }

  /**
   * One step of trimming: at most `trimRooms` rooms looked at and `trimRows`
   * lines deleted (about 10 ms here with the defaults), in one transaction.
   * Rooms are visited in id order from where the last step stopped.
   */
  trimStep(now: number): TrimReport {
    return this.trimBatch.immediate(cutoff(now, this.retention));
  }

  /** Closes the file; SQLite checkpoints the WAL into it as the last connection closes. Later batches fail. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  private runInTx(ops: readonly LogOp[], rooms: Map<string, TxRoom>): LogOutcome[] {
    // Under the write lock: what other connections committed before it is all there is.
    this.version = this.dataVersion.get() as number;
    this.pending.length = 0;
    const out = ops.map((op): LogOutcome => {
      switch (op.op) {
        case 'append': return this.append(op.req, rooms);
        case 'read': return this.read(op.req, rooms);
        default: return { ok: false, reason: `unknown op ${(op as { op: unknown }).op}` };
      }
    });
    this.insertPending();
    for (const r of rooms.values()) {
      if (!r.appended) continue;
      this.dropOverCount(r);
      this.setHead.run(r.head, r.id);
    }
    return out;
  }

  private room(name: string, rooms: Map<string, TxRoom>): TxRoom {
    let r = rooms.get(name);
    if (r) return r;
    const known = this.rooms.get(name);
    const id = known ? known.id : this.roomId.get(name);
    if (known && known.version === this.version) {
      // Nobody else has committed since this connection did: its position is the database's.
      r = { id: known.id, epoch: known.epoch, head: known.head, trimmedAt: known.trimmedAt, appended: false };
    } else if (id === undefined) {
      const epoch = this.random();
      r = { id: Number(this.insertRoom.run(name, epoch).lastInsertRowid), epoch, head: 0, trimmedAt: 0, appended: false };
    } else {
      // The truth, under the write lock: another process may have appended since our last batch.
      const row = this.roomState.get(id)!;
      // trimmedAt -1: lines over the count are dropped at the room's first touch, so a lower
      // --history-max than the file was written with holds from the next batch on.
      r = { id, epoch: row.epoch, head: row.last_seq, trimmedAt: -1, appended: false };
    }
    rooms.set(name, r);
    return r;
  }

  private append(req: AppendRequest, rooms: Map<string, TxRoom>): AppendOutcome {
    const r = this.room(req.room, rooms);
    if (req.key !== undefined) {
      // A line this batch pushed over maxPerRoom is no longer kept, so its key is free: delete it first.
      this.insertPending();
      this.dropOverCount(r);
      const original = this.byKey.get(r.id, req.from, req.key);
      if (original) return { ok: true, seq: original.seq, epoch: r.epoch, duplicate: { msgId: original.msg_id } };
    }
    r.head += 1;
    r.appended = true;
    const p = this.pending;
    p.push(r.id, r.head, req.at, req.key ?? null, req.msgId, req.from, req.name, req.content);
    if (p.length === ROWS_PER_INSERT * COLUMNS_PER_ROW) this.insertPending();
    return { ok: true, seq: r.head, epoch: r.epoch };
  }

  /** Inserts the lines waiting: ROWS_PER_INSERT at a time, the rest one by one. Before anything reads or deletes lines. */
  private insertPending(): void {
    const p = this.pending;
    if (p.length === 0) return;
    let i = 0;
    if (p.length === ROWS_PER_INSERT * COLUMNS_PER_ROW) {
      this.insertMany.run(p);
      i = p.length;
    }
    for (; i < p.length; i += COLUMNS_PER_ROW) {
      this.insert.run(p[i] as number, p[i + 1] as number, p[i + 2] as number, p[i + 3] as string | null, p[i + 4] as string, p[i + 5] as string, p[i + 6] as string, p[i + 7] as string);
    }
    p.length = 0;
  }

  private read(req: ReadRequest, rooms: Map<string, TxRoom>): ReadOutcome {
    const problem = readProblem(req);
    if (problem) return { ok: false, reason: problem };
    const r = this.room(req.room, rooms);
    this.insertPending();
    this.dropOverCount(r); // so the read sees exactly what is kept
    const first = this.firstSeq.get(r.id) ?? r.head + 1;
    // One row past the page tells whether there is more.
    let rows: MessageRow[];
    let cut = false;
    if (req.after !== undefined && req.maxBytes !== undefined) {
      // history.ts ReadRequest.maxBytes: row by row, stopping at the line that passes it.
      rows = [];
      let bytes = 0;
      for (const row of this.pageAfter.iterate(r.id, req.after, req.limit + 1)) {
        rows.push(row);
        if ((bytes += wireSize(row.content, row.name)) > req.maxBytes) {
          cut = rows.length <= req.limit && row.seq < r.head;
          break;
        }
      }
    } else if (req.after !== undefined) {
      rows = this.pageAfter.all(r.id, req.after, req.limit + 1);
    } else {
      rows = this.pageBefore.all(r.id, req.before ?? r.head + 1, req.limit + 1);
    }
    const more = cut || rows.length > req.limit;
    if (rows.length > req.limit) rows.pop();
    if (req.after === undefined) rows.reverse();
    return { ok: true, epoch: r.epoch, head: r.head, first, messages: rows.map((row) => toMessage(req.room, row)), more };
  }

  /** Deletes the lines this batch pushed over maxPerRoom: one ranged delete per room per batch, not one per line. */
  private dropOverCount(r: TxRoom): void {
    if (r.head === r.trimmedAt) return;
    if (r.head > this.maxPerRoom) this.dropUpTo.run(r.id, r.head - this.maxPerRoom);
    r.trimmedAt = r.head;
  }

  private async trimPass(now: number): Promise<void> {
    while (this.db.open && this.trimStep(now).more) await new Promise((r) => setImmediate(r));
  }

  private trimInTx(cut: number): TrimReport {
    let budget = this.trimRows;
    let deleted = 0;
    const rooms = this.roomsFrom.all(this.trimCursor, this.trimRooms);
    for (const room of rooms) {
      const first = this.firstSeq.get(room.id);
      if (first == null) { // no line kept
        this.trimCursor = room.id;
        continue;
      }
      const byCount = room.last_seq - this.maxPerRoom;
      let byAge = 0;
      // Walks the oldest lines only as far as the first young one (and the budget): no index on `at` to keep up.
      for (const line of this.oldest.iterate(room.id, Math.max(byCount, first - 1), budget)) {
        if (line.at >= cut) break;
        byAge = line.seq;
      }
      const upTo = Math.min(Math.max(byCount, byAge), first - 1 + budget);
      if (upTo >= first) {
        const n = this.dropUpTo.run(room.id, upTo).changes;
        deleted += n;
        budget -= n;
      }
      if (budget <= 0) return { deleted, more: true }; // the cursor stays: this room may have more
      this.trimCursor = room.id;
    }
    if (rooms.length < this.trimRooms) {
      this.trimCursor = 0;
      return { deleted, more: false };
    }
    return { deleted, more: true };
  }
}
