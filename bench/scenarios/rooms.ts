// rooms: many small rooms, everyone sending as fast as acks and deliveries come
// back (a bounded window per sender): aggregate deliveries/s and their cost.
// rooms-rate: the same rooms at a fixed offered load, below what any of the
// servers sustains, so every server does the same work per second and the cost per
// delivery compares like with like. (In the closed loop a faster server packs more
// frames into each event-loop turn and each writev, so its cost per delivery falls
// with its own throughput, and two runs of one server differ by up to 1.5×.)
import { connectMany } from '../lib/client';
import { ClosedLoop, Tally, openLoop } from '../lib/load';
import { sleep } from '../lib/stats';
import { measureDeliveries } from './measure';
import { Ctx, Result, boundNotes, nodesOf, urlOf } from './types';

export interface RoomsParams {
  rooms: number;
  perRoom: number;
  window: number;
  warmupMs: number;
  measureMs: number;
  drainMs: number;
  pad: number;
  /** Messages a second, all senders together (rooms-rate only). */
  rate: number;
}

export const ROOMS: RoomsParams = { rooms: 100, perRoom: 5, window: 2, warmupMs: 1500, measureMs: 6000, drainMs: 3000, pad: 40, rate: 20_000 };

/**
 * rooms-rate's warm-up, longer than the closed loop's: its figure is CPU per delivery, and a process's user
 * time counts V8's optimizing compiler, which runs on threads of its own while new code gets hot. Measured
 * with `perf record -e cpu-clock:u` on the server in the window (docs/benchmarks.md, "The JIT in the
 * window"): after 1.5 s of load 2.1 % of rxchat-memory's user time there was TurboFan compiling (same-work,
 * with less code, 0.1 %); after 4 s, 0.16 %. A server runs for days: the figure is its steady state.
 */
export const RATE_WARMUP_MS = 5_000;

const roomOf = (p: RoomsParams, i: number) => `r${Math.floor(i / p.perRoom)}`;

/** Everyone joins; sender index = client index, so refs and contents name the client. */
async function members(ctx: Ctx, p: RoomsParams, tally: Tally, onAck?: (ref: number) => void) {
  const clients = await connectMany(p.rooms * p.perRoom, 50, (i) =>
    ctx.connect(urlOf(ctx, i), `m${i}`, roomOf(p, i), { onChat: tally.receiver(i), onAck }));
  await sleep(300);
  return clients.map((client, i) => ({ client, room: roomOf(p, i) }));
}

export async function rooms(ctx: Ctx, p: RoomsParams): Promise<Result> {
  const n = p.rooms * p.perRoom;
  const tally = new Tally(n, n, nodesOf(ctx));
  const loop = new ClosedLoop(p.window, p.perRoom - 1, 'x'.repeat(p.pad));
  tally.onDelivered = loop.onDelivered;
  const senders = await members(ctx, p, tally, loop.onAck);
  const sending = () => loop.run(senders, p.warmupMs + p.measureMs);
  const metrics = await measureDeliveries(ctx, p, tally, sending, () => loop.sent * (p.perRoom - 1), () => loop.sent);
  return { metrics, notes: boundNotes(metrics) };
}

export async function roomsRate(ctx: Ctx, p: RoomsParams): Promise<Result> {
  const n = p.rooms * p.perRoom;
  const tally = new Tally(n, n, nodesOf(ctx));
  const senders = await members(ctx, p, tally);
  const sending = () => openLoop(senders, p.rate, p.warmupMs + p.measureMs, 'x'.repeat(p.pad));
  const metrics = await measureDeliveries(ctx, p, tally, sending, (sent) => sent * (p.perRoom - 1), (sent) => sent);
  return { metrics, notes: boundNotes(metrics) };
}
