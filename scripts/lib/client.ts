// A small reconnecting client for the wire protocol (docs/protocol.md), shared by
// the chat CLI and the bots. It owns the socket; everything it learns comes out
// of events$ as facts (connecting, ready, frame, down), and requests are matched
// to their answers by Ref. Every wait it offers is bounded.
import WebSocket from 'ws';
import { Observable, Subject, filter, firstValueFrom, map, take, timeout } from 'rxjs';
import { Message, Type } from '../../src/core/protocol';
import { Backoff, DEFAULT_BACKOFF, Reconnect, linkUp, nextRetry } from './backoff';

/** A frame to send: the server sets ID and SentAt, and Ref is added by request(). */
export type Outgoing = { Type: number; [field: string]: unknown };

export type ClientEvent =
  | { kind: 'connecting'; attempt: number }
  /** Welcomed and back in the rooms it was in (a reconnect rejoins them). */
  | { kind: 'ready'; id: string; name: string; rooms: readonly string[]; reconnected: boolean }
  | { kind: 'frame'; frame: Message }
  /**
   * The connection is gone. retryInMs: when the next try comes. Without it, the client
   * either gave up for good, or (held) waits for reconnectNow() after a policy close.
   */
  | { kind: 'down'; code: number; reason: string; retryInMs?: number; held?: boolean };

/** A request that got no answer: refused by the server (fromServer) or lost locally. */
export class RequestError extends Error {
  constructor(readonly code: string, message: string, readonly fromServer: boolean) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  /** Display name; absent lets the server choose guest-XXXX. */
  name?: string;
  /** Rooms to be in; the first goes in ?room=, the rest are joined after the welcome. */
  rooms: readonly string[];
  /** Retry after a lost connection (default true). */
  reconnect?: boolean;
  /** Retry when the very first connection fails (default false: start() rejects). */
  retryFirst?: boolean;
  backoff?: Backoff;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** A HeartBeat request this often, so a silently dead server is noticed; 0 turns it off. */
  heartbeatMs?: number;
  /** The clock (ms), injected by specs. */
  now?: () => number;
}

interface Pending {
  resolve: (m: Message) => void;
  reject: (e: RequestError) => void;
  timer: NodeJS.Timeout;
}

/** held: the server closed with a policy code; no retry until reconnectNow(). */
type Phase = 'idle' | 'connecting' | 'ready' | 'waiting' | 'held' | 'closed';

const isMessage = (v: unknown): v is Message =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Message).Type === 'number';

export class ChatClient {
  private readonly events = new Subject<ClientEvent>();
  readonly events$: Observable<ClientEvent> = this.events.asObservable();

  private readonly opts: Required<Omit<ClientOptions, 'name'>>;
  private ws?: WebSocket;
  private phase: Phase = 'idle';
  private selfId = '';
  private selfName: string | undefined;
  private joined: string[];
  private readonly pending = new Map<string, Pending>();
  private nextRef = 1;
  private retries: Reconnect = { attempt: 0 };
  private everReady = false;
  private lastError = '';
  private timers = new Set<NodeJS.Timeout>();
  private heartbeat?: NodeJS.Timeout;

  constructor(options: ClientOptions) {
    this.opts = {
      reconnect: true, retryFirst: false, backoff: DEFAULT_BACKOFF,
      requestTimeoutMs: 5000, connectTimeoutMs: 5000, heartbeatMs: 30_000, now: Date.now, ...options,
    };
    this.selfName = options.name;
    this.joined = [...options.rooms];
  }

  get id(): string { return this.selfId; }
  get name(): string { return this.selfName ?? ''; }
  get rooms(): readonly string[] { return this.joined; }
  get ready(): boolean { return this.phase === 'ready'; }

  /** Connects. Resolves once first ready; rejects if the client gives up before that. */
  start(): Promise<void> {
    const done = this.whenReady(Number.MAX_SAFE_INTEGER);
    this.connect();
    return done;
  }

  /** After a policy close (the client is held): connect again, as the user asked. False when not held. */
  reconnectNow(): boolean {
    if (this.phase !== 'held') return false;
    this.connect();
    return true;
  }

  /** Why whenReady fails while held (lastError: the policy close's code and reason). */
  private heldError(): RequestError {
    return new RequestError('held', `the server closed the connection: ${this.lastError}`, false);
  }

  /** Resolves when ready, rejects on timeout or when the client has given up (or is held). */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.phase === 'ready') return Promise.resolve();
    if (this.phase === 'closed') return Promise.reject(new RequestError('closed', 'the client is closed', false));
    if (this.phase === 'held') return Promise.reject(this.heldError());
    return firstValueFrom(this.events$.pipe(
      filter((e) => e.kind === 'ready' || (e.kind === 'down' && e.retryInMs === undefined)),
      take(1),
      timeout({ first: Math.min(timeoutMs, 2 ** 31 - 1) }),
      map((e) => {
        if (e.kind === 'down' && e.held) throw this.heldError();
        if (e.kind === 'down') throw new RequestError('gave_up', `cannot connect to ${this.opts.url}: ${e.reason}`, false);
      }),
    )).catch((e: unknown) => {
      if (e instanceof RequestError) throw e;
      // After close() the stream completes; anything else here is the timeout.
      if (this.phase === 'closed') throw new RequestError('closed', 'the client is closed', false);
      throw new RequestError('timeout', `not connected to ${this.opts.url} after ${timeoutMs} ms`, false);
    });
  }

  /** Sends a request with a fresh Ref; resolves with its answer, rejects with the Error or on timeout. */
  request(frame: Outgoing, timeoutMs = this.opts.requestTimeoutMs): Promise<Message> {
    if (this.phase !== 'ready') return Promise.reject(new RequestError('not_connected', 'not connected', false));
    return this.send(frame, timeoutMs);
  }

  /** Closes with 1000 and waits (bounded) for the close handshake. Idempotent. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.stopHeartbeat();
    this.failPending('closed', 'the client closed');
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const cut = setTimeout(() => { ws.terminate(); resolve(); }, 2000);
        ws.once('close', () => { clearTimeout(cut); resolve(); });
        if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'bye');
        else ws.terminate();
      });
    }
    this.events.complete();
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  private connect(): void {
    if (this.phase === 'closed') return;
    this.phase = 'connecting';
    this.lastError = '';
    const url = new URL(this.opts.url);
    if (this.selfName !== undefined) url.searchParams.set('name', this.selfName);
    const first = this.joined[0] ?? this.opts.rooms[0];
    if (first !== undefined) url.searchParams.set('room', first);
    const want = [...this.joined];
    this.events.next({ kind: 'connecting', attempt: this.retries.attempt });

    const ws = new WebSocket(url);
    this.ws = ws;
    const cut = this.later(this.opts.connectTimeoutMs, () => {
      this.lastError = `no welcome within ${this.opts.connectTimeoutMs} ms`;
      ws.terminate();
    });
    ws.on('error', (e) => {
      // Keep the first cause: terminate() after a timeout reports an error of its own.
      this.lastError ||= (e as NodeJS.ErrnoException).code ?? e.message;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary || this.ws !== ws) return;
      let frame: unknown;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return; // protocol.md: the server only sends JSON objects; anything else is not for us
      }
      if (!isMessage(frame)) return;
      if (frame.Type === Type.System && this.phase === 'connecting' && frame.ID !== '') {
        clearTimeout(cut);
        this.timers.delete(cut);
        this.welcomed(frame, want);
      }
      this.track(frame);
      this.events.next({ kind: 'frame', frame });
      this.settle(frame);
    });
    ws.on('close', (code, reason) => {
      clearTimeout(cut);
      this.timers.delete(cut);
      if (this.ws === ws) this.lost(code, reason.toString() || this.lastError || 'connection closed');
    });
  }

  /** The welcome names us; then get back into the other rooms we were in. */
  private welcomed(welcome: Message, want: string[]): void {
    this.selfId = welcome.ID;
    if (typeof welcome.Name === 'string') this.selfName = welcome.Name;
    this.joined = Array.isArray(welcome.Rooms) ? welcome.Rooms.filter((r): r is string => typeof r === 'string') : [];
    const first = this.joined[0];
    const rejoin: Promise<unknown>[] = want.filter((r) => r !== first).map((Room) => this.send({ Type: Type.Join, Room }));
    // A client that had left every room reconnects into one (?room= is required) and leaves it again.
    if (want.length === 0 && first !== undefined) rejoin.push(this.send({ Type: Type.Leave, Room: first }));
    void Promise.allSettled(rejoin).then(() => {
      if (this.phase !== 'connecting' || this.ws?.readyState !== WebSocket.OPEN) return;
      this.phase = 'ready';
      const reconnected = this.everReady;
      this.everReady = true;
      // Only a link that stays up resets the backoff (backoff.ts): a welcome alone proves nothing.
      this.retries = linkUp(this.retries, this.opts.now());
      this.startHeartbeat();
      this.events.next({ kind: 'ready', id: this.selfId, name: this.name, rooms: this.joined, reconnected });
    });
  }

  /** Keeps our own ID, name and rooms in step with the server's answers. */
  private track(f: Message): void {
    if (f.ID !== this.selfId || this.selfId === '') return;
    const room = typeof f.Room === 'string' ? f.Room : undefined;
    if (f.Type === Type.Join && room && !this.joined.includes(room)) this.joined = [...this.joined, room];
    if (f.Type === Type.Leave && room) this.joined = this.joined.filter((r) => r !== room);
    if (f.Type === Type.Rename && typeof f.Name === 'string') this.selfName = f.Name;
  }

  /** protocol.md: the answer to a request, or an Error about it, echoes its Ref. */
  private settle(f: Message): void {
    if (f.Ref === undefined) return;
    const key = String(f.Ref);
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    if (f.Type === Type.Error) p.reject(new RequestError(String(f.Code ?? 'error'), f.Content, true));
    else p.resolve(f);
  }

  private send(frame: Outgoing, timeoutMs = this.opts.requestTimeoutMs): Promise<Message> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RequestError('not_connected', 'not connected', false));
    }
    const ref = `r${this.nextRef++}`;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new RequestError('timeout', `no answer within ${timeoutMs} ms`, false));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, Ref: ref }));
    });
  }

  private failPending(code: string, why: string): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new RequestError(code, why, false));
    }
    this.pending.clear();
  }

  private lost(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    this.stopHeartbeat();
    this.failPending('disconnected', `connection lost: ${reason}`);
    const next = nextRetry(this.retries, code, this.opts.now(), this.opts.backoff);
    this.retries = next.r;
    // protocol.md: 1008 before we were ever in means our ?name= or ?room= was refused; retrying cannot help.
    const giveUp = !this.opts.reconnect || (!this.everReady && (!this.opts.retryFirst || code === 1008));
    if (giveUp) {
      this.phase = 'closed';
      this.events.next({ kind: 'down', code, reason });
      this.events.complete();
      return;
    }
    if (next.delayMs === undefined) {
      // A policy close (1008, 4xxx but 4008): the server said no; wait for the user (reconnectNow).
      this.phase = 'held';
      this.lastError = `${code} ${reason}`;
      this.events.next({ kind: 'down', code, reason, held: true });
      return;
    }
    this.phase = 'waiting';
    this.events.next({ kind: 'down', code, reason, retryInMs: next.delayMs });
    this.later(next.delayMs, () => this.connect());
  }

  private startHeartbeat(): void {
    if (this.opts.heartbeatMs <= 0) return;
    this.heartbeat = setInterval(() => {
      this.send({ Type: Type.HeartBeat }).catch((e: RequestError) => {
        // An unanswered heartbeat means the server or the path to it is dead: cut and retry.
        if (e.code !== 'timeout') return;
        this.lastError = `no answer to a heartbeat within ${this.opts.requestTimeoutMs} ms`;
        this.ws?.terminate();
      });
    }, this.opts.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
