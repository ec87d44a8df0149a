// Issue 9's message and room limits end to end: real `ws` clients against a real
// server on an ephemeral port, with the limits at their defaults (given explicitly).
import { ChatServer, startServer } from '../src/edge/server';
import { DEFAULTS } from '../src/ops/config';
import { TestClient } from './support/client';
import { RedisLog } from '../src/store/redis';
import { admin, closeAdmin, deleteKeys, testUrl, uniquePrefix } from './support/redis';

let server: ChatServer;
const more: ChatServer[] = [];
const clients: TestClient[] = [];
let prefix = '';

async function connect(query: Record<string, string> = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, query);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close(500);
  await Promise.all(more.splice(0).map((s) => s.close(500)));
  if (prefix) await deleteKeys(prefix);
  prefix = '';
});
afterAll(() => closeAdmin());

describe('limits, end to end', () => {
  it('a burst over --msg-rate gets rate_limited with RetryMs; a well-behaved client in the same room is unaffected', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', msgRate: DEFAULTS.msgRate, msgBurst: DEFAULTS.msgBurst });
    expect([DEFAULTS.msgRate, DEFAULTS.msgBurst]).toEqual([10, 20]);
    const alice = await connect({ name: 'alice' });
    const bob = await connect({ name: 'bob' });
    // 40 lines at once: the burst of 20 goes through (and perhaps one refilled meanwhile), the rest are refused.
    for (let i = 0; i < 40; i++) alice.send({ Type: 1, Content: `spam ${i}`, Ref: `s${i}` });
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await alice.next((m) => m.Type === 12 || m.Type === 5));
    const acked = answers.filter((m) => m.Type === 12);
    const limited = answers.filter((m) => m.Type === 5);
    expect(acked.length).toBeGreaterThanOrEqual(20);
    expect(acked.length).toBeLessThan(25);
    expect(limited.length).toBe(40 - acked.length);
    for (const m of limited) {
      expect(m).toMatchObject({ Code: 'rate_limited', ID: '', Ref: expect.stringMatching(/^s\d+$/) });
      expect(m.RetryMs).toBeGreaterThan(0);
      expect(m.RetryMs).toBeLessThanOrEqual(100);
    }
    // Bob got exactly the acked lines, nothing refused, and is served as usual.
    const heard = [];
    for (let i = 0; i < acked.length; i++) heard.push(await bob.next((m) => m.Type === 1));
    expect(heard.map((m) => m.MsgID).sort()).toEqual(acked.map((m) => m.MsgID).sort());
    expect(await bob.request({ Type: 2 }, 2)).toMatchObject({ Type: 2 });
    bob.send({ Type: 1, Content: 'still here', Ref: 'b2' });
    expect(await bob.next((m) => m.Type === 12)).toMatchObject({ Ref: 'b2' });
    expect(await alice.next((m) => m.Type === 1)).toMatchObject({ Content: 'still here' });
    expect(bob.frames.filter((m) => m.Type === 5)).toEqual([]);
    // Waiting RetryMs (the time is the condition here) lets alice speak again.
    await new Promise((r) => setTimeout(r, Math.max(...limited.map((m) => m.RetryMs as number))));
    alice.send({ Type: 1, Content: 'calm now', Ref: 'calm' });
    expect(await alice.next((m) => m.Ref === 'calm')).toMatchObject({ Type: 12 });
    expect(bob.frames.filter((m) => typeof m.Content === 'string' && m.Content.startsWith('spam')).length).toBe(0);
  });

  it('a Join past --max-room-members gets room_full; the room is unchanged', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', maxRoomMembers: 2 });
    await connect({ name: 'a' });
    await connect({ name: 'b' });
    const carol = await connect({ name: 'carol', room: 'dev' });
    expect(await carol.request({ Type: 6, Room: 'lobby' }, 6)).toMatchObject({ Type: 5, Code: 'room_full' });
    expect(await carol.request({ Type: 9, Room: 'lobby' }, 9)).toMatchObject({ Type: 9, Count: 2 });
    expect(server.state().rooms.get('lobby')?.members.length).toBe(2);
  });

  it('several processes: the room is full over both servers, counted and refused by presence', async () => {
    await admin();
    prefix = uniquePrefix();
    const on = async (nodeId: string) => startServer({
      port: 0, host: '127.0.0.1', logLevel: 'silent', redis: testUrl(), redisPrefix: prefix, nodeId, maxRoomMembers: 2,
      messages: await RedisLog.connect(testUrl(), { maxPerRoom: 100, maxDays: 1 }, { prefix }),
    });
    server = await on('a');
    const b = await on('b');
    more.push(b);
    await connect({ name: 'a1' });
    const b1 = await TestClient.connect(b.url, { name: 'b1' });
    clients.push(b1);
    // Each server has one member of the lobby: only presence, over both, knows it is full.
    const carol = await connect({ name: 'carol', room: 'dev' });
    expect(await carol.request({ Type: 6, Room: 'lobby' }, 6)).toMatchObject({ Type: 5, Code: 'room_full' });
    expect(await b1.request({ Type: 9, Room: 'lobby' }, 9)).toMatchObject({ Type: 9, Count: 2 });
    expect(server.state().clients.get(carol.id)?.rooms).toEqual(['dev']);
    // A place frees up: the next Join is taken.
    await b1.close();
    // Bounded: b1's leave reaches presence a round trip or two after its socket closes.
    for (let i = 0; i < 40 && (await carol.request({ Type: 9, Room: 'lobby' }, 9)).Count !== 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await carol.request({ Type: 6, Room: 'lobby' }, 6)).toMatchObject({ Type: 6, Count: 2 });
  });
});
