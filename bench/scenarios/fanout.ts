// fanout: one big room, a few senders at a fixed total rate: delivery latency.
// fanout-max: the same room, senders as fast as the server keeps up (a bounded
// window of unacknowledged, undelivered messages per sender): deliveries/s.
import { connectMany } from '../lib/client';
import { ClosedLoop, Tally, openLoop } from '../lib/load';
import { startWindow } from '../lib/proc';
import { sleep, waitFor } from '../lib/stats';
import { Ctx, Result, boundNotes, costs } from './types';

export interface FanoutParams {
  clients: number;
  senders: number;
  /** Messages a second, all senders together (fanout only). */
  rate: number;
  /** Outstanding messages per sender (fanout-max only). */
  window: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  /** Characters of padding in each Content. */
  pad: number;
}

export const FANOUT: FanoutParams = {
  clients: 200, senders: 10, rate: 200, window: 8, warmupMs: 1500, measureMs: 6000, drainMs: 3000, pad: 40,
};

async function room(ctx: Ctx, p: FanoutParams, tally: Tally, onAck?: (ref: number) => void) {
  const clients = await connectMany(p.clients, 50, (i) =>
    ctx.connect(ctx.url, `b${i}`, 'fanout', { onChat: tally.receiver(i), onAck }));
  // Let the Connected notices of the last joiners pass before measuring.
  await sleep(300);
  return clients.slice(0, p.senders).map((client) => ({ client, room: 'fanout' }));
}

export async function fanout(ctx: Ctx, p: FanoutParams): Promise<Result> {
  const tally = new Tally(p.clients, p.senders);
  const senders = await room(ctx, p, tally);
  const pad = 'x'.repeat(p.pad);
  const sending = openLoop(senders, p.rate, p.warmupMs + p.measureMs, pad);
  await sleep(p.warmupMs);
  tally.measuring = true;
  const end = startWindow(ctx.serverPid);
  await sleep(p.measureMs);
  const w = end();
  tally.measuring = false;
  const sent = await sending;
  const expected = sent * (p.clients - 1);
  await waitFor(() => tally.received >= expected, p.drainMs);
  const lat = tally.latency.summary();
  const metrics = {
    p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max,
    ...costs(w, tally.inWindow),
    loss: expected - tally.received, reordered: tally.reordered,
  };
  return { metrics, notes: boundNotes(metrics) };
}

export async function fanoutMax(ctx: Ctx, p: FanoutParams): Promise<Result> {
  const tally = new Tally(p.clients, p.senders);
  const loop = new ClosedLoop(p.window, p.clients - 1, 'x'.repeat(p.pad));
  tally.onDelivered = loop.onDelivered;
  const senders = await room(ctx, p, tally, loop.onAck);
  const sending = loop.run(senders, p.warmupMs + p.measureMs);
  await sleep(p.warmupMs);
  tally.measuring = true;
  const end = startWindow(ctx.serverPid);
  await sleep(p.measureMs);
  const w = end();
  tally.measuring = false;
  await sending;
  const expected = loop.sent * (p.clients - 1);
  await waitFor(() => tally.received >= expected, p.drainMs);
  const lat = tally.latency.summary();
  const metrics = {
    ...costs(w, tally.inWindow),
    p50Ms: lat.p50, p99Ms: lat.p99,
    loss: expected - tally.received, reordered: tally.reordered,
  };
  return { metrics, notes: boundNotes(metrics) };
}
