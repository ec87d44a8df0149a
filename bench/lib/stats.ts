// Small statistics for the bench: percentiles of a sample, medians of repetitions.

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** A growable sample of latencies (ms) kept in a typed array. */
export class Sample {
  private data = new Float64Array(1 << 16);
  private n = 0;

  add(x: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = x;
  }

  get size(): number {
    return this.n;
  }

  /** p50, p99 and max, in the unit added. */
  summary(): { p50: number; p99: number; max: number } {
    const s = this.data.slice(0, this.n).sort();
    return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: this.n ? s[this.n - 1] : NaN };
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until cond() holds or ms pass; polls every 10 ms. Resolves with cond's last value. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() >= end) return false;
    await sleep(10);
  }
  return true;
}
