// The reconnect policy both clients share (scripts/lib/backoff.ts): pure, with time
// and randomness injected, so the accept-then-close loop is shown without a socket.
import { Reconnect, backoffDelay, isPolicyClose, linkUp, nextRetry, STABLE_MS } from '../scripts/lib/backoff';

const B = { baseMs: 500, maxMs: 10_000 };
const mid = () => 0.5; // jitter at its middle: the delay is the exponential itself

describe('reconnect policy', () => {
  it('backs off exponentially, with jitter within 75–125 %, capped', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, B, mid))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    expect(backoffDelay(0, B, () => 0)).toBe(375);
    expect(backoffDelay(0, B, () => 0.999_999)).toBe(625);
  });

  it('keeps backing off against a server that welcomes and then closes at once', () => {
    let r: Reconnect = { attempt: 0 };
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 6; i++) {
      r = linkUp(r, now);          // the welcome arrives...
      now += 5;                    // ...and the link is gone 5 ms later
      const next = nextRetry(r, 1000, now, B, mid);
      r = next.r;
      delays.push(next.delayMs as number);
      now += next.delayMs as number;
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10_000]);
  });

  it('starts again from the first delay once the link had stayed up STABLE_MS', () => {
    let r: Reconnect = { attempt: 5 };
    r = linkUp(r, 1000);
    expect(nextRetry(r, 1006, 1000 + STABLE_MS - 1, B, mid).delayMs).toBe(10_000);
    expect(nextRetry(r, 1006, 1000 + STABLE_MS, B, mid)).toEqual({ r: { attempt: 1 }, delayMs: 500 });
    // A connection that never came up does not count as up.
    expect(nextRetry({ attempt: 2 }, 1006, 1e9, B, mid).delayMs).toBe(2000);
  });

  it('does not retry by itself after a policy close (1008, 4xxx), but does after a slow-reader 4008', () => {
    for (const code of [1008, 4000, 4001, 4403, 4999]) {
      expect(isPolicyClose(code)).toBe(true);
      expect(nextRetry({ attempt: 0, upAt: 0 }, code, 1, B, mid)).toEqual({ r: { attempt: 0 } });
    }
    for (const code of [1000, 1001, 1006, 1009, 1011, 4008]) {
      expect(isPolicyClose(code)).toBe(false);
      expect(nextRetry({ attempt: 0 }, code, 1, B, mid).delayMs).toBe(500);
    }
  });
});
