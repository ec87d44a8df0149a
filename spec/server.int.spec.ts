// The protocol end to end: real `ws` clients against a real server on an
// ephemeral port. Numbers in test names refer to docs/protocol.md and issue #2.
import http from 'node:http';
import WebSocket from 'ws';
import { ChatServer, ServerOptions, startServer } from '../src/edge/server';
import { Close, Limits } from '../src/core/protocol';
import { TestClient } from './support/client';
import { BURSTS } from './support/limits';
import { MemoryLog } from '../src/store/memory';
import type { MessageLog } from '../src/store/log';

let server: ChatServer;
let lines: Array<Record<string, unknown>>;
const clients: TestClient[] = [];

async function start(options: ServerOptions = {}): Promise<ChatServer> {
  lines = [];
  server = await startServer({
    port: 0, host: '127.0.0.1', logLevel: 'info',
    log: (level, event, fields) => lines.push({ level, event, ...fields }),
    // Its clients send in bursts (slow readers fed as fast as they go, floods of History): spec/support/limits.ts.
    ...BURSTS,
    ...options,
  });
  return server;
}

async function connect(query: Record<string, string> = {}, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
  const c = await TestClient.connect(server.url, query, options);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close(500);
});

/** Proves a client received nothing of a kind: a marker request round-trips first. */
async function nothingMoreFor(c: TestClient, match: (m: Record<string, unknown>) => boolean): Promise<void> {
  await c.request({ Type: 2 }, 2);
  expect(c.frames.filter(match)).toEqual([]);
}

describe('connecting (1, 2)', () => {
  beforeEach(() => start());

  it('sends a System frame with a fresh unique ID first, then who is in the room', async () => {
    const a = TestClient.raw(`${server.url}?name=alice`);
    clients.push(a);
    const first = await a.next();
    expect(first).toEqual({ ID: expect.any(String), Content: 'welcome', SentAt: expect.any(Number), Type: 0, Name: 'alice', Rooms: ['lobby'], Token: expect.stringMatching(/^[\w-]+\.[\w-]{32}$/) });
    expect(first.ID.length).toBeGreaterThanOrEqual(10);
    // One process: the token is the ID and a secret (protocol.md: opaque to the client; reducer.ts resumeToken).
    expect(String(first.Token).startsWith(`${first.ID}.`)).toBe(true);
    const presence = await a.next();
    expect(presence).toMatchObject({ Type: 6, Room: 'lobby', Members: [{ ID: first.ID, Name: 'alice' }], Seq: 0 });
    const b = await connect({ name: 'bob' });
    expect(b.id).not.toBe(first.ID);
  });

  it('tells the others of the room about a newcomer (Type 3 with ID and Name), not the newcomer itself', async () => {
    const a = await connect({ name: 'alice' });
    const elsewhere = await connect({ name: 'eve', room: 'other' });
    const b = await connect({ name: 'bob' });
    expect(await a.next((m) => m.Type === 3)).toMatchObject({ ID: b.id, Name: 'bob', Room: 'lobby', Content: 'connected' });
    await nothingMoreFor(b, (m) => m.Type === 3);
    await nothingMoreFor(elsewhere, (m) => m.Type === 3);
  });

  it('tells a newcomer who is there in its Join frame', async () => {
    const a = await connect({ name: 'alice', room: 'dev' });
    const b = TestClient.raw(`${server.url}?name=bob&room=dev`);
    clients.push(b);
    expect(await b.next((m) => m.Type === 6)).toMatchObject({
      Room: 'dev', Members: [{ ID: a.id, Name: 'alice' }, { ID: expect.any(String), Name: 'bob' }],
    });
  });

  it('refuses a bad ?room= with an error frame and close 1008', async () => {
    const c = TestClient.raw(`${server.url}?room=${encodeURIComponent('no spaces')}`);
    clients.push(c);
    expect(await c.next()).toMatchObject({ Type: 5, Code: 'bad_room', ID: '', SentAt: expect.any(Number) });
    expect(await c.closed()).toBe(Close.PolicyViolation);
  });

  it('refuses a WebSocket upgrade on any path but /ws', async () => {
    const c = TestClient.raw(server.url.replace('/ws', '/other'));
    await expect(c.closed()).resolves.toBe(1006);
  });
});

describe('chatting (3) and acks', () => {
  beforeEach(() => start());

  it('relays a line to every other member with the sender ID and server time; never back to the sender; not to other rooms', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    const c = await connect({ name: 'carol' });
    const other = await connect({ name: 'dan', room: 'other' });
    const before = Math.floor(Date.now() / 1000);
    a.send({ Type: 1, Content: 'hi', ID: 'spoofed', SentAt: 1, Ref: 'm1' });
    const ack = await a.next((m) => m.Type === 12);
    for (const peer of [b, c]) {
      const line = await peer.next((m) => m.Type === 1);
      expect(line).toEqual({
        ID: a.id, Content: 'hi', SentAt: expect.any(Number), Type: 1, Name: 'alice', Room: 'lobby', Seq: 1, Epoch: ack.Epoch, MsgID: ack.MsgID,
      });
      expect(line.SentAt).toBeGreaterThanOrEqual(before);
      expect(line.SentAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    }
    expect(ack).toMatchObject({ ID: a.id, Ref: 'm1', Room: 'lobby', Seq: 1, Epoch: expect.stringMatching(/^[A-Za-z0-9]{8}$/), MsgID: expect.any(String) });
    await nothingMoreFor(a, (m) => m.Type === 1);
    await nothingMoreFor(other, (m) => m.Type === 1);
  });

  it('numbers lines per room in order, each with a unique MsgID, and delivers them in that order', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    for (let i = 0; i < 20; i++) a.send({ Type: 1, Content: `n${i}`, Ref: i });
    const got = [];
    for (let i = 0; i < 20; i++) got.push(await b.next((m) => m.Type === 1));
    expect(got.map((m) => m.Seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(got.map((m) => m.Content)).toEqual(Array.from({ length: 20 }, (_, i) => `n${i}`));
    expect(new Set(got.map((m) => m.MsgID)).size).toBe(20);
    const acks = [];
    for (let i = 0; i < 20; i++) acks.push(await a.next((m) => m.Type === 12));
    expect(acks.map((m) => [m.Ref, m.Seq])).toEqual(Array.from({ length: 20 }, (_, i) => [i, i + 1]));
  });

  it('answers a heartbeat to that client only (4)', async () => {
    const a = await connect();
    const b = await connect();
    expect(await a.request({ Type: 2 }, 2)).toMatchObject({ Type: 2, ID: a.id, Content: '', SentAt: expect.any(Number) });
    expect(b.frames.filter((m) => m.Type === 2)).toEqual([]);
  });
});

describe('rooms, names, presence, direct messages', () => {
  beforeEach(() => start());

  it('joins several rooms, speaks in a named room, leaves, and lists rooms with counts; empty rooms disappear', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob', room: 'dev' });
    expect(await a.request({ Type: 6, Room: 'dev' }, 6)).toMatchObject({
      Room: 'dev', Seq: 0, Members: [{ ID: b.id, Name: 'bob' }, { ID: a.id, Name: 'alice' }],
    });
    expect(await b.next((m) => m.Type === 3)).toMatchObject({ ID: a.id, Room: 'dev' });

    a.send({ Type: 1, Room: 'dev', Content: 'to dev' });
    expect(await b.next((m) => m.Type === 1)).toMatchObject({ Room: 'dev', Content: 'to dev', Seq: 1 });
    // Without Room, a line goes to the first room (lobby), where bob is not.
    expect(await a.request({ Type: 1, Content: 'to lobby' }, 12)).toMatchObject({ Room: 'lobby', Seq: 1 });

    expect(await a.request({ Type: 8 }, 8)).toMatchObject({
      Rooms: [{ Room: 'dev', Count: 2 }, { Room: 'lobby', Count: 1 }], Total: 2,
    });
    expect(await a.request({ Type: 7, Room: 'lobby' }, 7)).toMatchObject({ Type: 7, Room: 'lobby' });
    expect(await a.request({ Type: 8 }, 8)).toMatchObject({ Rooms: [{ Room: 'dev', Count: 2 }], Total: 1 });

    expect(await b.request({ Type: 7, Room: 'dev' }, 7)).toMatchObject({ Room: 'dev' });
    expect(await a.next((m) => m.Type === 4)).toMatchObject({ ID: b.id, Name: 'bob', Room: 'dev', Reason: 'left' });
    expect(await a.request({ Type: 7, Room: 'lobby' }, 5)).toMatchObject({ Code: 'not_member' });
    expect([...server.state().rooms.keys()]).toEqual(['dev']);
  });

  it('renames: the renamer and its rooms hear it, and presence shows the new name', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    expect(await a.request({ Type: 10, Name: 'Alice ✨' }, 10)).toMatchObject({ ID: a.id, Name: 'Alice ✨', OldName: 'alice' });
    expect(await b.next((m) => m.Type === 10)).toMatchObject({ ID: a.id, Name: 'Alice ✨', OldName: 'alice', Room: 'lobby' });
    expect(await b.request({ Type: 9, Room: 'lobby' }, 9)).toMatchObject({
      Members: [{ ID: a.id, Name: 'Alice ✨' }, { ID: b.id, Name: 'bob' }],
    });
    b.send({ Type: 1, Content: 'hey' });
    expect(await a.next((m) => m.Type === 1)).toMatchObject({ Name: 'bob' });
  });

  it('delivers a direct message to one connection only, in any room, and acks it', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob', room: 'elsewhere' });
    const c = await connect({ name: 'carol' });
    const ack = await a.request({ Type: 11, To: b.id, Content: 'psst' }, 12);
    expect(ack).toMatchObject({ To: b.id, MsgID: expect.any(String) });
    expect(await b.next((m) => m.Type === 11)).toEqual({
      ID: a.id, Content: 'psst', SentAt: expect.any(Number), Type: 11, Name: 'alice', To: b.id, MsgID: ack.MsgID,
    });
    await nothingMoreFor(c, (m) => m.Type === 11);
    expect(await a.request({ Type: 11, To: 'nobody', Content: 'x' }, 12)).toMatchObject({ Type: 5, Code: 'no_such_client' });
  });
});

describe('leaving and heartbeat (5)', () => {
  it('tells the room with Type 4 when a client closes normally', async () => {
    await start();
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    await b.close();
    expect(await a.next((m) => m.Type === 4)).toMatchObject({ ID: b.id, Name: 'bob', Room: 'lobby', Reason: 'closed' });
    expect(lines).toEqual(expect.arrayContaining([
      expect.objectContaining({ event: 'connect', id: b.id, name: 'bob' }),
      expect.objectContaining({ event: 'join', id: b.id, room: 'lobby' }),
      expect.objectContaining({ event: 'leave', id: b.id, room: 'lobby', reason: 'closed' }),
      expect.objectContaining({ event: 'disconnect', id: b.id, reason: 'closed' }),
    ]));
  });

  it('drops a client that answers no pings and sends nothing, and tells its room (timeout)', async () => {
    await start({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 400 });
    const alive = await connect({ name: 'alive' });
    const silent = await connect({ name: 'silent' }, { autoPong: false });
    const gone = await alive.next((m) => m.Type === 4, 3000);
    expect(gone).toMatchObject({ ID: silent.id, Reason: 'timeout' });
    await silent.closed();
    // The live client, answering pings by itself, is still here well past the timeout.
    expect(server.state().clients.has(alive.id)).toBe(true);
    expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'disconnect', id: silent.id, reason: 'timeout' })]));
  });

  it('keeps a client that sends frames even if it answers no pings', async () => {
    await start({ heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 });
    const c = await connect({}, { autoPong: false });
    for (let i = 0; i < 6; i++) await c.request({ Type: 2 }, 2).then(() => new Promise((r) => setTimeout(r, 100)));
    expect(server.state().clients.has(c.id)).toBe(true);
  });
});

describe('bad input (6)', () => {
  beforeEach(() => start({ maxPayload: 8 * 1024 }));

  it.each([
    ['not JSON', 'hello', 'bad_json'],
    ['not an object', '[1,2]', 'not_object'],
    ['a wrong field type', '{"Type":1,"Content":5}', 'bad_field'],
    ['an unknown Type', '{"Type":42}', 'unknown_type'],
    ['an over-long content', JSON.stringify({ Type: 1, Content: 'x'.repeat(Limits.maxContent + 1) }), 'too_long'],
    ['an over-long name', JSON.stringify({ Type: 10, Name: 'n'.repeat(40) }), 'too_long'],
    ['a bad room name', '{"Type":6,"Room":"../etc"}', 'bad_room'],
  ])('answers %s with an error frame to the sender only; nothing is broadcast; the connection stays usable', async (_w, frame, code) => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    a.send(frame);
    const e = await a.next((m) => m.Type === 5);
    expect(e).toEqual({ ID: '', Content: expect.any(String), SentAt: expect.any(Number), Type: 5, Code: code });
    expect(e.Content.length).toBeGreaterThan(5);
    expect(await a.request({ Type: 1, Content: 'still here' }, 12)).toMatchObject({ Type: 12 });
    expect(await b.next((m) => m.Type === 1)).toMatchObject({ Content: 'still here' });
    expect(b.frames.filter((m) => m.Type === 5)).toEqual([]);
  });

  it('answers a binary frame with an error and keeps the connection', async () => {
    const a = await connect();
    a.ws.send(Buffer.from('{"Type":2}'), { binary: true });
    expect(await a.next((m) => m.Type === 5)).toMatchObject({ Code: 'binary_frame' });
    expect(await a.request({ Type: 2 }, 2)).toMatchObject({ Type: 2 });
  });

  it('echoes the Ref of a refused request', async () => {
    const a = await connect();
    expect(await a.request({ Type: 1, Content: '' }, 12)).toMatchObject({ Type: 5, Code: 'empty_content' });
  });

  it('closes a frame over --max-payload with 1009, and the others are unharmed', async () => {
    const a = await connect({ name: 'alice' });
    const b = await connect({ name: 'bob' });
    b.send('x'.repeat(9 * 1024));
    expect(await b.closed()).toBe(1009);
    expect(await a.next((m) => m.Type === 4)).toMatchObject({ ID: b.id });
    expect(await a.request({ Type: 2 }, 2)).toMatchObject({ Type: 2 });
  });

  it('closes invalid UTF-8 with 1007', async () => {
    const a = await connect();
    a.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect(await a.closed()).toBe(1007);
  });

  it('survives a burst of garbage from many clients', async () => {
    const good = await connect({ name: 'good' });
    const bad = await Promise.all(Array.from({ length: 5 }, () => connect()));
    const garbage = ['', '{', 'null', '1e999', '{"Type":null}', '{"Type":1,"Content":{}}', '{"__proto__":{"x":1},"Type":2}',
      '{"Type":6,"Room":""}', '{"Type":11,"To":"","Content":"x"}', '\u0000', '{"Type":1e308}', '"\\ud800"'];
    for (const c of bad) for (const g of garbage) c.send(g);
    for (const c of bad) await c.request({ Type: 2 }, 2);
    expect(await good.request({ Type: 1, Content: 'ok' }, 12)).toMatchObject({ Seq: 1 });
  });
});

describe('slow readers', () => {
  /** Lines of the largest size from sender until the server logs `slow` as dropped; bounded. Whether it was. */
  async function floodUntilDropped(sender: TestClient, slow: TestClient): Promise<boolean> {
    const big = 'x'.repeat(Limits.maxContent);
    const gone = () => lines.some((l) => l.event === 'disconnect' && l.id === slow.id && l.reason === 'slow');
    for (let i = 0; i < 20_000 && !gone(); i++) {
      sender.send({ Type: 1, Content: big });
      // A round trip now and then lets the server turn over, so the backlog builds across turns.
      if (i % 100 === 99) await sender.request({ Type: 2 }, 2);
    }
    return gone();
  }

  it('closes a client whose send buffer passes --max-buffered with 4008 and tells its room', async () => {
    await start({ maxBuffered: 64 * 1024 });
    const sender = await connect({ name: 'sender' });
    const slow = await connect({ name: 'slow' });
    // Stop reading: the kernel buffers fill, then the server's send buffer grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    expect(await floodUntilDropped(sender, slow)).toBe(true);
    const dropped = await sender.next((m) => m.Type === 4);
    expect(dropped).toMatchObject({ ID: slow.id, Reason: 'slow' });
    expect(server.state().clients.has(slow.id)).toBe(false);
    expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'disconnect', id: slow.id, reason: 'slow' })]));
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await slow.closed(5000)).toBe(Close.SlowConsumer);
  });

  it('does not hold up shutdown: close(grace) cuts a reader dropped as slow that never finishes closing (issue 11, 4a)', async () => {
    await start({ maxBuffered: 16 * 1024 });
    const sender = await connect({ name: 'sender' });
    const slow = await connect({ name: 'slow' });
    // It never reads again, so it never answers the 4008 close: only the server can end it.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    expect(await floodUntilDropped(sender, slow)).toBe(true);
    const t0 = Date.now();
    await server.close(500);
    expect(Date.now() - t0).toBeLessThan(1500);
    slow.ws.terminate();
  });
});

describe('health and shutdown', () => {
  it('answers GET /healthz with status, connections, rooms and uptime', async () => {
    await start();
    await connect();
    await connect({ room: 'dev' });
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${server.port}/healthz`, (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toMatch(/application\/json/);
        let data = '';
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve(data));
      }).on('error', reject);
    });
    expect(JSON.parse(body)).toEqual({ status: 'ok', connections: 2, rooms: 2, uptime: expect.any(Number) });
  });

  it('answers /healthz 503 with the reason while the log cannot be reached, 200 once it can; says each change once', async () => {
    // A log across a network (the Redis log) whose link goes down and comes back; its lines are kept in memory.
    const memory = new MemoryLog({ retention: { maxPerRoom: 100, maxDays: 1 } });
    const listeners = new Set<(down: string | undefined) => void>();
    let down: string | undefined;
    const setDown = (d: string | undefined) => { down = d; for (const l of listeners) l(d); };
    const messages: MessageLog = {
      run: (ops) => (down === undefined ? memory.run(ops) : ops.map(() => ({ ok: false, reason: `store: ${down}`, unavailable: true }))),
      trim: () => undefined,
      close: () => memory.close(),
      link: { get down() { return down; }, watch: (l) => { listeners.add(l); return () => listeners.delete(l); } },
    };
    await start({ messages });
    const a = await connect({ name: 'alice' });
    const health = () => new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      http.get(`http://127.0.0.1:${server.port}/healthz`, (res) => {
        let data = '';
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
      }).on('error', reject);
    });
    expect(await health()).toEqual({ status: 200, body: { status: 'ok', connections: 1, rooms: 1, uptime: expect.any(Number) } });

    setDown('lost the connection to Redis at redis://127.0.0.1:6379/0');
    expect(await health()).toEqual({
      status: 503,
      body: { status: 'unavailable', reason: 'lost the connection to Redis at redis://127.0.0.1:6379/0', connections: 1, rooms: 1, uptime: expect.any(Number) },
    });
    for (const k of ['k1', 'k2', 'k3']) {
      expect(await a.request({ Type: 1, Content: k, Key: k }, 12)).toMatchObject({ Type: 5, Code: 'unavailable' });
    }
    setDown(undefined);
    expect((await health()).status).toBe(200);
    expect(await a.request({ Type: 1, Content: 'k1', Key: 'k1' }, 12)).toMatchObject({ Type: 12, Seq: 1 });
    // Once each way; the refused lines themselves at debug only (this spec's logger keeps every level).
    expect(lines.filter((l) => /^store_(down|up)$/.test(String(l.event)))).toEqual([
      { level: 'warn', event: 'store_down', reason: 'lost the connection to Redis at redis://127.0.0.1:6379/0' },
      { level: 'info', event: 'store_up' },
    ]);
    expect(lines.filter((l) => l.event === 'append_failed').map((l) => l.level)).toEqual(['debug', 'debug', 'debug']);
  });

  it('on close tells every client with a Type 0 notice and closes them with 1001', async () => {
    await start();
    const a = await connect();
    const b = await connect({ room: 'dev' });
    const closing = server.close();
    for (const c of [a, b]) {
      expect(await c.next((m) => m.Type === 0)).toMatchObject({ Content: 'server shutting down', ID: '' });
      expect(await c.closed()).toBe(Close.GoingAway);
    }
    await closing;
    // No Type 4 storm during shutdown.
    expect(a.frames.filter((m) => m.Type === 4)).toEqual([]);
  });
});
