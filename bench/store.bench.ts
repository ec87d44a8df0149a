// `npm run bench:store`: the SQLite message log at the size issue 7 names. Fills
// a log in a temporary directory with 1,000,000 lines over 1,000 rooms (batches
// of 500, one transaction each), then times through the log's own `run`:
//   - a page of 100 history lines (`before` a random Seq): target < 2 ms median;
//   - the data part of a resume, 1,000 lines `after` a random Seq: the whole
//     resume must reach the client in < 100 ms.
// It also appends keyed lines (the dedupe index) and small batches (one
// event-loop turn of a quiet server), since those cost more per line.
// Runs compiled (npm run bench:store builds first). --quick: 100,000 lines over
// 100 rooms (the same 1,000 a room, so the reads are alike), a smoke run. Prints a markdown table and one `RESULT {json}` line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AppendRequest, LogOp, LogOutcome } from '../src/store/log';
import { DB_FILE, SqliteLog } from '../src/store/sqlite';

/** Rooms the lines are spread over: 1,000, or 100 with --quick. */
let ROOMS = 1_000;
const BATCH = 500;
const CONTENT = 'a chat line of about the length people type, eighty characters or so, padded...';

/** A small seeded generator (mulberry32): the same rooms and points every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = seeded(7);
const pick = (n: number): number => Math.floor(rand() * n);
const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
/** A 21-character ID like the edge's nanoid, from the seeded generator. */
function id21(): string {
  let s = '';
  for (let i = 0; i < 21; i++) s += ID_CHARS[pick(64)];
  return s;
}

function line(keyed: boolean): AppendRequest {
  return {
    room: `room-${pick(ROOMS)}`, msgId: id21(), from: id21(), name: 'alice', content: CONTENT, at: Date.now(),
    ...(keyed ? { key: id21() } : {}),
  };
}

interface AppendCost { lines: number; perSec: number; cpuUs: number; userUs: number }

/** Appends `total` lines in batches of `batch`; only `run` is timed (wall and CPU), not making the lines. */
function appendLines(log: SqliteLog, total: number, batch: number, keyed: boolean): AppendCost {
  let wallNs = 0n;
  let user = 0;
  let system = 0;
  for (let done = 0; done < total; done += batch) {
    const ops: LogOp[] = Array.from({ length: Math.min(batch, total - done) }, () => ({ op: 'append', req: line(keyed) }));
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const out = log.run(ops);
    wallNs += process.hrtime.bigint() - t0;
    const c = process.cpuUsage(c0);
    user += c.user;
    system += c.system;
    const failed = out.find((o) => !o.ok);
    if (failed) throw new Error(`append failed: ${JSON.stringify(failed)}`);
  }
  return { lines: total, perSec: total / (Number(wallNs) / 1e9), cpuUs: (user + system) / total, userUs: user / total };
}

interface Timing { samples: number; medianMs: number; p99Ms: number }

function timings(ms: number[]): Timing {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { samples: sorted.length, medianMs: at(0.5), p99Ms: at(0.99) };
}

function position(log: SqliteLog, room: string): { head: number; first: number } {
  const o = log.run([{ op: 'read', req: { room, limit: 0 } }])[0];
  if (!o.ok || !('head' in o)) throw new Error(`position of ${room} failed`);
  return o;
}

/**
 * Times `samples` single-read batches made by `req` in random rooms holding
 * more than `expect` lines (rooms get 1,000 ± 100), checking each returns `expect`.
 */
function timeReads(log: SqliteLog, samples: number, expect: number, req: (room: string, head: number, first: number) => LogOp): Timing {
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    let room: string;
    let at: { head: number; first: number };
    do {
      room = `room-${pick(ROOMS)}`;
      at = position(log, room);
    } while (at.head - at.first + 1 <= expect);
    const op = req(room, at.head, at.first);
    const t0 = process.hrtime.bigint();
    const out: LogOutcome = log.run([op])[0];
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (!out.ok || !('messages' in out) || out.messages.length !== expect) {
      throw new Error(`read of ${room} gave ${out.ok && 'messages' in out ? out.messages.length : JSON.stringify(out)} lines, not ${expect}`);
    }
  }
  return timings(ms);
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const total = quick ? 100_000 : 1_000_000;
  if (quick) ROOMS = 100;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxchat-bench-store-'));
  const started = Date.now();
  try {
    const log = SqliteLog.open(dir, { maxPerRoom: 10_000, maxDays: 30 });
    const fill = appendLines(log, total, BATCH, false);
    const keyed = appendLines(log, quick ? 10_000 : 50_000, BATCH, true);
    const small = appendLines(log, quick ? 5_000 : 20_000, 10, false);
    const heapMB = process.memoryUsage().heapUsed / 1e6;
    // A page of 100 before a random point at least 100 lines above the oldest kept.
    const pageT = timeReads(log, quick ? 500 : 2_000, 100, (room, head, first) =>
      ({ op: 'read', req: { room, before: first + 100 + pick(head - first - 99), limit: 100 } }));
    // The replay of a resume: 1,000 lines after a random Seq with at least 1,000 newer.
    const replayT = timeReads(log, quick ? 100 : 300, 1_000, (room, head, first) =>
      ({ op: 'read', req: { room, after: first - 1 + pick(head - first - 999), limit: 1_000 } }));
    log.close();
    const fileMB = fs.statSync(path.join(dir, DB_FILE)).size / 1e6;
    const result = {
      node: process.version, lines: total, rooms: ROOMS, batch: BATCH,
      append: fill, appendKeyed: keyed, appendBatchOf10: small,
      page100: pageT, replay1000: replayT, fileMB, heapMB, seconds: (Date.now() - started) / 1000,
    };
    const f = (x: number, d = 1) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
    const cost = (what: string, c: AppendCost) => `| ${what} | ${f(c.perSec, 0)} lines/s | ${f(c.cpuUs)} µs CPU (${f(c.userUs)} user) per line | – |`;
    const time = (what: string, t: Timing, target: string) =>
      `| ${what} | ${f(t.medianMs, 2)} ms median | ${f(t.p99Ms, 2)} ms p99 (${t.samples} samples) | ${target} |`;
    process.stdout.write([
      `SQLite message log, ${total.toLocaleString('en-US')} lines over ${ROOMS.toLocaleString('en-US')} rooms (node ${process.version}; file ${f(fileMB, 0)} MB):`,
      '',
      '| what | rate / median | cost / p99 | target |',
      '|---|---:|---:|---:|',
      cost(`append, ${BATCH} per transaction (${fill.lines.toLocaleString('en-US')} lines)`, fill),
      cost(`append with a client key, ${BATCH} per transaction (${keyed.lines.toLocaleString('en-US')})`, keyed),
      cost(`append, 10 per transaction (${small.lines.toLocaleString('en-US')})`, small),
      time('page of 100 (`before` a random Seq)', pageT, '< 2 ms median'),
      time('replay of 1,000 (`after` a random Seq)', replayT, 'resume < 100 ms'),
      '',
      `RESULT ${JSON.stringify(result)}`,
      '',
    ].join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
