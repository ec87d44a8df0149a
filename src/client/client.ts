// The shell around the pure core (machine.ts): it owns the one socket and the timers,
// turns their events and the app's calls into inputs, and carries out the commands
// the core returns, in order, after the state is committed. It is the only file of
// the library that touches a socket, a timer or a promise. The WebSocket class and
// the clock are given to it, so it runs in the browser, in Node (the `ws` package)
// and in specs (a scripted fake and a fake clock).
import { keySequence } from './keys';
import { step } from './machine';
import {
  ClientEvent, ClientState, Command, CoreOptions, DEFAULT_OPTIONS, Input, InputBody, Restore, initialState, positions,
} from './state';
import { DEFAULT_HISTORY_PAGE, Frame, MAX_HISTORY_PAGE, Outgoing, Position, T, parseFrame } from './wire';

/** What the library needs of a WebSocket: the browser's and the `ws` package's both fit. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // `never` parameters: any handler type fits here, and ours say what they read.
  onopen: ((ev: never) => unknown) | null;
  onmessage: ((ev: never) => unknown) | null;
  onclose: ((ev: never) => unknown) | null;
  onerror: ((ev: never) => unknown) | null;
}
export type SocketClass = new (url: string) => SocketLike;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as Parameters<typeof clearTimeout>[0]),
};

export interface ClientOptions extends Partial<Omit<CoreOptions, 'url' | 'reportSeq'>> {
  /** ws://host:port/ws (the library adds ?name=&room=, or ?resume=&since=). */
  url: string;
  WebSocket: SocketClass;
  /** The display name; absent lets the server choose (guest-…). */
  name?: string;
  /** Rooms to be in: the first goes in ?room=, the others are joined after the welcome. */
  rooms?: readonly string[];
  /** A session the app kept (session getter), e.g. across a page reload: the first connection resumes it. */
  restore?: Restore;
  clock?: Clock;
  /** Uniform in [0, 1): the backoff's jitter. */
  random?: () => number;
  /** A fresh idempotency Key per message (default: 21 random URL-safe characters). */
  newKey?: () => string;
  /** Each Seq the app gets, per room, in order: a line, or our own acked message (bots' --verify). */
  onSeq?: (e: { room: string; seq: number; epoch: string; own: boolean }) => void;
  /** A listener threw: by default it is rethrown on its own, so the client goes on. */
  onListenerError?: (e: unknown) => void;
}

/** A page of a room's history (protocol.md "History"), oldest first. */
export interface HistoryPage {
  room: string;
  messages: Frame[];
  /** More lines beyond this page in the direction read. */
  more: boolean;
  /** The room's latest Seq, the oldest still kept, and the Epoch they count in. */
  seq?: number;
  first?: number;
  epoch?: string;
}

export class RequestError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

type EventOf<K extends ClientEvent['type']> = Extract<ClientEvent, { type: K }>;
type Listener = (e: ClientEvent) => void;

export class ChatClient {
  private state: ClientState;
  private ws: SocketLike | undefined;
  /** The cause of the current socket's end, when an error said more than its close. */
  private lastError = '';
  private readonly timers = new Map<string, unknown>();
  private readonly listeners = new Set<Listener>();
  private readonly waiting = new Map<number, { resolve: (f: Frame) => void; reject: (e: RequestError) => void }>();
  private nextId = 0;
  private readonly inputs: Input[] = [];
  private running = false;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly newKey: () => string;
  private readonly WS: SocketClass;

  constructor(private readonly o: ClientOptions) {
    const { url, WebSocket: _ws, name, rooms, restore, clock, random, newKey, onSeq, onListenerError, ...tuning } = o;
    const opts: CoreOptions = { ...DEFAULT_OPTIONS, ...tuning, url, reportSeq: onSeq !== undefined };
    this.state = initialState(opts, name, rooms ?? [], restore);
    this.WS = o.WebSocket;
    this.clock = clock ?? systemClock;
    this.random = random ?? Math.random;
    this.newKey = newKey ?? keySequence();
  }

  // ---- what the app reads ----

  get id(): string { return this.state.id; }
  get name(): string { return this.state.name ?? ''; }
  /** Rooms we are in or are getting back into, in join order. */
  get rooms(): readonly string[] { return [...this.state.rooms.keys()]; }
  get ready(): boolean { return this.state.phase === 'ready'; }
  get phase(): ClientState['phase'] { return this.state.phase; }
  /** Per room, the Seq of the last line the app has (its own acked lines counted), and its Epoch. */
  get positions(): Position[] { return positions(this.state); }
  position(room: string): Position | undefined { return this.positions.find((p) => p.room === room); }
  /** Our messages the server does not have yet, oldest first. */
  get outbox(): readonly { key: string; room?: string; to?: string; content: string; state: string }[] {
    return this.state.outbox.map(({ key, room, to, content, state }) => ({ key, room, to, content, state }));
  }
  /** What `restore` takes, for an app that keeps its session across a reload. */
  get session(): Restore {
    return { token: this.state.token, id: this.state.id, positions: this.positions };
  }

  // ---- events ----

  /** Listens to one kind of event; returns the way to stop. */
  on<K extends ClientEvent['type']>(type: K, fn: (e: EventOf<K>) => void): () => void {
    return this.onAny((e) => { if (e.type === type) fn(e as EventOf<K>); });
  }

  onAny(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  // ---- what the app does ----

  start(): void { this.input({ kind: 'started' }); }
  /** Closes for good: fails what is still in the outbox and every request. */
  close(): void { this.input({ kind: 'closeAsked' }); }
  /** Skips the wait before the next try (the network came back); never after a policy close. */
  retryNow(): void { this.input({ kind: 'retryNowAsked' }); }
  /** The user asked to connect now, even after a policy close. */
  reconnect(): void { this.input({ kind: 'reconnectAsked' }); }

  /** Queues a chat line for `room`; returns its Key at once. Its fate comes as `message` events. */
  send(room: string, content: string, options: { key?: string } = {}): string {
    const key = options.key ?? this.newKey();
    this.input({ kind: 'sendAsked', key, room, content });
    return key;
  }

  /** Queues a Direct message to a connection ID; as send(). */
  sendDirect(to: string, content: string, options: { key?: string } = {}): string {
    const key = options.key ?? this.newKey();
    this.input({ kind: 'sendAsked', key, to, content });
    return key;
  }

  /** Any request (Rooms, Members, Rename, …): its answer, matched by Ref, or a RequestError; bounded. */
  request(frame: Outgoing): Promise<Frame> {
    const id = ++this.nextId;
    const answer = new Promise<Frame>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.input({ kind: 'requestAsked', id, frame });
    return answer;
  }

  join(room: string): Promise<Frame> { return this.request({ Type: T.Join, Room: room }); }
  leave(room: string): Promise<Frame> { return this.request({ Type: T.Leave, Room: room }); }

  /** One page of a room's history: the latest, or Before/After a Seq (protocol.md "History"). */
  async history(room: string, q: { before?: number; after?: number; limit?: number } = {}): Promise<HistoryPage> {
    const limit = Math.max(1, Math.min(MAX_HISTORY_PAGE, Math.floor(q.limit ?? DEFAULT_HISTORY_PAGE)));
    const f = await this.request({
      Type: T.History, Room: room, Limit: limit,
      ...(q.before !== undefined ? { Before: q.before } : {}), ...(q.after !== undefined ? { After: q.after } : {}),
    });
    return {
      room, messages: Array.isArray(f.Messages) ? f.Messages : [], more: f.More === true,
      ...(typeof f.Seq === 'number' ? { seq: f.Seq } : {}), ...(typeof f.First === 'number' ? { first: f.First } : {}),
      ...(typeof f.Epoch === 'string' ? { epoch: f.Epoch } : {}),
    };
  }

  /** The last n lines of a room, oldest first, read page by page (at most ceil(n / 100) requests). */
  async recent(room: string, n: number): Promise<Frame[]> {
    const pages: Frame[][] = [];
    let left = Math.max(0, Math.floor(n));
    let before: number | undefined;
    while (left > 0) {
      const page = await this.history(room, { limit: Math.min(MAX_HISTORY_PAGE, left), ...(before !== undefined ? { before } : {}) });
      if (page.messages.length === 0) break;
      pages.unshift(page.messages);
      left -= page.messages.length;
      const oldest = page.messages[0].Seq;
      if (!page.more || typeof oldest !== 'number') break;
      before = oldest;
    }
    return pages.flat();
  }

  /** Resolves when ready; rejects on timeout, on a policy close (held) or once closed. */
  whenReady(timeoutMs: number): Promise<void> {
    const phase = this.state.phase;
    if (phase === 'ready') return Promise.resolve();
    if (phase === 'closed' || phase === 'held') return Promise.reject(new RequestError(phase, `the client is ${phase}`));
    return new Promise<void>((resolve, reject) => {
      const done = (e?: RequestError) => { stop(); this.clock.clearTimeout(timer); if (e) reject(e); else resolve(); };
      const timer = this.clock.setTimeout(() => done(new RequestError('timeout', `not ready after ${timeoutMs} ms`)), timeoutMs);
      const stop = this.onAny((e) => {
        if (e.type === 'ready') done();
        else if (e.type === 'link' && (e.link.state === 'held' || e.link.state === 'closed')) {
          done(new RequestError(e.link.state, e.link.state === 'held' ? `the server closed the connection: ${e.link.code} ${e.link.reason}` : 'the client is closed'));
        }
      });
    });
  }

  // ---- the loop ----

  /** Inputs are queued: a listener that calls send() while commands run is served after them, in order. */
  private input(i: InputBody): void {
    // Every InputBody is a fresh literal made in this file, so it is stamped in place. A spread
    // here sees inputs of many shapes, goes megamorphic and cost 15 % of a loaded bot's CPU
    // (scripts/bot.ts, 200 bots: p50 latency 130 ms with the spread, 30 ms without).
    const stamped = i as Input;
    stamped.at = this.clock.now();
    stamped.rand = this.random();
    this.inputs.push(stamped);
    if (this.running) return;
    this.running = true;
    try {
      for (let next = this.inputs.shift(); next; next = this.inputs.shift()) {
        const r = step(this.state, next);
        this.state = r.state;
        for (const c of r.commands) this.run(c);
      }
    } finally {
      this.running = false;
    }
  }

  private run(c: Command): void {
    switch (c.kind) {
      case 'connect':
        this.open(c.conn, c.url);
        return;
      case 'send':
        // OPEN is 1 in both the browser and ws. A closing socket's close event will requeue what mattered.
        if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(c.frame));
        return;
      case 'disconnect': {
        const ws = this.detach();
        try {
          ws?.close(c.code, c.reason);
        } catch {
          // Already closed, or a code this socket refuses: it is forgotten either way.
        }
        return;
      }
      case 'setTimer': {
        this.clearTimer(c.name);
        const h = this.clock.setTimeout(() => {
          this.timers.delete(c.name);
          this.input({ kind: 'timerFired', name: c.name });
        }, c.ms);
        this.timers.set(c.name, h);
        return;
      }
      case 'clearTimer':
        this.clearTimer(c.name);
        return;
      case 'emit':
        this.tell(c.event);
        return;
      case 'resolve':
        this.settle(c.id)?.resolve(c.frame);
        return;
      case 'reject':
        this.settle(c.id)?.reject(new RequestError(c.code, c.reason));
        return;
      default: {
        const never: never = c;
        return never;
      }
    }
  }

  private open(conn: number, url: string): void {
    this.detach()?.close(1000);
    this.lastError = '';
    let ws: SocketLike;
    try {
      ws = new this.WS(url);
    } catch (e) {
      this.inputs.push({ kind: 'socketClosed', conn, code: 1006, reason: (e as Error).message, at: this.clock.now(), rand: this.random() });
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev: { data: unknown }) => {
      const frame = parseFrame(ev.data);
      if (frame) this.input({ kind: 'frameReceived', conn, frame });
    };
    ws.onclose = (ev: { code: number; reason: string }) => {
      this.input({ kind: 'socketClosed', conn, code: ev.code, reason: ev.reason || this.lastError });
    };
    ws.onerror = (ev: { message?: string; error?: { code?: string } }) => {
      // Keep the first cause: a close after an error only says 1006.
      this.lastError ||= ev.error?.code ?? ev.message ?? 'socket error';
    };
  }

  /** Forgets the current socket, so its late events are ignored; returns it. */
  private detach(): SocketLike | undefined {
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // ws (Node) throws an 'error' nobody listens to, e.g. when closed while connecting.
      ws.onerror = () => undefined;
    }
    return ws;
  }

  private clearTimer(name: string): void {
    const h = this.timers.get(name);
    if (h === undefined) return;
    this.clock.clearTimeout(h);
    this.timers.delete(name);
  }

  private settle(id: number) {
    const w = this.waiting.get(id);
    this.waiting.delete(id);
    return w;
  }

  private tell(e: ClientEvent): void {
    if (e.type === 'seq') {
      this.guard(() => this.o.onSeq?.({ room: e.room, seq: e.seq, epoch: e.epoch, own: e.own }));
      return;
    }
    for (const fn of [...this.listeners]) this.guard(() => fn(e));
  }

  /** One failing listener must not stop the client or the other listeners. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      (this.o.onListenerError ?? ((x: unknown) => queueMicrotask(() => { throw x; })))(e);
    }
  }
}
