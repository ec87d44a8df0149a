// What the bots count, and the send-time stamp that lets them measure delivery
// latency: a bot appends " ~bot:RUN:MS" (":echo" for echoes) to what it says,
// where MS is performance.now() of this process. Only bots of the same run (one
// process, one clock) turn a stamp into a latency sample.
//
// Samples go into an HdrHistogram (hdr-histogram-js, its plain JS build: no wasm to
// load), so memory stays fixed however long the run, and the summary reads its
// percentiles without sorting anything: 1 µs to 60 s, to 3 significant digits.
import { Histogram, build } from 'hdr-histogram-js';
import type { VerifySummary } from './verify';

export interface Counters {
  sent: number;
  acked: number;
  received: number;
  errors: number;
  /** Delivery latencies in µs, one per line received by a bot of this run. */
  readonly latency: Histogram;
}

const newHistogram = (): Histogram => build({
  lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false,
});

export const newCounters = (): Counters => ({ sent: 0, acked: 0, received: 0, errors: 0, latency: newHistogram() });

/** One delivery latency, in ms (recorded in whole µs, clamped to the histogram's range). */
export function recordLatency(c: Counters, ms: number): void {
  c.latency.recordValue(Math.min(60_000_000, Math.max(1, Math.round(ms * 1000))));
}

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

export interface Summary {
  bots: number;
  connected: number;
  sent: number;
  acked: number;
  received: number;
  errors: number;
  latencyMs: { p50: number | null; p99: number | null; p999: number | null; max: number | null; samples: number };
  durationMs: number;
  /** --verify only: each room's Seq as every receiver got it. */
  verify?: VerifySummary;
}

/** µs to ms, two decimals; null when there were no samples. */
const ms = (h: Histogram, us: number): number | null => (h.totalCount === 0 ? null : Math.round(us / 10) / 100);

export function summarize(c: Counters, bots: number, connected: number, durationMs: number, verify?: VerifySummary): Summary {
  const h = c.latency;
  // A histogram answers a percentile with its bucket's highest value, which can pass the largest sample
  // (6.99 ms recorded, p99.9 "7"): no percentile is more than the max.
  const at = (p: number) => Math.min(h.getValueAtPercentile(p), h.maxValue);
  return {
    bots, connected, sent: c.sent, acked: c.acked, received: c.received, errors: c.errors,
    latencyMs: {
      p50: ms(h, at(50)), p99: ms(h, at(99)), p999: ms(h, at(99.9)), max: ms(h, h.maxValue), samples: h.totalCount,
    },
    durationMs: Math.round(durationMs),
    ...(verify ? { verify } : {}),
  };
}

export function formatSummary(s: Summary): string {
  const show = (v: number | null) => (v === null ? '-' : `${v} ms`);
  const l = s.latencyMs;
  return [
    `bots      ${s.bots} (${s.connected} connected)`,
    `sent      ${s.sent}`,
    `acked     ${s.acked}`,
    `received  ${s.received}`,
    `errors    ${s.errors}`,
    `latency   p50 ${show(l.p50)}  p99 ${show(l.p99)}  p99.9 ${show(l.p999)}  max ${show(l.max)}  (${l.samples} samples)`,
    `duration  ${(s.durationMs / 1000).toFixed(1)} s`,
    ...(s.verify ? [formatVerify(s.verify)] : []),
  ].join('\n');
}

function formatVerify(v: VerifySummary): string {
  return `verify    ${v.checked} Seqs checked at ${v.receivers} receiver×room: ${v.missing} missing, ${v.duplicates} duplicate`
    + `, ${v.trimmed} trimmed, ${v.resets} reset`;
}
