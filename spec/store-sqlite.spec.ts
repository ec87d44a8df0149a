// What only the SQLite log has: a data directory that must be usable at start,
// a versioned schema, a file that outlives the process and may be shared by
// several. The contract both logs keep is in store.contract.spec.ts.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AppendRequest, LogOp, LogOutcome, ReadOutcome } from '../src/store/log';
import { LATEST_VERSION, MIGRATIONS, Migration, migrate, schemaVersion } from '../src/store/migrations';
import { DB_FILE, SqliteLog, StoreOpenError } from '../src/store/sqlite';

const ROOT = path.resolve(__dirname, '..');
const RETENTION = { maxPerRoom: 10_000, maxDays: 30 };
const T0 = Date.UTC(2026, 11, 1);

let tmp: string;
const logs: SqliteLog[] = [];
beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rxchat-sqlite-')); });
afterEach(() => {
  for (const log of logs.splice(0)) log.close();
  fs.chmodSync(tmp, 0o700);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function open(dir: string, opts: Parameters<typeof SqliteLog.open>[2] = {}, retention = RETENTION): SqliteLog {
  const log = SqliteLog.open(dir, retention, opts);
  logs.push(log);
  return log;
}

let n = 0;
function append(room: string, content: string): LogOp {
  n += 1;
  const req: AppendRequest = { room, msgId: `msg-${n}`, from: 'alice-id', name: 'alice', content, at: T0 };
  return { op: 'append', req };
}
const latest = (room: string, limit = 100): LogOp => ({ op: 'read', req: { room, limit } });
function seqOf(o: LogOutcome): number {
  if (!o.ok || !('seq' in o)) throw new Error(`not appended: ${JSON.stringify(o)}`);
  return o.seq;
}
function page(o: LogOutcome): Extract<ReadOutcome, { ok: true }> {
  if (!o.ok || !('head' in o)) throw new Error(`not read: ${JSON.stringify(o)}`);
  return o;
}

describe('SqliteLog: the data directory', () => {
  it('creates a missing directory, nested, and the database in it', () => {
    const dir = path.join(tmp, 'a', 'b', 'data');
    open(dir);
    expect(fs.statSync(path.join(dir, DB_FILE)).isFile()).toBe(true);
  });

  it('fails at open, naming the directory, when a file stands where the directory should be', () => {
    const dir = path.join(tmp, 'data');
    fs.writeFileSync(dir, 'not a directory');
    expect(() => open(dir)).toThrow(StoreOpenError);
    expect(() => open(dir)).toThrow(`cannot use data directory ${dir}: EEXIST`);
  });

  it('fails at open when the directory would be inside a file', () => {
    fs.writeFileSync(path.join(tmp, 'file'), '');
    const dir = path.join(tmp, 'file', 'data');
    expect(() => open(dir)).toThrow(`cannot use data directory ${dir}: ENOTDIR`);
  });

  it('fails at open when the database file cannot be opened', () => {
    fs.mkdirSync(path.join(tmp, DB_FILE)); // a directory by the database's name
    let error: unknown;
    try { open(tmp); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(StoreOpenError);
    expect((error as StoreOpenError).message).toMatch(new RegExp(`^cannot use data directory ${tmp}: .*unable to open database file`));
    expect((error as StoreOpenError).code).toBe('STORE_OPEN');
  });

  // Root writes through any mode bits, so only another user can see this one fail.
  (process.getuid?.() === 0 ? it.skip : it)('fails at open when the directory is read-only', () => {
    const dir = path.join(tmp, 'ro');
    fs.mkdirSync(dir, { mode: 0o500 });
    expect(() => open(dir)).toThrow(`cannot use data directory ${dir}`);
  });

  it('fails at open, not at the first append, when the database can be read but not written', () => {
    open(tmp).close();
    // Read-only as a filesystem mounted read-only would make it, for root too.
    const db = new Database(path.join(tmp, DB_FILE), { readonly: true });
    expect(() => migrate(db)).toThrow(/readonly/);
    db.close();
  });
});

describe('SqliteLog: schema migrations', () => {
  it('brings a new database to the last version once, and records it in the file', () => {
    open(tmp).close();
    open(tmp).close(); // migration 1 is a plain CREATE TABLE: running it again would throw
    const db = new Database(path.join(tmp, DB_FILE));
    expect(schemaVersion(db)).toBe(LATEST_VERSION);
    expect(LATEST_VERSION).toBe(MIGRATIONS.length);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(['messages', 'rooms']);
    db.close();
  });

  it('runs only the migrations a database lacks, each once, and records the last', () => {
    const db = new Database(path.join(tmp, 'm.db'));
    const n = MIGRATIONS.length;
    expect(migrate(db)).toEqual({ from: 0, to: n });
    let ran = 0;
    const next: Migration = { version: n + 1, why: 'spec', up: (d) => { ran++; d.exec('ALTER TABLE rooms ADD COLUMN topic TEXT'); } };
    expect(migrate(db, [...MIGRATIONS, next])).toEqual({ from: n, to: n + 1 });
    expect(migrate(db, [...MIGRATIONS, next])).toEqual({ from: n + 1, to: n + 1 });
    expect(ran).toBe(1);
    expect(schemaVersion(db)).toBe(n + 1);
    db.close();
  });

  it('leaves the version where it was when a migration fails', () => {
    const db = new Database(path.join(tmp, 'm.db'));
    migrate(db);
    const n = MIGRATIONS.length;
    const bad: Migration = { version: n + 1, why: 'spec', up: (d) => { d.exec('CREATE TABLE half (x)'); throw new Error('bad migration'); } };
    expect(() => migrate(db, [...MIGRATIONS, bad])).toThrow('bad migration');
    expect(schemaVersion(db)).toBe(n);
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half'").pluck().get()).toBe(0);
    db.close();
  });

  it('migration 2 keeps a version-1 file\'s keyed lines and dedupes them per sender from then on', () => {
    const db = new Database(path.join(tmp, DB_FILE));
    migrate(db, MIGRATIONS.slice(0, 1));
    db.exec(`INSERT INTO rooms (id, name, epoch, last_seq) VALUES (1, 'lobby', 'EpochOne', 1);
      INSERT INTO messages (room_id, seq, at, key, msg_id, from_id, name, content)
        VALUES (1, 1, ${T0}, 'k1', 'msg-old', 'alice-id', 'alice', 'kept');`);
    db.close();
    const log = open(tmp);
    const keyed = (from: string): LogOp => ({
      op: 'append', req: { room: 'lobby', msgId: `msg-${from}`, from, name: from, content: 'again', at: T0, key: 'k1' },
    });
    const [repeat, other] = log.run([keyed('alice-id'), keyed('mallory-id')]);
    expect(repeat).toEqual({ ok: true, seq: 1, epoch: 'EpochOne', duplicate: { msgId: 'msg-old' } });
    expect(other).toEqual({ ok: true, seq: 2, epoch: 'EpochOne' });
  });

  it('refuses a database from a newer rxchat', () => {
    const db = new Database(path.join(tmp, DB_FILE));
    db.pragma('user_version = 99');
    db.close();
    expect(() => open(tmp)).toThrow(/schema version 99, newer than this server knows/);
  });
});

describe('SqliteLog: a file that outlives the process', () => {
  it('reopens with every line, the same epoch, and Seqs going on', () => {
    const first = open(tmp);
    const [a, b] = first.run([append('lobby', 'one'), append('lobby', 'two')]);
    const epoch = page(first.run([latest('lobby', 0)])[0]).epoch;
    first.close();
    const again = open(tmp);
    const kept = page(again.run([latest('lobby')])[0]);
    expect(kept.epoch).toBe(epoch);
    expect(kept.messages.map((m) => [m.seq, m.content])).toEqual([[seqOf(a), 'one'], [seqOf(b), 'two']]);
    expect(seqOf(again.run([append('lobby', 'three')])[0])).toBe(3);
  });

  it('keeps every line a killed process had committed', () => {
    // A child appends in batches, then SIGKILLs itself without closing: no
    // checkpoint, no clean shutdown; only what each commit wrote to the WAL.
    const script = `
      const { SqliteLog } = require(${JSON.stringify(path.join(ROOT, 'dist/src/store/sqlite.js'))});
      const log = SqliteLog.open(${JSON.stringify(tmp)}, { maxPerRoom: 10000, maxDays: 30 });
      let acked = 0;
      for (let b = 0; b < 20; b++) {
        const ops = [];
        for (let i = 0; i < 10; i++) ops.push({ op: 'append', req: { room: 'r' + (i % 3), msgId: 'm' + b + '-' + i, from: 'f', name: 'n', content: 'c', at: 1 } });
        acked += log.run(ops).filter((o) => o.ok).length;
      }
      process.stdout.write(String(acked));
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toBe('200');
    expect(fs.existsSync(path.join(tmp, `${DB_FILE}-wal`))).toBe(true);
    const log = open(tmp);
    const heads = ['r0', 'r1', 'r2'].map((r) => page(log.run([latest(r, 0)])[0]).head);
    expect(heads).toEqual([80, 60, 60]); // i % 3 of 0..9: 4, 3 and 3 lines a batch
    const r1 = page(log.run([{ op: 'read', req: { room: 'r1', after: 0, limit: 1000 } }])[0]);
    expect(r1.messages.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });
});

describe('SqliteLog: several processes on one file', () => {
  it('hands out each Seq once when two logs append to the same room in turn', () => {
    const a = open(tmp);
    const b = open(tmp);
    const order = [a, b, b, a, b, a, a].map((log) => seqOf(log.run([append('lobby', 'x')])[0]));
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const seenByA = page(a.run([latest('lobby')])[0]);
    const seenByB = page(b.run([latest('lobby')])[0]);
    expect(seenByA.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seenByB).toEqual(seenByA);
  });

  it('sees a room another log made, with its epoch', () => {
    const a = open(tmp);
    const b = open(tmp);
    const epoch = page(a.run([latest('new-room', 0)])[0]).epoch;
    expect(page(b.run([latest('new-room', 0)])[0]).epoch).toBe(epoch);
  });

  it('fails a batch cleanly while another process holds the write lock past busy_timeout, then carries on', () => {
    const log = open(tmp, { busyTimeoutMs: 20 });
    log.run([append('lobby', 'before')]);
    const other = new Database(path.join(tmp, DB_FILE));
    other.exec('BEGIN IMMEDIATE');
    const out = log.run([append('lobby', 'blocked'), latest('lobby')]);
    expect(out).toEqual([
      { ok: false, reason: expect.stringMatching(/locked|busy/i) },
      { ok: false, reason: expect.stringMatching(/locked|busy/i) },
    ]);
    other.exec('ROLLBACK');
    other.close();
    expect(seqOf(log.run([append('lobby', 'after')])[0])).toBe(2);
    expect(page(log.run([latest('lobby')])[0]).messages.map((m) => m.content)).toEqual(['before', 'after']);
  });
});

describe('SqliteLog: trimming in bounded steps', () => {
  it('deletes at most trimRows lines per step, and a pass reaches every room', async () => {
    const log = open(tmp, { trimRows: 3, trimRooms: 2 }, { maxPerRoom: 100, maxDays: 1 });
    for (const room of ['a', 'b', 'c', 'd', 'e']) log.run([append(room, '1'), append(room, '2'), append(room, '3'), append(room, '4')]);
    const later = T0 + 2 * 86_400_000;
    const first = log.trimStep(later);
    expect(first).toEqual({ deleted: 3, more: true });
    let deleted = first.deleted;
    for (let i = 0; i < 20; i++) {
      const step = log.trimStep(later);
      expect(step.deleted).toBeLessThanOrEqual(3);
      deleted += step.deleted;
      if (!step.more) break;
    }
    expect(deleted).toBe(20);
    for (const room of ['a', 'e']) expect(page(log.run([latest(room)])[0])).toMatchObject({ head: 4, first: 5, messages: [] });
  });

  it('holds a lower maxPerRoom than the file was written with: at a room\'s next batch, and in trim for the rest', async () => {
    open(tmp).run(['lobby', 'other'].flatMap((room) => Array.from({ length: 6 }, (_, i) => append(room, `l${i + 1}`))));
    const log = open(tmp, {}, { maxPerRoom: 2, maxDays: 30 });
    expect(page(log.run([latest('lobby')])[0]).messages.map((m) => m.seq)).toEqual([5, 6]);
    const db = new Database(path.join(tmp, DB_FILE));
    const count = db.prepare<[], number>("SELECT count(*) FROM messages JOIN rooms ON rooms.id = room_id WHERE rooms.name = 'other'").pluck();
    expect(count.get()).toBe(6);
    await log.trim(T0);
    expect(count.get()).toBe(2);
    db.close();
  });
});
