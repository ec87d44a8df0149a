// The slow-reader bound (protocol.md, "Closing", 4008) against real sockets: a
// burst that produces more than --max-buffered in one turn of the event loop must
// not drop readers that read promptly; a reader that stops reading still goes
// (here at 8 × --max-buffered, before the 5 s a reader may stay behind).
import WebSocket from 'ws';
import { ChatServer, startServer } from '../src/edge/server';
import { Close, Limits } from '../src/core/protocol';
import { BURSTS } from './support/limits';

let server: ChatServer;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await server?.close(500);
});

/** A member that reads every frame as it comes and counts the chat lines (Type 1). */
interface Reader {
  ws: WebSocket;
  lines: number;
  closeCode?: number;
}

async function member(name: string): Promise<Reader> {
  const ws = new WebSocket(`${server.url}?name=${name}&room=burst`);
  sockets.push(ws);
  const r: Reader = { ws, lines: 0 };
  ws.on('message', (data) => {
    // Cheap: a chat line is the only frame with "Type":1 in it here.
    if ((data as Buffer).includes('"Type":1,')) r.lines++;
  });
  ws.on('close', (code) => { r.closeCode = code; });
  ws.on('error', () => undefined);
  // Joined once our own Join reply (Type 6) is in.
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name}: no Join within 3 s`)), 3000);
    const onJoin = (data: Buffer) => {
      if (data.includes('"Type":6,')) {
        clearTimeout(t);
        ws.off('message', onJoin);
        resolve();
      }
    };
    ws.on('message', onJoin);
  });
  return r;
}

/** Waits until every reader has `expected` lines or one is closed; bounded. */
async function settle(readers: Reader[], expected: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (readers.some((r) => r.closeCode !== undefined)) return;
    if (readers.every((r) => r.lines >= expected)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const line = JSON.stringify({ Type: 1, Content: 'x'.repeat(Limits.maxContent) });

describe('slow readers (protocol.md, 4008)', () => {
  it('keeps prompt readers through a burst of 30 members × 20 lines of 4000 characters at once', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'error', ...BURSTS });
    const readers: Reader[] = [];
    for (let i = 0; i < 30; i++) readers.push(await member(`m${i}`));
    // Every member sends its 20 lines in the same moment: 2.4 MB in, 70 MB out.
    for (let k = 0; k < 20; k++) for (const r of readers) r.ws.send(line);
    await settle(readers, 29 * 20, 20_000);
    expect(readers.map((r) => r.closeCode).filter((c) => c !== undefined)).toEqual([]);
    expect(readers.map((r) => r.lines)).toEqual(readers.map(() => 29 * 20));
  });

  it('with --max-buffered 65536, keeps readers when one turn produces more than the limit for each', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'error', maxBuffered: 65536, ...BURSTS });
    const readers: Reader[] = [];
    for (let i = 0; i < 5; i++) readers.push(await member(`m${i}`));
    // 30 lines from one sender in one TCP write: the server reads them in one or
    // two turns, 120 KB for each reader, more than the limit.
    const socket = (readers[0].ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    socket.cork();
    for (let k = 0; k < 30; k++) readers[0].ws.send(line);
    socket.uncork();
    await settle(readers.slice(1), 30, 10_000);
    expect(readers.map((r) => r.closeCode).filter((c) => c !== undefined)).toEqual([]);
    expect(readers.slice(1).map((r) => r.lines)).toEqual([30, 30, 30, 30]);
  });

  it('still drops a reader that stops reading, at the hard bound', async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'error', maxBuffered: 65536, ...BURSTS });
    const sender = await member('sender');
    const stalled = await member('stalled');
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    for (let i = 0; i < 5_000 && stalled.closeCode === undefined; i++) {
      sender.ws.send(line);
      // Let the server turn over every 100 lines, so the backlog builds across turns.
      if (i % 100 === 99) await new Promise((r) => setImmediate(r));
      if (server.state().clients.size < 2) break;
    }
    expect(server.state().clients.size).toBe(1);
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await new Promise<void>((resolve) => (stalled.closeCode !== undefined ? resolve() : stalled.ws.once('close', () => resolve())));
    expect(stalled.closeCode).toBe(Close.SlowConsumer);
  });
});
