// Reconnect delays: exponential with jitter, so that a restarted server is not
// hit by every client in the same millisecond. Pure: randomness is injected.

export interface Backoff {
  /** The first delay, in ms. */
  baseMs: number;
  /** The ceiling, in ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 500, maxMs: 10_000 };

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * base * 2^attempt, capped, then spread over 75–125 % of that and capped again.
 */
export function backoffDelay(attempt: number, b: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.min(b.maxMs, exp * (0.75 + random() * 0.5)));
}
