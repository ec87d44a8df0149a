// TCP backpressure against real sockets (protocol.md, "Closing"): the server stops
// reading a client that leaves its answers unread, answers everyone else
// meanwhile, reads the client again once it has taken them, and never queues one
// client more than HARD_FACTOR × --max-buffered and one message, however much one
// turn of the event loop produces for it. The server runs in this process, so the
// spec watches its side of each socket (WebSocket.prototype, server sockets only)
// rather than guess from a client: loopback's kernel buffers hide megabytes.
import net from 'node:net';
import WebSocket from 'ws';
import { ChatServer, startServer } from '../src/edge/server';
import { wholeTextPayload } from './support/frames';
import { HARD_FACTOR } from '../src/edge/runner';
import { Close, Limits, Message } from '../src/core/protocol';
import { TestClient } from './support/client';
import { BURSTS } from './support/limits';

/** What the server did with its side of one client's socket. */
interface Watch {
  /** Frames it queued, and History pages among them. */
  frames: number;
  pages: number;
  /** The client's frames that reached the hub (read while open). */
  read: number;
  /** The largest backlog (bufferedAmount) right after a frame was queued. */
  maxBacklog: number;
  paused: number;
  resumed: number;
}

let server: ChatServer;
const clients: TestClient[] = [];
// By client ID, from the welcome (the first frame on every server socket here).
const watches = new Map<string, Watch>();
const bySocket = new WeakMap<WebSocket, Watch>();
const waiters = new Set<() => void>();
const restore: Array<() => void> = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await server?.close(500);
  for (const undo of restore.splice(0)) undo();
  watches.clear();
});

const isServerSide = (ws: WebSocket) => (ws as unknown as { _isServer: boolean })._isServer;

/** The watch of a server socket; made at its first frame, the welcome, which names the client. */
function watchOf(ws: WebSocket, firstFrame?: unknown): Watch | undefined {
  const known = bySocket.get(ws);
  if (known || !Buffer.isBuffer(firstFrame)) return known;
  const w: Watch = { frames: 0, pages: 0, read: 0, maxBacklog: 0, paused: 0, resumed: 0 };
  bySocket.set(ws, w);
  watches.set((JSON.parse(firstFrame.toString()) as Message).ID, w);
  ws.on('message', () => {
    if (ws.readyState === WebSocket.OPEN) w.read++;
  });
  return w;
}

/** Wraps a WebSocket method to report on server sockets, and wakes `until`; undone after each spec. */
function tap(name: 'pause' | 'resume', report: (w: Watch, ws: WebSocket, args: unknown[]) => void): void {
  type Method = (this: WebSocket, ...args: unknown[]) => unknown;
  const proto = WebSocket.prototype as unknown as Record<string, Method>;
  const original = proto[name];
  proto[name] = function (this: WebSocket, ...args: unknown[]) {
    const result = original.apply(this, args);
    const w = isServerSide(this) ? watchOf(this) : undefined;
    if (w) {
      report(w, this, args);
      for (const wake of [...waiters]) wake();
    }
    return result;
  };
  restore.push(() => { proto[name] = original; });
}

/** The WebSocket over a net.Socket: ws keeps it under its own symbol (ws/lib/constants.js kWebSocket). */
function wsOf(socket: net.Socket): WebSocket | undefined {
  const k = Object.getOwnPropertySymbols(socket).find((sym) => sym.description === 'websocket');
  return k === undefined ? undefined : (socket as unknown as Record<symbol, WebSocket>)[k];
}

/**
 * The runner writes each message as one whole text frame (src/edge/frame.ts) to the socket under the
 * WebSocket: the spec taps net.Socket's write and counts those on server sockets, by their payload.
 */
function tapFrames(report: (w: Watch, ws: WebSocket, payload: Buffer) => void): void {
  const proto = net.Socket.prototype as unknown as { write: (...args: unknown[]) => boolean };
  const had = Object.prototype.hasOwnProperty.call(proto, 'write');
  const original = proto.write;
  proto.write = function (this: net.Socket, ...args: unknown[]) {
    const result = original.apply(this, args);
    const ws = wsOf(this);
    const payload = ws && isServerSide(ws) ? wholeTextPayload(args[0]) : undefined;
    if (ws && payload) {
      const w = watchOf(ws, payload);
      if (w) {
        report(w, ws, payload);
        for (const wake of [...waiters]) wake();
      }
    }
    return result;
  };
  restore.push(() => {
    if (had) proto.write = original;
    else delete (proto as { write?: unknown }).write;
  });
}

function watchServer(): void {
  tapFrames((w, ws, payload) => {
    w.frames++;
    if (payload.includes('"Type":13,')) w.pages++;
    w.maxBacklog = Math.max(w.maxBacklog, ws.bufferedAmount);
  });
  tap('pause', (w) => { w.paused++; });
  tap('resume', (w) => { w.resumed++; });
}

/** Resolves once ok() holds, looked at whenever the server queues, pauses or resumes; fails after ms. */
function until(ok: () => boolean, what: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`${what}: not within ${ms} ms`));
    }, ms);
    const check = () => {
      if (!ok()) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve();
    };
    waiters.add(check);
    check();
  });
}

async function join(name: string, room: string): Promise<TestClient> {
  const c = await TestClient.connect(server.url, { name, room });
  clients.push(c);
  return c;
}

function watchFor(c: TestClient): Watch {
  const w = watches.get(c.id);
  if (!w) throw new Error(`no server socket seen for ${c.id}`);
  return w;
}

/** Stops or starts a client reading its socket: stopped, its kernel buffers fill, then the server's send buffer. */
function reading(c: TestClient, on: boolean): void {
  const socket = (c.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  if (on) socket.resume();
  else socket.pause();
}

const LINE = 'x'.repeat(Limits.maxContent);

/** `n` chat lines of the largest size into `room`, all acked (so all in the log); the highest Seq. */
async function say(writer: TestClient, room: string, n: number): Promise<number> {
  const acks = await Promise.all(Array.from({ length: n }, () => writer.request({ Type: 1, Room: room, Content: LINE }, 12)));
  expect(acks.map((a) => a.Type)).toEqual(acks.map(() => 12));
  return Math.max(...acks.map((a) => a.Seq as number));
}

describe('backpressure (protocol.md, "Closing")', () => {
  it('stops reading a client that asks for History and never reads, answers a bystander meanwhile, and reads it again once it reads', async () => {
    const MAX = 1024 * 1024;
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'error', maxBuffered: MAX, ...BURSTS });
    watchServer();
    const writer = await join('writer', 'big');
    await say(writer, 'big', 50);
    const bystander = await join('bystander', 'big');
    const hog = await join('hog', 'big');
    const w = watchFor(hog);
    reading(hog, false);
    // Pages of 50 lines (about 210 KB) asked for in frames padded with spaces (JSON
    // allows them) to 60 KB, so that the server reads them over many turns rather
    // than all at once: 1200 of them, 72 MB. The 36 that may wait are read one per
    // turn (7.5 MB in all: past --max-buffered and the kernel's buffers, under the
    // hard bound), and the rest are refused as they come, until it is held.
    const N = 1200;
    const ask = JSON.stringify({ Type: 13, Room: 'big', Limit: 50 }).padEnd(60_000, ' ');
    for (let i = 0; i < N; i++) hog.ws.send(ask);
    await until(() => w.paused > 0, 'the server stops reading the hog');
    const readWhenHeld = w.read;

    // Everyone else is answered as before: a chat line (which the hog is sent too) and History.
    expect((await bystander.request({ Type: 1, Room: 'big', Content: 'still here' }, 12)).Type).toBe(12);
    for (let i = 0; i < 5; i++) expect((await bystander.request({ Type: 13, Room: 'big', Limit: 1 }, 13)).Type).toBe(13);
    // Nothing more of the hog's reached the hub (a read under way carries at most one more of its frames).
    expect(w.read).toBeLessThanOrEqual(readWhenHeld + 1);
    // Its pages are read one per turn (protocol.md "History"), so it takes some
    // turns to fall behind, while the frames read meanwhile past the 36 waiting
    // are refused at once: held before the last.
    expect(w.read).toBeLessThan(N);
    expect(w.maxBacklog).toBeLessThanOrEqual(HARD_FACTOR * MAX + 64 * 1024);
    expect(hog.closeCode).toBeUndefined();
    expect(server.state().clients.has(hog.id)).toBe(true);

    // It reads: once it has taken its backlog, the server reads it again.
    reading(hog, true);
    await until(() => w.resumed > 0 && w.read > readWhenHeld + 1, 'the server reads the hog again');
  });

  it(`drops a client with 4008 rather than queue it more than ${HARD_FACTOR} × --max-buffered in one turn (a burst of History pages)`, async () => {
    const MAX = 64 * 1024;
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'error', maxBuffered: MAX, ...BURSTS });
    watchServer();
    const writer = await join('writer', 'big');
    await say(writer, 'big', 100);
    const hog = await join('hog', 'big');
    const w = watchFor(hog);
    reading(hog, false);
    // As many pages of 100 lines (about 420 KB each) as a client may wait for: read
    // one per turn, 15 MB if all were queued; the hard bound stops them short.
    for (let i = 0; i < Limits.maxHistoryInFlight; i++) hog.send({ Type: 13, Room: 'big', Limit: 100 });
    const gone = await writer.next((m) => m.Type === 4 && m.ID === hog.id, 5000);
    expect(gone.Reason).toBe('slow');
    expect(w.maxBacklog).toBeGreaterThan(HARD_FACTOR * MAX);
    expect(w.maxBacklog).toBeLessThanOrEqual(HARD_FACTOR * MAX + 450 * 1024);
    expect(w.pages).toBeLessThan(Limits.maxHistoryInFlight);
    reading(hog, true);
    expect(await hog.closed(5000)).toBe(Close.SlowConsumer);
  });

  it('keeps a reader that falls behind and catches up, then reads slowly: held, read again, never dropped, every line once and in order', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'error', maxBuffered: 64 * 1024, ...BURSTS });
    watchServer();
    const writer = await join('writer', 'flow');
    const reader = await join('reader', 'flow');
    const w = watchFor(reader);

    // It stops reading until the server, its lines backed up, stops reading it.
    reading(reader, false);
    let last = 0;
    for (let i = 0; i < 300 && w.paused === 0; i++) last = await say(writer, 'flow', 10);
    expect(w.paused).toBeGreaterThan(0);
    // What it asks now waits unread, and is answered once it has caught up.
    const answer = reader.request({ Type: 13, Room: 'flow', Limit: 1 }, 13);
    reading(reader, true);
    expect((await answer).Type).toBe(13);
    expect(w.resumed).toBeGreaterThan(0);

    // Then it reads slowly, a pause of 20 ms after every 50 lines, while 200 more come.
    let lines = 0;
    reader.ws.on('message', (data: Buffer) => {
      if (!data.includes('"Type":1,') || ++lines % 50 !== 0) return;
      reading(reader, false);
      setTimeout(() => reading(reader, true), 20);
    });
    for (let i = 0; i < 20; i++) last = await say(writer, 'flow', 10);
    await reader.next((m) => m.Type === 1 && m.Seq === last, 10_000);
    expect(reader.closeCode).toBeUndefined();
    expect(server.state().clients.has(reader.id)).toBe(true);
    const seqs = reader.frames.filter((m) => m.Type === 1).map((m) => m.Seq as number);
    expect(seqs).toEqual(Array.from({ length: last - 1 }, (_, i) => i + 1));
  });
});
