// rooms: many small rooms, everyone sending as fast as acks and deliveries come
// back (a bounded window per sender): aggregate deliveries/s and their cost.
import { connectMany } from '../lib/client';
import { ClosedLoop, Tally } from '../lib/load';
import { sleep } from '../lib/stats';
import { measureDeliveries } from './measure';
import { Ctx, Result, boundNotes } from './types';

export interface RoomsParams {
  rooms: number;
  perRoom: number;
  window: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  pad: number;
}

export const ROOMS: RoomsParams = { rooms: 100, perRoom: 5, window: 2, warmupMs: 1500, measureMs: 6000, drainMs: 3000, pad: 40 };

export async function rooms(ctx: Ctx, p: RoomsParams): Promise<Result> {
  const n = p.rooms * p.perRoom;
  const tally = new Tally(n, n);
  const loop = new ClosedLoop(p.window, p.perRoom - 1, 'x'.repeat(p.pad));
  tally.onDelivered = loop.onDelivered;
  const roomOf = (i: number) => `r${Math.floor(i / p.perRoom)}`;
  const clients = await connectMany(n, 50, (i) =>
    ctx.connect(ctx.url, `m${i}`, roomOf(i), { onChat: tally.receiver(i), onAck: loop.onAck }));
  await sleep(300);
  // Everyone sends; sender index = client index, so refs and contents name the client.
  const sending = loop.run(clients.map((client, i) => ({ client, room: roomOf(i) })), p.warmupMs + p.measureMs);
  const metrics = await measureDeliveries(ctx, p, tally, sending, () => loop.sent * (p.perRoom - 1));
  return { metrics, notes: boundNotes(metrics) };
}
