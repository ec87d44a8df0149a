// Reconnect policy, shared by every reconnecting client (the client library in
// src/client/, and until they move onto it the web page's web/src/socket.ts and
// scripts/lib/client.ts): exponential delays with jitter, so that a restarted server
// is not hit by every client in the same millisecond; a backoff that starts again
// only after a link that stayed up, so that a server that accepts and then closes at
// once is not hammered; and no retry at all after a policy close.
// Pure: time and randomness are injected. (No Node imports: the web bundles it.)

export interface Backoff {
  /** The first delay, in ms. */
  baseMs: number;
  /** The ceiling, in ms. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 500, maxMs: 10_000 };

/** How long a link must stay up before the next loss starts the backoff again. */
export const STABLE_MS = 10_000;

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * base * 2^attempt, capped, then spread over 75–125 % of that and capped again.
 */
export function backoffDelay(attempt: number, b: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.min(b.maxMs, exp * (0.75 + random() * 0.5)));
}

/**
 * A close the server meant: 1008 (policy: a refused ?name= or ?room=, or a server that
 * turns us away) and the application codes 4000–4999, except 4008 (we read too slowly,
 * protocol.md), after which a fresh connection is the cure. Retrying these by ourselves
 * would only hammer a server that said no; the user decides.
 */
export const isPolicyClose = (code: number): boolean =>
  code === 1008 || (code >= 4000 && code <= 4999 && code !== 4008);

/** Where the reconnect loop stands: retries since the last stable link, and when the link came up. */
export interface Reconnect {
  readonly attempt: number;
  /** When the current link was welcomed (absent while down). */
  readonly upAt?: number;
}

export const linkUp = (r: Reconnect, now: number): Reconnect => ({ attempt: r.attempt, upAt: now });

/**
 * The link is gone (close `code` at `now`): the delay before the next try, or none
 * (delayMs absent) after a policy close. The count of attempts starts again only
 * when the link had stayed up STABLE_MS; a welcome alone proves nothing.
 */
export function nextRetry(
  r: Reconnect, code: number, now: number, b: Backoff = DEFAULT_BACKOFF, random: () => number = Math.random,
): { r: Reconnect; delayMs?: number } {
  const attempt = r.upAt !== undefined && now - r.upAt >= STABLE_MS ? 0 : r.attempt;
  if (isPolicyClose(code)) return { r: { attempt } };
  return { r: { attempt: attempt + 1 }, delayMs: backoffDelay(attempt, b, random) };
}
