// The message log's contract (src/store/log.ts), one set of specs for every
// backend: what the hub may count on whichever log it runs on. The SQLite log
// runs in a fresh temporary directory per test, the Redis log under a fresh key
// prefix per test on the specs' own database (spec/support/redis.ts), its keys
// deleted afterwards; what only one backend has (SQLite's directory, migrations
// and several processes; Redis's channels, key layout and connection) is in
// store-sqlite.spec.ts and store-redis.spec.ts.
//
// Where the backends differ the contract says so: the memory and SQLite logs
// commit a batch all or nothing, the Redis log op by op (log.ts). What all three
// keep is that a failed append keeps nothing and uses up no Seq.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AppendOutcome, AppendRequest, LogOp, LogOutcome, ReadOutcome, ReadRequest, Retention } from '../src/store/log';
import { wireSize } from '../src/core/protocol';
import { MemoryLog } from '../src/store/memory';
import { RedisLog, roomKeys } from '../src/store/redis';
import { DB_FILE, SqliteLog } from '../src/store/sqlite';
import { admin, closeAdmin, deleteKeys, testUrl, uniquePrefix } from './support/redis';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 1);
const WIDE: Retention = { maxPerRoom: 10_000, maxDays: 30 };

/** What the specs use of a log; `run`, `trim` and `close` may answer now or later, as the interface allows. */
interface Log {
  run(ops: readonly LogOp[]): LogOutcome[] | Promise<LogOutcome[]>;
  trim(now: number): void | Promise<void>;
  close(): void | Promise<void>;
}

/** A backend under test: opens logs, and makes the backend itself refuse a line. */
interface Subject {
  open(retention?: Retention, random?: () => string): Promise<Log>;
  /**
   * From now on an append to `room` (which has lines already) cannot be kept:
   * the backend refuses it where it would write the line.
   */
  breakRoom(room: string): Promise<void>;
  /** Undoes breakRoom. */
  mend(): Promise<void>;
  /** Backends that commit a batch all or nothing: from now on a batch holding a line with this content cannot commit. */
  breakOn?(content: string): void;
  cleanup(): Promise<void>;
}

function memorySubject(): Subject {
  let poison: string | undefined;
  let poisonRoom: string | undefined;
  return {
    open: async (retention = WIDE, random) => new MemoryLog({
      retention,
      random,
      onCommit: (lines) => {
        if (lines.some((l) => l.content === poison || l.room === poisonRoom)) throw new Error('injected: no space left on device');
      },
    }),
    breakRoom: async (room) => { poisonRoom = room; },
    mend: async () => { poisonRoom = undefined; },
    breakOn: (content) => { poison = content; },
    cleanup: async () => undefined,
  };
}

function sqliteSubject(): Subject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxchat-store-'));
  const opened: SqliteLog[] = [];
  const quote = (text: string) => `'${text.replace(/'/g, "''")}'`;
  // Another connection to the same file, as an operator or a second process
  // would have: a trigger makes SQLite itself refuse the line, so the batch
  // goes down SqliteLog's real rollback path.
  const exec = (sql: string) => {
    const db = new Database(path.join(dir, DB_FILE));
    db.exec(sql);
    db.close();
  };
  return {
    open: async (retention = WIDE, random) => {
      const log = SqliteLog.open(dir, retention, { random });
      opened.push(log);
      return log;
    },
    breakRoom: async (room) => exec(`CREATE TRIGGER poison_room BEFORE INSERT ON messages
      WHEN NEW.room_id = (SELECT id FROM rooms WHERE name = ${quote(room)})
      BEGIN SELECT RAISE(ABORT, 'injected: no space left on device'); END`),
    mend: async () => exec('DROP TRIGGER poison_room'),
    breakOn: (content) => exec(`CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.content = ${quote(content)}
      BEGIN SELECT RAISE(ABORT, 'injected: no space left on device'); END`),
    cleanup: async () => {
      for (const log of opened) log.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function redisSubject(): Subject {
  const prefix = uniquePrefix();
  const opened: RedisLog[] = [];
  let broken: string | undefined;
  return {
    open: async (retention = WIDE, random) => {
      const log = await RedisLog.connect(testUrl(), retention, { prefix, random });
      opened.push(log);
      return log;
    },
    // The room's stream is told its last ID is far ahead of the room's head, as a
    // stray writer could leave it: Redis itself then refuses the script's XADD of
    // the next Seq, at the one point where the append script writes first.
    breakRoom: async (room) => {
      const k = roomKeys(room, prefix);
      await (await admin()).call('XSETID', k.log, '1000000-0');
      broken = room;
    },
    mend: async () => {
      if (broken === undefined) return;
      const k = roomKeys(broken, prefix);
      const head = await (await admin()).hget(k.meta, 'head');
      await (await admin()).call('XSETID', k.log, `${head}-0`);
      broken = undefined;
    },
    cleanup: async () => {
      for (const log of opened) await log.close();
      await deleteKeys(prefix);
    },
  };
}

let n = 0;
function line(room: string, content: string, extra: Partial<AppendRequest> = {}): AppendRequest {
  n += 1;
  return { room, msgId: `msg-${n}`, from: 'alice-id', name: 'alice', content, at: T0, ...extra };
}
const append = (req: AppendRequest): LogOp => ({ op: 'append', req });
const read = (req: ReadRequest): LogOp => ({ op: 'read', req });

function appended(o: LogOutcome): Extract<AppendOutcome, { ok: true }> {
  if (!o.ok || !('seq' in o)) throw new Error(`expected an append outcome, got ${JSON.stringify(o)}`);
  return o;
}
function page(o: LogOutcome): Extract<ReadOutcome, { ok: true }> {
  if (!o.ok || !('head' in o)) throw new Error(`expected a read outcome, got ${JSON.stringify(o)}`);
  return o;
}
const seqs = (o: LogOutcome): number[] => page(o).messages.map((m) => m.seq);

/** The outcome of a batch of one op. */
async function one(log: Log, op: LogOp): Promise<LogOutcome> {
  return (await log.run([op]))[0];
}

/** Appends `count` lines to `room`, one batch, and returns their Seqs. */
async function fill(log: Log, room: string, count: number, extra: (i: number) => Partial<AppendRequest> = () => ({})): Promise<number[]> {
  const ops = Array.from({ length: count }, (_, i) => append(line(room, `line ${i + 1}`, extra(i))));
  return (await log.run(ops)).map((o) => appended(o).seq);
}

afterAll(() => closeAdmin());

/**
 * shared: two logs a subject opens share one store (a file, a Redis), as two server processes would.
 * atomic: the backend commits a batch all or nothing.
 */
describe.each([
  ['MemoryLog', memorySubject, { shared: false, atomic: true }],
  ['SqliteLog', sqliteSubject, { shared: true, atomic: true }],
  ['RedisLog', redisSubject, { shared: true, atomic: false }],
])('message log contract: %s', (name, make, { shared, atomic }) => {
  // CI guarantees a Redis: without one the Redis row fails at once, saying so (spec/support/redis.ts).
  beforeAll(async () => { if (name === 'RedisLog') await admin(); });
  let subject: Subject;
  beforeEach(() => { subject = make(); });
  afterEach(() => subject.cleanup());

  describe('Seq and Epoch', () => {
    it('numbers each room 1, 2, 3... on its own, with one epoch per room', async () => {
      const log = await subject.open();
      const out = (await log.run([
        append(line('lobby', 'a')), append(line('design', 'b')), append(line('lobby', 'c')), append(line('lobby', 'd')),
      ])).map(appended);
      expect(out.map((o) => o.seq)).toEqual([1, 1, 2, 3]);
      expect(out[2].epoch).toBe(out[0].epoch);
      expect(out[3].epoch).toBe(out[0].epoch);
      expect(out[1].epoch).not.toBe(out[0].epoch);
      expect(out[0].epoch).toMatch(/^[A-Za-z0-9]{8}$/);
      expect(await fill(log, 'lobby', 2)).toEqual([4, 5]);
      expect(await fill(log, 'design', 1)).toEqual([2]);
    });

    it('makes a room epoch at the first read, and keeps it for the appends that follow', async () => {
      let made = 0;
      const log = await subject.open(WIDE, () => `epoch${++made}AB`.slice(0, 8));
      const before = page(await one(log, read({ room: 'quiet', limit: 0 })));
      expect(before).toEqual({ ok: true, epoch: 'epoch1AB', head: 0, first: 1, messages: [], more: false });
      expect(appended(await one(log, append(line('quiet', 'hi'))))).toEqual({ ok: true, seq: 1, epoch: 'epoch1AB' });
      expect(page(await one(log, read({ room: 'quiet', limit: 0 }))).epoch).toBe('epoch1AB');
      expect(made).toBe(1);
    });

    it('lets a read later in a batch see the appends before it', async () => {
      const log = await subject.open();
      const out = await log.run([
        read({ room: 'lobby', limit: 10 }),
        append(line('lobby', 'one')),
        append(line('lobby', 'two')),
        read({ room: 'lobby', limit: 10 }),
      ]);
      expect(page(out[0]).head).toBe(0);
      expect(page(out[3])).toMatchObject({ head: 2, first: 1, more: false });
      expect(page(out[3]).messages.map((m) => m.content)).toEqual(['one', 'two']);
    });

    it('lets reads and repeated keys anywhere in a long batch see every append before them', async () => {
      const log = await subject.open();
      // Longer than the SQLite log's multi-row INSERT (16 lines), with a read and a repeat between its chunks.
      const ops: LogOp[] = [];
      for (let i = 1; i <= 20; i++) ops.push(append(line(i % 2 ? 'lobby' : 'design', `l${i}`, i === 3 ? { key: 'k3' } : {})));
      ops.push(read({ room: 'lobby', limit: 100 }));
      for (let i = 21; i <= 37; i++) ops.push(append(line('lobby', `l${i}`, i === 37 ? { key: 'k37' } : {})));
      ops.push(append(line('lobby', 'l37', { key: 'k37' })));
      ops.push(append(line('lobby', 'l3', { key: 'k3' })));
      ops.push(read({ room: 'lobby', limit: 100 }));
      const out = await log.run(ops);
      expect(page(out[20]).messages.map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => `l${2 * i + 1}`));
      expect(appended(out[38])).toMatchObject({ seq: 27, duplicate: { msgId: expect.any(String) } });
      expect(appended(out[39])).toMatchObject({ seq: 2, duplicate: { msgId: expect.any(String) } });
      const all = page(out[40]);
      expect(all).toMatchObject({ head: 27, first: 1, more: false });
      expect(all.messages.map((m) => m.seq)).toEqual(Array.from({ length: 27 }, (_, i) => i + 1));
      expect(page(await one(log, read({ room: 'design', limit: 100 }))).messages.map((m) => m.content))
        .toEqual(Array.from({ length: 10 }, (_, i) => `l${2 * i + 2}`));
    });

    (shared ? it : it.skip)('hands out each Seq once to two logs appending to the same rooms', async () => {
      const [a, b] = [await subject.open(), await subject.open()];
      const [fromA, fromB] = await Promise.all([
        a.run(Array.from({ length: 20 }, (_, i) => append(line(i % 2 ? 'lobby' : 'design', `a${i}`)))),
        b.run(Array.from({ length: 20 }, (_, i) => append(line(i % 2 ? 'lobby' : 'design', `b${i}`)))),
      ]);
      const lobby = [...fromA, ...fromB].filter((_, i) => i % 2 === 1).map((o) => appended(o).seq);
      expect(lobby.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const kept = page(await one(a, read({ room: 'lobby', limit: 100 })));
      expect(kept.head).toBe(20);
      expect(new Set(kept.messages.map((m) => m.content)).size).toBe(20);
      expect(appended(fromB[1]).epoch).toBe(appended(fromA[1]).epoch);
    });
  });

  describe('reading', () => {
    let log: Log;
    beforeEach(async () => {
      log = await subject.open();
      await fill(log, 'lobby', 10, (i) => ({ at: T0 + i, ...(i === 4 ? { key: 'k-5' } : {}) }));
    });

    it('gives back every field of a line as appended', async () => {
      const req = line('design', 'the whole line', { key: 'client-key-1', at: T0 + 42 });
      await log.run([append(req)]);
      expect(page(await one(log, read({ room: 'design', limit: 1 }))).messages).toEqual([{ ...req, seq: 1 }]);
      const plain = page(await one(log, read({ room: 'lobby', after: 0, limit: 1 }))).messages[0];
      expect(plain).toEqual({ room: 'lobby', seq: 1, msgId: expect.any(String), from: 'alice-id', name: 'alice', content: 'line 1', at: T0 });
      expect('key' in plain).toBe(false);
    });

    it('keeps text as sent: any Unicode, quotes, backslashes, braces and NUL', async () => {
      const odd = 'é 😀 "q" \\ {x} %7B \u0000 end';
      const req = line('design', odd, { name: odd, from: `${odd}-id`, key: odd });
      await log.run([append(req)]);
      expect(page(await one(log, read({ room: 'design', limit: 1 }))).messages).toEqual([{ ...req, seq: 1 }]);
      expect(appended(await one(log, append(line('design', 'again', { from: `${odd}-id`, key: odd }))))).toMatchObject({ seq: 1, duplicate: { msgId: req.msgId } });
    });

    it('reads the latest page, and older ones with before, oldest first, saying whether older lines remain', async () => {
      const latest = page(await one(log, read({ room: 'lobby', limit: 3 })));
      expect(latest).toMatchObject({ head: 10, first: 1, more: true });
      expect(seqs(latest)).toEqual([8, 9, 10]);
      const older = await one(log, read({ room: 'lobby', before: 8, limit: 3 }));
      expect(seqs(older)).toEqual([5, 6, 7]);
      expect(page(older).more).toBe(true);
      const oldest = await one(log, read({ room: 'lobby', before: 3, limit: 5 }));
      expect(seqs(oldest)).toEqual([1, 2]);
      expect(page(oldest).more).toBe(false);
      expect(page(await one(log, read({ room: 'lobby', limit: 10 }))).more).toBe(false);
      expect(seqs(await one(log, read({ room: 'lobby', before: 1, limit: 5 })))).toEqual([]);
    });

    it('reads forward with after, saying whether newer lines remain', async () => {
      const first = await one(log, read({ room: 'lobby', after: 0, limit: 4 }));
      expect(seqs(first)).toEqual([1, 2, 3, 4]);
      expect(page(first).more).toBe(true);
      const last = await one(log, read({ room: 'lobby', after: 8, limit: 5 }));
      expect(seqs(last)).toEqual([9, 10]);
      expect(page(last).more).toBe(false);
      expect(page(await one(log, read({ room: 'lobby', after: 6, limit: 4 }))).more).toBe(false);
      const beyond = page(await one(log, read({ room: 'lobby', after: 10, limit: 5 })));
      expect(beyond).toMatchObject({ messages: [], more: false, head: 10 });
    });

    it('reads forward with after and maxBytes up to the line that passes it, saying whether newer lines remain', async () => {
      const each = wireSize('line 1', 'alice');
      // Lines 1..10 are 'line 1'..'line 10': the first nine the same size.
      const cut = page(await one(log, read({ room: 'lobby', after: 0, limit: 100, maxBytes: 3 * each })));
      expect(seqs(cut)).toEqual([1, 2, 3, 4]);
      expect(cut).toMatchObject({ more: true, head: 10 });
      expect(seqs(await one(log, read({ room: 'lobby', after: 0, limit: 100, maxBytes: 4 * each })))).toEqual([1, 2, 3, 4, 5]);
      const whole = page(await one(log, read({ room: 'lobby', after: 5, limit: 100, maxBytes: 100 * each })));
      expect(seqs(whole)).toEqual([6, 7, 8, 9, 10]);
      expect(whole.more).toBe(false);
      const atEnd = page(await one(log, read({ room: 'lobby', after: 8, limit: 100, maxBytes: 0 })));
      expect(seqs(atEnd)).toEqual([9]);
      expect(atEnd.more).toBe(true);
      const lastOne = page(await one(log, read({ room: 'lobby', after: 9, limit: 100, maxBytes: 0 })));
      expect(seqs(lastOne)).toEqual([10]);
      expect(lastOne.more).toBe(false);
    });

    it('with limit 0 gives only the position, and whether lines lie in the direction asked', async () => {
      const [latest, after, end] = (await log.run([
        read({ room: 'lobby', limit: 0 }),
        read({ room: 'lobby', after: 3, limit: 0 }),
        read({ room: 'lobby', after: 10, limit: 0 }),
      ])).map(page);
      expect(latest).toEqual({ ok: true, epoch: expect.any(String), head: 10, first: 1, messages: [], more: true });
      expect(after).toMatchObject({ messages: [], more: true });
      expect(end).toMatchObject({ messages: [], more: false });
    });

    it('answers a bad read alone, without failing the rest of its batch', async () => {
      const out = await log.run([
        read({ room: 'lobby', limit: -1 }),
        read({ room: 'lobby', after: 1, before: 5, limit: 2 }),
        read({ room: 'lobby', after: 1.5, limit: 2 }),
        append(line('lobby', 'still fine')),
      ]);
      expect(out.slice(0, 3).map((o) => o.ok)).toEqual([false, false, false]);
      expect(out[0]).toEqual({ ok: false, reason: expect.stringMatching(/limit/) });
      expect(appended(out[3]).seq).toBe(11);
    });
  });

  describe('retention', () => {
    it('keeps maxPerRoom lines per room; the rest continue their numbers', async () => {
      const log = await subject.open({ maxPerRoom: 3, maxDays: 30 });
      await fill(log, 'lobby', 5);
      await fill(log, 'design', 2);
      const lobby = page(await one(log, read({ room: 'lobby', limit: 10 })));
      expect(lobby).toMatchObject({ head: 5, first: 3, more: false });
      expect(seqs(lobby)).toEqual([3, 4, 5]);
      expect(lobby.messages.map((m) => m.content)).toEqual(['line 3', 'line 4', 'line 5']);
      expect(seqs(await one(log, read({ room: 'lobby', after: 0, limit: 2 })))).toEqual([3, 4]);
      expect(seqs(await one(log, read({ room: 'design', limit: 10 })))).toEqual([1, 2]);
      expect(await fill(log, 'lobby', 1)).toEqual([6]);
      await log.trim(T0);
      expect(seqs(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual([4, 5, 6]);
    });

    (shared ? it : it.skip)('holds a lower maxPerRoom than the log was written with from the first read', async () => {
      await fill(await subject.open(), 'lobby', 6);
      const log = await subject.open({ maxPerRoom: 2, maxDays: 30 });
      expect(page(await one(log, read({ room: 'lobby', limit: 10 })))).toMatchObject({ head: 6, first: 5, more: false });
      expect(seqs(await one(log, read({ room: 'lobby', after: 0, limit: 10 })))).toEqual([5, 6]);
      expect(await fill(log, 'lobby', 1)).toEqual([7]);
      expect(seqs(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual([6, 7]);
    });

    it('trims lines older than maxDays, oldest first, and never renumbers', async () => {
      const log = await subject.open({ maxPerRoom: 100, maxDays: 2 });
      // Days 0, 1, 2, 3, 4 at T0; the cutoff at T0 + 5 days is T0 + 3 days.
      await fill(log, 'lobby', 5, (i) => ({ at: T0 + i * DAY }));
      await fill(log, 'design', 1, () => ({ at: T0 }));
      await log.trim(T0 + 5 * DAY);
      const lobby = page(await one(log, read({ room: 'lobby', limit: 10 })));
      expect(lobby).toMatchObject({ head: 5, first: 4 });
      expect(seqs(lobby)).toEqual([4, 5]);
      // Everything trimmed: first is head + 1, and the next line goes on from the head.
      expect(page(await one(log, read({ room: 'design', limit: 10 })))).toMatchObject({ head: 1, first: 2, messages: [], more: false });
      expect(await fill(log, 'design', 1)).toEqual([2]);
      expect(page(await one(log, read({ room: 'design', limit: 10 })))).toMatchObject({ head: 2, first: 2 });
    });

    it('stops trimming by age at the first line still young, so what is kept has no holes', async () => {
      const log = await subject.open({ maxPerRoom: 100, maxDays: 1 });
      // A clock that stepped back: line 3 is older than line 2.
      await fill(log, 'lobby', 4, (i) => ({ at: [T0, T0 + 3 * DAY, T0, T0 + 3 * DAY][i] }));
      await log.trim(T0 + 2 * DAY);
      expect(seqs(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual([2, 3, 4]);
    });

    it('trims again as lines age: a later pass drops what has grown old since', async () => {
      const log = await subject.open({ maxPerRoom: 100, maxDays: 1 });
      await fill(log, 'lobby', 3, (i) => ({ at: T0 + i * DAY }));
      await log.trim(T0 + DAY + 1);
      expect(seqs(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual([2, 3]);
      await log.trim(T0 + 2 * DAY + 1);
      expect(seqs(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual([3]);
      await log.trim(T0 + 10 * DAY);
      expect(page(await one(log, read({ room: 'lobby', limit: 10 })))).toMatchObject({ head: 3, first: 4, messages: [] });
    });
  });

  describe('dedupe by client key', () => {
    it('answers a repeat of a kept key in the same room with the original, adding nothing', async () => {
      const log = await subject.open();
      const original = appended(await one(log, append(line('lobby', 'hello', { key: 'k1' }))));
      await fill(log, 'lobby', 1);
      const repeat = appended(await one(log, append(line('lobby', 'hello again', { key: 'k1', msgId: 'retry-id' }))));
      expect(repeat).toEqual({ ok: true, seq: original.seq, epoch: original.epoch, duplicate: { msgId: expect.any(String) } });
      const kept = page(await one(log, read({ room: 'lobby', limit: 10 })));
      expect(repeat.duplicate!.msgId).toBe(kept.messages[0].msgId);
      expect(repeat.duplicate!.msgId).not.toBe('retry-id');
      expect(kept).toMatchObject({ head: 2 });
      expect(kept.messages.map((m) => m.content)).toEqual(['hello', 'line 1']);
    });

    it('takes the same key in another room as a new line', async () => {
      const log = await subject.open();
      await log.run([append(line('lobby', 'hello', { key: 'k1' }))]);
      expect(appended(await one(log, append(line('design', 'hello', { key: 'k1' }))))).toEqual({
        ok: true, seq: 1, epoch: expect.any(String),
      });
    });

    it("takes another sender's line with the same key as a new line, and still catches each sender's repeat", async () => {
      const log = await subject.open();
      const mine = appended(await one(log, append(line('lobby', 'mine', { key: 'k1' }))));
      const theirs = appended(await one(log, append(line('lobby', 'theirs', { key: 'k1', from: 'mallory-id', name: 'mallory' }))));
      expect(theirs).toEqual({ ok: true, seq: mine.seq + 1, epoch: mine.epoch });
      const [myRepeat, theirRepeat] = (await log.run([
        append(line('lobby', 'mine', { key: 'k1' })),
        append(line('lobby', 'theirs', { key: 'k1', from: 'mallory-id', name: 'mallory' })),
      ])).map(appended);
      expect(myRepeat).toMatchObject({ seq: mine.seq, duplicate: { msgId: expect.any(String) } });
      expect(theirRepeat).toMatchObject({ seq: theirs.seq, duplicate: { msgId: expect.any(String) } });
      expect(page(await one(log, read({ room: 'lobby', limit: 10 }))).messages.map((m) => m.content)).toEqual(['mine', 'theirs']);
    });

    it('dedupes within one batch', async () => {
      const log = await subject.open();
      const [a, b] = (await log.run([append(line('lobby', 'x', { key: 'k' })), append(line('lobby', 'x', { key: 'k' }))])).map(appended);
      expect(a.duplicate).toBeUndefined();
      expect(b).toMatchObject({ seq: a.seq, duplicate: { msgId: expect.any(String) } });
      expect(page(await one(log, read({ room: 'lobby', limit: 0 }))).head).toBe(1);
    });

    it('frees a key once its line is past retention', async () => {
      const log = await subject.open({ maxPerRoom: 2, maxDays: 30 });
      await log.run([append(line('lobby', 'keyed', { key: 'k' }))]);
      await fill(log, 'lobby', 2);
      const again = appended(await one(log, append(line('lobby', 'keyed', { key: 'k' }))));
      expect(again).toEqual({ ok: true, seq: 4, epoch: expect.any(String) });
    });

    it('frees a key within the batch whose appends push its line out', async () => {
      const log = await subject.open({ maxPerRoom: 2, maxDays: 30 });
      await log.run([append(line('lobby', 'keyed', { key: 'k' })), append(line('lobby', 'two'))]);
      const [, again] = (await log.run([append(line('lobby', 'three')), append(line('lobby', 'keyed', { key: 'k' }))])).map(appended);
      expect(again).toEqual({ ok: true, seq: 4, epoch: expect.any(String) });
    });

    it('frees a key once its line is past maxDays', async () => {
      const log = await subject.open({ maxPerRoom: 100, maxDays: 1 });
      await log.run([append(line('lobby', 'keyed', { key: 'k', at: T0 })), append(line('lobby', 'young', { at: T0 + 2 * DAY }))]);
      await log.trim(T0 + 2 * DAY);
      expect(appended(await one(log, append(line('lobby', 'keyed', { key: 'k', at: T0 + 2 * DAY }))))).toEqual({
        ok: true, seq: 3, epoch: expect.any(String),
      });
    });
  });

  describe('an append that cannot be kept', () => {
    it('fails with a store reason, keeps nothing of it and uses up no Seq', async () => {
      const log = await subject.open({ maxPerRoom: 2, maxDays: 30 });
      await fill(log, 'lobby', 2, (i) => (i === 0 ? { key: 'k-first' } : {}));
      const before = page(await one(log, read({ room: 'lobby', limit: 10 })));
      await subject.breakRoom('lobby');
      const failed = await one(log, append(line('lobby', 'would push line 1 out', { key: 'k-new' })));
      expect(failed).toEqual({ ok: false, reason: expect.stringMatching(/^store: /) });
      // Nothing was kept, nothing evicted: the page is as it was.
      expect(page(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual(before);
      await subject.mend();
      // Nothing was used up: line 1's key is still kept, the failed line's key is free, and the Seqs go on from the head.
      expect(appended(await one(log, append(line('lobby', 'retry', { key: 'k-first' }))))).toMatchObject({ seq: 1, duplicate: {} });
      expect(appended(await one(log, append(line('lobby', 'would push line 1 out', { key: 'k-new' }))))).toEqual({
        ok: true, seq: 3, epoch: before.epoch,
      });
    });

    it('fails every op once the log is closed', async () => {
      const log = await subject.open();
      await log.close();
      expect((await log.run([append(line('lobby', 'late')), read({ room: 'lobby', limit: 1 })])).map((o) => o.ok)).toEqual([false, false]);
    });
  });

  // Only backends that commit a batch all or nothing (log.ts); the Redis log's op-by-op failures are in store-redis.spec.ts.
  if (atomic) describe('a batch that cannot commit (all or nothing)', () => {
    it('fails every op of the batch and keeps nothing of it, evicted lines included', async () => {
      const log = await subject.open({ maxPerRoom: 2, maxDays: 30 });
      await fill(log, 'lobby', 2, (i) => (i === 0 ? { key: 'k-first' } : {}));
      const before = page(await one(log, read({ room: 'lobby', limit: 10 })));
      subject.breakOn!('boom');
      const out = await log.run([
        append(line('lobby', 'pushes line 1 out')),
        append(line('elsewhere', 'a new room')),
        read({ room: 'lobby', limit: 10 }),
        append(line('lobby', 'boom')),
      ]);
      expect(out).toEqual(Array(4).fill({ ok: false, reason: expect.stringContaining('injected: no space left on device') }));
      expect(page(await one(log, read({ room: 'lobby', limit: 10 })))).toEqual(before);
      expect(page(await one(log, read({ room: 'elsewhere', limit: 10 })))).toMatchObject({ head: 0, messages: [] });
      // Nothing was used up: the key is still kept, and the Seqs go on from the last committed line.
      expect(appended(await one(log, append(line('lobby', 'retry', { key: 'k-first' })))).seq).toBe(1);
      expect(await fill(log, 'lobby', 1)).toEqual([3]);
    });
  });
});
