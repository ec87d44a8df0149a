// The message log's contract (src/store/log.ts), one set of specs for every
// backend: what the hub may count on whichever log it runs on. The SQLite log
// runs in a fresh temporary directory per test; what only SQLite has (the
// directory, migrations, several processes) is in store-sqlite.spec.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AppendOutcome, AppendRequest, LogOp, LogOutcome, ReadOutcome, ReadRequest, Retention } from '../src/store/log';
import { MemoryLog, TrimReport } from '../src/store/memory';
import { DB_FILE, SqliteLog } from '../src/store/sqlite';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 1);
const WIDE: Retention = { maxPerRoom: 10_000, maxDays: 30 };

interface Log {
  run(ops: readonly LogOp[]): LogOutcome[];
  trim(now: number): void | Promise<void>;
  trimStep(now: number): TrimReport;
  close(): void;
}

/** A backend under test: opens logs, and makes a commit fail for real. */
interface Subject {
  open(retention?: Retention, random?: () => string): Log;
  /** From now on a batch holding a line with this content cannot commit. */
  breakOn(content: string): void;
  cleanup(): void;
}

function memorySubject(): Subject {
  let poison: string | undefined;
  return {
    open: (retention = WIDE, random) => new MemoryLog({
      retention,
      random,
      onCommit: (lines) => {
        if (lines.some((l) => l.content === poison)) throw new Error('injected: no space left on device');
      },
    }),
    breakOn: (content) => { poison = content; },
    cleanup: () => undefined,
  };
}

function sqliteSubject(): Subject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxchat-store-'));
  const opened: SqliteLog[] = [];
  return {
    open: (retention = WIDE, random) => {
      const log = SqliteLog.open(dir, retention, { random });
      opened.push(log);
      return log;
    },
    // Another connection to the same file, as an operator or a second process
    // would have: a trigger makes SQLite itself refuse the line, so the batch
    // goes down SqliteLog's real rollback path.
    breakOn: (content) => {
      const db = new Database(path.join(dir, DB_FILE));
      db.prepare(`CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.content = '${content.replace(/'/g, "''")}'
        BEGIN SELECT RAISE(ABORT, 'injected: no space left on device'); END`).run();
      db.close();
    },
    cleanup: () => {
      for (const log of opened) log.close();
      fs.rmSync(dir, { recursive: true, force: true });
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

/** Appends `count` lines to `room`, one batch, and returns their Seqs. */
function fill(log: Log, room: string, count: number, extra: (i: number) => Partial<AppendRequest> = () => ({})): number[] {
  const ops = Array.from({ length: count }, (_, i) => append(line(room, `line ${i + 1}`, extra(i))));
  return log.run(ops).map((o) => appended(o).seq);
}

describe.each([
  ['MemoryLog', memorySubject],
  ['SqliteLog', sqliteSubject],
])('message log contract: %s', (_name, make) => {
  let subject: Subject;
  beforeEach(() => { subject = make(); });
  afterEach(() => subject.cleanup());

  describe('Seq and Epoch', () => {
    it('numbers each room 1, 2, 3... on its own, with one epoch per room', () => {
      const log = subject.open();
      const out = log.run([
        append(line('lobby', 'a')), append(line('design', 'b')), append(line('lobby', 'c')), append(line('lobby', 'd')),
      ]).map(appended);
      expect(out.map((o) => o.seq)).toEqual([1, 1, 2, 3]);
      expect(out[2].epoch).toBe(out[0].epoch);
      expect(out[3].epoch).toBe(out[0].epoch);
      expect(out[1].epoch).not.toBe(out[0].epoch);
      expect(out[0].epoch).toMatch(/^[A-Za-z0-9]{8}$/);
      expect(fill(log, 'lobby', 2)).toEqual([4, 5]);
      expect(fill(log, 'design', 1)).toEqual([2]);
    });

    it('makes a room epoch at the first read, and keeps it for the appends that follow', () => {
      let made = 0;
      const log = subject.open(WIDE, () => `epoch${++made}AB`.slice(0, 8));
      const before = page(log.run([read({ room: 'quiet', limit: 0 })])[0]);
      expect(before).toEqual({ ok: true, epoch: 'epoch1AB', head: 0, first: 1, messages: [], more: false });
      expect(appended(log.run([append(line('quiet', 'hi'))])[0])).toEqual({ ok: true, seq: 1, epoch: 'epoch1AB' });
      expect(page(log.run([read({ room: 'quiet', limit: 0 })])[0]).epoch).toBe('epoch1AB');
      expect(made).toBe(1);
    });

    it('lets a read later in a batch see the appends before it', () => {
      const log = subject.open();
      const out = log.run([
        read({ room: 'lobby', limit: 10 }),
        append(line('lobby', 'one')),
        append(line('lobby', 'two')),
        read({ room: 'lobby', limit: 10 }),
      ]);
      expect(page(out[0]).head).toBe(0);
      expect(page(out[3])).toMatchObject({ head: 2, first: 1, more: false });
      expect(page(out[3]).messages.map((m) => m.content)).toEqual(['one', 'two']);
    });
  });

  describe('reading', () => {
    let log: Log;
    beforeEach(() => {
      log = subject.open();
      fill(log, 'lobby', 10, (i) => ({ at: T0 + i, ...(i === 4 ? { key: 'k-5' } : {}) }));
    });

    it('gives back every field of a line as appended', () => {
      const req = line('design', 'the whole line', { key: 'client-key-1', at: T0 + 42 });
      log.run([append(req)]);
      expect(page(log.run([read({ room: 'design', limit: 1 })])[0]).messages).toEqual([{ ...req, seq: 1 }]);
      const plain = page(log.run([read({ room: 'lobby', after: 0, limit: 1 })])[0]).messages[0];
      expect(plain).toEqual({ room: 'lobby', seq: 1, msgId: expect.any(String), from: 'alice-id', name: 'alice', content: 'line 1', at: T0 });
      expect('key' in plain).toBe(false);
    });

    it('reads the latest page, and older ones with before, oldest first, saying whether older lines remain', () => {
      const latest = page(log.run([read({ room: 'lobby', limit: 3 })])[0]);
      expect(latest).toMatchObject({ head: 10, first: 1, more: true });
      expect(seqs(latest)).toEqual([8, 9, 10]);
      const older = log.run([read({ room: 'lobby', before: 8, limit: 3 })])[0];
      expect(seqs(older)).toEqual([5, 6, 7]);
      expect(page(older).more).toBe(true);
      const oldest = log.run([read({ room: 'lobby', before: 3, limit: 5 })])[0];
      expect(seqs(oldest)).toEqual([1, 2]);
      expect(page(oldest).more).toBe(false);
      expect(page(log.run([read({ room: 'lobby', limit: 10 })])[0]).more).toBe(false);
      expect(seqs(log.run([read({ room: 'lobby', before: 1, limit: 5 })])[0])).toEqual([]);
    });

    it('reads forward with after, saying whether newer lines remain', () => {
      const first = log.run([read({ room: 'lobby', after: 0, limit: 4 })])[0];
      expect(seqs(first)).toEqual([1, 2, 3, 4]);
      expect(page(first).more).toBe(true);
      const last = log.run([read({ room: 'lobby', after: 8, limit: 5 })])[0];
      expect(seqs(last)).toEqual([9, 10]);
      expect(page(last).more).toBe(false);
      expect(page(log.run([read({ room: 'lobby', after: 6, limit: 4 })])[0]).more).toBe(false);
      const beyond = page(log.run([read({ room: 'lobby', after: 10, limit: 5 })])[0]);
      expect(beyond).toMatchObject({ messages: [], more: false, head: 10 });
    });

    it('with limit 0 gives only the position, and whether lines lie in the direction asked', () => {
      const [latest, after, end] = log.run([
        read({ room: 'lobby', limit: 0 }),
        read({ room: 'lobby', after: 3, limit: 0 }),
        read({ room: 'lobby', after: 10, limit: 0 }),
      ]).map(page);
      expect(latest).toEqual({ ok: true, epoch: expect.any(String), head: 10, first: 1, messages: [], more: true });
      expect(after).toMatchObject({ messages: [], more: true });
      expect(end).toMatchObject({ messages: [], more: false });
    });

    it('answers a bad read alone, without failing the rest of its batch', () => {
      const out = log.run([
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
      const log = subject.open({ maxPerRoom: 3, maxDays: 30 });
      fill(log, 'lobby', 5);
      fill(log, 'design', 2);
      const lobby = page(log.run([read({ room: 'lobby', limit: 10 })])[0]);
      expect(lobby).toMatchObject({ head: 5, first: 3, more: false });
      expect(seqs(lobby)).toEqual([3, 4, 5]);
      expect(lobby.messages.map((m) => m.content)).toEqual(['line 3', 'line 4', 'line 5']);
      expect(seqs(log.run([read({ room: 'lobby', after: 0, limit: 2 })])[0])).toEqual([3, 4]);
      expect(seqs(log.run([read({ room: 'design', limit: 10 })])[0])).toEqual([1, 2]);
      expect(fill(log, 'lobby', 1)).toEqual([6]);
      await log.trim(T0);
      expect(seqs(log.run([read({ room: 'lobby', limit: 10 })])[0])).toEqual([4, 5, 6]);
    });

    it('trims lines older than maxDays, oldest first, and never renumbers', async () => {
      const log = subject.open({ maxPerRoom: 100, maxDays: 2 });
      // Days 0, 1, 2, 3, 4 at T0; the cutoff at T0 + 5 days is T0 + 3 days.
      fill(log, 'lobby', 5, (i) => ({ at: T0 + i * DAY }));
      fill(log, 'design', 1, () => ({ at: T0 }));
      await log.trim(T0 + 5 * DAY);
      const lobby = page(log.run([read({ room: 'lobby', limit: 10 })])[0]);
      expect(lobby).toMatchObject({ head: 5, first: 4 });
      expect(seqs(lobby)).toEqual([4, 5]);
      // Everything trimmed: first is head + 1, and the next line goes on from the head.
      expect(page(log.run([read({ room: 'design', limit: 10 })])[0])).toMatchObject({ head: 1, first: 2, messages: [], more: false });
      expect(fill(log, 'design', 1)).toEqual([2]);
      expect(page(log.run([read({ room: 'design', limit: 10 })])[0])).toMatchObject({ head: 2, first: 2 });
    });

    it('stops trimming by age at the first line still young, so what is kept has no holes', async () => {
      const log = subject.open({ maxPerRoom: 100, maxDays: 1 });
      // A clock that stepped back: line 3 is older than line 2.
      fill(log, 'lobby', 4, (i) => ({ at: [T0, T0 + 3 * DAY, T0, T0 + 3 * DAY][i] }));
      await log.trim(T0 + 2 * DAY);
      expect(seqs(log.run([read({ room: 'lobby', limit: 10 })])[0])).toEqual([2, 3, 4]);
    });
  });

  describe('dedupe by client key', () => {
    it('answers a repeat of a kept key in the same room with the original, adding nothing', () => {
      const log = subject.open();
      const original = log.run([append(line('lobby', 'hello', { key: 'k1' }))]).map(appended)[0];
      fill(log, 'lobby', 1);
      const repeat = appended(log.run([append(line('lobby', 'hello again', { key: 'k1', msgId: 'retry-id' }))])[0]);
      expect(repeat).toEqual({ ok: true, seq: original.seq, epoch: original.epoch, duplicate: { msgId: expect.any(String) } });
      const kept = page(log.run([read({ room: 'lobby', limit: 10 })])[0]);
      expect(repeat.duplicate!.msgId).toBe(kept.messages[0].msgId);
      expect(repeat.duplicate!.msgId).not.toBe('retry-id');
      expect(kept).toMatchObject({ head: 2 });
      expect(kept.messages.map((m) => m.content)).toEqual(['hello', 'line 1']);
    });

    it('takes the same key in another room as a new line', () => {
      const log = subject.open();
      log.run([append(line('lobby', 'hello', { key: 'k1' }))]);
      expect(appended(log.run([append(line('design', 'hello', { key: 'k1' }))])[0])).toEqual({
        ok: true, seq: 1, epoch: expect.any(String),
      });
    });

    it("takes another sender's line with the same key as a new line, and still catches each sender's repeat", () => {
      const log = subject.open();
      const mine = appended(log.run([append(line('lobby', 'mine', { key: 'k1' }))])[0]);
      const theirs = appended(log.run([append(line('lobby', 'theirs', { key: 'k1', from: 'mallory-id', name: 'mallory' }))])[0]);
      expect(theirs).toEqual({ ok: true, seq: mine.seq + 1, epoch: mine.epoch });
      const [myRepeat, theirRepeat] = log.run([
        append(line('lobby', 'mine', { key: 'k1' })),
        append(line('lobby', 'theirs', { key: 'k1', from: 'mallory-id', name: 'mallory' })),
      ]).map(appended);
      expect(myRepeat).toMatchObject({ seq: mine.seq, duplicate: { msgId: expect.any(String) } });
      expect(theirRepeat).toMatchObject({ seq: theirs.seq, duplicate: { msgId: expect.any(String) } });
      expect(page(log.run([read({ room: 'lobby', limit: 10 })])[0]).messages.map((m) => m.content)).toEqual(['mine', 'theirs']);
    });

    it('dedupes within one batch', () => {
      const log = subject.open();
      const [a, b] = log.run([append(line('lobby', 'x', { key: 'k' })), append(line('lobby', 'x', { key: 'k' }))]).map(appended);
      expect(a.duplicate).toBeUndefined();
      expect(b).toMatchObject({ seq: a.seq, duplicate: { msgId: expect.any(String) } });
      expect(page(log.run([read({ room: 'lobby', limit: 0 })])[0]).head).toBe(1);
    });

    it('frees a key once its line is past retention', () => {
      const log = subject.open({ maxPerRoom: 2, maxDays: 30 });
      log.run([append(line('lobby', 'keyed', { key: 'k' }))]);
      fill(log, 'lobby', 2);
      const again = appended(log.run([append(line('lobby', 'keyed', { key: 'k' }))])[0]);
      expect(again).toEqual({ ok: true, seq: 4, epoch: expect.any(String) });
    });

    it('frees a key within the batch whose appends push its line out', () => {
      const log = subject.open({ maxPerRoom: 2, maxDays: 30 });
      log.run([append(line('lobby', 'keyed', { key: 'k' })), append(line('lobby', 'two'))]);
      const [, again] = log.run([append(line('lobby', 'three')), append(line('lobby', 'keyed', { key: 'k' }))]).map(appended);
      expect(again).toEqual({ ok: true, seq: 4, epoch: expect.any(String) });
    });
  });

  describe('a batch that cannot commit', () => {
    it('fails every op of the batch and keeps nothing of it, evicted lines included', () => {
      const log = subject.open({ maxPerRoom: 2, maxDays: 30 });
      fill(log, 'lobby', 2, (i) => (i === 0 ? { key: 'k-first' } : {}));
      const before = page(log.run([read({ room: 'lobby', limit: 10 })])[0]);
      subject.breakOn('boom');
      const out = log.run([
        append(line('lobby', 'pushes line 1 out')),
        append(line('elsewhere', 'a new room')),
        read({ room: 'lobby', limit: 10 }),
        append(line('lobby', 'boom')),
      ]);
      expect(out).toEqual(Array(4).fill({ ok: false, reason: expect.stringContaining('injected: no space left on device') }));
      expect(page(log.run([read({ room: 'lobby', limit: 10 })])[0])).toEqual(before);
      expect(page(log.run([read({ room: 'elsewhere', limit: 10 })])[0])).toMatchObject({ head: 0, messages: [] });
      // Nothing was used up: the key is still kept, and the Seqs go on from the last committed line.
      expect(appended(log.run([append(line('lobby', 'retry', { key: 'k-first' }))])[0]).seq).toBe(1);
      expect(fill(log, 'lobby', 1)).toEqual([3]);
    });

    it('fails every op once the log is closed', () => {
      const log = subject.open();
      log.close();
      expect(log.run([append(line('lobby', 'late')), read({ room: 'lobby', limit: 1 })]).map((o) => o.ok)).toEqual([false, false]);
    });
  });
});
