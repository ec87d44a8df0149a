// The runner's slow-reader rule (protocol.md, "Closing", 4008) with fake sockets and
// an injected clock: behind means over --max-buffered at a turn's first write; a
// reader is dropped when it stays behind for longer than slowMs, or at once when it
// is HARD_FACTOR times over.
import WebSocket from 'ws';
import { HARD_FACTOR, Runner } from '../src/edge/runner';
import { send } from '../src/core/events';
import * as M from '../src/core/messages';

const LIMIT = 1000;

/** A socket as the runner sees it: open, with a backlog the spec sets; no net.Socket, so every write is checked. */
function fakeSocket() {
  return {
    readyState: WebSocket.OPEN as number,
    bufferedAmount: 0,
    sent: 0,
    closedWith: undefined as number | undefined,
    send() { this.sent++; },
    close(code: number) { this.closedWith = code; this.readyState = WebSocket.CLOSING; },
    once() { return this; },
    resume() {},
  };
}

function setup() {
  let clock = 0;
  const dropped: string[] = [];
  const runner = new Runner({
    maxBuffered: LIMIT, slowMs: 5000, now: () => clock, log: () => undefined, onDropped: (id) => dropped.push(id),
  });
  const ws = fakeSocket();
  runner.register('r', ws as unknown as WebSocket);
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
