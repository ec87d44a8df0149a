// GET /metrics (issue 9, 5; README "Metrics"; docs/security.md "Metrics"): a real
// server on an ephemeral port, real `ws` traffic, then a scrape read as the
// Prometheus text exposition format, family by family.
import http from 'node:http';
import WebSocket from 'ws';
import { ChatServer, ServerOptions, startServer } from '../src/edge/server';
import { Close } from '../src/core/protocol';
import { RedisLog } from '../src/store/redis';
import { TestClient, WAIT_MS } from './support/client';
import { admin, closeAdmin, deleteKeys, proxy, testUrl, uniquePrefix } from './support/redis';

let server: ChatServer;
const clients: TestClient[] = [];
/** The server's log lines, and whoever waits for one. */
let logged: Array<{ event: string; fields: Record<string, unknown> }> = [];
let waiting: Array<() => void> = [];

async function start(options: ServerOptions = {}): Promise<ChatServer> {
  logged = [];
  waiting = [];
  server = await startServer({
    port: 0, host: '127.0.0.1', maxPayload: 1024,
    log: (_level, event, fields) => {
      logged.push({ event, fields: fields ?? {} });
      for (const w of [...waiting]) w();
    },
    ...options,
  });
  return server;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close(500);
});

async function connect(query: Record<string, string> = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, query);
  clients.push(c);
  return c;
}

/** Resolves when the server has logged `event` for connection `id` (bounded). */
function whenLogged(event: string, id: string): Promise<void> {
  const seen = () => logged.some((l) => l.event === event && l.fields.id === id);
  if (seen()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} logged for ${id} within ${WAIT_MS} ms`)), WAIT_MS);
    const w = () => {
      if (!seen()) return;
      clearTimeout(timer);
      waiting = waiting.filter((x) => x !== w);
      resolve();
    };
    waiting.push(w);
  });
}

interface Scrape { status: number; type: string; body: string }

function get(url: string, method = 'GET'): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.setTimeout(WAIT_MS, () => req.destroy(new Error('no answer in time')));
    req.end();
  });
}

type Samples = Map<string, number>;

/**
 * Reads the text exposition format (0.0.4) strictly: every line is a HELP, a TYPE
 * or a sample of a family declared before it; sample keys are `name{a="b",...}`.
 */
function parse(text: string): { samples: Samples; types: Map<string, string> } {
  const samples: Samples = new Map();
  const types = new Map<string, string>();
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        types.set(meta[2], meta[3]);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]) && !types.has(family)) throw new Error(`a sample before its TYPE: ${line}`);
    expect(m[1].startsWith('rxchat_')).toBe(true);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return { samples, types };
}

async function scrape(): Promise<{ samples: Samples; types: Map<string, string> }> {
  const r = await get(server.metricsUrl);
  expect(r.status).toBe(200);
  expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parse(r.body);
}

/** Scrapes until `ok` holds (each scrape is a round trip), at most WAIT_MS: for what the server counts after the client has seen it. */
async function scrapeUntil(ok: (s: Samples) => boolean, ms = WAIT_MS): Promise<Samples> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { samples } = await scrape();
    if (ok(samples) || Date.now() > deadline) return samples;
  }
}

describe('GET /metrics', () => {
  it('counts frames by Type, deliveries, errors by code, closes by code, refused upgrades, steps and the log', async () => {
    await start();
    expect(server.metricsUrl).toBe(`http://127.0.0.1:${server.port}/metrics`);
    const alice = await connect({ name: 'alice' });
    const bob = await connect({ name: 'bob' });
    const carol = await connect({ name: 'carol' });
    // Traffic: a chat line (Type 1) to three members, two Joins (Type 6), bad frames.
    await alice.request({ Type: 1, Content: 'hello' }, 12);
    await bob.next((m) => m.Type === 1);
    await alice.request({ Type: 6, Room: 'dev' }, 6);
    await bob.request({ Type: 6, Room: 'dev' }, 6);
    alice.send('{not json');
    expect(await alice.next((m) => m.Type === 5)).toMatchObject({ Code: 'bad_json' });
    alice.send({ Type: 99 });
    expect(await alice.next((m) => m.Type === 5)).toMatchObject({ Code: 'unknown_type' });
    // Close codes: one the client chooses, one the server gives (1008), one ws gives (1009, a frame over --max-payload).
    carol.ws.close(1000);
    await whenLogged('disconnect', carol.id);
    const badRoom = TestClient.raw(`${server.url}?room=${encodeURIComponent('no spaces')}`);
    clients.push(badRoom);
    expect(await badRoom.closed()).toBe(Close.PolicyViolation);
    bob.send({ Type: 1, Content: 'x'.repeat(2000) });
    expect(await bob.closed()).toBe(Close.TooBig);
    // A refused upgrade: no WebSocket at /nope.
    const nope = new WebSocket(`ws://127.0.0.1:${server.port}/nope`);
    const status = await new Promise<number>((resolve) => {
      nope.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      nope.on('error', () => resolve(-1));
    });
    expect(status).toBe(404);

    const s = await scrapeUntil((x) => (x.get('rxchat_closes_total{code="1009"}') ?? 0) >= 1 && (x.get('rxchat_closes_total{code="1008"}') ?? 0) >= 1);
    const { types } = await scrape();
    expect(s.get('rxchat_connections')).toBe(1); // alice
    expect(s.get('rxchat_rooms')).toBe(2); // lobby and dev
    expect(s.get('rxchat_frames_received_total{type="1"}')).toBe(1); // the oversized frame never reaches the decoder
    expect(s.get('rxchat_frames_received_total{type="6"}')).toBe(2);
    expect(s.get('rxchat_frames_received_total{type="invalid"}')).toBe(2);
    expect(s.get('rxchat_errors_sent_total{code="bad_json"}')).toBe(1);
    expect(s.get('rxchat_errors_sent_total{code="unknown_type"}')).toBe(1);
    expect(s.get('rxchat_errors_sent_total{code="bad_room"}')).toBe(1);
    expect(s.get('rxchat_closes_total{code="1000"}')).toBe(1);
    expect(s.get('rxchat_closes_total{code="1008"}')).toBe(1);
    expect(s.get('rxchat_closes_total{code="1009"}')).toBe(1);
    expect(s.get('rxchat_upgrade_refusals_total{reason="not_found"}')).toBe(1);
    // Each frame sent counts once: at least the welcomes, joins, the line to bob and carol, the Ack, the errors.
    expect(s.get('rxchat_deliveries_total')).toBeGreaterThanOrEqual(3 * 2 + 2 + 1 + 2 + 2);
    expect(s.get('rxchat_slow_consumer_drops_total')).toBe(0);
    expect(s.get('rxchat_rate_limited_total')).toBe(0);
    expect(types.get('rxchat_hub_step_seconds')).toBe('histogram');
    expect(s.get('rxchat_hub_step_seconds_count')).toBeGreaterThan(10);
    expect(s.get('rxchat_hub_step_seconds_bucket{le="+Inf"}')).toBe(s.get('rxchat_hub_step_seconds_count'));
    expect(s.get('rxchat_log_batch_seconds_count')).toBeGreaterThanOrEqual(1); // the chat line's append, the joins' reads
    expect(s.get('rxchat_event_loop_delay_seconds{stat="p99"}')).toBeGreaterThanOrEqual(0);
    expect(s.get('rxchat_process_resident_memory_bytes')).toBeGreaterThan(1e6);
    expect(s.get('rxchat_process_cpu_seconds_total')).toBeGreaterThan(0);
    // One process: no Redis links.
    expect([...s.keys()].some((k) => k.startsWith('rxchat_redis_link_up'))).toBe(false);
  });

  it('counts frames the message rate refused (rxchat_rate_limited_total), also among errors by code', async () => {
    await start({ msgRate: 1, msgBurst: 2 });
    const alice = await connect({ name: 'alice' });
    // A burst of 2 is taken; the next frames within the second are refused.
    for (let i = 0; i < 5; i++) alice.send({ Type: 2, Ref: `h${i}` });
    await alice.next((m) => m.Type === 5 && m.Code === 'rate_limited');
    const s = await scrapeUntil((x) => (x.get('rxchat_rate_limited_total') ?? 0) >= 3);
    expect(s.get('rxchat_rate_limited_total')).toBe(3);
    expect(s.get('rxchat_errors_sent_total{code="rate_limited"}')).toBe(3);
  });

  it('answers HEAD, and 405 to other methods', async () => {
    await start();
    const head = await get(server.metricsUrl, 'HEAD');
    expect(head).toMatchObject({ status: 200, body: '' });
    expect((await get(server.metricsUrl, 'POST')).status).toBe(405);
  });

  it('is not there with --metrics off (404)', async () => {
    await start({ metrics: 'off' });
    expect(server.metricsUrl).toBe('');
    expect((await get(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(404);
  });

  it('with --metrics-port is served on that listener only, and the main port answers 404', async () => {
    await start({ metricsPort: 0, metricsHost: '127.0.0.1' });
    const url = new URL(server.metricsUrl);
    expect(Number(url.port)).not.toBe(server.port);
    expect(url.hostname).toBe('127.0.0.1');
    await connect({ name: 'alice' });
    const { samples } = await scrape();
    expect(samples.get('rxchat_connections')).toBe(1);
    expect((await get(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${url.port}/healthz`)).status).toBe(404);
  });
});

describe('GET /metrics on Redis', () => {
  let prefix: string;
  beforeAll(async () => { await admin(); });
  beforeEach(() => { prefix = uniquePrefix(); });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close(500);
    await deleteKeys(prefix);
  });
  afterAll(() => closeAdmin());

  it('gives the state of each Redis link: the log, the bus, presence, sessions', async () => {
    const messages = await RedisLog.connect(testUrl(), { maxPerRoom: 100, maxDays: 1 }, { prefix });
    await start({ messages, redis: testUrl(), redisPrefix: prefix, nodeId: 'metrics-a' });
    const { samples } = await scrape();
    for (const link of ['log', 'bus', 'presence', 'sessions']) expect(samples.get(`rxchat_redis_link_up{link="${link}"}`)).toBe(1);
  });

  it('says a link is down (0) while Redis cannot be reached, and up (1) once it is back', async () => {
    const p = await proxy();
    try {
      const messages = await RedisLog.connect(p.url(), { maxPerRoom: 100, maxDays: 1 }, { prefix });
      await start({ messages, redis: p.url(), redisPrefix: prefix, nodeId: 'metrics-b' });
      const LINKS = ['log', 'bus', 'presence', 'sessions'];
      const all = (s: Samples, v: number) => LINKS.every((l) => s.get(`rxchat_redis_link_up{link="${l}"}`) === v);
      expect(all(await scrapeUntil((s) => all(s, 1)), 1)).toBe(true);
      p.cut();
      expect(all(await scrapeUntil((s) => all(s, 0), 10_000), 0)).toBe(true);
      p.restore();
      expect(all(await scrapeUntil((s) => all(s, 1), 15_000), 1)).toBe(true);
    } finally {
      await server?.close(500);
      await p.close();
    }
  }, 40_000);
});
