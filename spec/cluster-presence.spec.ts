// Presence across nodes and node liveness on Redis (src/cluster/presence.ts):
// two (or three) RedisPresence instances act as the nodes of one chat. Who is in
// a room, the counts and the rooms list agree on every node; each change is
// published once, in order, on the room's channel; a node that stops beating is
// swept by one survivor, within the bound, and leaves nothing behind.
import Redis from 'ioredis';
import { roomChannel } from '../src/store/redis';
import { parseLiveLine } from '../src/cluster/bus';
import { nodeChannel } from '../src/cluster/sessions';
import {
  PresenceEvent, PresenceOptions, RedisPresence, membership, nodeKeys, nodesKey, parseMembership, parsePresence, presenceKeys, sizesKeys,
} from '../src/cluster/presence';
import { admin, deleteKeys, eachTestOnRedis, keysUnder, proxy, testUrl } from './support/redis';
import { until as within } from './support/until';

const T0 = Date.UTC(2026, 11, 1);

let prefix: string;
const closers = eachTestOnRedis((p) => { prefix = p; });

async function node(nodeId: string, opts: Partial<PresenceOptions> = {}, url = testUrl()): Promise<RedisPresence> {
  const p = await RedisPresence.connect(url, { prefix, nodeId, clock: () => T0, ...opts });
  closers.push(() => p.close());
  return p;
}

/** A plain subscriber on rooms' channels: every presence event, in the order Redis delivered them. */
async function listen(...rooms: string[]) {
  const sub = new Redis(testUrl(), { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await sub.connect();
  closers.push(() => sub.quit().catch(() => sub.disconnect()));
  const events: PresenceEvent[] = [];
  const raw: string[] = [];
  const bad: string[] = [];
  const waiters: (() => void)[] = [];
  sub.on('message', (_channel: string, payload: string) => {
    raw.push(payload);
    const e = parsePresence(payload);
    if (typeof e === 'string') bad.push(e);
    else events.push(e);
    for (const w of waiters.splice(0)) w();
  });
  await sub.subscribe(...rooms.map((r) => roomChannel(r, prefix)));
  return {
    events,
    raw,
    bad,
    /** Resolves when `n` events have come (each arrival wakes it); fails after `ms`. */
    count(n: number, ms = 3000): Promise<PresenceEvent[]> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${events.length} presence events came, not ${n}`)), ms);
        const check = () => {
          if (events.length >= n) {
            clearTimeout(timer);
            resolve(events);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
  };
}

const until = (what: string, check: () => boolean | Promise<boolean>, ms = 3000) => within(what, check, ms);

const names = (o: { ok: boolean; members?: { name: string }[] }) => (o.ok ? o.members?.map((m) => m.name) : o);

describe('RedisPresence: rooms across nodes', () => {
  it('counts and lists the members of a room over both nodes, in join order, and publishes each change once, in order', async () => {
    const a = await node('A');
    const b = await node('B');
    const ch = await listen('lobby');

    expect(await a.join('lobby', 'a1', 'alice', { list: true })).toEqual({
      ok: true, count: 1, joined: true, members: [{ id: 'a1', name: 'alice', node: 'A', at: T0 }],
    });
    expect(await b.join('lobby', 'b1', 'bob', { list: true, at: T0 + 1 })).toMatchObject({ ok: true, count: 2, joined: true });
    expect(await a.join('lobby', 'a2', 'ann', { at: T0 + 2 })).toEqual({ ok: true, count: 3, joined: true });
    // Joining again changes nothing and says so; nothing is published.
    expect(await a.join('lobby', 'a1', 'alice', { list: 2 })).toEqual({
      ok: true, count: 3, joined: false,
      members: [{ id: 'a1', name: 'alice', node: 'A', at: T0 }, { id: 'b1', name: 'bob', node: 'B', at: T0 + 1 }],
    });
    expect(names(await b.members('lobby', { limit: 100 }))).toEqual(['alice', 'bob', 'ann']);

    expect(await b.rename('b1', 'bobby', ['lobby', 'rust'], { at: T0 + 3 })).toEqual({ ok: true, rooms: ['lobby'] });
    expect(await a.leave('lobby', 'a1', 'left', { at: T0 + 4 })).toEqual({ ok: true, count: 2, left: true });
    expect(names(await a.members('lobby', { limit: 100 }))).toEqual(['bobby', 'ann']);

    const events = await ch.count(5);
    expect(events).toEqual([
      { kind: 'joined', room: 'lobby', id: 'a1', name: 'alice', node: 'A', at: T0, count: 1 },
      { kind: 'joined', room: 'lobby', id: 'b1', name: 'bob', node: 'B', at: T0 + 1, count: 2 },
      { kind: 'joined', room: 'lobby', id: 'a2', name: 'ann', node: 'A', at: T0 + 2, count: 3 },
      { kind: 'renamed', room: 'lobby', id: 'b1', name: 'bobby', oldName: 'bob', node: 'B', at: T0 + 3, count: 3 },
      { kind: 'left', room: 'lobby', id: 'a1', name: 'alice', node: 'A', at: T0 + 4, reason: 'left', count: 2 },
    ]);
    expect(ch.bad).toEqual([]);
    // A bus can tell them from chat lines (which begin {"room":) before parsing anything.
    expect(ch.raw.every((p) => p.startsWith('{"kind":"'))).toBe(true);
  });

  it('pages the members in join order with a cursor, and refuses a cursor that is not a member', async () => {
    const a = await node('A');
    const b = await node('B');
    for (let i = 0; i < 7; i++) await (i % 2 ? b : a).join('big', `m${i}`, `user${i}`);
    const one = await a.members('big', { limit: 3 });
    expect(one).toMatchObject({ ok: true, count: 7, next: 'm2' });
    const two = await b.members('big', { after: 'm2', limit: 3 });
    expect(names(two)).toEqual(['user3', 'user4', 'user5']);
    const three = await b.members('big', { after: 'm5', limit: 3 });
    expect(three).toEqual({ ok: true, count: 7, members: [{ id: 'm6', name: 'user6', node: 'A', at: T0 }] });
    expect(await a.members('big', { after: 'gone', limit: 3 })).toMatchObject({ ok: false, code: 'bad_cursor' });
    expect(await a.members('nowhere', { limit: 3 })).toEqual({ ok: true, count: 0, members: [] });
  });

  it('lists the rooms biggest first over every node, with the total, and forgets a room once it is empty', async () => {
    const a = await node('A');
    const b = await node('B');
    await a.join('small', 's1', 's');
    await a.join('big', 'x1', 'x');
    await b.join('big', 'x2', 'x');
    await b.join('big', 'x3', 'x');
    await b.join('mid', 'y1', 'y');
    await a.join('mid', 'y2', 'y');
    expect(await a.rooms(10)).toEqual({ ok: true, total: 3, rooms: [{ room: 'big', count: 3 }, { room: 'mid', count: 2 }, { room: 'small', count: 1 }] });
    expect(await b.rooms(1)).toEqual({ ok: true, total: 3, rooms: [{ room: 'big', count: 3 }] });
    await a.leave('small', 's1', 'closed');
    await b.leave('big', 'x2', 'timeout');
    expect(await b.rooms(10)).toEqual({ ok: true, total: 2, rooms: [{ room: 'big', count: 2 }, { room: 'mid', count: 2 }].sort((p, q) => (p.room < q.room ? 1 : -1)) });
    expect(await keysUnder(presenceKeys('small', prefix).members)).toEqual([]);
  });

  it('a leave of someone not there changes nothing: no negative count, no event, and another node\'s member stays', async () => {
    const a = await node('A');
    const b = await node('B');
    const ch = await listen('lobby');
    await a.join('lobby', 'a1', 'alice');
    expect(await a.leave('lobby', 'ghost', 'left')).toEqual({ ok: true, count: 1, left: false });
    expect(await a.leave('empty', 'ghost', 'left')).toEqual({ ok: true, count: 0, left: false });
    // b does not hold a1: its leave and rename are refused, naming the node that does.
    expect(await b.leave('lobby', 'a1', 'closed')).toEqual({ ok: true, count: 1, left: false, owner: 'A' });
    expect(await b.rename('a1', 'mallory', ['lobby'])).toEqual({ ok: true, rooms: [] });
    expect(await a.rooms(10)).toEqual({ ok: true, total: 1, rooms: [{ room: 'lobby', count: 1 }] });
    // A leave twice counts once.
    expect(await a.leave('lobby', 'a1', 'left')).toEqual({ ok: true, count: 0, left: true });
    expect(await a.leave('lobby', 'a1', 'left')).toEqual({ ok: true, count: 0, left: false });
    expect(await a.rooms(10)).toEqual({ ok: true, total: 0, rooms: [] });
    await a.join('lobby', 'marker', 'm');
    const events = await ch.count(3);
    expect(events.map((e) => `${e.kind} ${e.id}`)).toEqual(['joined a1', 'left a1', 'joined marker']);
  });

  it('a join of an ID another node holds moves it there (a resume elsewhere): same place, no event, and the old node cannot remove it', async () => {
    const a = await node('A');
    const b = await node('B');
    const ch = await listen('lobby');
    await a.join('lobby', 'x', 'xena');
    await a.join('lobby', 'y', 'yann');
    expect(await b.join('lobby', 'x', 'xena')).toEqual({ ok: true, count: 2, joined: false, tookFrom: 'A' });
    expect(await a.leave('lobby', 'x', 'closed')).toEqual({ ok: true, count: 2, left: false, owner: 'B' });
    expect(await a.members('lobby', { limit: 10 })).toMatchObject({ members: [{ id: 'x', node: 'B' }, { id: 'y', node: 'A' }] });
    await a.join('lobby', 'marker', 'm');
    expect((await ch.count(3)).map((e) => e.id)).toEqual(['x', 'y', 'marker']);
  });

  it('never throws while Redis is away: every op fails as unavailable, and works again once it is back', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 500 }, p.url());
    expect(await a.join('lobby', 'a1', 'alice')).toMatchObject({ ok: true, count: 1 });
    p.cut();
    // An op sent as the link breaks fails too; once the client has seen it go, every op fails at once.
    expect(await a.join('lobby', 'a3', 'al')).toMatchObject({ ok: false, code: 'unavailable' });
    await until('the link seen down', async () => {
      const o = await a.members('lobby', { limit: 5 });
      return !o.ok && /^Redis is not connected/.test(o.reason);
    });
    const outs = await Promise.all([
      a.join('lobby', 'a2', 'ann'), a.leave('lobby', 'a1', 'left'), a.members('lobby', { limit: 5 }), a.rooms(5), a.beat(T0), a.sweep(T0), a.leaveAll(),
    ]);
    for (const o of outs) expect(o).toMatchObject({ ok: false, code: 'unavailable', reason: expect.stringMatching(/^Redis is not connected/) });
    p.restore();
    await until('the link back', async () => (await a.members('lobby', { limit: 5 })).ok, 5000);
    expect(await a.join('lobby', 'a2', 'ann')).toMatchObject({ ok: true, count: 2 });
  });

  it('runs a batch as one pipeline, each op alone: a bad op fails without stopping the others', async () => {
    const a = await node('A');
    const out = await a.run([
      { op: 'join', room: 'r', id: 'i', name: 'n', at: T0 },
      { op: 'leave', room: 'r', id: 'i', reason: 'bogus' as never, at: T0 },
      { op: 'members', room: 'r', limit: 0 },
      { op: 'members', room: 'r', limit: 5 },
    ]);
    expect(out).toEqual([
      { ok: true, count: 1, joined: true },
      { ok: false, code: 'bad_request', reason: 'bad leave: unknown reason bogus' },
      { ok: false, code: 'bad_request', reason: 'bad members: limit must be a whole number of at least 1' },
      { ok: true, count: 1, members: [{ id: 'i', name: 'n', node: 'A', at: T0 }] },
    ]);
  });
});

describe('RedisPresence: nodes', () => {
  const FAST = { ttlMs: 200, deadAfterMs: 1000, claimMs: 5000 };

  it('gives every per-node key a TTL, refreshed by each beat', async () => {
    const a = await node('A', { ttlMs: 15_000, roomTtlMs: 60_000 });
    await a.join('lobby', 'a1', 'alice');
    expect(await a.beat(T0)).toEqual({ ok: true, swept: false });
    const redis = await admin();
    const k = nodeKeys('A', prefix);
    const ttl = async (key: string) => redis.pttl(key);
    expect(await ttl(k.alive)).toBeGreaterThan(10_000);
    expect(await ttl(k.rooms)).toBeGreaterThan(50_000);
    expect(await ttl(presenceKeys('lobby', prefix).members)).toBeGreaterThan(50_000);
    expect(await ttl(presenceKeys('lobby', prefix).order)).toBeGreaterThan(50_000);
    expect(await redis.zscore(nodesKey(prefix), 'A')).toBe(String(T0));
    expect(await redis.smembers(k.rooms)).toEqual([membership('lobby', 'a1')]);
    // P node:{A} is sessions.ts's alive marker and channel name, with a TTL of its own: not written here.
    expect(await redis.exists(`${prefix}node:{A}`)).toBe(0);
  });

  it('a node that stops beating is swept by a survivor once its alive key is gone: its members leave with node_down, and none of its keys stays', async () => {
    const a = await node('A', FAST);
    const b = await node('B', FAST);
    const ch = await listen('lobby', 'rust');
    await a.join('lobby', 'a1', 'alice');
    await a.join('rust', 'a1', 'alice');
    await a.join('lobby', 'a2', 'ann');
    await b.join('lobby', 'b1', 'bob');
    await a.beat(T0);
    await b.beat(T0);
    await ch.count(4);
    // sessions.ts's alive marker of A, as its beat leaves it: a TTL longer than presence's.
    const redis = await admin();
    expect(nodeKeys('A', prefix).sessionsAlive).toBe(nodeChannel('A', prefix));
    await redis.set(nodeChannel('A', prefix), String(T0), 'PX', 30_000);
    a.kill();

    // Before deadAfterMs by the sweeper's clock: nobody is dead.
    expect(await b.sweep(T0 + 500)).toEqual({ ok: true, nodes: [], reconciled: 2 });
    await until("A's alive key to expire", async () => (await redis.exists(nodeKeys('A', prefix).alive)) === 0);
    expect(await b.sweep(T0 + 1500)).toMatchObject({ ok: true, nodes: [{ node: 'A', removed: 3, more: false }] });

    const events = (await ch.count(7)).slice(4);
    expect(events.map(({ count, ...e }) => e)).toEqual(expect.arrayContaining([
      { kind: 'left', room: 'lobby', id: 'a1', name: 'alice', node: 'A', at: T0 + 1500, reason: 'node_down' },
      { kind: 'left', room: 'rust', id: 'a1', name: 'alice', node: 'A', at: T0 + 1500, reason: 'node_down' },
      { kind: 'left', room: 'lobby', id: 'a2', name: 'ann', node: 'A', at: T0 + 1500, reason: 'node_down' },
    ]));
    // The last of them leaves the lobby with bob alone in it.
    expect(events.filter((e) => e.room === 'lobby').map((e) => e.count).sort()).toEqual([1, 2]);
    expect(await b.members('lobby', { limit: 10 })).toEqual({ ok: true, count: 1, members: [{ id: 'b1', name: 'bob', node: 'B', at: T0 }] });
    expect(await b.rooms(10)).toEqual({ ok: true, total: 1, rooms: [{ room: 'lobby', count: 1 }] });
    expect(await redis.zrange(nodesKey(prefix), "0", "-1")).toEqual(['B']);
    // sessions' marker too: its whereIs stops naming A now, not in 30 s.
    expect(await redis.exists(nodeChannel('A', prefix))).toBe(0);
    expect((await keysUnder(prefix)).filter((k) => k.includes('node:{A}'))).toEqual([]);
    expect(await b.sweep(T0 + 3000)).toMatchObject({ ok: true, nodes: [] });
  });

  it('does not sweep a node whose alive key lives, whatever the sweeper\'s clock says (clocks differ between machines)', async () => {
    const a = await node('A', { ttlMs: 10_000, deadAfterMs: 1000 });
    const b = await node('B', { ttlMs: 10_000, deadAfterMs: 1000 });
    await a.join('lobby', 'a1', 'alice');
    await a.beat(T0);
    a.kill();
    expect(await b.sweep(T0 + 60_000)).toMatchObject({ ok: true, nodes: [] });
    expect(await b.members('lobby', { limit: 10 })).toMatchObject({ count: 1 });
  });

  it('cleans a big node in bounded steps, going on where it stopped at the next sweep', async () => {
    const a = await node('A', FAST);
    const b = await node('B', { ...FAST, sweepBatch: 4, sweepSteps: 2 });
    for (let i = 0; i < 10; i++) await a.join(`r${i % 3}`, `m${i}`, `user${i}`);
    await a.beat(T0);
    a.kill();
    await (await admin()).del(nodeKeys('A', prefix).alive);
    expect(await b.sweep(T0 + 5000)).toMatchObject({ nodes: [{ node: 'A', removed: 8, more: true }] });
    expect(await b.sweep(T0 + 5000)).toMatchObject({ nodes: [{ node: 'A', removed: 2, more: false }] });
    expect(await b.rooms(10)).toEqual({ ok: true, total: 0, rooms: [] });
  });

  it('only one of two nodes sweeping at once cleans a dead node: each member leaves once', async () => {
    const a = await node('A', FAST);
    const b = await node('B', FAST);
    const c = await node('C', FAST);
    const ch = await listen('lobby');
    for (let i = 0; i < 20; i++) await a.join('lobby', `m${i}`, `user${i}`);
    await c.join('lobby', 'c1', 'carol');
    await a.beat(T0);
    await ch.count(21);
    a.kill();
    await (await admin()).del(nodeKeys('A', prefix).alive);
    const [rb, rc] = await Promise.all([b.sweep(T0 + 5000), c.sweep(T0 + 5000)]);
    const removed = [rb, rc].flatMap((r) => (r.ok ? r.nodes.map((n) => n.removed) : [NaN]));
    expect(removed.reduce((x, y) => x + y, 0)).toBe(20);
    expect(removed.filter((n) => n > 0)).toHaveLength(1);
    // The marker comes after every left event: none is missing, none is twice.
    await c.join('lobby', 'marker', 'm');
    const left = (await ch.count(42)).filter((e) => e.kind === 'left');
    expect(left.map((e) => e.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    expect(await c.members('lobby', { limit: 10 })).toMatchObject({ count: 2 });
  });

  it('a node that was swept while it paused hears so at its next beat', async () => {
    const a = await node('A', FAST);
    const b = await node('B', FAST);
    await a.join('lobby', 'a1', 'alice');
    await a.beat(T0);
    await (await admin()).del(nodeKeys('A', prefix).alive);
    expect(await b.sweep(T0 + 5000)).toMatchObject({ nodes: [{ node: 'A', removed: 1 }] });
    expect(await a.beat(T0 + 5000)).toEqual({ ok: true, swept: true });
    expect(await a.beat(T0 + 5100)).toEqual({ ok: true, swept: false });
  });

  it('a Redis that comes back empty reads as swept at the first beat that reaches it (the hub joins its members again)', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    await a.join('lobby', 'a1', 'alice');
    expect(await a.beat(T0)).toEqual({ ok: true, swept: false });
    p.cut();
    let beat = await a.beat(T0 + 100);
    // Until the client has seen the cut (a beat in flight as it breaks fails too, but as `store`).
    for (let i = 0; i < 100 && (beat.ok || beat.code !== 'unavailable'); i++) {
      await new Promise((r) => setTimeout(r, 10));
      beat = await a.beat(T0 + 100);
    }
    expect(beat).toMatchObject({ ok: false, code: 'unavailable' });
    await deleteKeys(prefix); // Redis restarted empty
    p.restore();
    const deadline = Date.now() + 5000;
    while (!(beat = await a.beat(T0 + 200)).ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(beat).toEqual({ ok: true, swept: true });
    expect(await a.beat(T0 + 300)).toEqual({ ok: true, swept: false });
  });

  it('a clean stop removes its own members (reason shutdown) and its keys', async () => {
    const a = await node('A');
    const b = await node('B');
    const ch = await listen('lobby');
    await a.join('lobby', 'a1', 'alice');
    await b.join('lobby', 'b1', 'bob');
    await a.beat(T0);
    expect(await a.leaveAll()).toEqual({ ok: true, removed: 1, more: false });
    const events = await ch.count(3);
    expect(events[2]).toEqual({ kind: 'left', room: 'lobby', id: 'a1', name: 'alice', node: 'A', at: T0, reason: 'shutdown', count: 1 });
    expect((await keysUnder(prefix)).filter((k) => k.includes('node:{A}'))).toEqual([]);
    expect(await (await admin()).zrange(nodesKey(prefix), "0", "-1")).toEqual([]);
    await b.close();
    expect(await a.rooms(10)).toEqual({ ok: true, total: 0, rooms: [] });
    expect(await b.join('lobby', 'x', 'x')).toMatchObject({ ok: false, code: 'unavailable' });
  });

  it('the sweep heals a rooms index that drifted (an update lost between the two round trips)', async () => {
    const a = await node('A');
    await a.join('lobby', 'a1', 'alice');
    await a.join('lobby', 'a2', 'ann');
    const redis = await admin();
    const k = sizesKeys(prefix);
    await redis.zadd(k.sizes, 7, 'lobby', 3, 'ghost-room');
    expect(await a.sweep(T0)).toEqual({ ok: true, nodes: [], reconciled: 2 });
    expect(await a.rooms(10)).toEqual({ ok: true, total: 1, rooms: [{ room: 'lobby', count: 2 }] });
  });
});

describe('parsePresence', () => {
  it('tells a presence event from a chat line on the same channel', () => {
    const line = JSON.stringify({ room: 'r', seq: 1, epoch: 'E', msgId: 'm', from: 'f', name: 'n', content: 'c', at: 1 });
    expect(parsePresence(line)).toBe('kind is not joined, left or renamed');
    const joined = JSON.stringify({ kind: 'joined', room: 'r', id: 'i', name: 'n', node: 'A', at: 1, count: 1 });
    expect(parsePresence(joined)).toEqual(JSON.parse(joined));
    // What RoomBus does with one today: a bad line (bus.ts must look at `kind` first).
    expect(parseLiveLine(joined)).toBe('epoch is not a string');
  });

  it.each([
    ['nope', 'not JSON'],
    ['null', 'not an object'],
    ['{"kind":"left","room":"r","id":"i","name":"n","node":"A","at":1,"reason":"bored"}', 'reason is not a leave reason'],
    ['{"kind":"renamed","room":"r","id":"i","name":"n","node":"A","at":1}', 'oldName is not a string'],
    ['{"kind":"joined","room":"r","id":"i","name":"n","node":"A","at":1.5}', 'at is not a whole number'],
    ['{"kind":"joined","room":"r","id":"i","name":"n","node":"A","at":1}', 'count is not a whole number'],
  ])('refuses %s: %s', (payload, why) => {
    expect(parsePresence(payload)).toBe(why);
  });

  it('reads back a membership entry whatever the room name holds', () => {
    for (const [room, id] of [['lobby', 'x'], ['1:2', '3:4'], ['', 'id'], ['r{}%', '']]) {
      expect(parseMembership(membership(room, id))).toEqual({ room, id });
    }
  });
});
