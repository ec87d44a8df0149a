// Identities across nodes (src/cluster/sessions.ts), against a real Redis: a
// token parked on one node is taken once on any node; records and mailboxes
// expire with their TTL; a Direct reaches an identity live on another node on
// that node's channel, or waits in the mailbox of a parked one, within bounds;
// and with Redis away every op answers, quickly, that it failed.
//
// Database 13, a fresh key prefix per test, its keys deleted afterwards; no
// Redis is a failure that says so (spec/support/redis.ts). Every wait is bounded.
import Redis from 'ioredis';
import {
  IdentityRecord, NodeMessage, RedisSessions, SessionsOptions, mailBucketKey, nodeChannel, parseNodeMessage, sessionKeys, tokenKey, userKey,
} from '../src/cluster/sessions';
import { RedisOpenError } from '../src/store/redis';
import { admin, deleteKeys, eachTestOnRedis, keysUnder, proxy, testUrl } from './support/redis';
import { until } from './support/until';

let prefix: string;
const closers = eachTestOnRedis((p) => { prefix = p; });

async function node(nodeId: string, opts: Partial<SessionsOptions> = {}, url = testUrl()): Promise<RedisSessions> {
  const s = await RedisSessions.connect(url, { prefix, nodeId, ...opts });
  closers.push(() => s.close());
  return s;
}

let n = 0;
/** A well-formed token no one has used. */
function token(): string {
  n += 1;
  return `tok${n}`.padEnd(32, '_').slice(0, 32);
}

function record(id: string, extra: Partial<IdentityRecord> = {}): IdentityRecord {
  return {
    id,
    name: `${id}-name`,
    rooms: ['lobby', 'design'],
    keys: [['k1', { msgId: 'm1', room: 'lobby', seq: 4, epoch: 'Qm7xK2pA' }], ['k2', { msgId: 'm2', to: 'bob' }]],
    ...extra,
  };
}

function dm(from: string, to: string, content: string): string {
  return JSON.stringify({ ID: from, Content: content, SentAt: 1764115206, Type: 11, Name: from, To: to, MsgID: `msg-${content}` });
}

/** A plain subscriber on node `nodeId`'s channel, as the bus will be; returns what it hears, parsed. */
async function listen(nodeId: string): Promise<NodeMessage[]> {
  const sub = new Redis(testUrl(), { maxRetriesPerRequest: 1 });
  closers.push(() => sub.quit().catch(() => sub.disconnect()));
  const heard: NodeMessage[] = [];
  sub.on('message', (_channel: string, payload: string) => {
    const m = parseNodeMessage(payload);
    if (typeof m === 'string') throw new Error(`bad payload: ${m}`);
    heard.push(m);
  });
  await sub.subscribe(nodeChannel(nodeId, prefix));
  return heard;
}

describe('RedisSessions: park and take', () => {
  it('parks an identity on one node and gives it back once, on another, with its name, rooms and Keys', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t = token();
    expect(await a.claim('alice', t, record('alice'))).toEqual({ ok: true });
    expect(a.size).toBe(1);
    expect(await a.park(t, record('alice', { rooms: ['lobby'] }), 60_000)).toEqual({ ok: true, parked: true });
    expect(a.size).toBe(0);
    const [first, second] = await Promise.all([b.take(t), a.take(t)]);
    const won = [first, second].filter((o) => o.ok && o.found);
    expect(won).toEqual([{ ok: true, found: true, record: record('alice', { rooms: ['lobby'] }), directs: [] }]);
    expect([first, second].filter((o) => o.ok && !o.found)).toEqual([{ ok: true, found: false, why: 'unknown' }]);
    expect(await b.take(t)).toEqual({ ok: true, found: false, why: 'unknown' });
    // Nothing of alice is left but the node alive keys (and the life of Redis's data).
    await until('the token index to go', async () => (await keysUnder(prefix)).every((k) => k.includes('node:') || k.endsWith(':sesslife')));
  });

  it('resumes on another node: take, then claim with the new token; the old token is spent', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t1 = token();
    const t2 = token();
    await a.claim('alice', t1, record('alice'));
    await a.park(t1, record('alice'), 60_000);
    const got = await b.take(t1);
    if (!got.ok || !got.found) throw new Error(JSON.stringify(got));
    expect(await b.claim('alice', t2, got.record)).toEqual({ ok: true });
    expect(await a.whereIs(['alice'])).toEqual({ ok: true, nodes: ['B'] });
    expect(await a.take(t1)).toEqual({ ok: true, found: false, why: 'unknown' });
    // The new token works in turn, and a release forgets the identity altogether.
    expect(await b.release('alice')).toEqual({ ok: true, released: true });
    expect(await a.take(t2)).toEqual({ ok: true, found: false, why: 'unknown' });
    expect(await a.whereIs(['alice'])).toEqual({ ok: true, nodes: [undefined] });
  });

  it('takes over a token whose connection still looks alive on another node: that node is sent a cut, and its park is refused', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const heardA = await listen('A');
    const t1 = token();
    await a.claim('alice', t1, record('alice'));
    const got = await b.take(t1);
    expect(got).toEqual({ ok: true, found: true, record: record('alice'), directs: [], liveOn: 'A' });
    await until('the cut on A', () => heardA.length === 1);
    expect(heardA).toEqual([{ kind: 'cut', id: 'alice', token: t1, by: 'B' }]);
    const t2 = token();
    await b.claim('alice', t2, record('alice'));
    // A's socket closes after the cut: its park finds the identity has another token.
    expect(await a.park(t1, record('alice', { rooms: [] }), 60_000)).toEqual({ ok: true, parked: false, why: 'superseded' });
    expect(a.size).toBe(0);
    expect(await a.whereIs(['alice'])).toEqual({ ok: true, nodes: ['B'] });
  });

  it('updates the record of a live identity only under its own token: a takeover elsewhere is not undone', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t1 = token();
    await a.claim('alice', t1, record('alice'));
    expect(await a.update('alice', t1, record('alice', { name: 'al' }))).toEqual({ ok: true, updated: true });
    await b.take(t1);
    const t2 = token();
    await b.claim('alice', t2, record('alice', { name: 'al' }));
    expect(await a.update('alice', t1, record('alice', { name: 'stale', rooms: [] }))).toEqual({ ok: true, updated: false });
    await b.park(t2, record('alice', { name: 'al' }), 60_000);
    expect(await a.take(t2)).toMatchObject({ ok: true, found: true, record: { name: 'al', rooms: ['lobby', 'design'] } });
  });

  it('parks an identity whose claim is still on its way (a connection that ends at once): beat() does not keep it', async () => {
    const a = await node('A');
    const t = token();
    const claimed = a.claim('alice', t, record('alice'));
    const parked = a.park(t, record('alice'), 60_000);
    expect(await claimed).toEqual({ ok: true });
    expect(await parked).toEqual({ ok: true, parked: true });
    expect(a.size).toBe(0);
  });

  it('refuses to park an identity Redis no longer has (taken, expired) as gone', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t = token();
    await a.claim('alice', t, record('alice'));
    await b.take(t);
    expect(await a.park(t, record('alice'), 60_000)).toEqual({ ok: true, parked: false, why: 'gone' });
    expect(await b.take(t)).toEqual({ ok: true, found: false, why: 'unknown' });
  });

  it('takes over a live token on its own node without publishing a cut (the hub cuts its own socket)', async () => {
    const a = await node('A');
    const heardA = await listen('A');
    const t = token();
    await a.claim('alice', t, record('alice'));
    expect(await a.take(t)).toMatchObject({ ok: true, found: true, liveOn: 'A' });
    await new Promise((r) => setTimeout(r, 100));
    expect(heardA).toEqual([]);
  });

  it('refuses a malformed token without asking Redis, and finds nothing for a forged or stale one', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    p.cut();
    for (const bad of ['', 'short', 'x'.repeat(33), `${'x'.repeat(31)}!`, 42 as unknown as string]) {
      expect(await a.take(bad)).toEqual({ ok: true, found: false, why: 'malformed' });
    }
    p.restore();
    await until('A to be back', async () => (await a.beat()).ok, 5000);
    const b = await node('B');
    expect(await b.take(token())).toEqual({ ok: true, found: false, why: 'unknown' });
    // A token index that points at an identity whose token is another: nothing.
    const t = token();
    await b.claim('alice', t, record('alice'));
    const forged = token();
    await (await admin()).set(tokenKey(forged, prefix), 'alice', 'PX', 60_000);
    expect(await b.take(forged)).toEqual({ ok: true, found: false, why: 'unknown' });
    expect(await b.whereIs(['alice'])).toEqual({ ok: true, nodes: ['B'] });
  });

  it('forgets a parked identity, its mailbox and its token when its TTL runs out', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t = token();
    await a.claim('alice', t, record('alice'));
    await a.park(t, record('alice'), 300);
    expect(await b.send('alice', dm('bob', 'alice', 'hi'))).toEqual({ ok: true, delivered: 'kept', waiting: 1 });
    const redis = await admin();
    const k = sessionKeys('alice', prefix);
    for (const key of [k.sess, k.mail, tokenKey(t, prefix)]) expect(await redis.pttl(key)).toBeGreaterThan(0);
    await until('alice to expire', async () => (await redis.exists(k.sess, k.mail, tokenKey(t, prefix))) === 0, 3000);
    expect(await b.take(t)).toEqual({ ok: true, found: false, why: 'unknown' });
    expect(await b.send('alice', dm('bob', 'alice', 'late'))).toMatchObject({ ok: false, code: 'no_such_client' });
  });

  it('caps a park at the resume window', async () => {
    const a = await node('A', { resumeWindowMs: 2000 });
    const t = token();
    await a.claim('alice', t, record('alice'));
    await a.park(t, record('alice'), 3_600_000);
    const ttl = await (await admin()).pttl(sessionKeys('alice', prefix).sess);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2000);
  });

  it('keeps the newest 256 settled Keys of a record, and refuses a record too big or malformed', async () => {
    const a = await node('A');
    const keys: IdentityRecord['keys'] = [];
    for (let i = 0; i < 300; i++) keys.push([`k${i}`, { msgId: `m${i}`, to: 'bob' }]);
    const pending = [['kp', { pending: true }]] as unknown as IdentityRecord['keys'];
    const t = token();
    await a.claim('alice', t, record('alice', { keys: [] }));
    expect(await a.park(t, record('alice', { keys: [...keys, ...pending] }), 60_000)).toEqual({ ok: true, parked: true });
    const got = await a.take(t);
    if (!got.ok || !got.found) throw new Error(JSON.stringify(got));
    expect(got.record.keys).toEqual(keys.slice(44));
    const big = await a.claim('bob', token(), record('bob', { name: 'x'.repeat(200), keys: keys.map(([k, r]) => [k.padEnd(64, 'k'), { ...r, msgId: 'm'.repeat(1000) }]) }));
    expect(big).toMatchObject({ ok: false, code: 'bad_request', reason: expect.stringContaining('bytes') });
    expect(await a.claim('bob', token(), { ...record('bob'), rooms: 'lobby' as unknown as string[] })).toMatchObject({ ok: false });
    expect(await a.claim('bob', 'not a token', record('bob'))).toMatchObject({ ok: false, code: 'bad_request' });
    expect(await a.whereIs(['bob'])).toEqual({ ok: true, nodes: [undefined] });
  });
});

describe('RedisSessions: where an identity is', () => {
  it('says which node each identity is live on, across nodes; away and unknown identities are nowhere', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const [ta, tb, tc] = [token(), token(), token()];
    await a.claim('alice', ta, record('alice'));
    await b.claim('bob', tb, record('bob'));
    await b.claim('carol', tc, record('carol'));
    await b.park(tc, record('carol'), 60_000);
    const want = { ok: true, nodes: ['A', 'B', undefined, undefined] };
    expect(await a.whereIs(['alice', 'bob', 'carol', 'nobody'])).toEqual(want);
    expect(await b.whereIs(['alice', 'bob', 'carol', 'nobody'])).toEqual(want);
    expect(await a.whereIs([])).toEqual({ ok: true, nodes: [] });
  });

  it("forgets a node that stops beating: whereIs stops naming it at once its alive key expires, its identities after a resume window, and they stay resumable meanwhile", async () => {
    const opts = { liveTtlMs: 400, resumeWindowMs: 600 };
    const [a, b] = [await node('A', opts), await node('B', opts)];
    const t = token();
    await a.claim('alice', t, record('alice'));
    // B beats on; A dies (no more beats, no park).
    const beating = setInterval(() => { void b.beat(); }, 100);
    closers.push(async () => clearInterval(beating));
    await a.close();
    await until('A to be forgotten', async () => {
      const w = await b.whereIs(['alice']);
      return w.ok && w.nodes[0] === undefined;
    }, 3000);
    const redis = await admin();
    expect(await redis.exists(nodeChannel('B', prefix))).toBe(1);
    expect(await redis.exists(nodeChannel('A', prefix))).toBe(0);
    // Its identity is still there to resume (TTL liveTtl + resume window from A's last beat)...
    expect(await redis.exists(sessionKeys('alice', prefix).sess)).toBe(1);
    // ...and then goes by itself.
    await until('alice to expire', async () => (await redis.exists(sessionKeys('alice', prefix).sess, tokenKey(t, prefix))) === 0, 3000);
  });

  it("a dead node's client resumes on another node", async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t = token();
    await a.claim('alice', t, record('alice'));
    await a.close(); // SIGKILL, as far as Redis can tell
    expect(await b.take(t)).toEqual({ ok: true, found: true, record: record('alice'), directs: [], liveOn: 'A' });
  });

  it('refreshes a live identity once per refreshMs, not at every beat (2 commands per identity per 100 s at the defaults)', async () => {
    let now = 1_000_000;
    const a = await node('A', { now: () => now });
    const t = token();
    await a.claim('alice', t, record('alice'));
    const redis = await admin();
    const sess = sessionKeys('alice', prefix).sess;
    await redis.pexpire(sess, 50_000);
    // Beats within refreshMs of the claim (the default: max(30 s, 5 min / 3) = 100 s) leave its TTL alone...
    for (const dt of [10_000, 50_000, 99_000]) {
      now = 1_000_000 + dt;
      expect(await a.beat()).toEqual({ ok: true, reclaimed: 0, parked: 0 });
      expect(await redis.pttl(sess)).toBeLessThanOrEqual(50_000);
    }
    // ...and the first one past it refreshes it to 2 × 30 s + 5 min + 100 s.
    now = 1_000_000 + 100_000;
    expect(await a.beat()).toEqual({ ok: true, reclaimed: 0, parked: 0 });
    expect(await redis.pttl(sess)).toBeGreaterThan(450_000);
    expect(await redis.pttl(tokenKey(t, prefix))).toBeGreaterThan(450_000);
  });

  it('keeps live identities alive by beating, and every key it writes has a TTL', async () => {
    const a = await node('A', { liveTtlMs: 600, resumeWindowMs: 300 });
    const b = await node('B');
    const t = token();
    await a.claim('alice', t, record('alice'));
    const t2 = token();
    await a.claim('bob', t2, record('bob'));
    await a.park(t2, record('bob'), 300);
    await b.send('bob', dm('carol', 'bob', 'hi'));
    const redis = await admin();
    const keys = await keysUnder(prefix);
    expect(keys).toHaveLength(9); // 2 nodes; alice's sess and tok; bob's sess, tok and mail; a mail bucket; sesslife
    expect(keys.filter((k) => k.includes('mailbytes:'))).toHaveLength(1);
    for (const key of keys) expect([key, await redis.pttl(key) > 0]).toEqual([key, true]);
    // Past the first TTL (600 + 300 ms), beating every 100 ms.
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      expect(await a.beat()).toEqual({ ok: true, reclaimed: 0, parked: 0 });
    }
    expect(await b.whereIs(['alice'])).toEqual({ ok: true, nodes: ['A'] });
    expect(await redis.exists(tokenKey(t, prefix))).toBe(1);
  });
});

describe('RedisSessions: Direct messages', () => {
  it("delivers a Direct to an identity live on another node on that node's channel", async () => {
    const [a, b] = [await node('A'), await node('B')];
    const heardB = await listen('B');
    await b.claim('bob', token(), record('bob'));
    const msg = dm('alice', 'bob', 'psst "quoted" {}');
    expect(await a.send('bob', msg)).toEqual({ ok: true, delivered: 'live', node: 'B' });
    await until('the direct on B', () => heardB.length === 1);
    expect(heardB).toEqual([{ kind: 'direct', to: 'bob', message: JSON.parse(msg) }]);
  });

  it('refuses a Direct to an identity whose node no longer listens', async () => {
    const [a, b] = [await node('A'), await node('B')];
    await b.claim('bob', token(), record('bob'));
    expect(await a.send('bob', dm('alice', 'bob', 'hi'))).toMatchObject({ ok: false, code: 'no_such_client', reason: expect.stringContaining('node B') });
  });

  it('keeps Directs to a parked identity, oldest first, and gives them with the identity to the take', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t = token();
    await a.claim('bob', t, record('bob'));
    await a.park(t, record('bob'), 60_000);
    for (const c of ['one', 'two', 'three']) {
      expect(await b.send('bob', dm('alice', 'bob', c))).toMatchObject({ ok: true, delivered: 'kept' });
    }
    const got = await b.take(t);
    if (!got.ok || !got.found) throw new Error(JSON.stringify(got));
    expect(got.directs.map((d) => d.Content)).toEqual(['one', 'two', 'three']);
    expect(got.directs[0]).toEqual(JSON.parse(dm('alice', 'bob', 'one')));
    expect(await (await admin()).exists(sessionKeys('bob', prefix).mail)).toBe(0);
  });

  it('refuses a Direct to an unknown identity, and bad input, with no_such_client', async () => {
    const a = await node('A');
    expect(await a.send('nobody', dm('alice', 'nobody', 'hi'))).toMatchObject({ ok: false, code: 'no_such_client' });
    expect(await a.send('', dm('alice', '', 'hi'))).toMatchObject({ ok: false, code: 'no_such_client' });
    expect(await a.send('bob', 'not json')).toMatchObject({ ok: false, code: 'bad_request' });
  });

  it('refuses past the count per identity with mailbox_full', async () => {
    const [a, b] = [await node('A'), await node('B', { maxDirects: 3 })];
    const t = token();
    await a.claim('bob', t, record('bob'));
    await a.park(t, record('bob'), 60_000);
    for (let i = 1; i <= 3; i++) expect(await b.send('bob', dm('alice', 'bob', `m${i}`))).toEqual({ ok: true, delivered: 'kept', waiting: i });
    expect(await b.send('bob', dm('alice', 'bob', 'm4'))).toMatchObject({ ok: false, code: 'mailbox_full', reason: expect.stringContaining('3 messages') });
    const got = await a.take(t);
    expect(got.ok && got.found && got.directs.length).toBe(3);
  });

  it('refuses past the bytes per identity, and past the bytes for all away identities together', async () => {
    const size = Buffer.byteLength(dm('alice', 'x', 'a'.repeat(100)));
    const opts = { maxMailBytes: size * 2, maxMailBytesAll: size * 3 };
    const [a, b] = [await node('A', opts), await node('B', opts)];
    const tokens = [token(), token()];
    for (const [i, id] of ['x', 'y'].entries()) {
      await a.claim(id, tokens[i], record(id));
      await a.park(tokens[i], record(id), 60_000);
    }
    const body = (to: string) => dm('alice', to, 'a'.repeat(100));
    expect(await b.send('x', body('x'))).toMatchObject({ ok: true, delivered: 'kept' });
    expect(await b.send('x', body('x'))).toMatchObject({ ok: true, delivered: 'kept' });
    expect(await b.send('x', body('x'))).toMatchObject({ ok: false, code: 'mailbox_full', reason: expect.stringContaining('bytes') });
    expect(await a.send('y', body('y'))).toMatchObject({ ok: true, delivered: 'kept' });
    // Three kept in all, across nodes: the fourth is over the global budget, though y has room.
    expect(await a.send('y', body('y'))).toMatchObject({ ok: false, code: 'mailbox_full', reason: expect.stringContaining('all the messages') });
    // A take gives its bytes back to the global budget.
    const got = await b.take(tokens[0]);
    expect(got.ok && got.found && got.directs.length).toBe(2);
    expect(await a.send('y', body('y'))).toMatchObject({ ok: true, delivered: 'kept' });
  });

  it('counts the global budget over the current and the previous bucket only', async () => {
    let clock = 1_000_000;
    const window = 1000;
    const a = await node('A', { resumeWindowMs: window, maxMailBytesAll: 1000, now: () => clock });
    const t = token();
    await a.claim('x', t, record('x'));
    await a.park(t, record('x'), window);
    const redis = await admin();
    // Someone else's mailboxes took the whole budget two buckets ago.
    await redis.set(mailBucketKey(Math.floor(clock / window) - 2, prefix), 1000, 'PX', 60_000);
    expect(await a.send('x', dm('alice', 'x', 'hi'))).toMatchObject({ ok: true, delivered: 'kept' });
    // ...and in the previous bucket: full.
    await redis.set(mailBucketKey(Math.floor(clock / window) - 1, prefix), 1000, 'PX', 60_000);
    expect(await a.send('x', dm('alice', 'x', 'hi'))).toMatchObject({ ok: false, code: 'mailbox_full' });
    clock += window;
    expect(await redis.pttl(mailBucketKey(Math.floor((clock - window) / window), prefix))).toBeGreaterThan(window);
  });
});

describe('RedisSessions: Redis away', () => {
  it('answers every op with a failed outcome, quickly, while the connection is cut, and works again when it is back', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    const t = token();
    await a.claim('alice', t, record('alice'));
    await a.claim('carol', token(), record('carol'));
    p.cut();
    await until('the cut to be seen', async () => !(await a.beat()).ok, 2000);
    const started = Date.now();
    const outcomes = await Promise.all([
      a.claim('bob', token(), record('bob')), a.park(t, record('alice'), 1000), a.release('carol'), a.take(token()),
      a.send('alice', dm('bob', 'alice', 'hi')), a.whereIs(['alice']), a.beat(),
    ]);
    expect(Date.now() - started).toBeLessThan(500);
    for (const o of outcomes) expect(o).toMatchObject({ ok: false, code: 'unavailable', reason: expect.any(String) });
    p.restore();
    await until('Redis to be back', async () => (await a.beat()).ok, 5000);
    expect(await a.whereIs(['nobody'])).toEqual({ ok: true, nodes: [undefined] });
  });

  it('fails an op after the command timeout when Redis stops answering', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    p.silence();
    const started = Date.now();
    const [sent, taken] = await Promise.all([a.send('bob', dm('alice', 'bob', 'hi')), a.take(token())]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(sent).toMatchObject({ ok: false, code: 'unavailable' });
    expect(taken).toMatchObject({ ok: false, code: 'unavailable' });
  });

  it('says in one line why it cannot start: a bad URL, no Redis, a bad node ID', async () => {
    await expect(RedisSessions.connect('http://x', { prefix, nodeId: 'A' })).rejects.toThrow(RedisOpenError);
    const p = await proxy();
    closers.push(() => p.close());
    p.cut();
    const started = Date.now();
    await expect(RedisSessions.connect(p.url(), { prefix, nodeId: 'A', connectTimeoutMs: 500 })).rejects.toThrow(/cannot use Redis at/);
    expect(Date.now() - started).toBeLessThan(3000);
    await expect(RedisSessions.connect(testUrl(), { prefix, nodeId: 'no spaces' })).rejects.toThrow(RangeError);
  });
});

describe('RedisSessions: what a node puts back (Redis came back empty, or missed a write)', () => {
  it('claims again, at the next beat, the identities live here that Redis lost, with their last record', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const t = token();
    await a.claim('alice', t, record('alice'));
    await a.update('alice', t, record('alice', { name: 'al' }));
    await deleteKeys(prefix); // Redis restarted empty
    expect(await a.beat()).toEqual({ ok: true, reclaimed: 1, parked: 0 });
    expect(await b.whereIs(['alice'])).toEqual({ ok: true, nodes: ['A'] });
    expect(await a.beat()).toEqual({ ok: true, reclaimed: 0, parked: 0 });
    expect(await b.take(t)).toMatchObject({ ok: true, found: true, record: { name: 'al' }, liveOn: 'A' });
    // Taken by a resume on B (whose claim is on its way): A, which will hear the cut, does not put it back.
    expect(a.size).toBe(1);
    expect(await a.beat()).toEqual({ ok: true, reclaimed: 0, parked: 0 });
    expect(await b.take(t)).toEqual({ ok: true, found: false, why: 'unknown' });
  });

  it('writes, once the link is back, a claim and an update Redis did not get, and parks an identity whose park failed meanwhile', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    const b = await node('B');
    const links: (string | undefined)[] = [];
    a.link?.watch((down) => links.push(down));
    const [tc, tb] = [token(), token()];
    await a.claim('carol', tc, record('carol'));
    p.cut();
    await until('the cut to be seen', () => links.length === 1, 2000);
    expect(links[0]).toMatch(/lost the connection to Redis/);
    // While Redis is away: bob arrives (claim fails), carol's socket ends (park fails).
    expect(await a.claim('bob', tb, record('bob'))).toMatchObject({ ok: false, code: 'unavailable' });
    const parked = await a.park(tc, record('carol', { name: 'caro' }), 60_000);
    expect(parked).toMatchObject({ ok: false, code: 'unavailable', reason: expect.stringMatching(/parked again when Redis is back/) });
    expect([a.size, a.waiting]).toEqual([1, 1]);
    await deleteKeys(prefix); // and Redis comes back empty
    p.restore();
    await until('the link to be back', () => links.length === 2, 5000);
    expect(links[1]).toBeUndefined();
    expect(await a.beat()).toEqual({ ok: true, reclaimed: 1, parked: 1 });
    expect(a.waiting).toBe(0);
    expect(await b.whereIs(['bob', 'carol'])).toEqual({ ok: true, nodes: ['A', undefined] });
    // carol is parked (no node), for what was left of her window, and resumes on any node.
    expect(await admin().then((r) => r.pttl(sessionKeys('carol', prefix).sess))).toBeLessThanOrEqual(60_000);
    expect(await b.take(tc)).toEqual({ ok: true, found: true, record: record('carol', { name: 'caro' }), directs: [] });
    expect(await b.take(tb)).toMatchObject({ ok: true, found: true, record: { id: 'bob' }, liveOn: 'A' });
  });

  it('never undoes a takeover: a park that failed is not put back over the token another node took it with', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    const b = await node('B');
    const t1 = token();
    await a.claim('alice', t1, record('alice'));
    p.cut();
    await until('the cut to be seen', async () => !(await a.beat()).ok, 2000);
    expect(await a.park(t1, record('alice'), 60_000)).toMatchObject({ ok: false, code: 'unavailable' });
    // Redis kept it (live on A under t1): a client resumes on B meanwhile.
    expect(await b.take(t1)).toMatchObject({ ok: true, found: true, liveOn: 'A' });
    const t2 = token();
    await b.claim('alice', t2, record('alice', { name: 'on-b' }));
    p.restore();
    await until('Redis to be back', async () => (await a.beat()).ok, 5000);
    expect(a.waiting).toBe(0);
    expect(await a.whereIs(['alice'])).toEqual({ ok: true, nodes: ['B'] });
    expect(await a.take(t1)).toEqual({ ok: true, found: false, why: 'unknown' });
  });

  it('keeps at most maxUnparked failed parks and maxUnparkedBytes of them, the oldest dropped, each until its window ends', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    let clock = 1_000_000;
    const a = await node('A', { commandTimeoutMs: 300, maxUnparked: 2, maxUnparkedBytes: 1000, now: () => clock }, p.url());
    const b = await node('B');
    const [ta, tb, tc] = [token(), token(), token()];
    p.cut();
    await until('the cut to be seen', async () => !(await a.beat()).ok, 2000);
    expect(await a.park(ta, record('alice'), 60_000)).toMatchObject({ reason: expect.stringMatching(/parked again when Redis is back$/) });
    await a.park(tb, record('bob'), 1_000);
    expect(await a.park(tc, record('carol'), 60_000)).toMatchObject({ reason: expect.stringMatching(/1 older ones dropped/) });
    expect(a.waiting).toBe(2);
    expect(await a.park(token(), record('dan', { name: 'd'.repeat(200), rooms: Array.from({ length: 20 }, (_, i) => `room-${'x'.repeat(30)}-${i}`) }), 60_000))
      .toMatchObject({ reason: expect.stringMatching(/too big to keep/) });
    expect(a.waiting).toBe(2);
    clock += 1_001; // bob's window is over
    p.restore();
    let beat: Awaited<ReturnType<RedisSessions['beat']>> | undefined;
    await until('Redis to be back', async () => (beat = await a.beat()).ok, 5000);
    expect(beat).toEqual({ ok: true, reclaimed: 0, parked: 1 });
    expect(a.waiting).toBe(0);
    expect(await b.take(tc)).toMatchObject({ ok: true, found: true, record: { id: 'carol' } });
    for (const t of [ta, tb]) expect(await b.take(t)).toEqual({ ok: true, found: false, why: 'unknown' });
  });
});

describe('RedisSessions: Directs to a user (auth on: a token\'s sub)', () => {
  const held = async (sub: string) => Object.keys(await (await admin()).hgetall(userKey(sub, prefix))).sort();

  it('lists the nodes holding a user, with a TTL, and publishes a Direct to it on each of their channels, marked user', async () => {
    const [a, b, c] = [await node('A'), await node('B'), await node('C')];
    const [heardA, heardB, heardC] = [await listen('A'), await listen('B'), await listen('C')];
    expect(await b.holdUser('u-bob')).toEqual({ ok: true });
    expect(await c.holdUser('u-bob')).toEqual({ ok: true });
    expect(await held('u-bob')).toEqual(['B', 'C']);
    const ttl = await (await admin()).pttl(userKey('u-bob', prefix));
    expect(ttl).toBeGreaterThan(400_000); // as a live sess: 2 × 30 s + 5 min + 100 s
    const msg = dm('alice', 'u-bob', 'to both tabs');
    expect(await a.send('u-bob', msg)).toEqual({ ok: true, delivered: 'user', nodes: 2 });
    await until('the direct on B and C', () => heardB.length === 1 && heardC.length === 1);
    expect(heardB).toEqual([{ kind: 'direct', to: 'u-bob', user: true, message: JSON.parse(msg) }]);
    expect(heardC).toEqual(heardB);
    // A node holding the user sends the rest of its own Direct (mode 'user'): never to itself.
    expect(await b.send('u-bob', dm('alice', 'u-bob', 'rest'), 'user')).toEqual({ ok: true, delivered: 'user', nodes: 1 });
    await until('the rest on C', () => heardC.length === 2);
    expect(heardB).toHaveLength(1);
    expect(heardA).toEqual([]);
  });

  it('forgets a node at its last drop; a user held nowhere is no_such_client (mode any), nobody (mode user); mode id never looks for users', async () => {
    const [a, b] = [await node('A'), await node('B')];
    const heardB = await listen('B');
    await b.holdUser('u-bob');
    expect(await b.dropUser('u-bob')).toEqual({ ok: true });
    expect(await (await admin()).exists(userKey('u-bob', prefix))).toBe(0);
    expect(await a.send('u-bob', dm('alice', 'u-bob', 'hi'))).toMatchObject({ ok: false, code: 'no_such_client' });
    expect(await a.send('u-bob', dm('alice', 'u-bob', 'hi'), 'user')).toEqual({ ok: true, delivered: 'user', nodes: 0 });
    // A user and an identity of the same name: 'any' finds the user first, 'id' (a Direct handed back) the identity.
    await b.holdUser('same');
    await b.claim('same', token(), record('same'));
    expect(await a.send('same', dm('alice', 'same', 'u'))).toEqual({ ok: true, delivered: 'user', nodes: 1 });
    expect(await a.send('same', dm('alice', 'same', 'i'), 'id')).toEqual({ ok: true, delivered: 'live', node: 'B' });
    await until('both on B', () => heardB.length === 2);
    expect(heardB.map((m) => m.kind === 'direct' && m.user)).toEqual([true, undefined]);
  });

  it('does not count a node that does not listen (never a false Ack), keeps it a while (it may be reconnecting), and drops it once stale', async () => {
    let now = 1_000_000;
    const a = await node('A', { now: () => now });
    const b = await node('B', { now: () => now });
    await b.holdUser('u-bob'); // nobody listens on B's channel: its bus is down, or it died
    expect(await a.send('u-bob', dm('alice', 'u-bob', 'hi'))).toMatchObject({ ok: false, code: 'no_such_client' });
    expect(await held('u-bob')).toEqual(['B']);
    // Not written again for 2 × refreshMs + liveTtlMs (B died: its beats stopped): dropped, not published to.
    now += 2 * 100_000 + 30_000 + 1;
    expect(await a.send('u-bob', dm('alice', 'u-bob', 'hi'), 'user')).toEqual({ ok: true, delivered: 'user', nodes: 0 });
    expect(await held('u-bob')).toEqual([]);
  });

  it('publishes to at most maxUserNodes nodes', async () => {
    const a = await node('A', { maxUserNodes: 2 });
    const others = [await node('B'), await node('C'), await node('D')];
    for (const o of others) {
      await listen(o.nodeId);
      await o.holdUser('u-bob');
    }
    expect(await a.send('u-bob', dm('alice', 'u-bob', 'hi'))).toEqual({ ok: true, delivered: 'user', nodes: 2 });
  });

  it('writes its entry under each user it holds again each refreshMs, and all of them when Redis came back empty', async () => {
    let now = 1_000_000;
    const a = await node('A', { now: () => now });
    await a.holdUser('u-bob');
    await a.holdUser('u-carol');
    await a.dropUser('u-carol');
    const redis = await admin();
    const key = userKey('u-bob', prefix);
    now += 50_000;
    await a.beat();
    expect(await redis.hget(key, 'A')).toBe('1000000');
    now += 50_000;
    await a.beat();
    expect(await redis.hget(key, 'A')).toBe('1100000');
    expect(await redis.pttl(key)).toBeGreaterThan(400_000);
    expect(await redis.exists(userKey('u-carol', prefix))).toBe(0);
    await deleteKeys(prefix); // Redis restarted empty
    now += 1_000;
    expect(await a.beat()).toEqual({ ok: true, reclaimed: 0, parked: 0 });
    expect(await redis.hget(key, 'A')).toBe('1101000');
    expect(a.usersHeld).toBe(1);
  });

  it('does again, once Redis is back, a hold and a drop that failed while it was away', async () => {
    const p = await proxy();
    closers.push(() => p.close());
    const a = await node('A', { commandTimeoutMs: 300 }, p.url());
    await a.holdUser('u-gone');
    p.cut();
    await until('the cut to be seen', async () => !(await a.beat()).ok, 2000);
    expect(await a.holdUser('u-new')).toMatchObject({ ok: false, code: 'unavailable' });
    expect(await a.dropUser('u-gone')).toMatchObject({ ok: false, code: 'unavailable' });
    p.restore();
    await until('Redis to be back', async () => (await a.beat()).ok, 5000);
    expect(await held('u-new')).toEqual(['A']);
    expect(await held('u-gone')).toEqual([]);
  });
});

describe('parseNodeMessage', () => {
  it('takes directs and cuts, and says what is wrong with anything else', () => {
    expect(parseNodeMessage('{"kind":"cut","id":"a","token":"t","by":"B"}')).toEqual({ kind: 'cut', id: 'a', token: 't', by: 'B' });
    const message = { ID: 'x', Content: 'hi', SentAt: 1, Type: 11 };
    expect(parseNodeMessage(JSON.stringify({ kind: 'direct', to: 'u1', user: true, message }))).toEqual({ kind: 'direct', to: 'u1', user: true, message });
    expect(typeof parseNodeMessage(JSON.stringify({ kind: 'direct', to: 'u1', user: 'yes', message }))).toBe('string');
    expect(typeof parseNodeMessage('{"kind":"cut","id":"a","by":"B"}')).toBe('string');
    expect(typeof parseNodeMessage('nope')).toBe('string');
    expect(typeof parseNodeMessage('{"kind":"direct","to":"a","message":{"ID":"x"}}')).toBe('string');
    expect(typeof parseNodeMessage('{"kind":"other"}')).toBe('string');
    expect(nodeChannel('A', 'p:')).toBe('p:node:{A}');
  });
});
