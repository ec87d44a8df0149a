// Smoke test of the benchmark code (bench/), not a benchmark: tiny runs for about
// a second each, against the real server in this process and against the compiled
// baselines that `npm run bench` spawns (jest's globalSetup builds dist/). It
// asserts only that chat lines were delivered, acked and counted; no thresholds.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import WebSocket from 'ws';
import { connectWs, connectorFor } from '../bench/lib/client';
import { stop, waitForLine } from '../bench/lib/spawn';
import { fanout } from '../bench/scenarios/fanout';
import { rooms, roomsRate } from '../bench/scenarios/rooms';
import { Ctx } from '../bench/scenarios/types';
import { ChatServer, startServer } from '../src/edge/server';
import { BURSTS } from './support/limits';

const ROOT = path.resolve(__dirname, '..');
const TINY_FANOUT = { clients: 8, senders: 2, rate: 100, window: 2, warmupMs: 200, measureMs: 800, drainMs: 1000, pad: 8 };
const TINY_ROOMS = { rooms: 3, perRoom: 3, window: 2, warmupMs: 200, measureMs: 800, drainMs: 1000, pad: 8, rate: 300 };

describe('bench smoke: fanout against rxchat', () => {
  let server: ChatServer;

  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', log: () => undefined, ...BURSTS });
  });

  afterAll(async () => {
    await server.close(1000);
  });

  it('delivers and counts chat lines', async () => {
    const result = await fanout(
      { target: 'rxchat', url: server.url, serverPid: process.pid, connect: connectWs, log: () => undefined },
      TINY_FANOUT,
    );
    expect(result.metrics.deliveriesPerSec).toBeGreaterThan(0);
    expect(Number.isFinite(result.metrics.p50Ms)).toBe(true);
    expect(result.metrics.loss).toBe(0);
  });

  it('with --keys, every line carries a Key the hub remembers, and nothing is lost', async () => {
    const result = await roomsRate(
      { target: 'rxchat', url: server.url, serverPid: process.pid, connect: connectorFor('rxchat', true), log: () => undefined },
      TINY_ROOMS,
    );
    expect(result.metrics.deliveriesPerSec).toBeGreaterThan(0);
    expect(result.metrics.loss).toBe(0);
    const remembered = [...server.state().clients.values()].reduce((n, c) => n + c.keys.size, 0);
    expect(remembered).toBeGreaterThan(0);
  });
});

// The baselines as bench/run.ts starts them: compiled, one process each.
describe.each([
  ['same-work', ['dist/bench/servers/same-work.js']],
  ['raw-ws-corked', ['dist/bench/servers/raw-ws.js', '--cork']],
] as const)('bench smoke: the %s baseline', (target, script) => {
  let child: ChildProcess;
  let ctx: Ctx;

  beforeAll(async () => {
    child = spawn(process.execPath, [...script, '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await waitForLine(child, /listening on (\S+)/, 10_000);
    ctx = { target, url, serverPid: child.pid as number, connect: connectWs, log: () => undefined };
  });

  afterAll(async () => {
    await stop(child, 2000);
  });

  it('delivers each chat line to the rest of the room, in order, without loss', async () => {
    const result = await fanout(ctx, TINY_FANOUT);
    expect(result.metrics.deliveriesPerSec).toBeGreaterThan(0);
    expect(result.metrics.loss).toBe(0);
    expect(result.metrics.reordered).toBe(0);
  });

  it('sends the frames rxchat sends: a Broadcast with Name, Room, Seq and a 21-character MsgID, and an Ack', async () => {
    const frames = (ws: WebSocket) => {
      const got: Record<string, unknown>[] = [];
      ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
      return got;
    };
    const until = async (got: Record<string, unknown>[], type: number) => {
      for (let i = 0; i < 100 && !got.some((f) => f.Type === type); i++) await new Promise((r) => setTimeout(r, 20));
      return got.find((f) => f.Type === type) as Record<string, unknown>;
    };
    const alice = new WebSocket(`${ctx.url}?name=alice&room=smoke`);
    const aliceGot = frames(alice);
    await until(aliceGot, 6);
    const bob = new WebSocket(`${ctx.url}?name=bob&room=smoke`);
    const bobGot = frames(bob);
    await until(bobGot, 6);
    alice.send(JSON.stringify({ Type: 1, Content: 'hi', Ref: 7 }));
    const line = await until(bobGot, 1);
    const ack = await until(aliceGot, 12);
    const welcome = aliceGot.find((f) => f.Type === 0) as Record<string, unknown>;
    expect(welcome.ID).toMatch(/^[\w-]{21}$/);
    expect(line).toMatchObject({ ID: welcome.ID, Content: 'hi', Type: 1, Name: 'alice', Room: 'smoke', Seq: 1 });
    expect(line.MsgID).toMatch(/^[\w-]{21}$/);
    expect(ack).toMatchObject({ ID: welcome.ID, Type: 12, MsgID: line.MsgID, Room: 'smoke', Seq: 1, Ref: 7 });
    if (target === 'same-work') expect(await until(aliceGot, 3)).toMatchObject({ Type: 3, Name: 'bob', Room: 'smoke' });
    alice.close();
    bob.close();
    await Promise.all([once(alice, 'close'), once(bob, 'close')]);
  });

  it('acks every line, so the rooms scenario keeps sending', async () => {
    const result = await rooms(ctx, TINY_ROOMS);
    expect(result.metrics.deliveriesPerSec).toBeGreaterThan(0);
    expect(result.metrics.loss).toBe(0);
  });

  it('delivers the offered load of the rooms-rate scenario, every line to every other member', async () => {
    const result = await roomsRate(ctx, TINY_ROOMS);
    // 300 lines/s to 2 others each, over the 0.8 s window: about 600 deliveries/s.
    expect(result.metrics.deliveriesPerSec).toBeGreaterThan(400);
    expect(result.metrics.loss).toBe(0);
  });
});
