// A Direct To a user (a token's sub) across servers on Redis (issue 9 item 1 with --redis;
// src/cluster/sessions.ts `user:{SUB}`): real `ws` clients with signed tokens on two in-process
// servers sharing one Redis. A user's tabs on both servers get it once each, the sender one Ack;
// a user only on the other server gets it; a user nowhere is no_such_client; a keyed repeat is
// acked again and delivered to nobody. Every wait is bounded.
import { SignJWT } from 'jose';
import { ChatServer, startServer } from '../src/edge/server';
import type { Message } from '../src/core/protocol';
import { RedisLog } from '../src/store/redis';
import { sessionKeys, userKey } from '../src/cluster/sessions';
import { TestClient } from './support/client';
import { admin, eachTestOnRedis, testUrl } from './support/redis';
import { until } from './support/until';

const SECRET = 'integration-secret-long-enough-0000';
const RETENTION = { maxPerRoom: 10_000, maxDays: 30 };
let prefix: string;
const closers = eachTestOnRedis((p) => { prefix = p; });

async function node(name: string): Promise<ChatServer> {
  const messages = await RedisLog.connect(testUrl(), RETENTION, { prefix });
  const s = await startServer({
    port: 0, host: '127.0.0.1', log: () => undefined, messages, redis: testUrl(), redisPrefix: prefix, nodeId: name, authSecret: SECRET,
  });
  closers.push(() => s.close(500));
  return s;
}

function sign(sub: string, name: string): Promise<string> {
  return new SignJWT({ sub, name }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) + 3600)
    .sign(new TextEncoder().encode(SECRET));
}

/** A tab of user `sub` on server `s`. */
async function tab(s: ChatServer, sub: string, name: string): Promise<TestClient> {
  const c = await TestClient.connect(s.url, { token: await sign(sub, name) });
  // Closed before the servers (closers run last first).
  closers.push(() => c.close());
  return c;
}

/** The servers Redis lists as holding user `sub`. */
const holders = async (sub: string) => Object.keys(await (await admin()).hgetall(userKey(sub, prefix))).sort();
const heldOn = (sub: string, nodes: string[]) => until(`${sub} held on ${nodes.join(', ') || 'none'}`, async () => JSON.stringify(await holders(sub)) === JSON.stringify(nodes));

/** The Directs a client has had (not consumed by next()). */
const directs = (c: TestClient): Message[] => c.frames.filter((m) => m.Type === 11);

describe('two servers, auth on: a Direct To a user', () => {
  it('reaches the user\'s tab on each server once, and the sender gets one Ack; a keyed repeat is acked again and delivered to nobody', async () => {
    const one = await node('one');
    const two = await node('two');
    const alice = await tab(one, 'u-alice', 'Alice');
    const bobHere = await tab(one, 'u-bob', 'Bob');
    const bobThere = await tab(two, 'u-bob', 'Bob');
    await heldOn('u-bob', ['one', 'two']);
    const ack = await alice.request({ Type: 11, To: 'u-bob', Content: 'both tabs', Key: 'dm-1' }, 12);
    expect(ack).toMatchObject({ Type: 12, To: 'u-bob', Key: 'dm-1' });
    await until('both tabs have it', () => directs(bobHere).length === 1 && directs(bobThere).length === 1);
    for (const b of [bobHere, bobThere]) {
      expect(directs(b)).toEqual([expect.objectContaining({ ID: alice.id, Name: 'Alice', To: 'u-bob', Content: 'both tabs', MsgID: ack.MsgID })]);
    }
    const again = await alice.request({ Type: 11, To: 'u-bob', Content: 'both tabs', Key: 'dm-1' }, 12);
    expect(again).toMatchObject({ Type: 12, MsgID: ack.MsgID, Duplicate: true });
    // A marker after the repeat, on the same paths: had the repeat gone anywhere, it would be there first.
    await alice.request({ Type: 11, To: 'u-bob', Content: 'marker' }, 12);
    await until('the marker on both tabs', () => [bobHere, bobThere].every((b) => directs(b).some((m) => m.Content === 'marker')));
    for (const b of [bobHere, bobThere]) expect(directs(b).map((m) => m.Content)).toEqual(['both tabs', 'marker']);
    // One Ack each: nothing more came to alice than the three answers.
    expect(alice.frames.filter((m) => m.Type === 12 || m.Type === 5)).toEqual([]);
  });

  it('reaches a user connected only to the other server, acked once it is handed over; a keyed repeat is acked again, not delivered twice', async () => {
    const one = await node('one');
    const two = await node('two');
    const alice = await tab(one, 'u-alice', 'Alice');
    const carol = await tab(two, 'u-carol', 'Carol');
    await heldOn('u-carol', ['two']);
    const ack = await alice.request({ Type: 11, To: 'u-carol', Content: 'over there', Key: 'dm-2' }, 12);
    expect(ack).toMatchObject({ Type: 12, To: 'u-carol', Key: 'dm-2' });
    expect(await carol.next((m) => m.Type === 11)).toMatchObject({ ID: alice.id, To: 'u-carol', Content: 'over there', MsgID: ack.MsgID });
    expect(await alice.request({ Type: 11, To: 'u-carol', Content: 'over there', Key: 'dm-2' }, 12))
      .toMatchObject({ Type: 12, MsgID: ack.MsgID, Duplicate: true });
    await alice.request({ Type: 11, To: 'u-carol', Content: 'marker' }, 12);
    expect(await carol.next((m) => m.Type === 11)).toMatchObject({ Content: 'marker' });
    expect(directs(carol)).toEqual([]);
  });

  it('answers no_such_client for a user connected nowhere, and once a user\'s last tab elsewhere is gone', async () => {
    const one = await node('one');
    const two = await node('two');
    const alice = await tab(one, 'u-alice', 'Alice');
    expect(await alice.request({ Type: 11, To: 'u-nobody', Content: 'hello?' }, 12)).toMatchObject({ Type: 5, Code: 'no_such_client' });
    const dave = await tab(two, 'u-dave', 'Dave');
    await heldOn('u-dave', ['two']);
    expect(await alice.request({ Type: 11, To: 'u-dave', Content: 'still there?' }, 12)).toMatchObject({ Type: 12, To: 'u-dave' });
    await dave.close();
    await heldOn('u-dave', []);
    expect(await alice.request({ Type: 11, To: 'u-dave', Content: 'gone?' }, 12)).toMatchObject({ Type: 5, Code: 'no_such_client' });
  });

  it('still reaches a connection by its ID on the other server', async () => {
    const one = await node('one');
    const two = await node('two');
    const alice = await tab(one, 'u-alice', 'Alice');
    const bob = await tab(two, 'u-bob', 'Bob');
    await until('bob live on two', async () => (await (await admin()).hget(sessionKeys(bob.id, prefix).sess, 'node')) === 'two');
    expect(await alice.request({ Type: 11, To: bob.id, Content: 'by ID' }, 12)).toMatchObject({ Type: 12, To: bob.id });
    expect(await bob.next((m) => m.Type === 11)).toMatchObject({ To: bob.id, Content: 'by ID' });
  });
});
