// No request ends the process (issue 11, 1 and 8): malformed HTTP and upgrade
// requests over raw TCP to a real server process, each followed by a health
// check. A crash shows as a refused /healthz, not as a failed assertion inside
// the server, which is why this runs a process rather than startServer().
import http from 'node:http';
import net from 'node:net';
import { ServerProcess, startServerProcess } from './support/server-process';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServerProcess(['--log-level', 'warn']);
}, 20_000);
afterAll(async () => {
  await server?.stop();
});

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ws = (target: string, extra = '') =>
  `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`;
const plain = (method: string, target: string, extra = '') => `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${extra}\r\n`;
const h2c = (method: string, target: string) => `${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`;

interface Answer {
  status: number | undefined;
  head: string;
  body: string;
}

/** Sends raw bytes and reads until the server closes (at most ms); `reset` sends a TCP RST right after writing. */
function exchange(data: string | Buffer, opts: { reset?: boolean; ms?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(server.port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const [head, body = ''] = text.split('\r\n\r\n', 2);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), head, body });
    };
    const timer = setTimeout(done, opts.ms ?? 3000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', done);
    socket.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? done() : reject(e)));
    socket.on('connect', () => {
      socket.write(data);
      if (opts.reset) socket.resetAndDestroy();
    });
  });
}

/** GET /healthz with a plain client, bounded: the process is alive and serving. */
function healthz(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: '/healthz', timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('/healthz: no answer within 3 s')));
    req.on('error', reject);
  });
}

afterEach(async () => {
  expect(await healthz()).toBe(200);
});

describe('request targets that are not a path (1a)', () => {
  it.each([
    ['an unparsable authority', '//['],
    ['an authority with a bad port', '//x:99999/ws'],
    ['a network-path', '//x/healthz'],
    ['an asterisk', '*'],
  ])('answers %s with 400, as plain HTTP and as an upgrade', async (_what, target) => {
    expect((await exchange(plain('GET', target))).status).toBe(400);
    expect((await exchange(ws(target))).status).toBe(400);
  });

  it('still takes an absolute-form target (RFC 9112 3.2.2)', async () => {
    const a = await exchange(plain('GET', 'http://x/healthz'));
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body)).toMatchObject({ status: 'ok' });
  });
});

describe('resets (1b)', () => {
  it('survives 40 resets right after an upgrade request to an unknown path', async () => {
    for (let i = 0; i < 40; i++) await exchange(ws('/nope'), { reset: true });
    expect(await healthz()).toBe(200);
  });

  it.each([
    ['half a request line', 'GET /heal'],
    ['a whole plain request', plain('GET', '/healthz')],
    ['a request with a bad target', plain('GET', '//[')],
    ['an upgrade with a bad target', ws('//[')],
    ['an upgrade to /ws', ws('/ws')],
    ['an upgrade to /ws without a key', 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['a non-WebSocket upgrade', h2c('GET', '/healthz')],
    ['oversized headers', plain('GET', '/healthz', `X-Big: ${'a'.repeat(20_000)}\r\n`)],
    ['a garbage request line', 'HELLO THERE\r\n\r\n'],
  ])('survives a reset after %s, ten times', async (_what, data) => {
    for (let i = 0; i < 10; i++) await exchange(data, { reset: true });
  });
});

describe('malformed upgrades and HTTP (1c, 8)', () => {
  it('refuses a WebSocket upgrade to an unknown path with 404', async () => {
    expect((await exchange(ws('/nope'))).status).toBe(404);
  });

  it.each([
    ['a non-WebSocket Upgrade', 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 400],
    ['no Sec-WebSocket-Key', 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n', 400],
    ['a bad Sec-WebSocket-Key', ws('/ws').replace(KEY, 'short'), 400],
    ['an unknown version', ws('/ws').replace('Version: 13', 'Version: 99'), 400],
    ['a bad subprotocol list', ws('/ws', 'Sec-WebSocket-Protocol: a,,b\r\n'), 400],
    ['a method other than GET', ws('/ws').replace(/^GET/, 'POST'), 405],
  ])('answers an upgrade to /ws with %s with an HTTP error', async (_what, data, status) => {
    expect((await exchange(data)).status).toBe(status);
  });

  it('serves a non-WebSocket upgrade to /healthz and / as plain HTTP, then closes', async () => {
    const health = await exchange(h2c('GET', '/healthz'));
    expect(health.status).toBe(200);
    expect(health.head).toMatch(/\r\nconnection: close/i);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    // The web client is not built for this process (or is): either way not a 404.
    expect([200, 503]).toContain((await exchange(h2c('GET', '/'))).status);
    expect((await exchange(h2c('POST', '/healthz'))).status).toBe(405);
    expect((await exchange(h2c('GET', '/nope'))).status).toBe(404);
  });

  it('answers other methods on a known path with 405 and Allow; unknown paths stay 404', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const a = await exchange(plain(method, '/healthz', 'Content-Length: 0\r\n'));
      expect(a.status).toBe(405);
      expect(a.head).toMatch(/\r\nallow: GET, HEAD\r\n/i);
    }
    expect((await exchange(plain('POST', '/', 'Content-Length: 0\r\n'))).status).toBe(405);
    expect((await exchange(plain('POST', '/ws', 'Content-Length: 0\r\n'))).status).toBe(405);
    expect((await exchange(plain('POST', '/nope', 'Content-Length: 0\r\n'))).status).toBe(404);
  });

  it('answers a plain GET /ws with 426 Upgrade Required', async () => {
    const a = await exchange(plain('GET', '/ws'));
    expect(a.status).toBe(426);
    expect(a.head).toMatch(/\r\nupgrade: websocket\r\n/i);
  });

  it.each([
    ['a garbage request line', 'HELLO THERE\r\n\r\n', 400],
    ['a bad header line', 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n', 400],
    ['a bad HTTP version', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n', 400],
    ['oversized headers', plain('GET', '/healthz', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431],
    ['an oversized upgrade', ws('/ws', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431],
    ['a bad Content-Length', plain('POST', '/healthz', 'Content-Length: x\r\n'), 400],
  ])('answers %s like Node would (%#), then closes', async (_what, data, status) => {
    expect((await exchange(data)).status).toBe(status);
  });
});
