// The one WebSocket, kept alive: reconnects with exponential backoff and jitter,
// and notices a dead link (no answer to a HeartBeat) that the browser would not.
// It knows nothing of chat: frames in, frames out, and how the link is doing.
import { Frame, Outgoing, Type, parseFrame } from './protocol';

export type LinkEvent =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'dropped'; attempt: number; retryAt: number; code: number };

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
}

export class ChatSocket {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly o: SocketOptions) {}

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

  /** Skips the wait (the user asked, or the browser came back online). */
  retryNow(): void {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  send(frame: Outgoing): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private connect(): void {
    this.o.onLink({ kind: 'connecting', attempt: this.attempt });
    const ws = new WebSocket(this.o.url());
    this.ws = ws;
    ws.onmessage = (m) => {
      const f = parseFrame(m.data);
      if (!f) return;
      clearTimeout(this.deadTimer);
      // Only a welcome proves the server took us; an accept-then-close must keep backing off.
      if (f.Type === Type.System && f.Content === 'welcome') this.attempt = 0;
      this.o.onFrame(f);
    };
    ws.onopen = () => {
      this.pingTimer = setInterval(() => this.ping(), this.o.pingMs ?? 25_000);
    };
    ws.onclose = (e) => {
      if (this.ws === ws) this.dropped(e.code);
    };
  }

  private ping(): void {
    if (!this.send({ Type: Type.HeartBeat })) return;
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => {
      // A half-open TCP link can take minutes to close by itself; give up on it now.
      this.detach()?.close(4000, 'no heartbeat');
      this.dropped(1006);
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

  private dropped(code: number): void {
    this.detach();
    if (this.stopped) return;
    this.attempt += 1;
    const base = this.o.baseMs ?? 500;
    const ceiling = Math.min(this.o.maxMs ?? 10_000, base * 2 ** (this.attempt - 1));
    // Jitter, so a restarted server is not hit by every client in the same millisecond.
    const delay = Math.round(ceiling * (0.5 + Math.random() * 0.5));
    const retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.o.onLink({ kind: 'dropped', attempt: this.attempt, retryAt, code });
  }
}
