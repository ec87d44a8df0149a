// randomEpoch (src/store/memory.ts): every log's new rooms take their Epoch from it, and a cluster node a
// candidate for every room of every batch, from random bytes drawn in blocks. An Epoch must tell one history
// from another: no repeats, every character of the alphabet about equally likely, none outside it.
import { randomEpoch } from '../src/store/memory';

describe('randomEpoch', () => {
  it('gives 8 characters of [A-Za-z0-9], never the same twice across many blocks of random bytes', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const e = randomEpoch();
      expect(e).toMatch(/^[A-Za-z0-9]{8}$/);
      seen.add(e);
    }
    // 20,000 epochs draw well over 100,000 random bytes, many blocks: a block used twice would repeat epochs.
    expect(seen.size).toBe(20_000);
  });

  it('uses every character about equally often', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) for (const c of randomEpoch()) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // 80,000 characters over 62: ~1,290 each (± ~36). A biased draw (b % 62 of every byte, say) would give
    // 8 characters 5 chances in 256 against 4: near 1,600 each.
    for (const n of counts.values()) expect(n).toBeGreaterThan(1_100);
    for (const n of counts.values()) expect(n).toBeLessThan(1_480);
  });
});
