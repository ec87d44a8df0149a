// Cross-node delivery (issue 8): the lines other processes append to a room
// reach this one through Redis pub/sub, on the room's channel, which the log's
// append script publishes on (src/store/redis.ts `roomChannel`, `livePayloadHead`),
// and so do the room's presence events (src/cluster/presence.ts). What other
// nodes send this one alone (Directs, takeovers: src/cluster/sessions.ts)
// comes on its node's channel.
//
// A node listens only to the rooms it has members in: `join` subscribes on a
// room's first local member and `leave` unsubscribes after its last, so the
// Redis work per line is one publish whatever the room's size, and each node's
// work grows with its own recipients. No pattern subscription.
//
// Pub/sub can lose a line (a reconnect to Redis, a failover): the bus says when
// its link comes back (`onLink(true)`), and the hub then checks each room's
// head against what it delivered and reads the gap from the log. The bus
// itself keeps no order and no state beyond its subscriptions.
import Redis from 'ioredis';
import { LastError, RedisOpenError, firstReady, parseObject, quitLink, redisUrlProblem, started } from '../store/redis-link';
import { DEFAULT_PREFIX, LiveLine, redactUrl, roomChannel } from '../store/redis';
import type { Heard, WireLine } from '../core/sequence';
import { PresenceEvent, parsePresence } from './presence';
import { NodeMessage, nodeChannel, parseNodeMessage } from './sessions';

export interface BusOptions {
  prefix?: string;
  /** Each line of a subscribed room, as published; a payload that does not parse is reported to onBadPayload and dropped. */
  onLine: (line: Heard) => void;
  /** Each presence event of a subscribed room (presence.ts publishes them on the same channel, with a `kind`). */
  onPresence?: (event: PresenceEvent) => void;
  /** With `nodeId`: what other nodes send this one (sessions.ts: Directs, takeovers), on the node's channel. */
  nodeId?: string;
  onNodeMessage?: (message: NodeMessage) => void;
  /** The subscriber link went down (false) or came back with every subscription restored (true). */
  onLink?: (up: boolean, reason?: string) => void;
  onBadPayload?: (channel: string, why: string) => void;
  /** How long `connect` keeps trying to reach Redis before it gives up (ms). Default 10000, as the log's. */
  connectTimeoutMs?: number;
}

/**
 * A line as the append script publishes it (redis.ts `livePayloadHead`): its Seq, epoch and sender
 * are checked, and its frame is taken whole, unparsed (the Redis log made it, from a line a node had
 * checked), for the hub to hand on; or why the payload is not one.
 */
export function parseWireLine(room: string, payload: string): WireLine | string {
  const a = payload.indexOf(' ');
  const b = payload.indexOf(' ', a + 1);
  const c = payload.indexOf(' ', b + 1);
  if (a < 0 || b < 0 || c < 0) return 'not a line: fewer than four fields';
  const seq = digits(payload, 0, a);
  if (seq < 1) return 'seq is not a whole number';
  const n = digits(payload, b + 1, c);
  if (n < 0 || c + 1 + n > payload.length) return 'the length of from is not a whole number within the payload';
  if (b === a + 1) return 'epoch is empty';
  const wire = payload.slice(c + 1 + n);
  if (!wire.startsWith('{"ID":') || !wire.endsWith('}')) return 'the frame is not a JSON object';
  return { room, seq, epoch: payload.slice(a + 1, b), from: payload.slice(c + 1, c + 1 + n), wire };
}

/** The whole number written in decimal digits in s[from, to), or -1 (none, another character, or past 2^53). */
function digits(s: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Checks a payload's shape (a line as JSON, as nodes before 2026-12-02 published it): a line from another process is input like any other. */
export function parseLiveLine(payload: string): LiveLine | string {
  const o = parseObject(payload);
  if (typeof o === 'string') return o;
  for (const f of ['room', 'epoch', 'msgId', 'from', 'name', 'content'] as const) {
    if (typeof o[f] !== 'string') return `${f} is not a string`;
  }
  for (const f of ['seq', 'at'] as const) {
    if (typeof o[f] !== 'number' || !Number.isSafeInteger(o[f])) return `${f} is not a whole number`;
  }
  return o as unknown as LiveLine;
}

export class RoomBus {
  /**
   * Connects the subscriber (ioredis reconnects it, and restores its subscriptions, by itself).
   * Rejects like RedisLog.connect: a RedisOpenError of one line for a bad URL, or when Redis does not
   * answer within `connectTimeoutMs`, naming the URL without its password.
   */
  static async connect(url: string, opts: BusOptions): Promise<RoomBus> {
    const where = redactUrl(url);
    const problem = redisUrlProblem(url);
    if (problem) throw new RedisOpenError(`bad Redis URL ${where}: ${problem}`);
    const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    const sub = new Redis(url, {
      lazyConnect: true,
      // Subscriptions are restored after a reconnect; a subscribe sent while down waits for the link.
      autoResubscribe: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      connectTimeout: Math.min(connectTimeoutMs, 5_000),
      retryStrategy: (times) => Math.min(100 * times, 1_000),
      connectionName: 'rxchat-bus',
    });
    const lastError = new LastError(sub);
    const bus = new RoomBus(sub, opts);
    await started(sub, where, () => firstReady(sub, connectTimeoutMs, lastError, async () => {
      if (bus.nodeChannel !== undefined) await sub.subscribe(bus.nodeChannel);
    }), () => lastError.value);
    // From here on, the link going down and coming back is told (onLink), once each.
    bus.watching = true;
    return bus;
  }

  private readonly prefix: string;
  private readonly nodeChannel?: string;
  /** Channel → room, for the rooms subscribed. */
  private readonly rooms = new Map<string, string>();
  private up = true;
  private closed = false;
  /** Connected once: link changes before that are connect's to report, not onLink's. */
  private watching = false;

  private constructor(private readonly sub: Redis, private readonly opts: BusOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    if (opts.nodeId !== undefined) this.nodeChannel = nodeChannel(opts.nodeId, this.prefix);
    // Inside ioredis's event handlers: a handler that throws must not become an uncaught exception.
    sub.on('message', (channel: string, payload: string) => {
      try {
        this.message(channel, payload);
      } catch (e) {
        opts.onBadPayload?.(channel, `handling it failed: ${(e as Error)?.message ?? String(e)}`);
      }
    });
    sub.on('error', (e: Error) => this.link(false, e.message));
    sub.on('close', () => this.link(false, 'connection closed'));
    // 'ready' comes after ioredis has sent the subscriptions again (autoResubscribe).
    sub.on('ready', () => this.link(true));
  }

  /** Rooms subscribed now. */
  get size(): number {
    return this.rooms.size;
  }

  /** Listens to `room` (its first local member). Idempotent. */
  join(room: string): void {
    const channel = roomChannel(room, this.prefix);
    if (this.closed || this.rooms.has(channel)) return;
    this.rooms.set(channel, room);
    // A subscribe that fails (the link is down) is sent again by autoResubscribe once it is back.
    this.sub.subscribe(channel).catch(() => undefined);
  }

  /** Stops listening to `room` (its last local member left). Idempotent. */
  leave(room: string): void {
    const channel = roomChannel(room, this.prefix);
    if (this.closed || !this.rooms.delete(channel)) return;
    this.sub.unsubscribe(channel).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rooms.clear();
    await quitLink(this.sub);
  }

  private message(channel: string, payload: string): void {
    if (channel === this.nodeChannel) {
      const m = parseNodeMessage(payload);
      if (typeof m === 'string') this.opts.onBadPayload?.(channel, m);
      else this.opts.onNodeMessage?.(m);
      return;
    }
    // A line published just before an unsubscribe took effect: nobody here wants it.
    const room = this.rooms.get(channel);
    if (room === undefined) return;
    // A line as published now begins with its Seq (a digit); presence events are JSON with a `kind` first
    // (presence.ts), and a line from an older node JSON without one.
    const first = payload.charCodeAt(0);
    if (first >= 48 && first <= 57) {
      const line = parseWireLine(room, payload);
      if (typeof line === 'string') this.opts.onBadPayload?.(channel, line);
      else this.opts.onLine(line);
      return;
    }
    if (payload.startsWith('{"kind":"')) {
      const event = parsePresence(payload);
      if (typeof event === 'string' || event.room !== room) {
        this.opts.onBadPayload?.(channel, typeof event === 'string' ? event : `room "${event.room}" on the channel of "${room}"`);
      } else {
        this.opts.onPresence?.(event);
      }
      return;
    }
    const line = parseLiveLine(payload);
    if (typeof line === 'string' || line.room !== room) {
      this.opts.onBadPayload?.(channel, typeof line === 'string' ? line : `room "${line.room}" on the channel of "${room}"`);
      return;
    }
    this.opts.onLine(line);
  }

  private link(up: boolean, reason?: string): void {
    if (this.closed || !this.watching || up === this.up) return;
    this.up = up;
    try {
      this.opts.onLink?.(up, reason);
    } catch (e) {
      this.opts.onBadPayload?.('(link)', `handling the link ${up ? 'up' : 'down'} failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}
