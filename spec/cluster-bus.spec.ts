// The cross-node bus (src/cluster/bus.ts): a node hears the lines of the rooms
// it has members in, as the log's append script publishes them, and only those;
// it says when its link to Redis goes and comes back, with its subscriptions
// restored, so the hub can look for lines lost meanwhile.
import { RedisLog, RedisOpenError, livePayloadHead, roomChannel } from '../src/store/redis';
import { RoomBus, parseLiveLine, parseWireLine } from '../src/cluster/bus';
import type { Heard } from '../src/core/sequence';
import * as M from '../src/core/messages';
import { PresenceEvent, RedisPresence } from '../src/cluster/presence';
import { NodeMessage, RedisSessions } from '../src/cluster/sessions';
import { admin, eachTestOnRedis, proxy, testUrl } from './support/redis';

const T0 = Date.UTC(2026, 11, 1);
const RETENTION = { maxPerRoom: 100, maxDays: 30 };

let prefix: string;
const closers = eachTestOnRedis((p) => { prefix = p; });

/** Resolves once `check` holds, checking at each event; fails after `ms`. */
function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const tick = () => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

/** A line heard, with its content read out of its frame (a line as published now) or its fields (as older nodes did). */
type Line = Heard & { content: string };
const withContent = (l: Heard): Line => ({ ...l, content: l.wire === undefined ? l.content : (JSON.parse(l.wire) as { Content: string }).Content });

async function node(url = testUrl(), nodeId?: string) {
  const lines: Line[] = [];
  const links: boolean[] = [];
  const bad: string[] = [];
  const presence: PresenceEvent[] = [];
  const mail: NodeMessage[] = [];
  const bus = await RoomBus.connect(url, {
    prefix,
    nodeId,
    onLine: (l) => lines.push(withContent(l)),
    onPresence: (e) => presence.push(e),
    onNodeMessage: (m) => mail.push(m),
    onLink: (up) => links.push(up),
    onBadPayload: (_channel, why) => bad.push(why),
  });
  closers.push(() => bus.close());
  return { bus, lines, links, bad, presence, mail };
}

async function log(): Promise<RedisLog> {
  const l = await RedisLog.connect(testUrl(), RETENTION, { prefix });
  closers.push(() => l.close());
  return l;
}

let n = 0;
async function say(l: RedisLog, room: string, content: string): Promise<number> {
  n += 1;
  const [o] = await l.run([{ op: 'append', req: { room, msgId: `m${n}`, from: 'alice-id', name: 'alice', content, at: T0 } }]);
  if (!o.ok || !('seq' in o)) throw new Error(`not appended: ${JSON.stringify(o)}`);
  return o.seq;
}

/** Subscriptions are sent asynchronously: wait until Redis counts this many listeners on the room's channel. */
async function listeners(room: string, count: number): Promise<void> {
  const redis = await admin();
  const channel = roomChannel(room, prefix);
  const deadline = Date.now() + 5000;
  for (;;) {
    const [, c] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(c) === count) return;
    if (Date.now() > deadline) throw new Error(`${channel} has ${c} subscribers, not ${count}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RoomBus', () => {
  it('hears every line appended to a room it joined, from any process, in Seq order, and nothing of other rooms', async () => {
    const a = await node();
    const b = await node();
    a.bus.join('lobby');
    b.bus.join('lobby');
    b.bus.join('rust');
    await listeners('lobby', 2);
    await listeners('rust', 1);
    const one = await log();
    const two = await log();
    for (let i = 0; i < 20; i++) await say(i % 2 ? one : two, 'lobby', `line ${i}`);
    await say(one, 'rust', 'crab');
    await until('20 lobby lines on a, 21 lines on b', () => a.lines.length === 20 && b.lines.length === 21);
    expect(a.lines.map((l) => l.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(b.lines.filter((l) => l.room === 'lobby').map((l) => l.content)).toEqual(a.lines.map((l) => l.content));
    const [first] = a.lines;
    expect(first).toMatchObject({ room: 'lobby', seq: 1, epoch: expect.stringMatching(/^[A-Za-z0-9]{8}$/), from: 'alice-id' });
    // The frame a client gets, byte for byte as the hub would have serialized the line itself.
    const msgId = (JSON.parse(first.wire ?? '{}') as { MsgID: string }).MsgID;
    expect(first.wire).toBe(JSON.stringify(M.line('alice-id', 'alice', 'lobby', 1, first.epoch, msgId, 'line 0', T0)));
    expect(b.lines.find((l) => l.room === 'rust')?.content).toBe('crab');
  });

  it('stops hearing a room it left, and joining or leaving twice is harmless', async () => {
    const a = await node();
    a.bus.join('lobby');
    a.bus.join('lobby');
    await listeners('lobby', 1);
    const l = await log();
    await say(l, 'lobby', 'heard');
    await until('the first line', () => a.lines.length === 1);
    a.bus.leave('lobby');
    a.bus.leave('lobby');
    await listeners('lobby', 0);
    await say(l, 'lobby', 'not heard');
    // A line to a room still joined, sent after, arrives after: so the one before it would have too.
    a.bus.join('rust');
    await listeners('rust', 1);
    await say(l, 'rust', 'marker');
    await until('the marker', () => a.lines.some((x) => x.content === 'marker'));
    expect(a.lines.map((x) => x.content)).toEqual(['heard', 'marker']);
    expect(a.bus.size).toBe(1);
  });

  it('drops a payload that is not a line, and says why', async () => {
    const a = await node();
    a.bus.join('lobby');
    await listeners('lobby', 1);
    const redis = await admin();
    await redis.publish(roomChannel('lobby', prefix), 'not json');
    await redis.publish(roomChannel('lobby', prefix), JSON.stringify({ room: 'lobby', seq: 'one' }));
    await redis.publish(roomChannel('lobby', prefix), JSON.stringify({
      room: 'rust', seq: 1, epoch: 'E', msgId: 'm', from: 'f', name: 'n', content: 'c', at: 1,
    }));
    await redis.publish(roomChannel('lobby', prefix), '7 Ep 1 f{"ID":"x"');
    await until('four bad payloads', () => a.bad.length === 4);
    expect(a.bad[0]).toBe('not JSON');
    expect(a.bad[2]).toMatch(/room "rust" on the channel of "lobby"/);
    expect(a.bad[3]).toBe('the frame is not a JSON object');
    expect(a.lines).toEqual([]);
  });

  it('still hears a line as JSON, as a node of an earlier version publishes it (a cluster upgraded one node at a time)', async () => {
    const a = await node();
    a.bus.join('lobby');
    await listeners('lobby', 1);
    const old = { room: 'lobby', seq: 1, epoch: 'E', msgId: 'm', from: 'f', name: 'n', content: 'from an older node', at: T0 };
    await (await admin()).publish(roomChannel('lobby', prefix), JSON.stringify(old));
    await until('the line', () => a.lines.length === 1);
    expect(a.lines).toEqual([old]);
    expect(a.bad).toEqual([]);
  });

  it('says when its link goes and comes back, and hears its rooms again without joining again', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node(p.url());
    a.bus.join('lobby');
    await listeners('lobby', 1);
    p.cut();
    await until('the link down', () => a.links.includes(false));
    await listeners('lobby', 0);
    p.restore();
    await until('the link up', () => a.links[a.links.length - 1] === true);
    await listeners('lobby', 1);
    await say(await log(), 'lobby', 'after the blip');
    await until('the line after the blip', () => a.lines.length === 1);
    expect(a.links).toEqual([false, true]);
  });

  it('refuses a bad URL at once, and gives up on a Redis that does not answer, as the log does (one line, RedisOpenError)', async () => {
    const quiet = { prefix, onLine: () => undefined };
    await expect(RoomBus.connect('http://127.0.0.1:6379/0', quiet)).rejects.toThrow(RedisOpenError);
    await expect(RoomBus.connect('redis://:secret@127.0.0.1:6379/x', quiet))
      .rejects.toThrow(/^bad Redis URL redis:\/\/:\*\*\*@127\.0\.0\.1:6379\/x: the database must be a number/);
    const p = await proxy();
    closers.push(() => p.close());
    p.cut();
    const started = Date.now();
    const e = await RoomBus.connect(p.url(), { ...quiet, connectTimeoutMs: 500 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RedisOpenError);
    expect((e as Error).message).toMatch(/^cannot use Redis at redis:\/\/127\.0\.0\.1:\d+\/13: [^\n]+\(no answer within 500 ms\)$/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('RoomBus: presence and the node channel', () => {
  it('hears a room\'s presence events apart from its lines, in the order published', async () => {
    const a = await node();
    a.bus.join('lobby');
    await listeners('lobby', 1);
    const other = await RedisPresence.connect(testUrl(), { prefix, nodeId: 'node-b' });
    closers.push(() => other.close());
    await other.join('lobby', 'bob-id', 'bob');
    await say(await log(), 'lobby', 'hi all');
    await other.rename('bob-id', 'robert', ['lobby']);
    await other.leave('lobby', 'bob-id', 'left');
    await until('three events and a line', () => a.presence.length === 3 && a.lines.length === 1);
    expect(a.presence.map((e) => [e.kind, e.id, e.name, e.node])).toEqual([
      ['joined', 'bob-id', 'bob', 'node-b'], ['renamed', 'bob-id', 'robert', 'node-b'], ['left', 'bob-id', 'robert', 'node-b'],
    ]);
    expect(a.lines[0].content).toBe('hi all');
    expect(a.bad).toEqual([]);
  });

  it('hears what other nodes send it on its node channel: a Direct to an identity live here', async () => {
    const a = await node(testUrl(), 'node-a');
    const here = await RedisSessions.connect(testUrl(), { prefix, nodeId: 'node-a' });
    const there = await RedisSessions.connect(testUrl(), { prefix, nodeId: 'node-b' });
    closers.push(() => here.close(), () => there.close());
    await here.claim('alice-id', 'A'.repeat(32), { id: 'alice-id', name: 'alice', rooms: ['lobby'], keys: [] });
    const direct = { ID: 'bob-id', Content: 'psst', SentAt: 1, Type: 11, Name: 'bob', To: 'alice-id', MsgID: 'm1' };
    expect(await there.send('alice-id', JSON.stringify(direct))).toMatchObject({ ok: true, delivered: 'live', node: 'node-a' });
    await until('the direct', () => a.mail.length === 1);
    expect(a.mail[0]).toEqual({ kind: 'direct', to: 'alice-id', message: direct });
  });
});

describe('RoomBus: a handler that throws', () => {
  it('is reported as a bad payload, and the bus goes on hearing the room', async () => {
    const heard: Line[] = [];
    const bad: string[] = [];
    let first = true;
    const bus = await RoomBus.connect(testUrl(), {
      prefix,
      onLine: (l) => {
        if (first) {
          first = false;
          throw new Error('boom');
        }
        heard.push(withContent(l));
      },
      onBadPayload: (_channel, why) => bad.push(why),
    });
    closers.push(() => bus.close());
    bus.join('lobby');
    await listeners('lobby', 1);
    const l = await log();
    await say(l, 'lobby', 'one');
    await say(l, 'lobby', 'two');
    await until('the second line', () => heard.length === 1);
    expect(bad).toEqual(['handling it failed: boom']);
    expect(heard[0].content).toBe('two');
  });
});

describe('parseWireLine', () => {
  const frame = JSON.stringify(M.line('f i d', 'n', 'lobby', 7, 'Ep', 'm', 'c', T0));
  const head = (from: string) => livePayloadHead(from, '');

  it('reads the Seq, epoch and sender, whatever the sender holds, and takes the frame whole', () => {
    expect(parseWireLine('lobby', `7 Ep ${head('f i d')}${frame}`)).toEqual({ room: 'lobby', seq: 7, epoch: 'Ep', from: 'f i d', wire: frame });
    expect(parseWireLine('lobby', `7 Ep ${head('')}${frame}`)).toEqual({ room: 'lobby', seq: 7, epoch: 'Ep', from: '', wire: frame });
  });

  it.each([
    ['7 Ep', 'not a line: fewer than four fields'],
    [`0 Ep 1 f${frame}`, 'seq is not a whole number'],
    [`7.5 Ep 1 f${frame}`, 'seq is not a whole number'],
    [`1234567890123456 Ep 1 f${frame}`, 'seq is not a whole number'],
    [`7  1 f${frame}`, 'epoch is empty'],
    [`7 Ep x f${frame}`, 'the length of from is not a whole number within the payload'],
    ['7 Ep 99 f{"ID":""}', 'the length of from is not a whole number within the payload'],
    ['7 Ep 1 f[1]', 'the frame is not a JSON object'],
    ['7 Ep 1 f{"ID":"x"', 'the frame is not a JSON object'],
  ])('refuses %s: %s', (payload, why) => {
    expect(parseWireLine('lobby', payload)).toBe(why);
  });
});

describe('parseLiveLine', () => {
  it.each([
    ['null', 'not an object'],
    ['[1]', 'room is not a string'],
    ['{"room":"a","epoch":"e","msgId":"m","from":"f","name":"n","content":"c","seq":1.5,"at":1}', 'seq is not a whole number'],
  ])('refuses %s: %s', (payload, why) => {
    expect(parseLiveLine(payload)).toBe(why);
  });
});
