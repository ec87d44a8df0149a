// A connection's message rate as a token bucket (issue 9, "abuse limits"): pure,
// no timers and no clock. The edge keeps one Bucket per connection (made at its
// first frame, so an idle connection holds none) and passes the time of each
// frame; the bucket refills by what that time says. O(1) per frame, five numbers
// per connection, and nothing at all runs between frames.
//
// Every frame a client sends counts, HeartBeat and malformed ones included: each
// costs a decode, a step of the hub and a reply, so a type left out would be a
// free channel for a flood. A client's own HeartBeat (one per ~25 s) uses a
// sliver of the budget; WebSocket pongs are not frames and do not count.

export interface RateLimit {
  /** Frames per second, refilled continuously. */
  readonly rate: number;
  /** Frames that may come at once (the bucket's size). */
  readonly burst: number;
}

export interface Bucket {
  /** Frames it may send now (fractional: the refill is continuous). */
  readonly tokens: number;
  /** When `tokens` was counted (ms). */
  readonly at: number;
  /** Until when its last refusal told it to wait (its RetryMs); -1: never refused. */
  readonly until: number;
  /** When its current streak of frames sent while told to wait began; -1: none. */
  readonly since: number;
  /** The last frame it sent while told to wait (ms); -1: none. */
  readonly last: number;
}

/**
 * A client that keeps sending while told to wait (a frame refused before the RetryMs
 * of the refusal before it had passed) for this long, with no quiet second, is closed
 * with 4029. A client that waits RetryMs when refused is never closed, however much it
 * sends: it is only slowed to the rate.
 */
export const FLOOD_MS = 10_000;
/** A streak of frames sent while told to wait ends when this long passes without one. */
export const QUIET_MS = 1_000;

export type Take =
  | { readonly verdict: 'ok'; readonly bucket: Bucket }
  /** Not taken: `retryMs` until the bucket holds a frame again. */
  | { readonly verdict: 'refused'; readonly bucket: Bucket; readonly retryMs: number }
  /** Refused, and it has kept sending while told to wait for FLOOD_MS: close the connection. */
  | { readonly verdict: 'flooding'; readonly bucket: Bucket; readonly retryMs: number };

/** A full bucket at `at`: a new connection may send `burst` frames at once. */
export const fullBucket = (limit: RateLimit, at: number): Bucket => ({ tokens: limit.burst, at, until: -1, since: -1, last: -1 });

/**
 * One frame at `at`: taken if the bucket, refilled to `at`, holds one. A refused
 * frame takes nothing (the client loses no budget by asking). A clock that goes
 * back refills nothing.
 */
export function take(limit: RateLimit, b: Bucket, at: number): Take {
  const now = Math.max(at, b.at);
  const tokens = Math.min(limit.burst, b.tokens + ((now - b.at) * limit.rate) / 1000);
  if (tokens >= 1) {
    return { verdict: 'ok', bucket: { tokens: tokens - 1, at: now, until: b.until, since: b.since, last: b.last } };
  }
  const retryMs = Math.max(1, Math.ceil(((1 - tokens) * 1000) / limit.rate));
  const until = now + retryMs;
  if (now >= b.until) {
    // It waited as told (or was never told): refused, and no nearer to being closed.
    return { verdict: 'refused', bucket: { tokens, at: now, until, since: b.since, last: b.last }, retryMs };
  }
  const since = b.since >= 0 && now - b.last < QUIET_MS ? b.since : now;
  const bucket: Bucket = { tokens, at: now, until, since, last: now };
  return now - since >= FLOOD_MS ? { verdict: 'flooding', bucket, retryMs } : { verdict: 'refused', bucket, retryMs };
}

/** The limit a server runs with: none when either flag is 0 (`--msg-rate 0` turns it off). */
export const rateLimit = (rate: number, burst: number): RateLimit | undefined =>
  (rate > 0 && burst > 0 ? { rate, burst } : undefined);
