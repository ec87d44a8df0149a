// The client library end to end (src/client/): the shell with the pure core, against a
// scripted fake WebSocket played as the server (docs/protocol.md) and a fake clock. No
// server, no real timers, no sleeps: time moves only by clock.advance().
import { ChatClient, ClientEvent, ClientOptions, MessageUpdate, randomKey } from '../src/client';
import { FakeClock, FakeSocket, fakeWebSocket } from '../src/client/testing';

const E = 'Qm7xK2pA';
const E2 = 'Zx81bQ0c';

function setup(o: Partial<ClientOptions> = {}) {
  const clock = new FakeClock();
  const fake = fakeWebSocket();
  let n = 0;
  const events: ClientEvent[] = [];
  const client = new ChatClient({
    url: 'ws://h/ws', WebSocket: fake.WebSocket, name: 'alice', rooms: ['lobby'], clock,
    random: () => 0.5, newKey: () => `key${++n}`, ...o,
  });
  client.onAny((e) => events.push(e));
  const of = <K extends ClientEvent['type']>(type: K) => events.filter((e): e is Extract<ClientEvent, { type: K }> => e.type === type);
  return {
    clock, fake, client, events, of,
    /** Seqs of the lines the app got in a room, in order. */
    lines: (room = 'lobby') => of('line').filter((e) => e.room === room).map((e) => e.frame.Seq),
    messages: (): MessageUpdate[] => of('message').map((e) => e.message),
  };
}

const welcome = (id: string, more: Record<string, unknown> = {}) =>
  ({ Type: 0, ID: id, Content: 'welcome', Name: 'alice', Rooms: ['lobby'], Token: `tok-${id}`, ...more });
const joined = (room: string, seq: number, more: Record<string, unknown> = {}) =>
  ({ Type: 6, ID: 'A1', Room: room, Members: [], Count: 1, Seq: seq, Epoch: E, ...more });
const chat = (seq: number, room = 'lobby', epoch = E) =>
  ({ Type: 1, ID: 'B1', Name: 'bob', Content: `line ${seq}`, Room: room, Seq: seq, Epoch: epoch, MsgID: `m-${room}-${seq}` });
const page = (room: string, from: number, to: number, more: boolean, latest: number, ref: unknown) =>
  ({ Type: 13, Room: room, Epoch: E, Seq: latest, First: 1, More: more, Ref: ref,
    Messages: Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => chat(from + i, room)) });
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Starts and plays the server through a first welcome and the Join reply of lobby at `seq`. */
function connected(t: ReturnType<typeof setup>, seq = 41): FakeSocket {
  t.client.start();
  const ws = t.fake.last().accept();
  ws.receive(welcome('A1')).receive(joined('lobby', seq));
  return ws;
}

/** The link drops; the backoff's first delay (500 ms, no jitter) passes; the next socket is up. */
function reconnect(t: ReturnType<typeof setup>, ws: FakeSocket): FakeSocket {
  ws.drop(1006);
  t.clock.advance(500);
  return t.fake.last().accept();
}

const sentOf = (ws: FakeSocket, type: number) => ws.frames.filter((f) => f.Type === type);

describe('client library: connecting', () => {
  it('connects with the name and first room, joins the others after the welcome, keeps each position', () => {
    const t = setup({ rooms: ['lobby', 'rust'] });
    t.client.start();
    const ws = t.fake.last();
    expect(ws.url).toBe('ws://h/ws?name=alice&room=lobby');
    ws.accept().receive(welcome('A1')).receive(joined('lobby', 41));
    expect(sentOf(ws, 6)).toEqual([{ Type: 6, Room: 'rust', Ref: 1 }]);
    ws.receive(joined('rust', 3, { Epoch: E2, Ref: 1 }));
    expect(t.of('ready')).toEqual([{ type: 'ready', id: 'A1', name: 'alice', rooms: ['lobby', 'rust'], resumed: false, reconnected: false }]);
    expect(t.client.positions).toEqual([{ room: 'lobby', seq: 41, epoch: E }, { room: 'rust', seq: 3, epoch: E2 }]);
    // Join replies go on to the app (members, counts).
    expect(t.of('frame').map((e) => e.frame.Type)).toEqual([6, 6]);
    expect(t.client).toMatchObject({ id: 'A1', name: 'alice', ready: true });
  });

  it('whenReady is bounded: rejects when no welcome comes in time', async () => {
    const t = setup();
    t.client.start();
    const ready = t.client.whenReady(3000);
    t.clock.advance(3000);
    await expect(ready).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe('client library: the socket', () => {
  it('ignores what is not a frame (binary, bad JSON, no Type); a notice from the server goes to the app', () => {
    const t = setup();
    const ws = connected(t);
    ws.onmessage?.({ data: new Uint8Array([1, 2]) });
    ws.onmessage?.({ data: '{"Type":' });
    ws.onmessage?.({ data: '[1,2]' });
    ws.onmessage?.({ data: '{"ID":"x"}' });
    ws.receive({ Type: 0, Content: 'server shutting down' });
    expect(t.of('frame').map((e) => e.frame.Content)).toEqual(['', 'server shutting down']); // the Join reply, the notice
  });

  it('retryNow() skips the wait after a drop; whenReady resolves on the welcome', async () => {
    const t = setup();
    connected(t).drop(1006);
    t.client.retryNow();
    expect(t.fake.sockets).toHaveLength(2);
    const ready = t.client.whenReady(1000);
    t.fake.last().accept().receive(welcome('A1', { Resumed: true }));
    await expect(ready).resolves.toBeUndefined();
  });

  it('a WebSocket class that throws (a bad URL) is a failed attempt, retried like any other', () => {
    const t = setup({ WebSocket: class { constructor() { throw new Error('bad url'); } } as never });
    t.client.start();
    expect(t.of('link').slice(-1)).toEqual([expect.objectContaining({ link: expect.objectContaining({ state: 'down', reason: 'bad url' }) })]);
  });
});

describe('client library: Keys', () => {
  it('are 21 URL-safe characters from crypto.getRandomValues, different each time', () => {
    const keys = new Set(Array.from({ length: 100 }, () => randomKey()));
    expect(keys.size).toBe(100);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(randomKey(4, { getRandomValues: (a) => { a.fill(63); return a; } })).toBe('----');
  });
});

describe('client library: the outbox', () => {
  it('a line typed offline is pending, sent on connect with its Key, delivered on its Ack', () => {
    const t = setup();
    const key = t.client.send('lobby', 'hi all');
    expect(key).toBe('key1');
    expect(t.messages()).toEqual([{ key, status: 'pending', room: 'lobby', content: 'hi all' }]);
    const ws = connected(t);
    expect(sentOf(ws, 1)).toEqual([{ Type: 1, Room: 'lobby', Content: 'hi all', Key: key, Ref: key }]);
    ws.receive({ Type: 12, ID: 'A1', MsgID: 'kV9', Room: 'lobby', Seq: 42, Epoch: E, Key: key, Ref: key });
    expect(t.messages().map((m) => m.status)).toEqual(['pending', 'sent', 'delivered']);
    expect(t.messages()[2]).toEqual({ key, status: 'delivered', room: 'lobby', content: 'hi all', msgId: 'kV9', seq: 42, epoch: E });
    // Our own line counts in the position we would resume from (protocol.md "Resuming").
    expect(t.client.position('lobby')).toEqual({ room: 'lobby', seq: 42, epoch: E });
    expect(t.client.outbox).toEqual([]);
  });

  it('sent again after a reconnect with the same Key; a Duplicate Ack still delivers it, once', () => {
    const t = setup();
    const ws1 = connected(t);
    const key = t.client.send('lobby', 'on my way');
    ws1.drop(1006); // no Ack came: did the server keep it? The Key makes that not matter.
    expect(t.messages().map((m) => m.status)).toEqual(['sent', 'pending']);
    t.clock.advance(500);
    const ws2 = t.fake.last().accept();
    ws2.receive(welcome('A1', { Resumed: true })).receive(joined('lobby', 42, { Recovered: true }));
    expect(sentOf(ws2, 1)).toEqual([{ Type: 1, Room: 'lobby', Content: 'on my way', Key: key, Ref: key }]);
    const ack = { Type: 12, ID: 'A1', MsgID: 'kV9', Room: 'lobby', Seq: 42, Epoch: E, Key: key, Ref: key, Duplicate: true };
    ws2.receive(ack).receive(ack);
    const delivered = t.messages().filter((m) => m.status === 'delivered');
    expect(delivered).toEqual([expect.objectContaining({ key, msgId: 'kV9', seq: 42, duplicate: true })]);
  });

  it('store_busy: retried after the backoff with the same Key; another refusal fails it', () => {
    const t = setup();
    const ws = connected(t);
    const key = t.client.send('lobby', 'x');
    ws.receive({ Type: 5, Code: 'store_busy', Content: 'the log is behind', Ref: key });
    expect(t.messages()[1]).toEqual({ key, status: 'pending', room: 'lobby', content: 'x', code: 'store_busy', reason: 'the log is behind', retryAt: t.clock.now() + 500 });
    t.clock.advance(499);
    expect(sentOf(ws, 1)).toHaveLength(1);
    t.clock.advance(1);
    expect(sentOf(ws, 1)).toEqual([sentOf(ws, 1)[0], sentOf(ws, 1)[0]]);
    expect(sentOf(ws, 1)[1]).toMatchObject({ Key: key });
    ws.receive({ Type: 12, ID: 'A1', MsgID: 'm1', Room: 'lobby', Seq: 42, Epoch: E, Key: key, Ref: key });
    expect(t.messages().map((m) => m.status)).toEqual(['sent', 'pending', 'sent', 'delivered']);

    const other = t.client.send('lobby', 'y');
    ws.receive({ Type: 5, Code: 'not_member', Content: 'you are not in room "lobby"', Ref: other });
    expect(t.messages().slice(-1)).toEqual([{ key: other, status: 'failed', room: 'lobby', content: 'y', code: 'not_member', reason: 'you are not in room "lobby"' }]);
  });

  it('an Ack for a message waiting to be retried delivers it and cancels the retry', () => {
    const t = setup();
    const ws = connected(t);
    const key = t.client.send('lobby', 'x');
    const idle = t.clock.pending;
    ws.receive({ Type: 5, Code: 'store_busy', Content: 'behind', Ref: key });
    expect(t.clock.pending).toBe(idle + 1);
    // protocol.md "Sending twice": the first try's Ack answers a repeat too; here it comes late.
    ws.receive({ Type: 12, ID: 'A1', MsgID: 'm1', Room: 'lobby', Seq: 42, Epoch: E, Key: key, Ref: key });
    expect(t.clock.pending).toBe(idle);
    t.clock.advance(10_000);
    expect(sentOf(ws, 1)).toHaveLength(1);
    expect(t.messages().map((m) => m.status)).toEqual(['sent', 'pending', 'delivered']);
  });

  it('store_failed past sendAttempts: failed, not retried for ever', () => {
    const t = setup({ sendAttempts: 2 });
    const ws = connected(t);
    const key = t.client.send('lobby', 'x');
    ws.receive({ Type: 5, Code: 'store_failed', Content: 'disk full', Ref: key });
    t.clock.advance(500);
    ws.receive({ Type: 5, Code: 'store_failed', Content: 'disk full', Ref: key });
    expect(t.messages().map((m) => m.status)).toEqual(['sent', 'pending', 'sent', 'failed']);
    t.clock.advance(60_000);
    expect(sentOf(ws, 1)).toHaveLength(2);
  });

  it('unavailable (the server\'s Redis is away): kept pending and sent again, same Key, past sendAttempts, until acked', () => {
    const t = setup({ sendAttempts: 2 });
    const ws = connected(t);
    const key = t.client.send('lobby', 'x');
    const away = { Type: 5, Code: 'unavailable', Content: 'your line was not kept: Redis is not connected', Ref: key };
    ws.receive(away);
    expect(t.messages()[1]).toEqual({
      key, status: 'pending', room: 'lobby', content: 'x', code: 'unavailable', reason: away.Content, retryAt: t.clock.now() + 500,
    });
    // Refused four times: more than sendAttempts, and never failed; each try waits the backoff, up to its ceiling.
    for (const wait of [500, 1000, 2000, 4000]) {
      t.clock.advance(wait - 1);
      const before = sentOf(ws, 1).length;
      t.clock.advance(1);
      expect(sentOf(ws, 1)).toHaveLength(before + 1);
      ws.receive(away);
    }
    expect(t.messages().map((m) => m.status)).not.toContain('failed');
    t.clock.advance(8000);
    expect(sentOf(ws, 1)).toHaveLength(6);
    expect(sentOf(ws, 1).every((f) => f.Key === key)).toBe(true);
    ws.receive({ Type: 12, ID: 'A1', MsgID: 'm1', Room: 'lobby', Seq: 1, Epoch: E, Key: key, Ref: key });
    expect(t.messages().slice(-1)).toEqual([expect.objectContaining({ key, status: 'delivered', seq: 1 })]);
    t.clock.advance(60_000);
    expect(sentOf(ws, 1)).toHaveLength(6);
  });

  it('rate_limited: each refused message goes again after RetryMs, spaced one RetryMs apart, never failed', () => {
    const t = setup({ sendAttempts: 2 });
    const ws = connected(t);
    const keys = [t.client.send('lobby', 'a'), t.client.send('lobby', 'b'), t.client.send('lobby', 'c')];
    const limited = (key: string) => ({ Type: 5, Code: 'rate_limited', Content: 'too many frames: wait 100 ms', RetryMs: 100, Ref: key });
    for (const key of keys) ws.receive(limited(key));
    // The first after 100 ms, the second after 200, the third after 300: one per token the server's bucket refills.
    expect(t.messages().filter((m) => m.status === 'pending').map((m) => (m.retryAt as number) - t.clock.now())).toEqual([100, 200, 300]);
    t.clock.advance(100);
    expect(sentOf(ws, 1).map((f) => f.Content)).toEqual(['a', 'b', 'c', 'a']);
    ws.receive(limited(keys[0]));
    t.clock.advance(100);
    expect(sentOf(ws, 1).map((f) => f.Content)).toEqual(['a', 'b', 'c', 'a', 'b']);
    // Refused more often than sendAttempts, and never failed: it is only slowed.
    t.clock.advance(1_000);
    expect(sentOf(ws, 1).map((f) => f.Content)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    expect(t.messages().map((m) => m.status)).not.toContain('failed');
    for (const [i, key] of keys.entries()) ws.receive({ Type: 12, ID: 'A1', MsgID: `m${i}`, Room: 'lobby', Seq: i + 1, Epoch: E, Key: key, Ref: key });
    expect(t.messages().filter((m) => m.status === 'delivered').map((m) => m.key)).toEqual(keys);
  });

  it('is bounded: past outboxMax a new message fails at once (outbox_full); the queued ones go in order', () => {
    const t = setup({ outboxMax: 2 });
    const [a, b, c] = [t.client.send('lobby', 'a'), t.client.send('lobby', 'b'), t.client.send('lobby', 'c')];
    expect(t.messages().map((m) => `${m.key}:${m.status}:${m.code ?? ''}`)).toEqual([`${a}:pending:`, `${b}:pending:`, `${c}:failed:outbox_full`]);
    const ws = connected(t);
    expect(sentOf(ws, 1).map((f) => f.Content)).toEqual(['a', 'b']);
  });

  it('a Direct carries a Key too; a Direct replayed on a resume is shown once', () => {
    const t = setup();
    const ws = connected(t);
    const key = t.client.sendDirect('B1', 'psst');
    expect(sentOf(ws, 11)).toEqual([{ Type: 11, To: 'B1', Content: 'psst', Key: key, Ref: key }]);
    ws.receive({ Type: 12, ID: 'A1', MsgID: 'p2Q', To: 'B1', Key: key, Ref: key });
    expect(t.messages().slice(-1)).toEqual([{ key, status: 'delivered', to: 'B1', content: 'psst', msgId: 'p2Q' }]);
    const dm = { Type: 11, ID: 'B1', Name: 'bob', To: 'A1', Content: 'hey', MsgID: 'd1' };
    ws.receive(dm).receive(dm);
    expect(t.of('direct')).toHaveLength(1);
  });
});

describe('client library: resuming', () => {
  it('reconnects after the backoff with ?resume=TOKEN&since=ROOM:SEQ:EPOCH,… and the name and room', () => {
    const t = setup({ rooms: ['lobby', 'rust'] });
    const ws1 = connected(t, 57);
    ws1.receive(joined('rust', 3, { Epoch: E2, Ref: 1 }));
    ws1.drop(1006);
    expect(t.of('link').slice(-1)).toEqual([{ type: 'link', link: { state: 'down', attempt: 1, retryAt: t.clock.now() + 500, code: 1006, reason: 'connection closed' } }]);
    t.clock.advance(499);
    expect(t.fake.sockets).toHaveLength(1);
    t.clock.advance(1);
    expect(t.fake.last().url).toBe(`ws://h/ws?resume=tok-A1&since=lobby:57:${E},rust:3:${E2}&name=alice&room=lobby`);
  });

  it('Recovered: true: the replayed lines, then live ones, with no duplicate', () => {
    const t = setup();
    const ws2 = reconnect(t, connected(t, 57));
    ws2.receive(welcome('A1', { Resumed: true })).receive(joined('lobby', 59, { Recovered: true }));
    ws2.receive(chat(58)).receive(chat(59)).receive(chat(59)).receive(chat(58)).receive(chat(60));
    expect(t.lines()).toEqual([58, 59, 60]);
    expect(t.of('ready').slice(-1)).toEqual([{ type: 'ready', id: 'A1', name: 'alice', rooms: ['lobby'], resumed: true, reconnected: true }]);
    expect(sentOf(ws2, 13)).toEqual([]);
  });

  it('Recovered: false, too_many: History After pages until caught up; live lines meanwhile held, then released in order', () => {
    const t = setup();
    const ws2 = reconnect(t, connected(t, 57));
    ws2.receive(welcome('A1', { Resumed: true })).receive(joined('lobby', 300, { Recovered: false, Reason: 'too_many' }));
    const reads = () => sentOf(ws2, 13);
    expect(reads()).toEqual([{ Type: 13, Room: 'lobby', After: 57, Limit: 100, Ref: 1 }]);
    // The app hears of the Join (members) first, then that it is catching up.
    expect(t.events.slice(-2).map((e) => (e.type === 'frame' ? `frame ${e.frame.Type}` : e.type))).toEqual(['frame 6', 'catchup']);
    ws2.receive(chat(301));
    expect(t.lines()).toEqual([]); // held: 58..300 come first
    ws2.receive(page('lobby', 58, 157, true, 301, 1));
    expect(reads()[1]).toEqual({ Type: 13, Room: 'lobby', After: 157, Limit: 100, Ref: 2 });
    ws2.receive(chat(302));
    ws2.receive(page('lobby', 158, 257, true, 302, 2));
    ws2.receive(page('lobby', 258, 302, false, 302, 3));
    ws2.receive(chat(303));
    expect(t.lines()).toEqual(range(58, 303));
    expect(t.of('catchup')).toEqual([
      { type: 'catchup', room: 'lobby', state: 'started', reason: 'too_many' },
      { type: 'catchup', room: 'lobby', state: 'done', complete: true },
    ]);
    // 58..300 from the pages; 301 and 302 were in the last page too, but their held live copies stood for them.
    expect(t.of('line').filter((e) => e.via === 'live').map((e) => e.frame.Seq)).toEqual([301, 302, 303]);
    expect(t.of('gap')).toEqual([]);
  });

  it('a catch-up cut by a drop is said to be incomplete, and resumes from the last Seq the app has', () => {
    const t = setup();
    const ws2 = reconnect(t, connected(t, 57));
    ws2.receive(welcome('A1', { Resumed: true, Token: 'tok-2' })).receive(joined('lobby', 300, { Recovered: false, Reason: 'too_many' }));
    ws2.receive(chat(301));
    ws2.receive(page('lobby', 58, 157, true, 301, 1));
    ws2.drop(1006);
    expect(t.of('catchup').slice(-1)).toEqual([{ type: 'catchup', room: 'lobby', state: 'done', complete: false }]);
    t.clock.advance(1000);
    // 301 was held, not delivered: the position is 157, and the resume asks from there.
    expect(t.fake.last().url).toBe(`ws://h/ws?resume=tok-2&since=lobby:157:${E}&name=alice&room=lobby`);
  });

  it('Recovered: false, trimmed: reads what is left and tells the app which lines are lost', () => {
    const t = setup();
    const ws2 = reconnect(t, connected(t, 57));
    ws2.receive(welcome('A1', { Resumed: true })).receive(joined('lobby', 90, { Recovered: false, Reason: 'trimmed' }));
    ws2.receive({ ...page('lobby', 80, 90, false, 90, 1), First: 80 });
    expect(t.of('gap')).toEqual([{ type: 'gap', room: 'lobby', after: 57, before: 80 }]);
    expect(t.lines()).toEqual(range(80, 90));
  });

  it('epoch_changed: tells the app the room was reset and carries on from the new position', () => {
    const t = setup();
    const ws2 = reconnect(t, connected(t, 57));
    ws2.receive(welcome('A1', { Resumed: true })).receive(joined('lobby', 4, { Epoch: 'NEW', Recovered: false, Reason: 'epoch_changed' }));
    expect(t.of('reset')).toEqual([{ type: 'reset', room: 'lobby', reason: 'epoch_changed', seq: 4, epoch: 'NEW' }]);
    expect(sentOf(ws2, 13)).toEqual([]);
    ws2.receive(chat(5, 'lobby', 'NEW'));
    expect(t.lines()).toEqual([5]);
    expect(t.client.position('lobby')).toEqual({ room: 'lobby', seq: 5, epoch: 'NEW' });
  });

  it('resume_failed: a new identity, told to the app; rejoins its rooms and catches each up from its Seq', () => {
    const t = setup({ rooms: ['lobby', 'rust'] });
    const ws1 = connected(t, 57);
    ws1.receive(joined('rust', 3, { Ref: 1 }));
    const key = t.client.send('rust', 'still here?');
    const ws2 = reconnect(t, ws1);
    ws2.receive({ Type: 5, Code: 'resume_failed', Content: 'unknown token' });
    ws2.receive(welcome('N9')).receive({ ...joined('lobby', 70), ID: 'N9' });
    expect(t.of('ready').slice(-1)).toEqual([{ type: 'ready', id: 'N9', name: 'alice', rooms: ['lobby', 'rust'], resumed: false, reconnected: true, previousId: 'A1' }]);
    // Back into rust first, then the outbox, on the same socket: the server takes them in that order.
    expect(ws2.frames.map((f) => `${f.Type}:${f.Room}`)).toEqual(['6:rust', '1:rust', '13:lobby']);
    expect(sentOf(ws2, 1)[0]).toMatchObject({ Key: key });
    expect(sentOf(ws2, 13)).toEqual([{ Type: 13, Room: 'lobby', After: 57, Limit: 100, Ref: 3 }]);
    ws2.receive({ ...joined('rust', 5), ID: 'N9', Ref: 2 });
    expect(sentOf(ws2, 13)[1]).toEqual({ Type: 13, Room: 'rust', After: 3, Limit: 100, Ref: 4 });
    ws2.receive(page('lobby', 58, 70, false, 70, 3)).receive(page('rust', 4, 5, false, 5, 4));
    expect(t.lines('lobby')).toEqual(range(58, 70));
    expect(t.lines('rust')).toEqual([4, 5]);
    expect(t.of('frame').some((e) => e.frame.Code === 'resume_failed')).toBe(false);
  });

  it('a catch-up answer for a room left meanwhile does not bring the room back', () => {
    const t = setup({ rooms: ['lobby', 'rust'] });
    const ws = connected(t, 41);
    ws.receive(joined('rust', 3, { Ref: 1 }));
    ws.receive(chat(6, 'rust')); // a gap: History After 3 goes out
    expect(sentOf(ws, 13)).toEqual([{ Type: 13, Room: 'rust', After: 3, Limit: 100, Ref: 2 }]);
    ws.receive({ Type: 7, ID: 'A1', Room: 'rust' });
    ws.receive(page('rust', 4, 6, false, 6, 2));
    expect(t.client.rooms).toEqual(['lobby']);
    expect(t.lines('rust')).toEqual([]);
  });

  it('a gap in live lines is filled from History, in order', () => {
    const t = setup();
    const ws = connected(t, 41);
    ws.receive(chat(42)).receive(chat(45)).receive(chat(46));
    expect(t.lines()).toEqual([42]);
    expect(sentOf(ws, 13)).toEqual([{ Type: 13, Room: 'lobby', After: 42, Limit: 100, Ref: 1 }]);
    ws.receive(page('lobby', 43, 46, false, 46, 1));
    expect(t.lines()).toEqual([42, 43, 44, 45, 46]);
  });
});

describe('client library: the link', () => {
  it('notices a dead link: a HeartBeat with no answer in deadMs, then reconnects', () => {
    const t = setup({ pingMs: 25_000, deadMs: 10_000 });
    const ws = connected(t);
    t.clock.advance(25_000);
    expect(sentOf(ws, 2)).toEqual([{ Type: 2 }]);
    t.clock.advance(9_999);
    expect(ws.closedWith).toBeUndefined();
    t.clock.advance(1);
    expect(ws.closedWith).toEqual({ code: 4000, reason: 'no answer to a heartbeat' });
    expect(t.of('link').slice(-1)).toEqual([expect.objectContaining({ link: expect.objectContaining({ state: 'down', reason: 'no answer to a heartbeat' }) })]);
    ws.drop(1006); // the old socket's late close is ignored: one retry, not two
    t.clock.advance(500);
    expect(t.fake.sockets).toHaveLength(2);
  });

  it('any frame after the HeartBeat shows the link alive', () => {
    const t = setup({ pingMs: 25_000, deadMs: 10_000 });
    const ws = connected(t);
    t.clock.advance(25_000);
    t.clock.advance(5_000);
    ws.receive({ Type: 2 });
    t.clock.advance(10_000);
    expect(ws.closedWith).toBeUndefined();
    expect(t.client.ready).toBe(true);
  });

  it('after a policy close it holds (no retry) until reconnect(); whenReady says why', async () => {
    const t = setup();
    connected(t).drop(1008, 'bad name');
    expect(t.of('link').slice(-1)).toEqual([{ type: 'link', link: { state: 'held', code: 1008, reason: 'bad name' } }]);
    t.clock.advance(60_000);
    expect(t.fake.sockets).toHaveLength(1);
    await expect(t.client.whenReady(1000)).rejects.toMatchObject({ code: 'held' });
    t.client.reconnect();
    expect(t.fake.sockets).toHaveLength(2);
  });

  it('close() ends the socket and leaves no timer behind', () => {
    const t = setup();
    const ws = connected(t);
    void t.client.history('lobby').catch(() => undefined);
    expect(t.clock.pending).toBeGreaterThan(0);
    t.client.close();
    expect(ws.closedWith).toEqual({ code: 1000, reason: 'bye' });
    expect(t.clock.pending).toBe(0);
    expect(ws.onmessage).toBeNull();
  });
});

describe('client library: history', () => {
  it('history() asks one page, matched by its Ref', async () => {
    const t = setup();
    const ws = connected(t);
    const p = t.client.history('lobby', { before: 42, limit: 2 });
    expect(sentOf(ws, 13)).toEqual([{ Type: 13, Room: 'lobby', Limit: 2, Before: 42, Ref: 1 }]);
    ws.receive({ ...page('lobby', 40, 41, true, 57, 99) }); // not ours: ignored
    ws.receive({ ...page('lobby', 40, 41, true, 57, 1) });
    await expect(p).resolves.toEqual({
      room: 'lobby', more: true, seq: 57, first: 1, epoch: E, messages: [expect.objectContaining({ Seq: 40 }), expect.objectContaining({ Seq: 41 })],
    });
    // A History page is for the one who asked, not a stream of lines.
    expect(t.lines()).toEqual([]);
  });

  it('recent(n) pages back with Before, at most 100 a page, and returns the lines oldest first', async () => {
    const t = setup();
    const ws = connected(t, 400);
    const lines = t.client.recent('lobby', 150);
    ws.receive(page('lobby', 301, 400, true, 400, 1));
    await Promise.resolve();
    await Promise.resolve();
    expect(sentOf(ws, 13)).toEqual([
      { Type: 13, Room: 'lobby', Limit: 100, Ref: 1 },
      { Type: 13, Room: 'lobby', Limit: 50, Before: 301, Ref: 2 },
    ]);
    ws.receive(page('lobby', 251, 300, true, 400, 2));
    expect((await lines).map((f) => f.Seq)).toEqual(range(251, 400));
  });

  it('is bounded: no answer within requestTimeoutMs rejects; offline rejects at once', async () => {
    const t = setup({ requestTimeoutMs: 5000 });
    await expect(t.client.history('lobby')).rejects.toMatchObject({ code: 'not_connected' });
    connected(t);
    const p = t.client.history('lobby');
    t.clock.advance(5000);
    await expect(p).rejects.toMatchObject({ code: 'timeout' });
  });

  it('an Error with its Ref refuses it', async () => {
    const t = setup();
    const ws = connected(t);
    const p = t.client.history('rust');
    ws.receive({ Type: 5, Code: 'not_member', Content: 'you are not in room "rust"', Ref: 1 });
    await expect(p).rejects.toMatchObject({ code: 'not_member', message: 'you are not in room "rust"' });
  });
});

describe('client library: for the app', () => {
  it('onSeq reports every Seq the app gets, its own acked lines included, in order (bots\' --verify)', () => {
    const seqs: string[] = [];
    const t = setup({ onSeq: (e) => seqs.push(`${e.room}:${e.seq}${e.own ? ' own' : ''}`) });
    const ws = connected(t, 41);
    const key = t.client.send('lobby', 'mine');
    ws.receive(chat(42)).receive({ Type: 12, ID: 'A1', MsgID: 'x', Room: 'lobby', Seq: 43, Epoch: E, Key: key, Ref: key }).receive(chat(44));
    expect(seqs).toEqual(['lobby:42', 'lobby:43 own', 'lobby:44']);
  });

  it('a listener that throws does not stop the client or the other listeners', () => {
    const errors: unknown[] = [];
    const t = setup({ onListenerError: (e) => errors.push(e) });
    t.client.on('line', () => { throw new Error('bug in the view'); });
    const ws = connected(t, 41);
    ws.receive(chat(42)).receive(chat(43));
    expect(t.lines()).toEqual([42, 43]);
    expect(errors).toHaveLength(2);
  });

  it('on() listens to one kind and can stop', () => {
    const t = setup();
    const got: number[] = [];
    const stop = t.client.on('line', (e) => got.push(e.frame.Seq as number));
    const ws = connected(t, 41);
    ws.receive(chat(42));
    stop();
    ws.receive(chat(43));
    expect(got).toEqual([42]);
  });

  it('a session kept by the app (a reloaded page) resumes on the first connection', () => {
    const t = setup({ restore: { token: 'tok-old', id: 'A1', positions: [{ room: 'lobby', seq: 57, epoch: E }] } });
    t.client.start();
    expect(t.fake.last().url).toBe(`ws://h/ws?resume=tok-old&since=lobby:57:${E}&name=alice&room=lobby`);
  });
});
