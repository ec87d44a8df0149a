// randomEpoch (src/store/memory.ts): every log's new rooms take their Epoch from it, and a cluster node a
// candidate for every room of every batch, drawn from a pool of random bytes. An Epoch must tell one history
// from another: no repeats, every character of the alphabet about equally likely, none outside it.
import { randomEpoch } from '../src/store/memory';

describe('randomEpoch', () => {
  it('gives 8 characters of [A-Za-z0-9], never the same twice across many pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const e = randomEpoch();
      expect(e).toMatch(/^[A-Za-z0-9]{8}$/);
      seen.add(e);
    }
    // 20,000 epochs use ~170,000 random bytes: the pool is refilled ~40 times; a reused block would repeat epochs.
    expect(seen.size).toBe(20_000);
  });

  it('uses every character about equally often', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) for (const c of randomEpoch()) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 80,000 characters over 62: ~1,290 each (± ~36). Taking b % 62 of every byte, without skipping those of
    // 248 and over, would draw 8 characters 5 times in 256 against 4: near 1,600 each.
    for (const n of counts.values()) expect(n).toBeGreaterThan(1_100);
    for (const n of counts.values()) expect(n).toBeLessThan(1_480);
  });
});
