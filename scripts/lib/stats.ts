// What the bots count, and the send-time stamp that lets them measure delivery
// latency: a bot appends " ~bot:RUN:MS" (":echo" for echoes) to what it says,
// where MS is performance.now() of this process. Only bots of the same run (one
// process, one clock) turn a stamp into a latency sample.

export interface Counters {
  sent: number;
  acked: number;
  received: number;
  errors: number;
  /** Delivery latencies in ms, one per line received by a bot of this run. */
  latencies: number[];
}

export const newCounters = (): Counters => ({ sent: 0, acked: 0, received: 0, errors: 0, latencies: [] });

export interface Stamp {
  run: string;
  sentAt: number;
  echo: boolean;
}

const STAMP = / ~bot:([A-Za-z0-9_-]+):(\d+(?:\.\d+)?)(:echo)?$/;

export const stamp = (text: string, run: string, now: number, echo = false): string =>
  `${text} ~bot:${run}:${now.toFixed(3)}${echo ? ':echo' : ''}`;

export function readStamp(content: string): { text: string; stamp?: Stamp } {
  const m = STAMP.exec(content);
  if (!m) return { text: content };
  return { text: content.slice(0, m.index), stamp: { run: m[1], sentAt: Number(m[2]), echo: m[3] !== undefined } };
}

/** Nearest-rank percentile of ascending values; undefined when there are none. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export interface Summary {
  bots: number;
  connected: number;
  sent: number;
  acked: number;
  received: number;
  errors: number;
  latencyMs: { p50: number | null; p99: number | null; max: number | null; samples: number };
  durationMs: number;
}

const round = (n: number | undefined): number | null => (n === undefined ? null : Math.round(n * 100) / 100);

export function summarize(c: Counters, bots: number, connected: number, durationMs: number): Summary {
  const sorted = [...c.latencies].sort((a, b) => a - b);
  return {
    bots, connected, sent: c.sent, acked: c.acked, received: c.received, errors: c.errors,
    latencyMs: {
      p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)),
      max: round(sorted[sorted.length - 1]), samples: sorted.length,
    },
    durationMs: Math.round(durationMs),
  };
}

export function formatSummary(s: Summary): string {
  const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
  return [
    `bots      ${s.bots} (${s.connected} connected)`,
    `sent      ${s.sent}`,
    `acked     ${s.acked}`,
    `received  ${s.received}`,
    `errors    ${s.errors}`,
    `latency   p50 ${ms(s.latencyMs.p50)}  p99 ${ms(s.latencyMs.p99)}  max ${ms(s.latencyMs.max)}  (${s.latencyMs.samples} samples)`,
    `duration  ${(s.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
