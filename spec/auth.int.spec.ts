// Identity from signed tokens on a real server (docs/security.md "Identity"): what an upgrade
// without a good token gets, and that a good one's name is the one the hub knows. Every wait is bounded.
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import { ChatServer, ServerOptions, startServer } from '../src/edge/server';
import { within } from './support/server-process';
import { Outcome, knockAt } from './support/knock';

const SECRET = 'integration-secret-long-enough-0000';
const servers: ChatServer[] = [];
const sockets: WebSocket[] = [];

async function serve(options: ServerOptions = {}): Promise<ChatServer> {
  const s = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', store: 'memory', authSecret: SECRET, ...options });
  servers.push(s);
  return s;
}

afterEach(async () => {
  sockets.splice(0).forEach((ws) => ws.terminate());
  await Promise.all(servers.splice(0).map((s) => s.close(100)));
});

function sign(claims: Record<string, unknown>, expSeconds = Math.floor(Date.now() / 1000) + 3600, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(expSeconds).sign(new TextEncoder().encode(secret));
}

function knock(s: ChatServer, query: string, headers: Record<string, string> = {}): Promise<Outcome> {
  return knockAt(`ws://127.0.0.1:${s.port}/ws?${query}`, sockets, headers);
}

/** Until the hub has n clients (bounded). */
function inHub(s: ChatServer, n: number): Promise<void> {
  return within((async () => {
    while (s.state().clients.size < n) await new Promise((r) => setTimeout(r, 5));
  })(), 3000, `${n} clients in the hub`);
}

describe('the upgrade with auth on', () => {
  it('refuses no token, a bad signature and an expired token with 401 and a reason, counted, nothing in the hub', async () => {
    const s = await serve();
    expect(await knock(s, 'name=x')).toMatchObject({ status: 401, body: REASON.no_token, headers: { 'www-authenticate': 'Bearer' } });
    expect(await knock(s, `token=${await sign({ sub: 'u1' }, undefined, 'some-other-secret-long-enough-00')}`)).toMatchObject({ status: 401, body: REASON.bad_token });
    expect(await knock(s, '', { Authorization: 'Bearer garbage' })).toMatchObject({ status: 401, body: REASON.bad_token });
    expect(await knock(s, `token=${await sign({ sub: 'u1' }, Math.floor(Date.now() / 1000) - 10)}`)).toMatchObject({ status: 401, body: REASON.token_expired });
    expect(s.door.refused).toMatchObject({ no_token: 1, bad_token: 2, token_expired: 1 });
    expect(s.state().clients.size).toBe(0);
    expect(s.door.connections).toBe(0);
  });

  it('refuses a ?room= outside the rooms claim with 403; lets in one inside it', async () => {
    const s = await serve();
    const token = await sign({ sub: 'u1', name: 'Alice', rooms: ['lobby', 'dev*'] });
    expect(await knock(s, `token=${token}&room=secret`)).toMatchObject({ status: 403, body: REASON.forbidden_room });
    expect(s.door.refused.forbidden_room).toBe(1);
    const ok = await knock(s, `token=${token}&room=dev-ops`);
    expect(ok.status).toBe(101);
  });

  it('lets a good token in (query or Bearer header), named by the token, whatever ?name= says', async () => {
    const s = await serve();
    const a = await knock(s, `name=Mallory&token=${await sign({ sub: 'u1', name: 'Alice' })}`);
    const b = await knock(s, '', { Authorization: `Bearer ${await sign({ sub: 'u2', name: 'Bob' })}` });
    expect(a.status).toBe(101);
    expect(b.status).toBe(101);
    await inHub(s, 2);
    expect([...s.state().clients.values()].map((c) => c.name).sort()).toEqual(['Alice', 'Bob']);
  });

  it('a slow check does not hold other upgrades: many at once all get their answer', async () => {
    const s = await serve();
    const good = await sign({ sub: 'u1', name: 'Alice' });
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => knock(s, i % 2 === 0 ? `token=${good}` : 'token=bad')));
    expect(outcomes.filter((o) => o.status === 101)).toHaveLength(10);
    expect(outcomes.filter((o) => o.status === 401)).toHaveLength(10);
  });
});

describe('identity with auth on', () => {
  /** An open socket with a token, and every frame it gets. */
  async function user(s: ChatServer, claims: Record<string, unknown>): Promise<{ ws: WebSocket; frames: Record<string, unknown>[]; next: (p: (f: Record<string, unknown>) => boolean, what: string) => Promise<Record<string, unknown>> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws?token=${await sign(claims)}`);
    sockets.push(ws);
    const frames: Record<string, unknown>[] = [];
    const waiters = new Set<() => void>();
    ws.on('message', (d) => {
      frames.push(JSON.parse(String(d)) as Record<string, unknown>);
      waiters.forEach((w) => w());
    });
    const next = (p: (f: Record<string, unknown>) => boolean, what: string) => within(new Promise<Record<string, unknown>>((resolve) => {
      const check = () => {
        const f = frames.find(p);
        if (f) {
          waiters.delete(check);
          resolve(f);
        }
      };
      waiters.add(check);
      check();
    }), 3000, what);
    await next((f) => f.Type === 6, 'its Join');
    return { ws, frames, next };
  }

  it('a Direct To a user (its sub) reaches both of its tabs; Rename and a forbidden Join are refused', async () => {
    const s = await serve();
    const tab1 = await user(s, { sub: 'u-alice', name: 'Alice' });
    const tab2 = await user(s, { sub: 'u-alice', name: 'Alice' });
    const bob = await user(s, { sub: 'u-bob', name: 'Bob', rooms: 'lobby' });
    bob.ws.send(JSON.stringify({ Type: 11, To: 'u-alice', Content: 'hello both', Ref: 'd' }));
    for (const tab of [tab1, tab2]) {
      expect(await tab.next((f) => f.Type === 11, 'the Direct')).toMatchObject({ Content: 'hello both', Name: 'Bob', To: 'u-alice' });
    }
    expect(await bob.next((f) => f.Ref === 'd', 'the Ack')).toMatchObject({ To: 'u-alice' });
    bob.ws.send(JSON.stringify({ Type: 10, Name: 'Mallory', Ref: 'n' }));
    expect(await bob.next((f) => f.Ref === 'n', 'the refusal')).toMatchObject({ Type: 5, Code: 'forbidden' });
    bob.ws.send(JSON.stringify({ Type: 6, Room: 'dev', Ref: 'j' }));
    expect(await bob.next((f) => f.Ref === 'j', 'the refusal')).toMatchObject({ Type: 5, Code: 'forbidden' });
  });
});

describe('a token that expires while connected', () => {
  // Heartbeat ticks every 100 ms (the expiry check's cadence), a grace of 600 ms instead of 30 s.
  const fast = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 5000, refreshGraceMs: 600 };
  const soon = () => Math.floor(Date.now() / 1000) + 2;

  async function connect(s: ChatServer, token: string) {
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws?token=${token}`);
    sockets.push(ws);
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Record<string, unknown>));
    const until = (p: (f: Record<string, unknown>) => boolean, what: string, ms = 5000) => within((async () => {
      while (!frames.some(p)) await new Promise((r) => setTimeout(r, 10));
      return frames.find(p) as Record<string, unknown>;
    })(), ms, what);
    const closedWith = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    return { ws, frames, until, closedWith };
  }

  it('gets a notice, and a Refresh with a fresh token of the same user keeps it open past the grace', async () => {
    const s = await serve(fast);
    const c = await connect(s, await sign({ sub: 'u1', name: 'Alice' }, soon()));
    const notice = await c.until((f) => f.Type === 0 && String(f.Content).startsWith('token expired'), 'the expiry notice');
    expect(notice.Content).toContain('4001');
    c.ws.send(JSON.stringify({ Type: 15, Token: await sign({ sub: 'u1', name: 'Alice' }), Ref: 'r1' }));
    expect(await c.until((f) => f.Type === 15, 'the Refresh answer')).toMatchObject({ Content: 'refreshed', Ref: 'r1' });
    // Past the grace, ticks on: still open (counted in pings, the server's own cadence, not a sleep).
    let pings = 0;
    await within(new Promise<void>((resolve) => c.ws.on('ping', () => { if (++pings === 10) resolve(); })), 5000, '10 pings');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('a bad Refresh is refused (bad_token), and without a good one it is closed with 4001', async () => {
    const s = await serve(fast);
    const c = await connect(s, await sign({ sub: 'u1', name: 'Alice' }, soon()));
    await c.until((f) => f.Type === 0 && String(f.Content).startsWith('token expired'), 'the expiry notice');
    c.ws.send(JSON.stringify({ Type: 15, Token: await sign({ sub: 'someone-else' }), Ref: 'x' }));
    expect(await c.until((f) => f.Ref === 'x', 'the refusal')).toMatchObject({ Type: 5, Code: 'bad_token' });
    expect(await within(c.closedWith, 5000, 'the close')).toBe(4001);
  });
});

describe('auth off (the default)', () => {
  it('lets anyone in as before', async () => {
    const s = await serve({ authSecret: '' });
    const o = await knock(s, 'name=x');
    expect(o.status).toBe(101);
    await inHub(s, 1);
    expect([...s.state().clients.values()][0].name).toBe('x');
  });
});

const REASON = {
  no_token: 'unauthorized: no token (give ?token= or Authorization: Bearer)',
  bad_token: 'unauthorized: bad token',
  token_expired: 'unauthorized: token expired',
  forbidden_room: 'forbidden: the token does not allow this room',
};
