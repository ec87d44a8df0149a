// Several servers as one chat on Redis (issue 8; docs/scaling.md): real `ws`
// clients on two servers sharing one Redis log, each server hearing the rooms it
// has members in. What is built so far: lines cross servers in one Seq order,
// with no loss and no duplicate, and a line pub/sub lost is read from the log
// before anything after it is delivered.
import { ChatServer, startServer } from '../src/edge/server';
import type { Message } from '../src/core/protocol';
import { RedisLog, roomKeys } from '../src/store/redis';
import { APPEND_LUA } from '../src/store/redis-scripts';
import { TestClient } from './support/client';
import { admin, closeAdmin, deleteKeys, testUrl, uniquePrefix } from './support/redis';
import { BURSTS } from './support/limits';
import { until } from './support/until';

const RETENTION = { maxPerRoom: 10_000, maxDays: 30 };
let prefix: string;
const servers: ChatServer[] = [];
const clients: TestClient[] = [];

beforeAll(async () => { await admin(); });
beforeEach(() => { prefix = uniquePrefix(); });
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(500)));
  await deleteKeys(prefix);
});
afterAll(() => closeAdmin());

async function node(name: string): Promise<ChatServer> {
  const messages = await RedisLog.connect(testUrl(), RETENTION, { prefix });
  const s = await startServer({
    port: 0, host: '127.0.0.1', log: () => undefined, messages, redis: testUrl(), redisPrefix: prefix, nodeId: name, ...BURSTS,
  });
  servers.push(s);
  return s;
}

async function connect(s: ChatServer, name: string): Promise<TestClient> {
  const c = await TestClient.connect(s.url, { name });
  clients.push(c);
  return c;
}

/** Waits (bounded) until Redis has `n` subscribers on the lobby's channel: both servers listen. */
async function listening(n: number): Promise<void> {
  const redis = await admin();
  const channel = `${prefix}{lobby}:live`;
  for (let i = 0; i < 300; i++) {
    const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(count) === n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${channel} never had ${n} subscribers`);
}

const lines = (c: TestClient) => c.frames.filter((m) => m.Type === 1 && m.Room === 'lobby');

/** A line appended to the lobby as the log does, but published where nobody listens: lost on the way. */
async function appendUnheard(content: string): Promise<void> {
  const redis = await admin();
  const k = roomKeys('lobby', prefix);
  await redis.eval(APPEND_LUA, 3, k.meta, k.log, k.keys,
    'Unused00', '10000', '1000', `${prefix}nowhere`, '8 ghost-id{"ID":"ghost-id","Seq":', String(Date.now()), 'lost-msg', 'ghost-id', 'ghost', content, '}');
}

describe('two servers, one chat', () => {
  it('gives every member on either server every other member\'s line once, in one Seq order, acked with that Seq', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, 'alice');
    const b = await connect(two, 'bob');
    const c = await connect(two, 'carol');
    await listening(2);
    const acks: Message[] = [];
    const senders = [a, b, c];
    const sent = 30;
    await Promise.all(senders.map(async (s, k) => {
      for (let i = 0; i < sent; i++) acks.push(await s.request({ Type: 1, Room: 'lobby', Content: `${k}:${i}` }, 12));
    }));
    expect(acks.every((m) => m.Type === 12)).toBe(true);
    expect(acks.map((m) => m.Seq).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    // Each member gets the others' lines (not its own), all of them, in Seq order.
    for (const s of senders) await until(`${s.id}'s 60 lines`, () => lines(s).length >= 2 * sent);
    for (const s of senders) {
      const got = lines(s);
      expect(got).toHaveLength(2 * sent);
      expect(got.every((m) => m.ID !== s.id)).toBe(true);
      const seqs = got.map((m) => Number(m.Seq));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
    // One order: any two members see the lines they share in the same order.
    const order = (s: TestClient) => lines(s).map((m) => m.MsgID);
    const shared = (x: TestClient, y: TestClient) => order(x).filter((id) => order(y).includes(id));
    expect(shared(a, b)).toEqual(shared(b, a));
    expect(shared(b, c)).toEqual(shared(c, b));
  });

  it('reads a line that pub/sub lost from the log, and delivers it before the next one', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, 'alice');
    const b = await connect(two, 'bob');
    await listening(2);
    await a.request({ Type: 1, Room: 'lobby', Content: 'first' }, 12);
    await until('the first line', () => lines(b).length === 1);
    await appendUnheard('lost');
    await a.request({ Type: 1, Room: 'lobby', Content: 'third' }, 12);
    await until('three lines', () => lines(b).length === 3);
    expect(lines(b).map((m) => [m.Seq, m.Content])).toEqual([[1, 'first'], [2, 'lost'], [3, 'third']]);
  });

  it('finds a lost last line at the next heartbeat, with nothing after it to show the gap', async () => {
    const one = await node('one');
    const two = await startServer({
      port: 0, host: '127.0.0.1', log: () => undefined, messages: await RedisLog.connect(testUrl(), RETENTION, { prefix }),
      redis: testUrl(), redisPrefix: prefix, nodeId: 'two', heartbeatIntervalMs: 200, heartbeatTimeoutMs: 5000, ...BURSTS,
    });
    servers.push(two);
    const a = await connect(one, 'alice');
    const b = await connect(two, 'bob');
    await listening(2);
    await a.request({ Type: 1, Room: 'lobby', Content: 'first' }, 12);
    await until('the first line', () => lines(b).length === 1);
    await appendUnheard('lost tail');
    await until('the lost tail', () => lines(b).length === 2);
    expect(lines(b)[1]).toMatchObject({ Seq: 2, Content: 'lost tail' });
  });
});
