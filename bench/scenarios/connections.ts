// connections: many idle clients (rooms of 10) with the heartbeat on: the
// server's RSS per connection (over the whole run, and at the margin), the time
// to connect them all, and whether all of them are still there after a
// heartbeat round.
import { ChatClient, connectMany } from '../lib/client';
import { procRssKb, startWindow } from '../lib/proc';
import { sleep } from '../lib/stats';
import { Ctx, Result, disturbedNotes, interference } from './types';

export interface ConnectionsParams {
  connections: number;
  perRoom: number;
  concurrency: number;
  /** Idle time after the last connect: longer than the heartbeat interval, so pings have gone out. */
  settleMs: number;
}

export const CONNECTIONS: ConnectionsParams = { connections: 10_000, perRoom: 10, concurrency: 100, settleMs: 6000 };

export async function connections(ctx: Ctx, p: ConnectionsParams): Promise<Result> {
  await sleep(500);
  const before = procRssKb(ctx.serverPid);
  let dropped = 0;
  const connect = (from: number, count: number) => connectMany(count, p.concurrency, (j) =>
    ctx.connect(ctx.url, `i${from + j}`, `idle-${Math.floor((from + j) / p.perRoom)}`, { onClose: () => dropped++ }));
  // Two halves: the whole-run figure carries the fixed cost of a heap that grows
  // its young generation under load (more for a server that makes more garbage);
  // the second half's growth is the marginal cost of one more connection.
  const half = Math.floor(p.connections / 2);
  const window = startWindow(ctx.serverPid);
  let t0 = performance.now();
  const clients: ChatClient[] = await connect(0, half);
  let connectMs = performance.now() - t0;
  await sleep(p.settleMs);
  const mid = procRssKb(ctx.serverPid);
  t0 = performance.now();
  clients.push(...await connect(half, p.connections - half));
  connectMs += performance.now() - t0;
  const connectSeconds = connectMs / 1000;
  const w = window();
  await sleep(p.settleMs);
  const after = procRssKb(ctx.serverPid);
  const held = clients.filter((c) => c.isOpen).length;
  const metrics = {
    rssPerConnKb: (after - before) / p.connections,
    rssMarginalKb: (after - mid) / (p.connections - half),
    rssBeforeMb: before / 1024,
    rssAfterMb: after / 1024,
    connectSeconds,
    connectsPerSec: p.connections / connectSeconds,
    held,
    dropped,
    generatorCore: w.generatorCore,
    ...interference(w),
  };
  const notes = held < p.connections ? [`only ${held} of ${p.connections} connections held`] : [];
  if (metrics.generatorCore >= 0.9) notes.push('connect time generator-bound');
  notes.push(...disturbedNotes(metrics));
  return { metrics, notes };
}
