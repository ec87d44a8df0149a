// The measured part every chat scenario shares: warm up, one window of server
// CPU, a bounded drain, then what arrived against what was expected.
import { Tally } from '../lib/load';
import { startWindow } from '../lib/proc';
import { sleep, waitFor } from '../lib/stats';
import { Ctx, Metrics, costs } from './types';

export interface Phases {
  warmupMs: number;
  measureMs: number;
  drainMs: number;
}

/** `sending` resolves when the senders stop; `expected` turns what it gives into the deliveries due. */
export async function measureDeliveries<T>(
  ctx: Ctx, p: Phases, tally: Tally, sending: Promise<T>, expected: (done: T) => number,
): Promise<Metrics> {
  await sleep(p.warmupMs);
  tally.measuring = true;
  const end = startWindow(ctx.serverPid);
  await sleep(p.measureMs);
  const w = end();
  tally.measuring = false;
  const want = expected(await sending);
  await waitFor(() => tally.received >= want, p.drainMs);
  const lat = tally.latency.summary();
  return {
    ...costs(w, tally.inWindow),
    p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max,
    loss: want - tally.received, reordered: tally.reordered,
  };
}
