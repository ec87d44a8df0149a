// Several server processes as one chat (issue 8, "Tests"): real `node
// dist/src/main.js --redis ...` processes, as `npm start` runs them, with real
// `ws` clients on every node. Three nodes chatting in several rooms lose,
// repeat and reorder nothing; and a Redis stopped and started again under
// traffic (docs/scaling.md "Redis goes away") costs no socket: sends are
// refused with `unavailable` and no Ack meanwhile, /healthz says 503, and when
// Redis is back (empty: it keeps nothing on disk) everything resumes by itself
// under new epochs. Every wait is bounded.
import http from 'node:http';
import Redis from 'ioredis';
import type { Message } from '../src/core/protocol';
import { TestClient } from './support/client';
import { admin, closeAdmin, deleteKeys, ownRedis, testUrl, uniquePrefix } from './support/redis';
import { ServerProcess, startServerProcess } from './support/server-process';
import { BURSTS_ARGS } from './support/limits';
import { until as within } from './support/until';

let prefix: string;
const nodes: ServerProcess[] = [];
const clients: TestClient[] = [];

beforeAll(async () => { await admin(); });
beforeEach(() => { prefix = uniquePrefix(); });
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(nodes.splice(0).map((n) => n.stop(3000)));
  await deleteKeys(prefix);
});
afterAll(() => closeAdmin());

async function startNode(name: string, redisUrl: string, logLevel = 'warn'): Promise<ServerProcess> {
  const n = await startServerProcess(['--redis', redisUrl, '--redis-prefix', prefix, '--node-id', name, '--log-level', logLevel, ...BURSTS_ARGS]);
  nodes.push(n);
  return n;
}

async function connect(n: ServerProcess, query: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(n.url, query);
  clients.push(c);
  return c;
}

const until = (what: string, check: () => boolean | Promise<boolean>, ms = 10_000) => within(what, check, ms);

/** Waits until `n` nodes listen to `room`'s channel on `redis`. */
async function listening(redis: Redis, room: string, n: number): Promise<void> {
  const channel = `${prefix}{${room}}:live`;
  await until(`${n} nodes on ${channel}`, async () => {
    const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    return Number(count) === n;
  });
}

/** GET /healthz, bounded: its status and body. */
function healthz(n: ServerProcess): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: n.port, path: '/healthz', timeout: 3000 }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) as Record<string, unknown> }));
    });
    req.on('timeout', () => req.destroy(new Error('/healthz: no answer within 3 s')));
    req.on('error', reject);
  });
}

const linesIn = (c: TestClient, room: string) => c.frames.filter((m) => m.Type === 1 && m.Room === room);
const count = (text: string, s: string) => text.split(s).length - 1;

describe('three server processes on one Redis', () => {
  it('give every client on every node every line of its rooms exactly once, in one Seq order, none lost', async () => {
    const url = testUrl();
    const three = [await startNode('n1', url), await startNode('n2', url), await startNode('n3', url)];
    // On each node, one client in r1 and r2, one in r1 and r3: every node has members in every room.
    const members: { c: TestClient; rooms: string[]; name: string }[] = [];
    for (const [i, n] of three.entries()) {
      for (const [j, extra] of ['r2', 'r3'].entries()) {
        const name = `u${i}${j}`;
        const c = await connect(n, { name, room: 'r1' });
        expect(await c.request({ Type: 6, Room: extra }, 6)).toMatchObject({ Type: 6, Room: extra });
        members.push({ c, rooms: ['r1', extra], name });
      }
    }
    const redis = await admin();
    for (const room of ['r1', 'r2', 'r3']) await listening(redis, room, 3);

    // Bounded bursts: each client sends BURST lines into each of its rooms without waiting, then waits for
    // their Acks, BURSTS times over. Every line has its own Key; the Ack gives its Seq.
    const BURSTS = 4;
    const BURST = 15;
    const own = new Map<string, Map<number, string>>(); // room -> Seq -> content, from the Acks
    for (const room of ['r1', 'r2', 'r3']) own.set(room, new Map());
    await Promise.all(members.map(async ({ c, rooms, name }) => {
      for (let b = 0; b < BURSTS; b++) {
        const keys: { key: string; room: string; content: string }[] = [];
        for (const room of rooms) {
          for (let i = 0; i < BURST; i++) {
            const content = `${name}:${room}:${b}:${i}`;
            const key = `k-${content}`;
            keys.push({ key, room, content });
            c.send({ Type: 1, Room: room, Content: content, Key: key, Ref: key });
          }
        }
        for (const { key, room, content } of keys) {
          const ack = await c.next((m) => m.Ref === key && (m.Type === 12 || m.Type === 5), 15_000);
          expect(ack).toMatchObject({ Type: 12, Room: room, Key: key });
          const seqs = own.get(room)!;
          expect(seqs.has(Number(ack.Seq))).toBe(false); // no Seq given out twice
          seqs.set(Number(ack.Seq), content);
        }
      }
    }));

    const total = new Map([...own].map(([room, seqs]) => [room, seqs.size]));
    expect(Object.fromEntries(total)).toEqual({ r1: 6 * BURSTS * BURST, r2: 3 * BURSTS * BURST, r3: 3 * BURSTS * BURST });
    for (const [room, seqs] of own) {
      // The Acks of a room together name every Seq from 1 to its last, once: one counter on Redis for all nodes.
      expect([...seqs.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: seqs.size }, (_, i) => i + 1));
    }
    const ownCount = (name: string, room: string) => [...own.get(room)!.values()].filter((t) => t.startsWith(`${name}:`)).length;
    for (const { c, rooms, name } of members) {
      for (const room of rooms) {
        const want = total.get(room)! - ownCount(name, room);
        await until(`${name}'s ${want} lines of ${room}`, () => linesIn(c, room).length >= want, 15_000);
      }
    }
    let epoch: unknown;
    for (const { c, rooms, name } of members) {
      for (const room of rooms) {
        const got = linesIn(c, room);
        // Exactly the others' lines: none lost, none twice, none of its own echoed.
        expect(got).toHaveLength(total.get(room)! - ownCount(name, room));
        expect(got.every((m) => !String(m.Content).startsWith(`${name}:`))).toBe(true);
        const seqs = got.map((m) => Number(m.Seq));
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        expect(new Set(seqs).size).toBe(seqs.length);
        // Each Seq is the line its sender was acked for: one order, the same on every node.
        for (const m of got) expect(m.Content).toBe(own.get(room)!.get(Number(m.Seq)));
        // Its own lines fill exactly the rest.
        const mine = [...own.get(room)!].filter(([, t]) => t.startsWith(`${name}:`)).map(([s]) => s);
        expect([...seqs, ...mine].sort((x, y) => x - y)).toEqual([...own.get(room)!.keys()].sort((x, y) => x - y));
        if (room === 'r1') {
          epoch ??= got[0].Epoch;
          expect(new Set(got.map((m) => m.Epoch))).toEqual(new Set([epoch]));
        }
        // Nothing made a node give up a gap.
        expect(c.frames.filter((m) => m.Type === 14)).toEqual([]);
      }
    }
  }, 50_000);
});

describe('Redis stopped and started again under traffic (docs/scaling.md "Redis goes away")', () => {
  let own: Awaited<ReturnType<typeof ownRedis>> | undefined;
  afterAll(async () => { await own?.stop(); });

  it('refuses sends with unavailable and no Ack, says 503, keeps every socket; once back (empty) acks, delivers on both nodes and resumes with Recovered false', async () => {
    own = await ownRedis();
    const one = await startNode('one', own.url, 'info');
    const two = await startNode('two', own.url, 'info');
    const alice = await connect(one, { name: 'alice', room: 'lobby' });
    const carol = await connect(one, { name: 'carol', room: 'lobby' });
    const bob = await connect(two, { name: 'bob', room: 'lobby' });
    const dave = await connect(two, { name: 'dave', room: 'lobby' });
    const watcher = new Redis(own.url);
    try {
      await listening(watcher, 'lobby', 2);
    } finally {
      await watcher.quit(); // while Redis is there: a quit after it has gone leaves ioredis's disconnect timer behind
    }

    const first = await alice.request({ Type: 1, Room: 'lobby', Content: 'before', Key: 'k0' }, 12);
    expect(first).toMatchObject({ Type: 12, Seq: 1 });
    const oldEpoch = String(first.Epoch);
    await carol.next((m) => m.Type === 1 && m.Content === 'before');
    const carolToken = String(carol.welcome?.Token);
    expect((await healthz(one)).status).toBe(200);

    // The traffic: dave (node two) sends line after line for the whole test, each until it is acked, as the
    // client library does: a refused one goes again with the same Key a little later.
    const daveAcks: Message[] = [];
    let daveRefusals = 0;
    let pumping = true;
    const pump = (async () => {
      for (let i = 0; pumping; i++) {
        for (;;) {
          const r = await dave.request({ Type: 1, Room: 'lobby', Content: `t${i}`, Key: `t${i}` }, 12);
          if (r.Type === 12) {
            daveAcks.push(r);
            break;
          }
          expect(r).toMatchObject({ Type: 5, Code: 'unavailable' });
          daveRefusals += 1;
          await new Promise((res) => setTimeout(res, 25));
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    await until('some of dave\'s lines acked', () => daveAcks.length >= 5);

    // Redis goes away. Its link down on both nodes: /healthz says so, with the reason.
    await own.stop();
    for (const n of [one, two]) {
      await until(`${n.url} unhealthy`, async () => (await healthz(n)).status === 503);
      expect((await healthz(n)).body).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/Redis/), connections: expect.any(Number) });
    }
    // carol's socket breaks while Redis is away; her identity waits for her on node one.
    carol.ws.terminate();

    // Sends are refused at once with unavailable, and no Ack: the client keeps them (same Key) and retries.
    const refused: Message[] = [];
    for (const k of ['k1', 'k2', 'k3']) refused.push(await alice.request({ Type: 1, Room: 'lobby', Content: `during ${k}`, Key: k }, 12));
    refused.push(await bob.request({ Type: 1, Room: 'lobby', Content: 'bob during', Key: 'kb' }, 12));
    for (const r of refused) expect(r).toMatchObject({ Type: 5, Code: 'unavailable', Content: expect.stringMatching(/not kept/) });
    await until('dave refused a few times', () => daveRefusals >= 5);
    // The sockets stay open and served: a HeartBeat is answered on both nodes.
    expect(await alice.request({ Type: 2 }, 2)).toMatchObject({ Type: 2 });
    expect(await bob.request({ Type: 2 }, 2)).toMatchObject({ Type: 2 });
    expect([alice.closeCode, bob.closeCode, dave.closeCode]).toEqual([undefined, undefined, undefined]);

    // Redis comes back empty (no persistence). Everything resumes by itself.
    await own.start();
    for (const n of [one, two]) await until(`${n.url} healthy again`, async () => (await healthz(n)).status === 200, 15_000);

    // The same Keys again (what the client library does): acked now, under a new epoch.
    const acks: Message[] = [];
    for (const k of ['k1', 'k2', 'k3']) {
      acks.push(await alice.request({ Type: 1, Room: 'lobby', Content: `during ${k}`, Key: k }, 12));
    }
    acks.push(await bob.request({ Type: 1, Room: 'lobby', Content: 'bob during', Key: 'kb' }, 12));
    for (const a of acks) expect(a).toMatchObject({ Type: 12, Key: expect.stringMatching(/^k/) });
    const newEpoch = String(acks[0].Epoch);
    expect(newEpoch).not.toBe(oldEpoch);
    expect(acks.map((a) => a.Epoch)).toEqual([newEpoch, newEpoch, newEpoch, newEpoch]);
    await until('dave\'s lines under the new epoch', () => daveAcks.filter((a) => a.Epoch === newEpoch).length >= 5);
    pumping = false;
    await pump;

    // The new epoch starts again at Seq 1, and every Seq in it went to exactly one acked line.
    const all = [...acks, ...daveAcks];
    const fresh = all.filter((a) => a.Epoch === newEpoch).map((a) => Number(a.Seq)).sort((x, y) => x - y);
    expect(fresh).toEqual(Array.from({ length: fresh.length }, (_, i) => i + 1));
    expect(daveAcks.every((a) => a.Epoch === oldEpoch || a.Epoch === newEpoch)).toBe(true);

    // Delivered across nodes, each acked line once, with its acked Seq and Epoch, in Seq order per epoch: alice
    // (node one) gets bob's and dave's, bob (node two) alice's and dave's. Nothing refused was delivered.
    const expected = (except: string) => [first, ...all]
      .filter((a) => a.ID !== except)
      .map((a) => `${a.Epoch}/${a.Seq}`);
    for (const [c, self] of [[alice, alice.id], [bob, bob.id]] as const) {
      const want = expected(self);
      await until(`${self}'s ${want.length} lines`, () => linesIn(c, 'lobby').length >= want.length);
      const got = linesIn(c, 'lobby');
      expect(got.map((m) => `${m.Epoch}/${m.Seq}`).sort()).toEqual([...want].sort());
      for (const epoch of [oldEpoch, newEpoch]) {
        const seqs = got.filter((m) => m.Epoch === epoch).map((m) => Number(m.Seq));
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      }
      // The room's history was reset: its members were told so (a Resync with the new epoch) before the new lines.
      const resync = c.frames.findIndex((m) => m.Type === 14 && m.Epoch === newEpoch);
      expect(resync).toBeGreaterThanOrEqual(0);
      expect(resync).toBeLessThan(c.frames.findIndex((m) => m.Type === 1 && m.Epoch === newEpoch));
    }
    expect(linesIn(bob, 'lobby').filter((m) => String(m.Content).startsWith('during')).map((m) => m.Content))
      .toEqual(['during k1', 'during k2', 'during k3']);
    // No refused try was acked later.
    expect([...alice.frames, ...bob.frames, ...dave.frames].filter((m) => m.Type === 12)).toEqual([]);

    // carol resumes from what she saw before: that Seq belongs to the old epoch, so it cannot be replayed.
    const back = TestClient.raw(`${one.url}?${new URLSearchParams({ resume: carolToken, since: `lobby:1:${oldEpoch}` })}`);
    clients.push(back);
    expect(await back.next((m) => m.Type === 0)).toMatchObject({ Resumed: true, Name: 'carol' });
    expect(await back.next((m) => m.Type === 6)).toMatchObject({ Room: 'lobby', Recovered: false, Reason: 'epoch_changed', Epoch: newEpoch });

    // Each node said it once each way, not once per refused line or per reconnect attempt.
    for (const n of [one, two]) {
      expect(count(n.output(), '"event":"store_down"')).toBe(1);
      expect(count(n.output(), '"event":"store_up"')).toBe(1);
      expect(count(n.output(), '"event":"bus_down"')).toBe(1);
      expect(count(n.output(), '"event":"bus_up"')).toBe(1);
      expect(count(n.output(), '"event":"append_failed"')).toBe(0); // debug only
    }
    expect(one.output()).not.toContain('fatal');
  }, 50_000);
});
