// The one WebSocket, kept alive: reconnects with exponential backoff and jitter,
// and notices a dead link (no answer to a HeartBeat) that the browser would not.
// It knows nothing of chat: frames in, frames out, and how the link is doing.
// The reconnect policy is the CLI's (scripts/lib/backoff.ts, pure): the backoff starts
// again only after a link that stayed up 10 s, so a server that welcomes and closes
// at once is not hammered; after a policy close (1008, 4xxx but 4008) it waits for
// the user (reconnect()).
import { Backoff, Reconnect, linkUp, nextRetry } from '../../scripts/lib/backoff';
import { Frame, Outgoing, Type, parseFrame } from './protocol';

export type LinkEvent =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'dropped'; attempt: number; retryAt: number; code: number }
  /** A policy close: no retry until reconnect(). */
  | { kind: 'held'; code: number; reason: string };

export interface SocketOptions {
  /** Read at every (re)connection: the name and first room may have changed. */
  url: () => string;
  onFrame: (f: Frame) => void;
  onLink: (e: LinkEvent) => void;
  /** Backoff: first delay, ceiling (ms). */
  baseMs?: number;
  maxMs?: number;
  /** A HeartBeat every pingMs; no frame within deadMs after it means the link is dead. */
  pingMs?: number;
  deadMs?: number;
  /** The WebSocket class (the browser's by default; specs pass the `ws` package's). */
  WebSocket?: typeof WebSocket;
  /** The clock (ms). */
  now?: () => number;
}

export class ChatSocket {
  private ws: WebSocket | undefined;
  private retries: Reconnect = { attempt: 0 };
  private stopped = false;
  private held = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly WS: typeof WebSocket;
  private readonly now: () => number;
  private readonly backoff: Backoff;

  constructor(private readonly o: SocketOptions) {
    this.WS = o.WebSocket ?? WebSocket;
    this.now = o.now ?? Date.now;
    this.backoff = { baseMs: o.baseMs ?? 500, maxMs: o.maxMs ?? 10_000 };
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (a refused name: retrying would be refused again). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.detach()?.close(1000);
  }

  /** Skips the wait (the browser came back online, the tab became visible); never after a policy close. */
  retryNow(): void {
    if (this.stopped || this.held || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  /** The user asked: connect now, even after a policy close. */
  reconnect(): void {
    this.held = false;
    this.retryNow();
  }

  send(frame: Outgoing): boolean {
    if (this.ws?.readyState !== this.WS.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private connect(): void {
    this.o.onLink({ kind: 'connecting', attempt: this.retries.attempt });
    const ws = new this.WS(this.o.url());
    this.ws = ws;
    ws.onmessage = (m) => {
      const f = parseFrame(m.data);
      if (!f) return;
      clearTimeout(this.deadTimer);
      // The welcome starts the clock; only a link that stays up resets the backoff.
      if (f.Type === Type.System && f.Content === 'welcome') this.retries = linkUp(this.retries, this.now());
      this.o.onFrame(f);
    };
    ws.onopen = () => {
      this.pingTimer = setInterval(() => this.ping(), this.o.pingMs ?? 25_000);
    };
    ws.onclose = (e) => {
      if (this.ws === ws) this.dropped(e.code, e.reason);
    };
  }

  private ping(): void {
    if (!this.send({ Type: Type.HeartBeat })) return;
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => {
      // A half-open TCP link can take minutes to close by itself; give up on it now.
      this.detach()?.close(4000, 'no heartbeat');
      this.dropped(1006, 'no heartbeat');
    }, this.o.deadMs ?? 10_000);
  }

  /** Forgets the current socket so its late events are ignored; returns it. */
  private detach(): WebSocket | undefined {
    const ws = this.ws;
    this.ws = undefined;
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
    if (ws) ws.onmessage = ws.onopen = ws.onclose = null;
    return ws;
  }

  private dropped(code: number, reason: string): void {
    this.detach();
    if (this.stopped) return;
    // Jitter (in nextRetry), so a restarted server is not hit by every client in the same millisecond.
    const next = nextRetry(this.retries, code, this.now(), this.backoff);
    this.retries = next.r;
    if (next.delayMs === undefined) {
      this.held = true;
      this.o.onLink({ kind: 'held', code, reason });
      return;
    }
    this.retryTimer = setTimeout(() => this.connect(), next.delayMs);
    this.o.onLink({ kind: 'dropped', attempt: this.retries.attempt, retryAt: this.now() + next.delayMs, code });
  }
}
