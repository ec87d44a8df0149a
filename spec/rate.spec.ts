// The message rate's token bucket (src/core/rate.ts): pure, time passed in.
import fc from 'fast-check';
import { FLOOD_MS, QUIET_MS, RateLimit, fullBucket, rateLimit, take } from '../src/core/rate';

const LIMIT: RateLimit = { rate: 10, burst: 20 };

/** Sends a frame at each time in turn; the verdicts. */
function verdicts(limit: RateLimit, times: readonly number[]): string[] {
  let b = fullBucket(limit, times[0] ?? 0);
  return times.map((at) => {
    const t = take(limit, b, at);
    b = t.bucket;
    return t.verdict;
  });
}

describe('rate: the token bucket', () => {
  it('takes a burst of `burst` frames at once, and refuses the next with the time to wait', () => {
    let b = fullBucket(LIMIT, 0);
    for (let i = 0; i < 20; i++) {
      const t = take(LIMIT, b, 0);
      expect(t.verdict).toBe('ok');
      b = t.bucket;
    }
    expect(take(LIMIT, b, 0)).toMatchObject({ verdict: 'refused', retryMs: 100 });
    // 40 ms later, 60 ms to go.
    expect(take(LIMIT, b, 40)).toMatchObject({ verdict: 'refused', retryMs: 60 });
    expect(take(LIMIT, b, 100).verdict).toBe('ok');
  });

  it('refills at `rate` per second, never past `burst`', () => {
    const b = { ...fullBucket(LIMIT, 0), tokens: 0 };
    expect(take(LIMIT, b, 500).bucket.tokens).toBeCloseTo(4); // 5 refilled, 1 taken
    expect(take(LIMIT, b, 60_000).bucket.tokens).toBe(19);
  });

  it('a refused frame takes nothing: waiting RetryMs always gets the next one through', () => {
    const b = { ...fullBucket(LIMIT, 0), tokens: 0.25 };
    const t = take(LIMIT, b, 0);
    expect(t).toMatchObject({ verdict: 'refused', retryMs: 75 });
    expect(t.bucket.tokens).toBe(0.25);
    expect(take(LIMIT, t.bucket, 75).verdict).toBe('ok');
  });

  it('a clock that goes back refills nothing', () => {
    const b = { ...fullBucket(LIMIT, 1000), tokens: 0 };
    expect(take(LIMIT, b, 0)).toMatchObject({ verdict: 'refused', bucket: { tokens: 0, at: 1000 } });
  });

  it('floods once it has sent while told to wait for FLOOD_MS, with no quiet second', () => {
    // 50 frames a second, from t = 0: the burst goes in 0.4 s, then most are refused.
    const times = Array.from({ length: 600 }, (_, i) => i * 20);
    const v = verdicts(LIMIT, times);
    const firstRefused = times[v.indexOf('refused')];
    const flooding = times[v.indexOf('flooding')];
    // The first refusal tells it to wait; the frame after it, 20 ms on, is the first sent while told to wait.
    expect(flooding - firstRefused).toBe(FLOOD_MS + 20);
  });

  it('a client a little over the rate, which waits when told, is refused now and then but never closed', () => {
    // 11 frames a second for a minute, at rate 10.
    const v = verdicts(LIMIT, Array.from({ length: 660 }, (_, i) => Math.round(i * (1000 / 11))));
    expect(v.filter((x) => x === 'refused').length).toBeGreaterThan(10);
    expect(v).not.toContain('flooding');
  });

  it('a quiet second ends the streak: bursts now and then are refused, never closed', () => {
    // 30 frames at once every 2 s, for a minute.
    const times = Array.from({ length: 30 }, (_, k) => Array.from({ length: 30 }, () => k * 2000)).flat();
    const v = verdicts(LIMIT, times);
    expect(v).toContain('refused');
    expect(v).not.toContain('flooding');
    expect(QUIET_MS).toBeLessThan(2000);
  });

  it('is off when either flag is 0', () => {
    expect(rateLimit(0, 20)).toBeUndefined();
    expect(rateLimit(10, 0)).toBeUndefined();
    expect(rateLimit(10, 20)).toEqual(LIMIT);
  });

  it('property: over any span, no more than burst + rate × span frames are taken', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 40 }),
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 300 }),
      (rate, burst, gaps) => {
        const limit = { rate, burst };
        const times: number[] = [];
        gaps.reduce((t, g) => (times.push(t + g), t + g), 0);
        const v = verdicts(limit, times);
        const taken = times.filter((_, i) => v[i] === 'ok');
        for (let i = 0; i < taken.length; i++) {
          for (let j = i; j < taken.length; j++) {
            // Frames i..j taken within taken[j] - taken[i] ms.
            expect(j - i + 1).toBeLessThanOrEqual(burst + ((taken[j] - taken[i]) * rate) / 1000 + 1e-9);
          }
        }
      },
    ));
  });

  it('property: a client that waits RetryMs after each refusal is never refused twice in a row, nor closed', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 200 }),
      (rate, burst, n) => {
        const limit = { rate, burst };
        let b = fullBucket(limit, 0);
        let at = 0;
        for (let i = 0; i < n; i++) {
          const t = take(limit, b, at);
          b = t.bucket;
          expect(t.verdict).not.toBe('flooding');
          if (t.verdict !== 'ok') {
            at += t.retryMs;
            const again = take(limit, b, at);
            expect(again.verdict).toBe('ok');
            b = again.bucket;
          }
        }
      },
    ));
  });
});
