// fanout: one big room, a few senders at a fixed total rate: delivery latency.
// fanout-max: the same room, senders as fast as the server keeps up (a bounded
// window of unacknowledged, undelivered messages per sender): deliveries/s.
import { connectMany } from '../lib/client';
import { ClosedLoop, Tally, openLoop } from '../lib/load';
import { sleep } from '../lib/stats';
import { measureDeliveries } from './measure';
import { Ctx, Result, boundNotes, nodesOf, urlOf } from './types';

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
    ctx.connect(urlOf(ctx, i), `b${i}`, 'fanout', { onChat: tally.receiver(i), onAck }));
  // Let the Connected notices of the last joiners pass before measuring.
  await sleep(300);
  return clients.slice(0, p.senders).map((client) => ({ client, room: 'fanout' }));
}

export async function fanout(ctx: Ctx, p: FanoutParams): Promise<Result> {
  const tally = new Tally(p.clients, p.senders, nodesOf(ctx));
  const senders = await room(ctx, p, tally);
  const sending = () => openLoop(senders, p.rate, p.warmupMs + p.measureMs, 'x'.repeat(p.pad));
  const metrics = await measureDeliveries(ctx, p, tally, sending, (sent) => sent * (p.clients - 1), (sent) => sent);
  return { metrics, notes: boundNotes(metrics) };
}

export async function fanoutMax(ctx: Ctx, p: FanoutParams): Promise<Result> {
  const tally = new Tally(p.clients, p.senders, nodesOf(ctx));
  const loop = new ClosedLoop(p.window, p.clients - 1, 'x'.repeat(p.pad));
  tally.onDelivered = loop.onDelivered;
  const senders = await room(ctx, p, tally, loop.onAck);
  const sending = () => loop.run(senders, p.warmupMs + p.measureMs);
  const metrics = await measureDeliveries(ctx, p, tally, sending, () => loop.sent * (p.clients - 1), () => loop.sent);
  return { metrics, notes: boundNotes(metrics) };
}
