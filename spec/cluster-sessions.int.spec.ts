// Identities across servers on Redis (issue 8 item 4; src/cluster/sessions.ts
// wired into the hub): real `ws` clients on two in-process servers sharing one
// Redis. A Direct reaches a connection on the other server, and waits for an
// identity that is away; a client resumes on the server it did not leave, with
// its ID, name, rooms, the lines it missed and its Keys; a token works once
// across servers; a socket still open on one server is cut when its identity is
// taken on the other.
import { ChatServer, startServer } from '../src/edge/server';
import type { Message } from '../src/core/protocol';
import { RedisLog } from '../src/store/redis';
import { sessionKeys } from '../src/cluster/sessions';
import { TestClient } from './support/client';
import { admin, eachTestOnRedis, proxy, testUrl } from './support/redis';
import { until } from './support/until';

const RETENTION = { maxPerRoom: 10_000, maxDays: 30 };
let prefix: string;
const closers = eachTestOnRedis((p) => { prefix = p; });

/** A server on Redis; `redis` (default: the test Redis) is where its bus and sessions connect, its log always on the test Redis. */
async function node(name: string, redis = testUrl()): Promise<ChatServer> {
  const messages = await RedisLog.connect(testUrl(), RETENTION, { prefix });
  const s = await startServer({
    port: 0, host: '127.0.0.1', log: () => undefined, messages, redis, redisPrefix: prefix, nodeId: name,
  });
  closers.push(() => s.close(500));
  return s;
}

async function connect(s: ChatServer, query: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(s.url, query);
  // Closed before the servers (closers run last first).
  closers.push(() => c.close());
  return c;
}

/** Where Redis says identity `id` is: a node's name, '' when parked, undefined when unknown. */
async function whereIs(id: string): Promise<string | undefined> {
  const v = await (await admin()).hget(sessionKeys(id, prefix).sess, 'node');
  return v ?? undefined;
}

const live = (c: TestClient, nodeName: string) => until(`${c.id} live on ${nodeName}`, async () => (await whereIs(c.id)) === nodeName);
const parked = (c: TestClient) => until(`${c.id} parked`, async () => (await whereIs(c.id)) === '');

const lines = (c: TestClient) => c.frames.filter((m) => m.Type === 1 && m.Room === 'lobby');
const directs = (c: TestClient) => c.frames.filter((m) => m.Type === 11);

describe('two servers: identities in Redis', () => {
  it('delivers a Direct to a connection on the other server, and acks it', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, { name: 'alice' });
    const b = await connect(two, { name: 'bob' });
    await live(b, 'two');
    const ack = await a.request({ Type: 11, To: b.id, Content: 'psst' }, 12);
    expect(ack).toMatchObject({ Type: 12, To: b.id });
    const got = await b.next((m) => m.Type === 11);
    expect(got).toMatchObject({ ID: a.id, Name: 'alice', To: b.id, Content: 'psst', MsgID: ack.MsgID });
    // An ID no server has: the Error, no Ack.
    expect(await a.request({ Type: 11, To: 'nobody-anywhere', Content: 'hi' }, 12)).toMatchObject({ Type: 5, Code: 'no_such_client' });
  });

  it('keeps a Direct for an identity away, and delivers it when it resumes on the other server', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, { name: 'alice' });
    const b = await connect(two, { name: 'bob' });
    const token = b.welcome?.Token as string;
    await b.close();
    await parked(b);
    const ack = await a.request({ Type: 11, To: b.id, Content: 'while you were out' }, 12);
    expect(ack).toMatchObject({ Type: 12, To: b.id });
    const back = await connect(one, { resume: token });
    expect(back.welcome).toMatchObject({ ID: b.id, Name: 'bob', Resumed: true });
    expect(directs(back)).toEqual([expect.objectContaining({ ID: a.id, Content: 'while you were out', MsgID: ack.MsgID })]);
  });

  it('resumes on the other server with the same ID, name and rooms, and replays what it missed, no gap, no duplicate', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, { name: 'alice' });
    const b = await connect(two, { name: 'bob' });
    const first = await a.request({ Type: 1, Room: 'lobby', Content: 'one' }, 12);
    await until('bob has the first line', () => lines(b).length === 1);
    const token = b.welcome?.Token as string;
    await b.close();
    await parked(b);
    const missed: Message[] = [];
    for (const text of ['two', 'three', 'four']) missed.push(await a.request({ Type: 1, Room: 'lobby', Content: text }, 12));
    const back = await connect(one, { resume: token, since: `lobby:${first.Seq}:${first.Epoch}` });
    expect(back.welcome).toMatchObject({ ID: b.id, Name: 'bob', Rooms: ['lobby'], Resumed: true });
    await until('the replay', () => lines(back).length === 3);
    const after = await a.request({ Type: 1, Room: 'lobby', Content: 'five' }, 12);
    await until('the live line', () => lines(back).length === 4);
    expect(lines(back).map((m) => [m.Seq, m.Content])).toEqual([
      ...missed.map((m, i) => [m.Seq, ['two', 'three', 'four'][i]]), [after.Seq, 'five'],
    ]);
    // alice on the other server hears bob again: a line of his reaches her.
    await back.request({ Type: 1, Room: 'lobby', Content: 'back' }, 12);
    await until('bob\'s line at alice', () => lines(a).some((m) => m.Content === 'back' && m.ID === b.id));
  });

  it('takes a token once across servers: the second resume fails and is a new identity', async () => {
    const one = await node('one');
    const two = await node('two');
    const b = await connect(two, { name: 'bob' });
    const token = b.welcome?.Token as string;
    await b.close();
    await parked(b);
    const first = await connect(one, { resume: token });
    expect(first.welcome).toMatchObject({ ID: b.id, Resumed: true });
    await first.close();
    const second = await connect(two, { resume: token, name: 'mallory' });
    expect(second.frames.find((m) => m.Type === 5)).toMatchObject({ Code: 'resume_failed' });
    expect(second.welcome?.ID).not.toBe(b.id);
    expect(second.welcome).toMatchObject({ Name: 'mallory' });
    expect(second.welcome?.Resumed).toBeUndefined();
  });

  it('acks a keyed repeat after a resume on the other server with the original MsgID, and does not deliver it twice', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, { name: 'alice' });
    const b = await connect(two, { name: 'bob' });
    await live(a, 'one');
    const dmAck = await b.request({ Type: 11, To: a.id, Content: 'once', Key: 'dm-key-1' }, 12);
    const lineAck = await b.request({ Type: 1, Room: 'lobby', Content: 'once too', Key: 'line-key-1' }, 12);
    await a.next((m) => m.Type === 11);
    await until('alice has the line', () => lines(a).length === 1);
    const token = b.welcome?.Token as string;
    await b.close();
    await parked(b);
    const back = await connect(one, { resume: token, since: `lobby:${lineAck.Seq}:${lineAck.Epoch}` });
    expect(back.welcome).toMatchObject({ ID: b.id, Resumed: true });
    const dmAgain = await back.request({ Type: 11, To: a.id, Content: 'once', Key: 'dm-key-1' }, 12);
    expect(dmAgain).toMatchObject({ Type: 12, MsgID: dmAck.MsgID, Duplicate: true });
    const lineAgain = await back.request({ Type: 1, Room: 'lobby', Content: 'once too', Key: 'line-key-1' }, 12);
    expect(lineAgain).toMatchObject({ Type: 12, MsgID: lineAck.MsgID, Seq: lineAck.Seq, Duplicate: true });
    // A round trip through the lobby after both: had either gone again, alice would have it by now.
    await back.request({ Type: 1, Room: 'lobby', Content: 'marker' }, 12);
    await until('the marker', () => lines(a).some((m) => m.Content === 'marker'));
    expect(directs(a)).toHaveLength(0);
    expect(lines(a).map((m) => m.Content)).toEqual(['once too', 'marker']);
  });

  it('cuts a socket still open on one server when its token is taken on the other', async () => {
    const one = await node('one');
    const two = await node('two');
    const b = await connect(two, { name: 'bob' });
    await live(b, 'two');
    const token = b.welcome?.Token as string;
    const taker = await connect(one, { resume: token });
    expect(taker.welcome).toMatchObject({ ID: b.id, Resumed: true });
    expect(await b.closed()).toBe(1006);
    await until('two forgets bob', () => !two.state().clients.has(b.id));
    expect(await whereIs(b.id)).toBe('one');
    // Directs to bob now reach the socket on one.
    const a = await connect(two, { name: 'alice' });
    await a.request({ Type: 11, To: b.id, Content: 'which one?' }, 12);
    expect(await taker.next((m) => m.Type === 11)).toMatchObject({ Content: 'which one?' });
  });

  it('parks the identities of a server that stops (SIGTERM): its clients resume on another', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, { name: 'alice' });
    const b = await connect(two, { name: 'bob' });
    const first = await b.request({ Type: 1, Room: 'lobby', Content: 'before' }, 12);
    await until('alice has it', () => lines(a).length === 1);
    const token = a.welcome?.Token as string;
    await one.close(1000);
    expect(await a.closed()).toBe(1001);
    expect(await whereIs(a.id)).toBe('');
    const during = await b.request({ Type: 1, Room: 'lobby', Content: 'during' }, 12);
    const back = await connect(two, { resume: token, since: `lobby:${first.Seq}:${first.Epoch}` });
    expect(back.welcome).toMatchObject({ ID: a.id, Name: 'alice', Resumed: true });
    await until('the replay', () => lines(back).length === 1);
    expect(lines(back)[0]).toMatchObject({ Seq: during.Seq, Content: 'during' });
  });

  it('with Redis away, refuses a Direct to another server with unavailable, and a resume with unavailable and 1013', async () => {
    const cut = await proxy();
    closers.push(() => cut.close());
    const one = await node('one', cut.url());
    const two = await node('two');
    const a = await connect(one, { name: 'alice' });
    const b = await connect(two, { name: 'bob' });
    const token = a.welcome?.Token as string;
    await live(a, 'one');
    cut.cut();
    expect(await a.request({ Type: 11, To: b.id, Content: 'hello?' }, 12)).toMatchObject({ Type: 5, Code: 'unavailable' });
    const c = TestClient.raw(`${one.url}?resume=${token}`);
    closers.push(() => c.close());
    expect(await c.next((m) => m.Type === 5)).toMatchObject({ Code: 'unavailable' });
    expect(await c.closed()).toBe(1013);
    expect(c.frames.some((m) => m.Type === 0)).toBe(false);
    // The token was not spent: it resumes (on the other server, which never lost Redis; alice's socket is
    // still open on one, so this is a takeover).
    cut.restore();
    const back = await connect(two, { resume: token });
    expect(back.welcome).toMatchObject({ ID: a.id, Resumed: true });
  });
});
