// What the Redis specs share: where Redis is (TEST_REDIS_URL, default
// redis://127.0.0.1:6379; .ci/run starts one when none answers there), the
// database they use (13, so nothing of anyone's db 0 is touched), a key prefix
// per test and the deletion of its keys afterwards, a redis-server of a spec's
// own to stop and start, and a TCP proxy a spec can cut or silence.
//
// CI guarantees a Redis: a spec that cannot reach one fails, with a message
// that says so, rather than skipping.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import Redis from 'ioredis';
import { freePort } from '../../bench/lib/spawn';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_DB = 13;

/** TEST_REDIS_URL on database `db`. */
export function testUrl(db = TEST_DB, base = TEST_REDIS_URL): string {
  const u = new URL(base);
  u.pathname = `/${db}`;
  return u.toString();
}

let count = 0;
/** A key prefix no other test (or other jest worker, or other run) uses. */
export function uniquePrefix(): string {
  count += 1;
  return `rxchat-test:${process.pid}-${Date.now().toString(36)}-${count}:`;
}

let shared: Promise<Redis> | undefined;

/**
 * A plain client on the test database, for looking at keys and breaking things;
 * one per jest worker. Rejects with a clear message if Redis does not answer.
 */
export function admin(): Promise<Redis> {
  shared ??= (async () => {
    const url = testUrl();
    const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let lastError: unknown;
    client.on('error', (e) => { lastError = e; });
    try {
      await client.connect();
      await client.ping();
    } catch (e) {
      client.disconnect();
      shared = undefined;
      const why = (lastError as Error | undefined)?.message ?? (e as Error).message;
      throw new Error(`the Redis specs need a Redis at ${url} and none answers (${why}): `
        + 'start one (redis-server --port 6379 --save ""), or set TEST_REDIS_URL; .ci/run does this');
    }
    return client;
  })();
  return shared;
}

export async function closeAdmin(): Promise<void> {
  const client = shared;
  shared = undefined;
  if (client) await (await client.catch(() => undefined))?.quit().catch(() => undefined);
}

/** Every key under `prefix`, sorted (SCAN, on the test database only). */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = await admin();
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return [...new Set(found)].sort();
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length > 0) await (await admin()).unlink(...keys);
}

async function until(what: string, ok: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The hooks of a spec file on Redis: the shared client first (a missing Redis fails
 * the file at once, saying why), a fresh key prefix per test (given to `onPrefix`),
 * and after each test the returned closers, last first, then the deletion of its keys.
 */
export function eachTestOnRedis(onPrefix: (prefix: string) => void): (() => Promise<unknown>)[] {
  const closers: (() => Promise<unknown>)[] = [];
  let prefix = '';
  beforeAll(async () => { await admin(); });
  beforeEach(() => { prefix = uniquePrefix(); onPrefix(prefix); });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await deleteKeys(prefix);
  });
  afterAll(() => closeAdmin());
  return closers;
}

/**
 * A redis-server of the spec's own, on a free port, keeping nothing on disk: a
 * `stop` and `start` is a Redis that restarts and comes back empty.
 */
export async function ownRedis() {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) {
    throw new Error('these specs start a redis-server of their own and none is on the PATH: apt-get install -y redis-server (.ci/run does)');
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const answers = () => new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.end('PING\r\n'); });
    s.once('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
    s.once('error', () => resolve(false));
  });
  const self = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async start(): Promise<void> {
      child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await until(`redis-server on port ${port}`, answers);
    },
    /** Kills it (SIGKILL: nothing is saved, and none is configured anyway). */
    async stop(): Promise<void> {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGKILL'); });
    },
  };
  await self.start();
  return self;
}

/**
 * A TCP proxy in front of TEST_REDIS_URL's host and port. `cut` resets every
 * connection and refuses new ones until `restore`; `silence` keeps the
 * connections open but passes nothing more either way (a Redis that stopped
 * answering: a dead host, a partition); `muteReplies` passes commands but no
 * answers (Redis ran them; the client never hears).
 */
export async function proxy(target = TEST_REDIS_URL) {
  const t = new URL(target);
  const open = new Set<net.Socket>();
  let up = true;
  let silent = false;
  let mute = false;
  const server = net.createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(t.port || 6379), t.hostname);
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('data', (d) => { if (!silent) upstream.write(d); });
    upstream.on('data', (d) => { if (!silent && !mute) client.write(d); });
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    /** `target` through the proxy, on database `db`. */
    url(db = TEST_DB): string {
      const u = new URL(target);
      u.host = `127.0.0.1:${port}`;
      u.pathname = `/${db}`;
      return u.toString();
    },
    cut(): void {
      up = false;
      for (const s of [...open]) s.destroy();
    },
    restore(): void {
      up = true;
      silent = false;
      mute = false;
    },
    silence(): void {
      silent = true;
    },
    /** Commands still reach Redis, and it runs them, but no answer comes back: an answer lost on the way. */
    muteReplies(): void {
      mute = true;
    },
    close(): Promise<void> {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
