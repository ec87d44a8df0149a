// issue 7, 3: an Ack means committed. The real process with its SQLite log in a
// data directory, clients sending throughout, stopped with SIGTERM or killed with
// SIGKILL, then started again on the same directory: every acked line is in the
// history, in order, exactly once, and a client that comes back after the
// restart catches up from its last Seq with nothing missing and nothing twice.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Message } from '../src/core/protocol';
import { TestClient } from './support/client';
import { ServerProcess, spawnServer, startServerProcess, within } from './support/server-process';
import { BURSTS_ARGS } from './support/limits';

jest.setTimeout(40_000);

let dir: string;
let proc: ServerProcess | undefined;
const clients: TestClient[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rxchat-restart-'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await proc?.stop();
  proc = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function connect(url: string, query: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(url, query);
  clients.push(c);
  return c;
}

/** Every line of a room after a Seq, oldest first, read with History After pages of 100. */
async function historyAfter(c: TestClient, room: string, after: number): Promise<Message[]> {
  const all: Message[] = [];
  for (let i = 0; i < 1000; i++) {
    const page = await c.request({ Type: 13, Room: room, After: after, Limit: 100 }, 13);
    const lines = page.Messages as Message[];
    all.push(...lines);
    if (!page.More || lines.length === 0) break;
    after = lines[lines.length - 1].Seq as number;
  }
  return all;
}

/**
 * Three senders keep sending until the server goes; resolves with the MsgIDs
 * each had acked (in the order acked). A reader in the room records the Seqs it
 * received live.
 */
async function load(url: string, stopAfterAcks: number, stopServer: () => void) {
  const senders = await Promise.all([0, 1, 2].map((i) => connect(url, { name: `s${i}` })));
  const reader = await connect(url, { name: 'reader' });
  const acked: string[] = [];
  const live: Message[] = [];
  reader.ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as Message;
    if (m.Type === 1) live.push(m);
  });
  let stopped = false;
  for (const s of senders) {
    s.ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Message;
      if (m.Type !== 12) return;
      acked.push(m.MsgID as string);
      if (acked.length === stopAfterAcks && !stopped) {
        stopped = true;
        stopServer();
      }
    });
  }
  // Each sender keeps a window of 8 lines in flight until its socket closes.
  await Promise.all(senders.map(async (s, i) => {
    let n = 0;
    const inFlight = () => n - acked.length / 3;
    while (s.ws.readyState === s.ws.OPEN && n < 5000) {
      if (inFlight() < 8) s.send({ Type: 1, Room: 'lobby', Content: `s${i}-${n++}`, Key: `k${i}-${n}` });
      else await new Promise((r) => setImmediate(r));
    }
    await s.closed(5000).catch(() => undefined);
  }));
  await reader.closed(5000).catch(() => undefined);
  return { acked, live, reader };
}

async function check(signal: 'SIGTERM' | 'SIGKILL') {
  proc = await startServerProcess(['--data', dir, '--log-level', 'warn', ...BURSTS_ARGS]);
  const first = proc;
  const { acked, live } = await load(first.url, 300, () => first.child.kill(signal));
  await within(first.exited, 10_000, `exit after ${signal}`);
  expect(acked.length).toBeGreaterThanOrEqual(300);

  proc = await startServerProcess(['--data', dir, '--log-level', 'warn', ...BURSTS_ARGS]);
  const reader = await connect(proc.url, { name: 'after' });
  const history = await historyAfter(reader, 'lobby', 0);
  const seqs = history.map((m) => m.Seq as number);
  // In order, exactly once, no gap: 1..n.
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  const kept = new Set(history.map((m) => m.MsgID as string));
  expect(kept.size).toBe(history.length);
  const lost = acked.filter((id) => !kept.has(id));
  expect(lost).toEqual([]);

  // The reader that was there before: what it got live plus History after its last Seq is the whole room, once.
  const lastSeen = live.length ? (live[live.length - 1].Seq as number) : 0;
  const epoch = history[0]?.Epoch;
  expect(live.every((m) => m.Epoch === epoch)).toBe(true);
  const rest = await historyAfter(reader, 'lobby', lastSeen);
  const together = [...live.map((m) => m.Seq as number), ...rest.map((m) => m.Seq as number)];
  expect(together).toEqual(seqs);
  // And a line sent now continues the room's Seq.
  const ack = await reader.request({ Type: 1, Room: 'lobby', Content: 'after the restart' }, 12);
  expect(ack).toMatchObject({ Seq: seqs.length + 1, Epoch: epoch });
}

describe('restarting on the same data directory', () => {
  it('after SIGKILL loses no acked line, keeps Seq and Epoch, and lets a reader catch up exactly', () => check('SIGKILL'));
  it('after SIGTERM does the same', () => check('SIGTERM'));
});

describe('a data directory that cannot be used', () => {
  it.each([
    ['a file where the directory should be', () => {
      const file = path.join(dir, 'not-a-dir');
      writeFileSync(file, 'x');
      return path.join(file, 'data');
    }],
    ['a directory that cannot be made (sysfs refuses it, even to root)', () => '/sys/rxchat-data'],
    // Node 20's recursive mkdir spins there for ever, never throwing (issue 9, 6).
    ['a directory under /proc', () => '/proc/rxchat-data/log'],
  ])('stops the server at start with one clear line and exit code 2 (issue 9, 6): %s', async (_what, where) => {
    const data = where();
    const { exited, output } = spawnServer(['--port', '0', '--host', '127.0.0.1', '--data', data]);
    expect(await within(exited, 10_000, 'exit')).toBe(2);
    const lines = output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cannot start: /);
    expect(lines[0]).toContain(data);
    expect(output()).not.toMatch(/listening/);
  });
});
