// Fakes for specs of anything built on the client library (its own, the web page's,
// the CLI's): a clock whose time moves only when told, and a scripted WebSocket the
// spec plays the server with. No real socket, no real timer, so no sleeps. Imported
// by specs only; the app bundles never reach it.
import type { Clock, SocketClass, SocketLike } from './client';

export class FakeClock implements Clock {
  private t: number;
  private serial = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_764_115_200_000) {
    this.t = start;
  }

  now(): number { return this.t; }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.serial;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void { this.timers.delete(handle as number); }

  /** Timers set and not yet fired or cleared. */
  get pending(): number { return this.timers.size; }

  /** When the next timer fires (undefined: none). */
  get next(): number | undefined {
    let at: number | undefined;
    for (const t of this.timers.values()) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /** Moves time on by ms, firing every timer due on the way, earliest first (ties: the order they were set). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}

type Handler<E> = ((ev: E) => unknown) | null;

/** One client socket; the spec plays the server: accept(), receive(frame), drop(code). */
export class FakeSocket implements SocketLike {
  readyState = 0;
  /** Text frames the client sent. */
  readonly sent: string[] = [];
  /** How the client closed it, if it did. */
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: Handler<unknown> = null;
  onmessage: Handler<{ data: unknown }> = null;
  onclose: Handler<{ code: number; reason: string }> = null;
  onerror: Handler<{ message?: string }> = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error(`send on a socket in state ${this.readyState}`);
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** The frames the client sent, parsed. */
  get frames(): Record<string, unknown>[] { return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>); }

  /** The connection is up. */
  accept(): this {
    this.readyState = 1;
    this.onopen?.({});
    return this;
  }

  /** The server sends one frame (the four seed fields are filled in when absent). */
  receive(frame: Record<string, unknown>): this {
    this.onmessage?.({ data: JSON.stringify({ ID: '', Content: '', SentAt: 1_764_115_200, ...frame }) });
    return this;
  }

  /** The server (or the network) ends it. */
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** A WebSocket class for the client's options, and every socket it made, in order. */
export function fakeWebSocket(): { WebSocket: SocketClass; sockets: FakeSocket[]; last: () => FakeSocket } {
  const sockets: FakeSocket[] = [];
  class WebSocket extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    WebSocket,
    sockets,
    last: () => {
      const s = sockets[sockets.length - 1];
      if (!s) throw new Error('no socket was opened');
      return s;
    },
  };
}
