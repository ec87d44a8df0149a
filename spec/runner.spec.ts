// The runner's slow-reader rule (protocol.md, "Closing", 4008) with fake sockets and
// an injected clock: behind means over --max-buffered at a turn's first write; a
// reader is dropped when it stays behind for longer than slowMs, or at once when it
// is HARD_FACTOR times over, however much of that one turn queued. A reader that
// is behind is not read (TCP backpressure) until its socket has written it out.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { HARD_FACTOR, Runner } from '../src/edge/runner';
import { encodeFrame } from '../src/edge/frame';
import { keptFrameOptions } from '../bench/servers/frame-options';
import { broadcast, close, rebind, send } from '../src/core/events';
import * as M from '../src/core/messages';

const LIMIT = 1000;

/** A socket as the runner sees it: open, with a backlog the spec sets; its stream never corks, so every write is checked. */
function fakeSocket() {
  const ws = {
    readyState: WebSocket.OPEN as number,
    bufferedAmount: 0,
    sent: 0,
    closedWith: undefined as number | undefined,
    _socket: {
      writableCorked: 0,
      cork() {},
      uncork() {},
      write() { ws.sent++; },
    },
    close(code: number) { this.closedWith = code; this.readyState = WebSocket.CLOSING; },
    once() { return this; },
    resume() {},
  };
  return ws;
}

function setup() {
  let clock = 0;
  const dropped: string[] = [];
  const runner = new Runner({
    maxBuffered: LIMIT, slowMs: 5000, now: () => clock, log: () => undefined, onDropped: (id) => dropped.push(id),
  });
  const ws = fakeSocket();
  runner.register({ id: 'r', ws: ws as unknown as WebSocket });
  const line = () => runner.run([send('r', M.notice('x', 0))]);
  return { ws, dropped, line, advance: (ms: number) => { clock += ms; } };
}

describe('Runner: slow readers', () => {
  it('keeps a reader that is behind for less than slowMs, and forgets it once it catches up', () => {
    const { ws, dropped, line, advance } = setup();
    ws.bufferedAmount = LIMIT + 1;
    line();
    advance(4000);
    line();
    ws.bufferedAmount = 10;
    line();
    ws.bufferedAmount = LIMIT + 1;
    advance(4000);
    line();
    advance(4000);
    line();
    expect(dropped).toEqual([]);
    expect(ws.sent).toBe(5);
  });

  it('drops a reader that stays behind for longer than slowMs with 4008, and sends it nothing more', () => {
    const { ws, dropped, line, advance } = setup();
    ws.bufferedAmount = LIMIT + 1;
    line();
    advance(5001);
    line();
    line();
    expect(dropped).toEqual(['r']);
    expect(ws.closedWith).toBe(4008);
    expect(ws.sent).toBe(1);
  });

  it(`drops a reader at once when its backlog passes ${HARD_FACTOR} times the limit`, () => {
    const { ws, dropped, line } = setup();
    ws.bufferedAmount = HARD_FACTOR * LIMIT + 1;
    line();
    expect(dropped).toEqual(['r']);
    expect(ws.sent).toBe(0);
  });
});

/** Node's Writable sets writableNeedDrain when a write takes its buffer to this (16 KiB on a net.Socket; small here). */
const HWM = 100;

/** A net.Socket as the runner and ws use it: corks, a send buffer the peer empties when the spec says, and 'drain' as Node emits it. */
class FakeStream extends EventEmitter {
  writableCorked = 0;
  writableLength = 0;
  writableNeedDrain = false;

  /** Frames the runner wrote (whole, frame.ts). */
  frames = 0;

  cork(): void { this.writableCorked++; }
  uncork(): void { this.writableCorked--; }
  write(frame: Buffer): void { this.frames++; this.queue(frame.length); }

  /** A frame ws writes: nothing leaves until the peer takes it. */
  queue(bytes: number): void {
    this.writableLength += bytes;
    if (this.writableLength >= HWM) this.writableNeedDrain = true;
  }

  /** The peer reads `bytes` (all by default); a buffer emptied after reaching the mark emits 'drain'. */
  take(bytes = this.writableLength): void {
    this.writableLength -= bytes;
    if (this.writableLength === 0 && this.writableNeedDrain) {
      this.writableNeedDrain = false;
      this.emit('drain');
    }
  }
}

/** A ws WebSocket over a FakeStream, counting how often the runner looks at its backlog. */
function streamSocket() {
  const stream = new FakeStream();
  const ws = {
    _socket: stream,
    readyState: WebSocket.OPEN as number,
    isPaused: false,
    get sent(): number { return stream.frames; },
    looks: 0,
    closedWith: undefined as number | undefined,
    get bufferedAmount(): number {
      this.looks++;
      return stream.writableLength;
    },
    pause() { this.isPaused = true; },
    resume() { this.isPaused = false; },
    close(code: number) { this.closedWith = code; this.readyState = WebSocket.CLOSING; },
    once() { return this; },
  };
  return { ws, stream };
}

function setupStream() {
  const dropped: string[] = [];
  const runner = new Runner({ maxBuffered: LIMIT, now: () => 0, log: () => undefined, onDropped: (id) => dropped.push(id) });
  const { ws, stream } = streamSocket();
  runner.register({ id: 'r', ws: ws as unknown as WebSocket });
  /** A frame of about `chars` bytes to `to`. */
  const say = (chars: number, to = 'r') => runner.run([send(to, M.notice('x'.repeat(chars), 0))]);
  return { runner, ws, stream, dropped, say };
}

/** Resolves once this turn of the event loop is over: the runner's uncork (setImmediate, scheduled earlier) has run. */
const turnOver = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Runner: backpressure', () => {
  it("stops reading a reader found behind at a turn's first write, and reads it again once its socket has written the backlog out", () => {
    const { ws, stream, dropped, say } = setupStream();
    stream.queue(LIMIT + 1);
    say(10);
    expect(ws.isPaused).toBe(true);
    expect(ws.sent).toBe(1);
    stream.take();
    expect(ws.isPaused).toBe(false);
    expect(stream.listenerCount('drain')).toBe(0);
    expect(dropped).toEqual([]);
  });

  it('stops reading a reader that a turn left behind, and reads it again when a later turn leaves it under the limit', async () => {
    const { ws, stream, say } = setupStream();
    // Over the limit, but all of it this turn's: nothing is said about the reader yet.
    say(600);
    say(600);
    expect(ws.isPaused).toBe(false);
    await turnOver();
    // Uncorked, and the peer took none of it: behind.
    expect(ws.isPaused).toBe(true);
    // It reads most, not all (no 'drain'); the next turn leaves it under the limit.
    stream.take(stream.writableLength - 100);
    say(10);
    await turnOver();
    expect(ws.isPaused).toBe(false);
    expect(stream.listenerCount('drain')).toBe(0);
  });

  it('does not hold a reader when no drain would come (a backlog under the socket\'s high-water mark)', () => {
    const { ws, stream, say } = setupStream();
    stream.writableLength = LIMIT + 1;
    say(10);
    expect(ws.isPaused).toBe(false);
  });

  it('leaves a held reader unread once shutdown has stopped reading, but a close reads it again for the peer\'s close frame', async () => {
    const { runner, ws, stream, say } = setupStream();
    stream.queue(LIMIT + 1);
    say(10);
    expect(ws.isPaused).toBe(true);
    runner.pauseReading();
    stream.take();
    expect(ws.isPaused).toBe(true);
    runner.run([close('r', 1001, 'server shutting down')]);
    expect(ws.closedWith).toBe(1001);
    expect(ws.isPaused).toBe(false);
    await turnOver();
    expect(ws.isPaused).toBe(false);
  });

  it(`drops a reader with 4008 once one turn has queued it past ${HARD_FACTOR} times the limit, and queues nothing more`, async () => {
    const { ws, stream, dropped, say } = setupStream();
    const size = encodeFrame(M.notice('x'.repeat(900), 0)).length;
    for (let i = 0; i < 20; i++) say(900);
    expect(dropped).toEqual(['r']);
    expect(ws.closedWith).toBe(4008);
    expect(stream.writableLength).toBeGreaterThan(HARD_FACTOR * LIMIT);
    expect(stream.writableLength).toBeLessThanOrEqual(HARD_FACTOR * LIMIT + size);
    // Closing, it is never held: it reads on, for the peer's close frame.
    await turnOver();
    expect(ws.isPaused).toBe(false);
  });

  it(`looks at each socket's backlog once a turn, at its first write, until the turn has queued ${HARD_FACTOR - 1} times the limit`, () => {
    const runner = new Runner({ maxBuffered: LIMIT, log: () => undefined, onDropped: () => undefined });
    const members = Array.from({ length: 10 }, (_, i) => {
      const s = streamSocket();
      runner.register({ id: `m${i}`, ws: s.ws as unknown as WebSocket });
      return s.ws;
    });
    const to = members.map((_, i) => `m${i}`);
    // 10 readers × 5 frames of 46 bytes (a 44-byte payload and its 2-byte header): 2.3 KB in the turn.
    for (let k = 0; k < 5; k++) runner.run([broadcast(to, M.notice('hi', 0))]);
    expect(members.map((ws) => ws.sent)).toEqual(to.map(() => 5));
    expect(members.map((ws) => ws.looks)).toEqual(to.map(() => 1));
    // Past 7 KB in the turn (in the sixteenth broadcast), each write looks.
    for (let k = 0; k < 10; k++) runner.run([broadcast(to, M.notice('hi', 0))]);
    expect(members.map((ws) => ws.looks)).toEqual(to.map(() => 1));
    runner.run([broadcast(to, M.notice('hi', 0))]);
    // 6,900 bytes before it: its first two recipients (6,992) are under, the third (7,038) is past.
    expect(members.map((ws) => ws.looks)).toEqual(to.map((_, i) => (i < 2 ? 1 : 2)));
  });

  it('reads a held reader again on its drain after it took another identity (a resume), and drops it under the new ID', () => {
    const { runner, ws, stream, dropped, say } = setupStream();
    stream.queue(LIMIT + 1);
    say(10);
    expect(ws.isPaused).toBe(true);
    runner.run([rebind('r', 'q')]);
    stream.take();
    expect(ws.isPaused).toBe(false);
    stream.queue(HARD_FACTOR * LIMIT + 1);
    say(10, 'q');
    expect(dropped).toEqual(['q']);
    expect(ws.closedWith).toBe(4008);
  });
});

describe('Runner: identities', () => {
  it('renames the seat a rebind names, which the connection stream names its events with: a takeover swaps both', () => {
    const runner = new Runner({ maxBuffered: LIMIT, log: () => undefined, onDropped: () => undefined });
    const fresh = { id: 'new', ws: fakeSocket() as unknown as WebSocket };
    const old = { id: 'me', ws: fakeSocket() as unknown as WebSocket };
    runner.register(fresh);
    runner.register(old);
    runner.run([rebind('new', 'me')]);
    expect([fresh.id, old.id]).toEqual(['me', 'new']);
    runner.run([send('me', M.notice('x', 0))]);
    expect((fresh.ws as unknown as { sent: number }).sent).toBe(1);
    expect((old.ws as unknown as { sent: number }).sent).toBe(0);
    expect(runner.ids().sort()).toEqual(['me', 'new']);
  });
});

describe("Runner: ws's frame options", () => {
  // bench/servers/frame-options.ts (imported by the ws baselines): one object of the shape ws gives every
  // frame it sends, kept so that V8 keeps that shape's maps. The spec says when a ws upgrade builds it otherwise.
  it('keeps an object shaped as ws builds one for a text frame from the server', () => {
    const kept = keptFrameOptions as Record<string | symbol, unknown>;
    expect(kept).toBeDefined();
    // (Own keys list the strings before the symbols, whatever the order they were added in.)
    expect(Object.getOwnPropertySymbols(kept).map((k) => k.description)).toEqual(['kByteLength']);
    expect(Object.keys(kept)).toEqual(['fin', 'generateMask', 'mask', 'maskBuffer', 'opcode', 'readOnly', 'rsv1']);
    expect(kept).toMatchObject({ fin: true, mask: false, opcode: 1, readOnly: true, rsv1: false });
  });
});
