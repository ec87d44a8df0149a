// History, resume and idempotent sending end to end (docs/protocol.md "History",
// "Resuming after a reconnect", "Sending twice"): real `ws` clients against a real
// server on an ephemeral port, with the in-memory log (the SQLite one is the same
// contract: spec/store.contract.spec.ts; across a restart: spec/restart.int.spec.ts).
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { ChatServer, ServerOptions, startServer } from '../src/edge/server';
import type { Message } from '../src/core/protocol';
import { MemoryLog } from '../src/store/memory';
import type { LogOp, LogOutcome } from '../src/store/log';
import { TestClient, WAIT_MS } from './support/client';
import { BURSTS } from './support/limits';

let server: ChatServer;
const clients: TestClient[] = [];

async function start(options: ServerOptions = {}): Promise<ChatServer> {
  server = await startServer({ port: 0, host: '127.0.0.1', log: () => undefined, ...BURSTS, ...options });
  return server;
}

async function connect(query: Record<string, string> = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, query);
  clients.push(c);
  return c;
}

/** Opens a socket and waits for the welcome only (a resume's Join replies come after it). */
async function open(query: Record<string, string>): Promise<{ c: TestClient; welcome: Message }> {
  const c = TestClient.raw(`${server.url}?${new URLSearchParams(query)}`);
  clients.push(c);
  const welcome = await c.next((m) => m.Type === 0);
  c.id = welcome.ID;
  return { c, welcome };
}

/** Cuts the TCP connection under a client with no close frame: what a network drop looks like to the server. */
function cut(c: TestClient): void {
  (c.ws as unknown as { _socket: Duplex })._socket.destroy();
}

/** Waits (bounded) until the server has noticed the client is gone. */
async function gone(id: string): Promise<void> {
  for (let i = 0; i < 200 && server.state().clients.has(id); i++) await new Promise((r) => setTimeout(r, 10));
  expect(server.state().clients.has(id)).toBe(false);
}

const say = (c: TestClient, content: string, extra: Record<string, unknown> = {}) =>
  c.request({ Type: 1, Room: 'lobby', Content: content, ...extra }, 12);

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close(500);
});

describe('history', () => {
  beforeEach(() => start());

  it('acks with Room, Seq and Epoch, delivers the same, and pages history oldest first with More', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    const acks = [];
    for (let i = 1; i <= 5; i++) acks.push(await say(a, `m${i}`));
    expect(acks.map((k) => k.Seq)).toEqual([1, 2, 3, 4, 5]);
    const epoch = acks[0].Epoch as string;
    expect(epoch).toMatch(/^[A-Za-z0-9]{8}$/);
    const got = await b.next((m) => m.Type === 1 && m.Seq === 5);
    expect(got).toMatchObject({ Room: 'lobby', Epoch: epoch, Content: 'm5', MsgID: acks[4].MsgID });

    const page = await b.request({ Type: 13, Room: 'lobby', Before: 5, Limit: 2 }, 13);
    expect(page).toMatchObject({ Room: 'lobby', Epoch: epoch, Seq: 5, First: 1, More: true });
    expect((page.Messages as Message[]).map((m) => [m.Seq, m.Content, m.Name])).toEqual([[3, 'm3', 'alice'], [4, 'm4', 'alice']]);
    const newer = await b.request({ Type: 13, Room: 'lobby', After: 3 }, 13);
    expect((newer.Messages as Message[]).map((m) => m.Seq)).toEqual([4, 5]);
    expect(newer.More).toBe(false);
    const latest = await b.request({ Type: 13, Room: 'lobby', Limit: 1 }, 13);
    expect((latest.Messages as Message[]).map((m) => m.Seq)).toEqual([5]);
  });

  it('keeps a room\'s Seq going after it empties, and lets only members read its history', async () => {
    const a = await connect({ name: 'alice', room: 'r1' });
    await a.request({ Type: 1, Room: 'r1', Content: 'one' }, 12);
    await a.close();
    await gone(a.id);
    expect(server.state().rooms.has('r1')).toBe(false);
    const b = await connect({ name: 'bob', room: 'r1' });
    const ack = await b.request({ Type: 1, Room: 'r1', Content: 'two' }, 12);
    expect(ack.Seq).toBe(2);
    const c = await connect({ name: 'carol' });
    expect(await c.request({ Type: 13, Room: 'r1' }, 13)).toMatchObject({ Type: 5, Code: 'not_member' });
    expect(await c.request({ Type: 13, Room: 'lobby', Before: 1, After: 1 }, 13)).toMatchObject({ Type: 5, Code: 'bad_field' });
  });
});

describe('resuming', () => {
  it('gives the same ID, name and rooms back and replays what was missed, then live lines, with no gap or duplicate', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    await a.request({ Type: 6, Room: 'dev' }, 6);
    const seen = (await say(b, 'before')).Seq as number;
    const epoch = (await a.next((m) => m.Type === 1 && m.Seq === seen)).Epoch as string;
    cut(a);
    await gone(a.id);
    for (let i = 0; i < 3; i++) await say(b, `missed ${i}`);
    const devEpoch = ((await b.request({ Type: 6, Room: 'dev' }, 6)).Epoch) as string;

    const { c: a2, welcome } = await open({ resume: a.welcome?.Token as string, since: `lobby:${seen}:${epoch},dev:0:${devEpoch}` });
    expect(welcome).toMatchObject({ ID: a.id, Name: 'alice', Rooms: ['lobby', 'dev'], Resumed: true });
    expect(welcome.Token).not.toBe(a.welcome?.Token);
    const join = await a2.next((m) => m.Type === 6 && m.Room === 'lobby');
    expect(join).toMatchObject({ Recovered: true, Seq: seen + 3, Epoch: epoch });
    expect(await a2.next((m) => m.Type === 6 && m.Room === 'dev')).toMatchObject({ Recovered: true });
    await say(b, 'live');
    const lines = [];
    for (let i = 0; i < 4; i++) lines.push(await a2.next((m) => m.Type === 1));
    expect(lines.map((m) => [m.Seq, m.Content])).toEqual([[seen + 1, 'missed 0'], [seen + 2, 'missed 1'], [seen + 3, 'missed 2'], [seen + 4, 'live']]);
    // bob saw alice go and come back
    await b.next((m) => m.Type === 4 && m.ID === a.id);
    await b.next((m) => m.Type === 3 && m.ID === a.id);
  });

  it('says why it cannot replay: another epoch, no position', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    await say(a, 'x');
    cut(a);
    cut(b);
    await gone(a.id);
    await gone(b.id);
    const { c: a2 } = await open({ resume: a.welcome?.Token as string, since: 'lobby:1:WrongEpo' });
    expect(await a2.next((m) => m.Type === 6)).toMatchObject({ Recovered: false, Reason: 'epoch_changed', Seq: 1 });
    const { c: b2 } = await open({ resume: b.welcome?.Token as string });
    expect(await b2.next((m) => m.Type === 6)).toMatchObject({ Recovered: false, Reason: 'no_position', Seq: 1 });
    await b2.request({ Type: 2 }, 2);
    expect(b2.frames.filter((m) => m.Type === 1)).toEqual([]);
  });

  it('delivers directs sent while away, and repeats of a Key once', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    cut(a);
    await gone(a.id);
    const dm = await b.request({ Type: 11, To: a.id, Content: 'psst' }, 12);
    expect(dm).toMatchObject({ Type: 12, To: a.id });
    const first = await say(b, 'once', { Key: 'k-1' });
    const again = await say(b, 'once', { Key: 'k-1' });
    expect(again).toMatchObject({ MsgID: first.MsgID, Seq: first.Seq, Key: 'k-1', Duplicate: true });
    const { c: a2 } = await open({ resume: a.welcome?.Token as string, since: `lobby:0:${first.Epoch}` });
    expect(await a2.next((m) => m.Type === 11)).toMatchObject({ Content: 'psst', ID: b.id, To: a.id });
    await a2.next((m) => m.Type === 6);
    const replay = await a2.next((m) => m.Type === 1);
    expect(replay).toMatchObject({ Content: 'once', Seq: first.Seq });
    await a2.request({ Type: 2 }, 2);
    expect(a2.frames.filter((m) => m.Type === 1)).toEqual([]);
  });
});

describe('resume tokens', () => {
  it('work once: a used, forged or malformed token gets resume_failed and a fresh identity', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const token = a.welcome?.Token as string;
    cut(a);
    await gone(a.id);
    const { c: a2, welcome } = await open({ resume: token });
    expect(welcome.ID).toBe(a.id);
    for (const bad of [token, 'A'.repeat(32), 'not a token', '']) {
      const { c, welcome: w } = await open({ resume: bad, name: 'mallory' });
      expect(await c.next((m) => m.Type === 5)).toMatchObject({ Code: 'resume_failed' });
      expect(w.ID).not.toBe(a.id);
      expect(w).toMatchObject({ Name: 'mallory' });
      expect(w.Resumed).toBeUndefined();
      await c.close();
    }
    expect(server.state().clients.has(a2.id)).toBe(true);
  });

  it('expire after the resume window', async () => {
    await start({ resumeWindowMs: 50, heartbeatIntervalMs: 20, heartbeatTimeoutMs: 5000 });
    const a = await connect({ name: 'alice' });
    cut(a);
    await gone(a.id);
    for (let i = 0; i < 100 && server.state().away.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.state().away.size).toBe(0);
    const { c } = await open({ resume: a.welcome?.Token as string });
    expect(await c.next((m) => m.Type === 5)).toMatchObject({ Code: 'resume_failed' });
  });

  it('of a connection that still looks alive take it over: the old socket is cut, the identity moves', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    const { c: a2, welcome } = await open({ resume: a.welcome?.Token as string });
    expect(welcome).toMatchObject({ ID: a.id, Resumed: true });
    await a.closed(WAIT_MS);
    await a2.next((m) => m.Type === 6);
    // The old socket's end must not take the resumed identity with it.
    await a2.request({ Type: 2 }, 2);
    expect(server.state().clients.has(a.id)).toBe(true);
    await say(b, 'to the new socket');
    expect(await a2.next((m) => m.Type === 1)).toMatchObject({ Content: 'to the new socket' });
  });
});

describe('a socket destroyed mid-stream', () => {
  it('resumes with no gap and no duplicate while another member keeps sending', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    const N = 200;
    const got: number[] = [];
    let epoch = '';
    const collect = (c: TestClient) => (c.ws as WebSocket).on('message', (d) => {
      const m = JSON.parse(d.toString()) as Message;
      if (m.Type === 1) {
        got.push(m.Seq as number);
        epoch = m.Epoch as string;
      }
    });
    collect(a);
    let acked = 0;
    b.ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as Message).Type === 12) acked++;
    });
    const sending = (async () => {
      for (let i = 0; i < N; i++) {
        b.send({ Type: 1, Room: 'lobby', Content: `n${i}` });
        if (i % 10 === 9) await new Promise((r) => setImmediate(r));
      }
    })();
    while (got.length < 20) await a.next((m) => m.Type === 1).catch(() => undefined);
    cut(a);
    const last = got[got.length - 1];
    await gone(a.id);
    const { c: a2 } = await open({ resume: a.welcome?.Token as string, since: `lobby:${last}:${epoch}` });
    collect(a2);
    await sending;
    for (let i = 0; i < 500 && acked < N; i++) await new Promise((r) => setTimeout(r, 10));
    expect(acked).toBe(N);
    for (let i = 0; i < 500 && got.length < N; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });
});

describe('a log that fails at run time', () => {
  /** The in-memory log, made to fail every batch while `failing` (as a full disk would). */
  class FailingLog extends MemoryLog {
    failing = false;
    run(ops: readonly LogOp[]): LogOutcome[] {
      if (this.failing) throw new Error('database or disk is full');
      return super.run(ops) as LogOutcome[];
    }
  }

  it('answers the sender with store_failed and no Ack, delivers nothing, and takes the same Key again once it works', async () => {
    const messages = new FailingLog({ retention: { maxPerRoom: 100, maxDays: 1 } });
    await start({ messages });
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    messages.failing = true;
    const refused = await say(a, 'lost?', { Key: 'k-disk' });
    expect(refused).toMatchObject({ Type: 5, Code: 'store_failed', Content: expect.stringContaining('disk is full') });
    messages.failing = false;
    const ok = await say(a, 'lost?', { Key: 'k-disk' });
    expect(ok).toMatchObject({ Type: 12, Seq: 1, Key: 'k-disk' });
    expect(ok.Duplicate).toBeUndefined();
    expect(await b.next((m) => m.Type === 1)).toMatchObject({ Content: 'lost?', Seq: 1 });
    await b.request({ Type: 2 }, 2);
    expect(b.frames.filter((m) => m.Type === 1)).toEqual([]);
    expect(a.frames.filter((m) => m.Type === 12)).toEqual([]);
  });
});
