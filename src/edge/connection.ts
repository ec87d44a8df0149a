// One connection as an Observable of hub events: `opened`, each frame decoded by
// the pure protocol, and `closed` at the end. It never errors: a socket error
// becomes `closed`, so one bad connection cannot end the merged hub stream.
//
// It is one hand-written Observable over the socket's events rather than a chain
// of operators: with 10,000 idle connections every object held per connection
// counts (docs/benchmarks.md, memory). What a live connection holds is one
// object, its Connection: the socket's listeners are four functions shared by
// every connection, which ws calls with the socket as `this`, and the socket
// points to its Connection (a closure each, and their contexts, cost ~500 B).
// Its liveness is a `timeout` over its signs of life on the server's shared
// timer wheel (heartbeat.ts), which ends in the Connection itself: a frame or
// a pong re-arms it, and a silent connection's stream gives the hub `timedOut`.
import type { User } from '../core/claims';
import { Observable, Subscriber } from 'rxjs';
import type WebSocket from 'ws';
import { BINARY_FRAME, decode, rateLimited, refOf } from '../core/protocol';
import { HubEvent, closed, flooded, opened, received, refreshed, rejected } from '../core/events';
import { Bucket, RateLimit, fullBucket, take } from '../core/rate';
import { Liveness, Watch } from './heartbeat';

/** As much of a ws WebSocket as a connection listens to; specs pass a fake. */
export type SocketLike = Pick<WebSocket, 'on' | 'off' | 'readyState'>;

/** Where a socket holds its live Connection, for the shared listeners (a symbol: nothing of ws's, nor anyone else's). */
const CONNECTION = Symbol('connection');
type Tagged = SocketLike & { [CONNECTION]?: Connection };

/** ws's readyState while open (WebSocket.OPEN; a type-only import keeps ws out of this file). */
const OPEN = 1;

/**
 * Which identity a socket speaks for. Minted with the socket; a resume gives the
 * socket the identity it had before (the runner's `rebind`), and every event
 * after that names it.
 */
export interface Identity {
  id: string;
}

export interface ConnectionDeps {
  newId: () => string;
  /** The heartbeat's timeout (heartbeat.ts `liveness`); none: never timed out (specs of other things). */
  liveness?: Liveness;
  /**
   * With auth on: verifies a Refresh frame's token (src/edge/auth.ts), off the hub's path; the
   * hub gets `refreshed` once it is known. None: a Refresh goes to the hub as any frame (refused).
   */
  verifyRefresh?: (token: string) => Promise<User | undefined>;
  now?: () => number;
  /**
   * The message rate (--msg-rate, --msg-burst); none: no limit. Applied here, at the edge,
   * so a flood's frames are never decoded nor stepped as work: each is one `rejected`.
   */
  rate?: RateLimit;
  /** Metrics (src/ops/metrics.ts): told of each frame's event, and of the close code when the socket closes. */
  onFrame?: (e: HubEvent) => void;
  onClose?: (code: number) => void;
  /** Metrics: a frame refused by the message rate. */
  onRateLimited?: () => void;
}

/** A text frame as an event: decoded, and with an ID minted only for lines that are delivered. */
export function frameEvent(id: string, at: number, text: string, newId: () => string): HubEvent {
  const d = decode(text);
  if (!d.ok) return rejected(id, at, d.error);
  const needsId = d.message.type === 'broadcast' || d.message.type === 'direct';
  return received(id, at, d.message, needsId ? newId() : '');
}

/** The close code ws sends when it cuts a socket over this error (ws/lib/receiver.js); 1006 for a socket error. */
export function closeCodeOf(e: Error): number {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return 1006;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') return 1009;
  if (code === 'WS_ERR_INVALID_UTF8') return 1007;
  if (code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return 1008;
  return 1002;
}

export interface ConnectionQuery {
  /** With auth on: the token's user (src/edge/auth.ts). */
  user?: User;
  name?: string;
  room?: string;
  resume?: string;
  since?: string;
}

export function connection$(
  who: Identity | string,
  query: ConnectionQuery,
  ws: SocketLike,
  deps: ConnectionDeps,
  token = '',
): Observable<HubEvent> {
  const self: Identity = typeof who === 'string' ? { id: who } : who;
  return new Observable<HubEvent>((sub) => {
    const held = ws as Tagged;
    // A socket has one connection stream at a time (the server subscribes each once): its listeners find one Connection.
    if (held[CONNECTION] !== undefined) return sub.error(new Error('the socket already has a live connection stream'));
    const c = new Connection(sub, self, held, deps);
    held[CONNECTION] = c;
    c.watch();
    held.on('message', onMessage);
    held.on('pong', onPong);
    held.on('close', onClose);
    held.on('error', onError);
    sub.next(opened(self.id, c.now(), query, token || undefined));
    // The teardown (already `sub`'s, as a Subscriber of it: this adds nothing).
    return c;
  });
}

/**
 * One live connection: all it holds while it lasts. It is the Watch its heartbeat's `timeout` ends in
 * (heartbeat.ts), whose destination is the stream it feeds, and which holds it as its teardown.
 */
class Connection extends Watch {
  /** Made at the first frame: an idle connection holds no bucket. 'flooded': told the hub once, read no more. */
  private bucket: Bucket | 'flooded' | undefined = undefined;

  constructor(
    out: Subscriber<HubEvent>,
    who: Identity,
    private readonly ws: Tagged,
    private readonly deps: ConnectionDeps,
  ) {
    super(out, who);
  }

  protected get liveness(): Liveness | undefined {
    return this.deps.liveness;
  }

  now(): number {
    return this.deps.now === undefined ? Date.now() : this.deps.now();
  }

  frame(data: WebSocket.RawData, isBinary: boolean): void {
    // protocol.md "Closing": once the server has begun closing a connection
    // (shutdown, a slow reader), what it still sends is not read: no Ack, no
    // delivery, and a flood cannot keep a stopping server busy.
    if (this.ws.readyState !== OPEN) return;
    const { destination: out, deps } = this;
    const at = this.now();
    const id = this.who.id;
    this.beat();
    const limit = deps.rate;
    if (limit !== undefined) {
      if (this.bucket === 'flooded') return;
      const t = take(limit, this.bucket ?? fullBucket(limit, at), at);
      if (t.verdict === 'flooding') {
        this.bucket = 'flooded';
        return out.next(flooded(id, at));
      }
      this.bucket = t.bucket;
      // protocol.md "Message rate": refused unread but for its Ref; nothing else changes.
      if (t.verdict === 'refused') {
        deps.onRateLimited?.();
        return out.next(rejected(id, at, rateLimited(t.retryMs, isBinary ? undefined : refOf(data.toString()))));
      }
    }
    let event: HubEvent;
    try {
      // protocol.md: a binary frame is bad input; reply, keep open.
      event = isBinary ? rejected(id, at, BINARY_FRAME) : frameEvent(id, at, data.toString(), deps.newId);
    } catch {
      // decode is total; should it ever throw, only this connection ends.
      return this.end('error');
    }
    deps.onFrame?.(event);
    if (deps.verifyRefresh !== undefined && event.kind === 'received' && event.message.type === 'refresh') {
      const { ref } = event.message;
      const told = (user: User | undefined) => {
        if (!this.closed) out.next(refreshed(id, this.now(), user, ref));
      };
      deps.verifyRefresh(event.message.token).then(told, () => told(undefined));
      return;
    }
    out.next(event);
  }

  socketClosed(code: number): void {
    this.deps.onClose?.(code);
    this.end('closed');
  }

  socketFailed(e: Error): void {
    // ws cut the socket over a frame it could not take, with the close code its error names; it reads no reply after that.
    this.deps.onClose?.(closeCodeOf(e));
    this.end('error');
  }

  /** ws emits 'close' after 'error'; whichever comes first ends the stream (and, through it, this connection). */
  private end(reason: 'closed' | 'error'): void {
    this.destination.next(closed(this.who.id, this.now(), reason));
    this.destination.complete();
  }

  /** The stream's teardown: the socket is let go of, and the heartbeat's timeout with it. */
  override unsubscribe(): void {
    const ws = this.ws;
    if (ws[CONNECTION] === this) {
      ws.off('message', onMessage);
      ws.off('pong', onPong);
      ws.off('close', onClose);
      ws.off('error', onError);
      // Not `delete`: that would turn a ws socket's properties into a slow dictionary.
      ws[CONNECTION] = undefined;
    }
    super.unsubscribe();
  }
}

// The socket's listeners, one of each for every connection: ws calls them with the socket as `this`.
function onMessage(this: Tagged, data: WebSocket.RawData, isBinary: boolean): void {
  this[CONNECTION]?.frame(data, isBinary);
}

function onPong(this: Tagged): void {
  this[CONNECTION]?.beat();
}

function onClose(this: Tagged, code: number): void {
  this[CONNECTION]?.socketClosed(code);
}

function onError(this: Tagged, e: Error): void {
  this[CONNECTION]?.socketFailed(e);
}
