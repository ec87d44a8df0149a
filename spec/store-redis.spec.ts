// What only the Redis log has: a channel per room that each kept line is
// published on, a key layout under one prefix and one hash tag per room,
// bounded dedupe keys and a rooms index for trimming, appends that fail one by
// one, and a connection that can break, stall or come back to an empty Redis.
// The contract it shares with the other logs is in store.contract.spec.ts.
//
// Specs that need Redis to go away use a TCP proxy they can cut or silence, or
// a redis-server of their own (spec/support/redis.ts); the rest use TEST_REDIS_URL
// on database 13 under a fresh key prefix, deleted afterwards.
import net from 'node:net';
import Redis from 'ioredis';
import type { AppendRequest, LogOp, LogOutcome, ReadOutcome } from '../src/store/log';
import { RedisLog, RedisLogOptions, RedisOpenError, roomChannel, roomKeys, roomTag, roomsKey } from '../src/store/redis';
import { parseWireLine } from '../src/cluster/bus';
import type { WireLine } from '../src/core/sequence';
import * as M from '../src/core/messages';
import { admin, closeAdmin, deleteKeys, keysUnder, ownRedis, proxy, testUrl, uniquePrefix } from './support/redis';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 1);
const WIDE = { maxPerRoom: 10_000, maxDays: 30 };

let prefix: string;
const logs: RedisLog[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(async () => { await admin(); }); // fails the file at once, saying why, when no Redis answers
beforeEach(() => { prefix = uniquePrefix(); });
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close();
  for (const c of cleanups.splice(0).reverse()) await c();
  await deleteKeys(prefix);
});
afterAll(() => closeAdmin());

async function open(opts: RedisLogOptions = {}, retention = WIDE, url = testUrl()): Promise<RedisLog> {
  const log = await RedisLog.connect(url, retention, { prefix, ...opts });
  logs.push(log);
  return log;
}

let n = 0;
function line(room: string, content: string, extra: Partial<AppendRequest> = {}): AppendRequest {
  n += 1;
  return { room, msgId: `msg-${n}`, from: 'alice-id', name: 'alice', content, at: T0, ...extra };
}
const append = (req: AppendRequest): LogOp => ({ op: 'append', req });
const read = (room: string, limit = 10): LogOp => ({ op: 'read', req: { room, limit } });
const seqOf = (o: LogOutcome): number => {
  if (!o.ok || !('seq' in o)) throw new Error(`expected an append outcome, got ${JSON.stringify(o)}`);
  return o.seq;
};
const page = (o: LogOutcome): Extract<ReadOutcome, { ok: true }> => {
  if (!o.ok || !('head' in o)) throw new Error(`expected a read outcome, got ${JSON.stringify(o)}`);
  return o;
};
async function one(log: RedisLog, op: LogOp): Promise<LogOutcome> {
  return (await log.run([op]))[0];
}

/** Retries `f` until it gives a truthy value, for at most `ms`. */
async function eventually<T>(f: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The room's stream told its last ID is far ahead: Redis refuses the append script's XADD (as in the contract spec). */
async function breakRoom(room: string): Promise<void> {
  await (await admin()).call('XSETID', roomKeys(room, prefix).log, '1000000-0');
}

/** Subscribes a connection of its own to `channels`; returns the messages as they come. */
async function listen(...channels: string[]): Promise<{ channel: string; line: WireLine | string }[]> {
  const sub = new Redis(testUrl());
  cleanups.push(() => sub.quit());
  const heard: { channel: string; line: WireLine | string }[] = [];
  // The channel names the room in the bus; here each line's own frame does, read back by the spec.
  sub.on('message', (channel: string, text: string) => heard.push({ channel, line: parseWireLine('', text) }));
  await sub.subscribe(...channels);
  return heard;
}

describe('RedisLog: publishing', () => {
  it("publishes each kept line on its room's channel, and nothing for a repeat or a failed append", async () => {
    const log = await open();
    const heard = await listen(roomChannel('lobby', prefix), roomChannel('design', prefix));
    const first = line('lobby', 'hi "there" {}', { key: 'k1', at: T0 + 5 });
    const [a, , c] = await log.run([append(first), append(line('lobby', 'hi again', { key: 'k1' })), append(line('design', 'elsewhere'))]);
    await breakRoom('design');
    expect((await one(log, append(line('design', 'refused')))).ok).toBe(false);
    const last = line('lobby', 'the last');
    await log.run([append(last)]);
    await eventually(async () => heard.length >= 3);
    await new Promise((r) => setTimeout(r, 100)); // and nothing more comes
    const epoch = (a as { epoch: string }).epoch;
    const design = (c as { epoch: string }).epoch;
    // Each line's frame, byte for byte as the hub serializes a line (messages.ts `line`): what the nodes that hear it send on.
    const frame = (r: AppendRequest, seq: number, e: string) => JSON.stringify(M.line(r.from, r.name, r.room, seq, e, r.msgId, r.content, r.at));
    const said = line('design', 'elsewhere');
    expect(heard).toEqual([
      { channel: roomChannel('lobby', prefix), line: { room: '', seq: 1, epoch, from: 'alice-id', wire: frame(first, 1, epoch) } },
      { channel: roomChannel('design', prefix), line: { room: '', seq: 1, epoch: design, from: 'alice-id', wire: expect.any(String) } },
      { channel: roomChannel('lobby', prefix), line: { room: '', seq: 2, epoch, from: 'alice-id', wire: frame(last, 2, epoch) } },
    ]);
    expect(JSON.parse((heard[1].line as WireLine).wire)).toEqual({ ...JSON.parse(frame(said, 1, design)), MsgID: expect.any(String) });
    expect((heard[0].line as WireLine).wire).not.toContain('k1');
  });

  it('publishes a frame that is the JSON of the line whatever its content and names hold', async () => {
    const log = await open();
    const room = 'r "{}" \\ \u2028 é 🦀';
    const heard = await listen(roomChannel(room, prefix));
    const odd = line(room, 'quotes " backslash \\ newline \n nul \u0000 sep \u2028 lone \ud800 crab 🦀', { from: 'id "x" y', name: 'n\tame 🦀' });
    const [o] = await log.run([append(odd)]);
    await eventually(async () => heard.length >= 1);
    const epoch = (o as { epoch: string }).epoch;
    expect(heard[0].line).toEqual({
      room: '', seq: 1, epoch, from: odd.from, wire: JSON.stringify(M.line(odd.from, odd.name, room, 1, epoch, odd.msgId, odd.content, odd.at)),
    });
  });
});

describe('RedisLog: keys', () => {
  it('keeps a room in a hash, a stream and a hash of keys under one hash tag, and registers it in the rooms index', async () => {
    const log = await open();
    await log.run([append(line('lobby', 'keyed', { key: 'k' })), append(line('lobby', 'plain', { at: T0 + 1 })), read('quiet')]);
    const k = roomKeys('lobby', prefix);
    expect(await keysUnder(prefix)).toEqual([
      `${prefix}rooms`, `${prefix}{lobby}:keys`, `${prefix}{lobby}:log`, `${prefix}{lobby}:meta`, `${prefix}{quiet}:meta`,
    ].sort());
    const redis = await admin();
    expect(await Promise.all([k.meta, k.log, k.keys, roomsKey(prefix)].map((key) => redis.type(key)))).toEqual(['hash', 'stream', 'hash', 'zset']);
    expect(await redis.hgetall(k.meta)).toEqual({ epoch: expect.stringMatching(/^[A-Za-z0-9]{8}$/), head: '2' });
    expect(await redis.hgetall(k.keys)).toEqual({ '8:alice-idk': '1' });
    expect(await redis.xrange(k.log, '-', '+')).toEqual([
      ['1-0', ['at', String(T0), 'msg', expect.any(String), 'from', 'alice-id', 'name', 'alice', 'content', 'keyed', 'key', 'k']],
      ['2-0', ['at', String(T0 + 1), 'msg', expect.any(String), 'from', 'alice-id', 'name', 'alice', 'content', 'plain']],
    ]);
    // Scored by the first line's time; a room first heard of by a read, 0 (the next trim looks at it once).
    expect(await redis.zrange(roomsKey(prefix), 0, '-1', 'WITHSCORES')).toEqual(['quiet', '0', 'lobby', String(T0)]);
    // No TTL anywhere: a room's record is never forgotten (docs/storage.md).
    expect(await Promise.all([k.meta, k.log, k.keys, roomsKey(prefix)].map((key) => redis.ttl(key)))).toEqual([-1, -1, -1, -1]);
  });

  it('encodes braces and percent signs in a room name, so no name can break the hash tag or meet another', async () => {
    const names = ['we{ir}d', '{', '}', 'a%7Bb', 'a{b', '', 'x}{y'];
    expect(names.map(roomTag)).toEqual(['we%7Bir%7Dd', '%7B', '%7D', 'a%257Bb', 'a%7Bb', '%', 'x%7D%7By']);
    const log = await open();
    const out = await log.run(names.map((room) => append(line(room, `in ${room}`, { key: 'k' }))));
    expect(out.map(seqOf)).toEqual(names.map(() => 1));
    for (const room of names) {
      const k = roomKeys(room, prefix);
      for (const key of [k.meta, k.log, k.keys, roomChannel(room, prefix)]) {
        // Redis Cluster hashes what lies between the first { and the first } after it.
        const open = key.indexOf('{');
        expect(key.slice(open + 1, key.indexOf('}', open + 1))).toBe(roomTag(room));
      }
      expect(page(await one(log, read(room))).messages.map((m) => m.content)).toEqual([`in ${room}`]);
    }
    expect((await keysUnder(prefix)).length).toBe(names.length * 3 + 1);
  });

  it('keeps every key under its prefix: two prefixes on one database are two logs', async () => {
    const a = await open();
    const otherPrefix = uniquePrefix();
    cleanups.push(() => deleteKeys(otherPrefix));
    const b = await open({ prefix: otherPrefix });
    const [x, y] = [await one(a, append(line('lobby', 'in a'))), await one(b, append(line('lobby', 'in b')))];
    expect([seqOf(x), seqOf(y)]).toEqual([1, 1]);
    expect((x as { epoch: string }).epoch).not.toBe((y as { epoch: string }).epoch);
    expect((await keysUnder(prefix)).every((key) => key.startsWith(prefix))).toBe(true);
    expect(await keysUnder(otherPrefix)).toHaveLength(3);
    await expect(RedisLog.connect(testUrl(), WIDE, { prefix: 'bad{prefix}:' })).rejects.toThrow(/prefix/);
  });

  it('holds the dedupe keys to the lines kept: a hash field per kept keyed line, gone when its line goes', async () => {
    const log = await open({}, { maxPerRoom: 3, maxDays: 1 });
    const k = roomKeys('lobby', prefix);
    const redis = await admin();
    await log.run(Array.from({ length: 50 }, (_, i) => append(line('lobby', `l${i}`, { key: `key-${i}`, at: T0 + i }))));
    expect([await redis.hlen(k.keys), await redis.xlen(k.log)]).toEqual([3, 3]);
    const again = await log.run([append(line('lobby', 'x', { key: 'key-49' })), append(line('lobby', 'y', { key: 'key-10' }))]);
    expect(again.map((o) => [seqOf(o), 'duplicate' in o])).toEqual([[50, true], [51, false]]);
    expect(await redis.hlen(k.keys)).toBe(3);
    await log.trim(T0 + 5 * DAY);
    expect([await redis.exists(k.keys), await redis.xlen(k.log), await redis.hget(k.meta, 'head')]).toEqual([0, 0, '51']);
  });

  it('lets the stream hold a slack of lines over maxPerRoom (a tenth, at most 100), which no read or key sees', async () => {
    const log = await open({}, { maxPerRoom: 20, maxDays: 30 });
    const k = roomKeys('lobby', prefix);
    const lengths = new Set<number>();
    for (let i = 1; i <= 45; i++) {
      await log.run([append(line('lobby', `l${i}`, { key: `key-${i}` }))]);
      lengths.add(await (await admin()).xlen(k.log));
    }
    // Two over the count are dropped together: the stream holds 20 or 21 lines once full.
    expect([...lengths].filter((len) => len >= 20).sort()).toEqual([20, 21]);
    expect(await (await admin()).hlen(k.keys)).toBeLessThanOrEqual(21);
    expect(page(await one(log, read('lobby', 100)))).toMatchObject({ head: 45, first: 26 });
    expect(seqOf(await one(log, append(line('lobby', 'again', { key: 'key-25' }))))).toBe(46); // its line is past the count
  });

  it('drops the lines over a lowered maxPerRoom a bounded number per append, while reads show only what is kept', async () => {
    await (await open()).run(Array.from({ length: 10 }, (_, i) => append(line('lobby', `l${i + 1}`))));
    const log = await open({ dropBudget: 4 }, { maxPerRoom: 3, maxDays: 30 });
    const k = roomKeys('lobby', prefix);
    const lengths: number[] = [];
    const pages: number[][] = [];
    for (let i = 0; i < 3; i++) {
      await log.run([append(line('lobby', 'more'))]);
      lengths.push(await (await admin()).xlen(k.log));
      pages.push(page(await one(log, read('lobby'))).messages.map((m) => m.seq));
    }
    expect(lengths).toEqual([7, 4, 3]);
    expect(pages).toEqual([[9, 10, 11], [10, 11, 12], [11, 12, 13]]);
  });
});

describe('RedisLog: trimming by age', () => {
  it('looks only at rooms with a line past the cutoff, a bounded number per step, and never renumbers', async () => {
    const log = await open({ trimRooms: 2 }, { maxPerRoom: 100, maxDays: 30 });
    const old = ['r1', 'r2', 'r3', 'r4', 'r5'];
    await log.run([...old.map((r) => append(line(r, 'old'))), append(line('young', 'young', { at: T0 + 10 * DAY }))]);
    const now = T0 + 31 * DAY;
    const steps = [];
    for (let i = 0; i < 5; i++) {
      const step = await log.trimStep(now);
      steps.push(step);
      if (!step.more) break;
    }
    expect(steps).toEqual([{ deleted: 2, more: true }, { deleted: 2, more: true }, { deleted: 1, more: false }]);
    expect(await log.trimStep(now)).toEqual({ deleted: 0, more: false });
    // Emptied rooms are scored by the trim's time, the young one still by its line: none is due again until a line ages.
    const scores = await (await admin()).zrange(roomsKey(prefix), 0, '-1', 'WITHSCORES');
    expect(scores).toEqual(['young', String(T0 + 10 * DAY), ...old.flatMap((r) => [r, String(now)])]);
    expect(seqOf(await one(log, append(line('r1', 'again', { at: now }))))).toBe(2);
    expect(page(await one(log, read('young'))).messages.map((m) => m.content)).toEqual(['young']);
  });

  it('stops a room at the budget and comes back to it in the next step', async () => {
    const log = await open({ dropBudget: 3 }, { maxPerRoom: 100, maxDays: 1 });
    await log.run(Array.from({ length: 7 }, (_, i) => append(line('lobby', `l${i}`, { at: T0 + i }))));
    const now = T0 + 2 * DAY;
    expect(await log.trimStep(now)).toEqual({ deleted: 3, more: true });
    expect(await log.trimStep(now)).toEqual({ deleted: 3, more: true });
    expect(await log.trimStep(now)).toEqual({ deleted: 1, more: false });
    expect(page(await one(log, read('lobby')))).toMatchObject({ head: 7, first: 8, messages: [] });
  });
});

describe('RedisLog: failures', () => {
  it("fails a batch's appends one by one: a refused one alone, keeping nothing, the rest kept", async () => {
    const log = await open();
    await log.run([append(line('lobby', 'one')), append(line('lobby', 'two'))]);
    await breakRoom('lobby');
    const out = await log.run([
      append(line('lobby', 'refused', { key: 'k' })),
      append(line('elsewhere', 'kept')),
      read('lobby'),
      append(line('lobby', 'refused too')),
    ]);
    expect(out[0]).toEqual({ ok: false, reason: expect.stringMatching(/^store: .*XADD/) });
    expect(seqOf(out[1])).toBe(1);
    expect(page(out[2])).toMatchObject({ head: 2, first: 1 });
    expect(out[3]).toEqual({ ok: false, reason: expect.stringMatching(/^store: /) });
    expect(await (await admin()).exists(roomKeys('lobby', prefix).keys)).toBe(0);
  });

  it('sends a batch as one write: the rooms index registration and every script leave the socket together', async () => {
    const log = await open();
    await one(log, append(line('lobby', 'first')));
    // Sockets write through _write (one chunk) or _writev (what queued while corked): count both.
    const socket = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => void>;
    const write = jest.spyOn(socket, '_write');
    const writev = jest.spyOn(socket, '_writev');
    let out: LogOutcome[];
    let writes: number;
    let chunks: unknown;
    try {
      out = await log.run([append(line('lobby', 'a')), append(line('new-room', 'b')), read('lobby'), append(line('lobby', 'c'))]);
      writes = write.mock.calls.length + writev.mock.calls.length;
      chunks = writev.mock.calls[0]?.[0];
    } finally {
      write.mockRestore();
      writev.mockRestore();
    }
    expect(writes).toBe(1);
    // A ZADD for new-room, then the four scripts.
    expect(chunks).toHaveLength(5);
    expect([seqOf(out[0]), seqOf(out[1]), page(out[2]).head, seqOf(out[3])]).toEqual([2, 1, 2, 3]);
    expect(await (await admin()).zscore(roomsKey(prefix), 'new-room')).not.toBeNull();
  });

  it('agrees on a new room\'s epoch between two logs: it is made in Redis, by whichever comes first', async () => {
    const [a, b] = [await open({ random: () => 'AAAAAAAA' }), await open({ random: () => 'BBBBBBBB' })];
    const [x, y] = await Promise.all([a.run([read('fresh', 0)]), b.run([read('fresh', 0)])]);
    expect(page(x[0]).epoch).toBe(page(y[0]).epoch);
  });

  it('rejects a bad URL at connect with one line', async () => {
    for (const url of ['http://127.0.0.1:6379', 'redis://127.0.0.1:6379/lobby', 'no url at all']) {
      const e = await RedisLog.connect(url, WIDE).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(RedisOpenError);
      expect((e as Error).message).toMatch(/^bad Redis URL [^\n]+$/);
    }
  });

  it('gives up at connect when nothing answers within connectTimeoutMs, naming the URL without its password', async () => {
    const down = await proxy();
    cleanups.push(() => down.close());
    down.cut();
    const url = down.url().replace('//', '//:secret@');
    const started = Date.now();
    const e = await RedisLog.connect(url, WIDE, { connectTimeoutMs: 400 }).catch((err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(e).toBeInstanceOf(RedisOpenError);
    expect((e as Error).message).toMatch(/^cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/13: [^\n]+$/);
    expect((e as Error).message).not.toContain('secret');
  });

  it('fails an op at once while the connection is down, and works again once it is back', async () => {
    const net = await proxy();
    cleanups.push(() => net.close());
    const log = await open({}, WIDE, net.url());
    const told: (string | undefined)[] = [];
    log.link?.watch((down) => told.push(down));
    const first = await one(log, append(line('lobby', 'before')));
    expect(log.link?.down).toBeUndefined();
    net.cut();
    await new Promise((r) => setTimeout(r, 100)); // ioredis has seen the connection close
    const started = Date.now();
    expect(await one(log, append(line('lobby', 'while down')))).toEqual({
      ok: false, reason: expect.stringMatching(/^store: Redis is not connected/), unavailable: true,
    });
    expect(Date.now() - started).toBeLessThan(100);
    expect(await one(log, read('lobby'))).toEqual({ ok: false, reason: expect.stringMatching(/^store: /), unavailable: true });
    expect(log.link?.down).toMatch(/^lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+\/13/);
    await new Promise((r) => setTimeout(r, 300)); // ioredis retries meanwhile: each failed try is not told again
    net.restore();
    const back = await eventually(async () => {
      const o = await one(log, append(line('lobby', 'after')));
      return o.ok ? o : undefined;
    });
    expect(back).toEqual({ ok: true, seq: 2, epoch: (first as { epoch: string }).epoch });
    // Told once each way (docs/scaling.md "Redis goes away").
    expect(told).toEqual([expect.stringMatching(/^lost the connection/), undefined]);
    expect(log.link?.down).toBeUndefined();
  });

  // Two ops go in one pipeline; one op alone is sent without one (redis.ts runBatch): both time out alike.
  it.each([
    ['an append and a read', () => [append(line('lobby', 'into the void')), read('lobby')]],
    ['one append alone', () => [append(line('lobby', 'into the void'))]],
  ])('fails a batch (%s) whose answer never comes after commandTimeoutMs', async (_what, batch) => {
    const net = await proxy();
    cleanups.push(() => net.close());
    const log = await open({ commandTimeoutMs: 300 }, WIDE, net.url());
    await one(log, append(line('lobby', 'before')));
    net.silence(); // the connection stays open; nothing passes either way
    const started = Date.now();
    const ops = batch();
    const out = await log.run(ops);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(out).toEqual(ops.map(() => ({ ok: false, reason: expect.stringMatching(/^store: .*timed out/i), unavailable: true })));
    // The socket is open, but Redis does not answer: down too, for /healthz.
    expect(log.link?.down).toMatch(/^Redis does not answer: .*timed out/i);
  });

  it('never sends again an append whose answer was lost: it fails, and Redis ran it once', async () => {
    const net = await proxy();
    cleanups.push(() => net.close());
    const log = await open({ commandTimeoutMs: 3000 }, WIDE, net.url());
    await one(log, append(line('lobby', 'before')));
    net.muteReplies();
    const pending = log.run([append(line('lobby', 'kept, but the Ack is lost', { key: 'k-lost' }))]);
    await new Promise((r) => setTimeout(r, 100)); // Redis has run it by now
    // The link breaks before the answer comes: the append fails, and when the link is back it is not sent again.
    net.cut();
    net.restore();
    // unavailable: the client keeps it and sends it again, and the Key finds it kept.
    expect(await pending).toEqual([{ ok: false, reason: expect.stringMatching(/^store: /), unavailable: true }]);
    await eventually(async () => (await one(log, read('lobby'))).ok);
    await new Promise((r) => setTimeout(r, 200)); // time for anything resent to land
    expect(page(await one(log, read('lobby'))).messages.map((m) => m.content)).toEqual(['before', 'kept, but the Ack is lost']);
    expect(await one(log, append(line('lobby', 'retry', { key: 'k-lost' })))).toMatchObject({ ok: true, seq: 2, duplicate: {} });
  });
});

describe('RedisLog: a Redis of its own', () => {
  let own: Awaited<ReturnType<typeof ownRedis>>;
  beforeEach(async () => {
    own = await ownRedis();
    cleanups.push(() => own.stop());
  });

  it('comes back to a Redis restarted empty: each room gets a new epoch and starts again at Seq 1', async () => {
    const log = await open({}, WIDE, own.url);
    const before = await log.run([append(line('lobby', 'one')), append(line('lobby', 'two'))]);
    expect(before.map(seqOf)).toEqual([1, 2]);
    await own.stop();
    expect(await one(log, append(line('lobby', 'while down')))).toEqual({ ok: false, reason: expect.stringMatching(/^store: /), unavailable: true });
    await own.start();
    const after = await eventually(async () => {
      const o = await one(log, append(line('lobby', 'after')));
      return o.ok ? o : undefined;
    });
    expect(after).toEqual({ ok: true, seq: 1, epoch: expect.stringMatching(/^[A-Za-z0-9]{8}$/) });
    expect((after as { epoch: string }).epoch).not.toBe((before[0] as { epoch: string }).epoch);
    // The room is registered again for trimming.
    const redis = new Redis(own.url);
    cleanups.push(() => redis.quit());
    expect(await eventually(() => redis.zscore(roomsKey(prefix), 'lobby'))).toBe(String(T0));
  });

  it('loads its scripts again when someone flushes them: one batch fails, the next works', async () => {
    const log = await open({}, WIDE, own.url);
    await one(log, append(line('lobby', 'one')));
    const redis = new Redis(own.url);
    cleanups.push(() => redis.quit());
    await redis.script('FLUSH');
    expect(await one(log, append(line('lobby', 'two')))).toEqual({ ok: false, reason: expect.stringMatching(/^store: NOSCRIPT/) });
    expect(await eventually(async () => (await one(log, append(line('lobby', 'three')))).ok)).toBe(true);
    expect(page(await one(log, read('lobby'))).messages.map((m) => m.content)).toEqual(['one', 'three']);
  });

  it('quits its connection on close', async () => {
    const redis = new Redis(own.url);
    cleanups.push(() => redis.quit());
    const named = async () => (await redis.client('LIST') as string).split('\n').filter((c) => c.includes('name=rxchat-log')).length;
    const log = await open({}, WIDE, own.url);
    expect(await named()).toBe(1);
    await log.close();
    expect(await eventually(async () => (await named()) === 0)).toBe(true);
    expect((await log.run([read('lobby')]))[0]).toEqual({ ok: false, reason: 'store: the log is closed' });
  });
});
