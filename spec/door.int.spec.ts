// The door on a real server (docs/security.md "The door"): what an upgrade to /ws must
// pass, and what a refused one gets. Every wait is bounded.
import net from 'node:net';
import WebSocket from 'ws';
import { ChatServer, ServerOptions, startServer } from '../src/edge/server';
import { within } from './support/server-process';
import { Outcome, knockAt } from './support/knock';

const servers: ChatServer[] = [];
const sockets: WebSocket[] = [];

async function serve(options: ServerOptions = {}): Promise<ChatServer> {
  const s = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', ...options });
  servers.push(s);
  return s;
}

afterEach(async () => {
  sockets.splice(0).forEach((ws) => ws.terminate());
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

/** One upgrade with these headers: 101 (the socket kept, closed after the test), or the refusal as answered. */
function knock(s: ChatServer, headers: Record<string, string> = {}): Promise<Outcome> {
  return knockAt(`ws://127.0.0.1:${s.port}/ws?name=x`, sockets, headers);
}

/** A raw socket that sends `data` and then nothing: resolves with what the server wrote and when it closed. */
function trickle(s: ChatServer, data: string): Promise<{ answer: string; ms: number }> {
  return within(new Promise((resolve, reject) => {
    const socket = net.connect(s.port, '127.0.0.1');
    const started = Date.now();
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ answer, ms: Date.now() - started }));
    socket.on('connect', () => socket.write(data));
  }), 3000, 'the server closing a slow request');
}

describe('origins', () => {
  it('refuses a browser page from another origin with 403 and a reason, and nothing reaches the hub', async () => {
    const s = await serve();
    expect(await knock(s, { Origin: 'https://evil.example' })).toMatchObject({ status: 403, body: 'origin not allowed' });
    expect(s.state().clients.size).toBe(0);
    expect(s.door.refused.origin).toBe(1);
    expect(s.door.connections).toBe(0);
  });

  it('answers on the raw socket with the status, the reason and Connection: close, then closes it', async () => {
    const s = await serve();
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const { answer } = await trickle(s, `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nOrigin: https://evil.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/);
    expect(answer.endsWith('\r\n\r\norigin not allowed')).toBe(true);
  });

  it('takes a client with no Origin, and a page from the server\'s own host and port', async () => {
    const s = await serve();
    expect(await knock(s)).toEqual({ status: 101 });
    expect(await knock(s, { Origin: `http://127.0.0.1:${s.port}` })).toEqual({ status: 101 });
    expect(await knock(s, { Origin: `http://127.0.0.1:${s.port + 1}` })).toMatchObject({ status: 403 });
  });

  it('with --allowed-origins takes exactly those', async () => {
    const s = await serve({ allowedOrigins: 'https://app.example' });
    expect(await knock(s, { Origin: 'https://app.example' })).toEqual({ status: 101 });
    expect(await knock(s, { Origin: `http://127.0.0.1:${s.port}` })).toMatchObject({ status: 403 });
  });
});

describe('connections per address', () => {
  it('leaves loopback alone by default', async () => {
    const s = await serve({ maxConnsPerIp: 1, connRatePerIp: 1 });
    for (let i = 0; i < 3; i++) expect(await knock(s)).toEqual({ status: 101 });
  });

  it('with --limit-loopback, refuses past --max-conns-per-ip with 429, and takes one again once one closes', async () => {
    const s = await serve({ maxConnsPerIp: 2, connRatePerIp: 0, limitLoopback: true });
    expect(await knock(s)).toEqual({ status: 101 });
    expect(await knock(s)).toEqual({ status: 101 });
    expect(await knock(s)).toMatchObject({ status: 429, body: 'too many connections from your address' });
    expect(s.state().clients.size).toBe(2);
    const first = sockets[0];
    first.close();
    await within(new Promise((r) => first.once('close', r)), 3000, 'close');
    // The door counts the socket until it has closed on the server's side too.
    await within((async () => { while (s.door.connections > 1) await new Promise((r) => setTimeout(r, 10)); })(), 3000, 'release');
    expect(await knock(s)).toEqual({ status: 101 });
    expect(s.door.refused.conns_per_ip).toBe(1);
  });

  it('with --limit-loopback, refuses past --conn-rate-per-ip new connections with 429 and Retry-After', async () => {
    const s = await serve({ maxConnsPerIp: 0, connRatePerIp: 3, limitLoopback: true });
    for (let i = 0; i < 3; i++) expect(await knock(s)).toEqual({ status: 101 });
    const refused = await knock(s);
    expect(refused).toMatchObject({ status: 429, body: 'too many new connections from your address', headers: { 'retry-after': '20' } });
  });

  it('with --trust-proxy, counts by the last X-Forwarded-For entry (and loopback is then the client\'s, not the proxy\'s)', async () => {
    const s = await serve({ maxConnsPerIp: 1, connRatePerIp: 0, trustProxy: true });
    const from = (ip: string) => ({ 'X-Forwarded-For': `198.51.100.1, ${ip}` });
    expect(await knock(s, from('203.0.113.5'))).toEqual({ status: 101 });
    expect(await knock(s, from('203.0.113.5'))).toMatchObject({ status: 429 });
    expect(await knock(s, from('203.0.113.6'))).toEqual({ status: 101 });
    // The first entries are the client's to write: not counted by.
    expect(await knock(s, { 'X-Forwarded-For': '203.0.113.5, 203.0.113.7' })).toEqual({ status: 101 });
  });

  it('without --trust-proxy, ignores X-Forwarded-For', async () => {
    const s = await serve({ maxConnsPerIp: 1, connRatePerIp: 0 });
    const from = { 'X-Forwarded-For': '203.0.113.5' };
    expect(await knock(s, from)).toEqual({ status: 101 });
    expect(await knock(s, from)).toEqual({ status: 101 });
  });
});

describe('all connections', () => {
  it('refuses past --max-connections with 503, loopback too', async () => {
    const s = await serve({ maxConnections: 2 });
    expect(await knock(s)).toEqual({ status: 101 });
    expect(await knock(s)).toEqual({ status: 101 });
    expect(await knock(s)).toMatchObject({ status: 503, body: 'server full: too many connections' });
    expect(s.door.refused.max_connections).toBe(1);
    expect(s.state().clients.size).toBe(2);
  });
});

describe('a slow request', () => {
  it('is cut off with 408 after --upgrade-timeout, whether it sent half its headers or nothing', async () => {
    const s = await serve({ upgradeTimeoutMs: 300 });
    const half = await trickle(s, `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`);
    expect(half.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(half.ms).toBeGreaterThanOrEqual(250);
    expect(half.ms).toBeLessThan(1500);
    const silent = await trickle(s, '');
    expect(silent.ms).toBeLessThan(1500);
    expect(s.door.refused.timeout).toBe(2);
    expect(s.state().clients.size).toBe(0);
  });
});
