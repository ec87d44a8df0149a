// The door: what an HTTP upgrade to /ws must pass before ws sees it (docs/security.md
// "The door"): the page's origin, the server's room for one more connection, and the
// client address's share of them. A refused upgrade gets a status and a one-line
// reason, its socket is ended, and nothing of it reaches the hub. Every refusal is
// counted by reason (for /metrics), and logged once a minute per reason at most, so
// that a flood of refusals is not a flood of log lines.
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../ops/logger';
import { addressKey, clientAddress, isLoopback } from './address';
import { originAllowed, originSet, normalizeOrigins } from './origin';

/** Why a request is turned away, its status, and the body that says so (docs/protocol.md "HTTP"). */
export const REFUSALS = {
  bad_target: { status: 400, reason: 'bad request target' },
  not_found: { status: 404, reason: 'not found: the WebSocket endpoint is /ws' },
  method: { status: 405, reason: 'method not allowed: a WebSocket upgrade is a GET' },
  shutting_down: { status: 503, reason: 'server shutting down' },
  origin: { status: 403, reason: 'origin not allowed' },
  max_connections: { status: 503, reason: 'server full: too many connections' },
  conns_per_ip: { status: 429, reason: 'too many connections from your address' },
  conn_rate_per_ip: { status: 429, reason: 'too many new connections from your address' },
  /** With auth on (src/edge/auth.ts, docs/security.md "Identity"): the token, then the room it allows. */
  no_token: { status: 401, reason: 'unauthorized: no token (give ?token= or Authorization: Bearer)' },
  bad_token: { status: 401, reason: 'unauthorized: bad token' },
  token_expired: { status: 401, reason: 'unauthorized: token expired' },
  forbidden_room: { status: 403, reason: 'forbidden: the token does not allow this room' },
  /** Node's own answers, on any request: too slow (--upgrade-timeout), or not HTTP it can parse. */
  timeout: { status: 408, reason: 'Request Timeout' },
  bad_request: { status: 400, reason: 'Bad Request' },
} as const;
export type Refusal = keyof typeof REFUSALS;
export const REFUSAL_REASONS = Object.keys(REFUSALS) as Refusal[];

/** How often a refusal reason is logged at most: the first, then one line a minute with the count since. */
const LOG_EVERY_MS = 60_000;
/** Addresses whose rate of new connections is remembered (the oldest forgotten first): about 6 MB at most. */
export const MAX_TRACKED = 50_000;

export interface AddressLimitOptions {
  /** Connections open at once per address (0: no limit). */
  maxOpen: number;
  /** New connections per address per minute (0: no limit). */
  perMinute: number;
  maxTracked?: number;
}

type Bucket = { tokens: number; at: number };

/**
 * Connections per address: how many are open (bounded by the connections open), and a token bucket
 * of new ones (perMinute at once, refilled at perMinute a minute). The buckets are a Map in order of
 * last use, so the least recently seen address is its first key: each check forgets the oldest ones
 * that would be full again anyway, and past maxTracked the oldest at all. O(1) per check.
 */
export class AddressLimits {
  private readonly open = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxTracked: number;
  private readonly perMs: number;

  constructor(private readonly options: AddressLimitOptions) {
    this.maxTracked = options.maxTracked ?? MAX_TRACKED;
    this.perMs = options.perMinute / 60_000;
  }

  /** Addresses held in memory: with connections open, and with a bucket not yet full. */
  get tracked(): { open: number; buckets: number } {
    return { open: this.open.size, buckets: this.buckets.size };
  }

  /** Takes a place for one more connection from `key`, or says why not (and after how many seconds a new one may come). */
  take(key: string, now: number): { ok: true } | { ok: false; refusal: Refusal; retryAfterS?: number } {
    const { maxOpen, perMinute } = this.options;
    if (maxOpen > 0 && (this.open.get(key) ?? 0) >= maxOpen) return { ok: false, refusal: 'conns_per_ip' };
    if (perMinute > 0) {
      this.forgetFull(now);
      const b = this.buckets.get(key);
      const tokens = b === undefined ? perMinute : Math.min(perMinute, b.tokens + (now - b.at) * this.perMs);
      // Delete, then set: the key moves to the end, the most recently used.
      this.buckets.delete(key);
      if (tokens < 1) {
        this.buckets.set(key, { tokens, at: now });
        return { ok: false, refusal: 'conn_rate_per_ip', retryAfterS: Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000)) };
      }
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      if (this.buckets.size > this.maxTracked) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    if (maxOpen > 0) this.open.set(key, (this.open.get(key) ?? 0) + 1);
    return { ok: true };
  }

  /** One connection from `key` has closed. */
  release(key: string): void {
    if (this.options.maxOpen <= 0) return;
    const n = (this.open.get(key) ?? 0) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }

  /** A bucket untouched for a minute is full: as if never used, so it need not be kept. Two at most per call. */
  private forgetFull(now: number): void {
    for (let i = 0; i < 2; i++) {
      const first = this.buckets.entries().next();
      if (first.done || now - first.value[1].at < 60_000) return;
      this.buckets.delete(first.value[0]);
    }
  }
}

export interface DoorOptions {
  /** --allowed-origins ('' : the request's own host). */
  allowedOrigins: string;
  maxConnsPerIp: number;
  connRatePerIp: number;
  maxConnections: number;
  trustProxy: boolean;
  limitLoopback: boolean;
  log: Logger;
  now?: () => number;
}

export type Verdict =
  | { ok: true; release: () => void }
  | { ok: false; refusal: Refusal; address: string; headers?: Record<string, string> };

export class Door {
  /** Refusals since start, by reason (never reset): for /metrics. */
  readonly refused: Record<Refusal, number> = Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<Refusal, number>;
  private admitted = 0;
  private readonly origins: ReadonlySet<string>;
  private readonly perAddress: AddressLimits;
  private readonly logged = new Map<Refusal, { at: number; since: number }>();
  private readonly now: () => number;

  constructor(private readonly options: DoorOptions) {
    this.origins = originSet(normalizeOrigins(options.allowedOrigins));
    this.perAddress = new AddressLimits({ maxOpen: options.maxConnsPerIp, perMinute: options.connRatePerIp });
    this.now = options.now ?? Date.now;
  }

  /** Sockets let in and not yet closed (handshakes under way and connections closing included). */
  get connections(): number {
    return this.admitted;
  }

  get tracked(): { open: number; buckets: number } {
    return this.perAddress.tracked;
  }

  /**
   * Lets an upgrade in, or says why not. Once in, `release` must be called when its socket closes
   * (server.ts: on the socket's 'close', whatever ends it).
   */
  admit(req: IncomingMessage): Verdict {
    const address = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.options.trustProxy);
    // ws reads a version 8 client's origin from Sec-WebSocket-Origin.
    const origin = req.headers.origin ?? (req.headers['sec-websocket-origin'] as string | undefined);
    if (!originAllowed(origin, req.headers.host, this.origins)) return { ok: false, refusal: 'origin', address };
    const { maxConnections, limitLoopback } = this.options;
    if (maxConnections > 0 && this.admitted >= maxConnections) return { ok: false, refusal: 'max_connections', address };
    const key = limitLoopback || !isLoopback(address) ? addressKey(address) : undefined;
    if (key !== undefined) {
      const taken = this.perAddress.take(key, this.now());
      if (!taken.ok) {
        const headers = taken.retryAfterS === undefined ? undefined : { 'Retry-After': String(taken.retryAfterS) };
        return { ok: false, refusal: taken.refusal, address, headers };
      }
    }
    this.admitted++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.admitted--;
        if (key !== undefined) this.perAddress.release(key);
      },
    };
  }

  /** Counts a refusal and logs it if its reason has not been logged in the last minute. */
  counted(refusal: Refusal, address?: string): void {
    this.refused[refusal]++;
    const now = this.now();
    const last = this.logged.get(refusal);
    if (last !== undefined && now - last.at < LOG_EVERY_MS) {
      last.since++;
      return;
    }
    this.logged.set(refusal, { at: now, since: 0 });
    const { status } = REFUSALS[refusal];
    // count: refusals for this reason since the previous line, this one included.
    this.options.log('info', 'refused', { reason: refusal, status, count: (last?.since ?? 0) + 1, address, next: 'counted, logged again in a minute at most' });
  }
}
