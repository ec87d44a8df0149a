// churn: a connect/disconnect storm while a room chats, over a background of idle
// connections. The server's CPU per join+leave cycle must not grow with the
// number of idle connections: run at two background sizes and compare.
import { ChatClient, connectMany } from '../lib/client';
import { Tally, openLoop } from '../lib/load';
import { startWindow } from '../lib/proc';
import { sleep, waitFor } from '../lib/stats';
import { Ctx, Result, boundNotes, interference } from './types';

export interface ChurnParams {
  idle: number;
  /** Stable members of the chatting room; the first two send. */
  members: number;
  rate: number;
  /** Clients connecting and leaving in a loop, each waiting for its Join before it closes. */
  churners: number;
  baselineMs: number;
  measureMs: number;
  drainMs: number;
}

export const CHURN: ChurnParams = {
  idle: 1000, members: 20, rate: 100, churners: 16, baselineMs: 2000, measureMs: 6000, drainMs: 3000,
};

export async function churn(ctx: Ctx, p: ChurnParams): Promise<Result> {
  await connectMany(p.idle, 100, (i) => ctx.connect(ctx.url, `i${i}`, `idle-${Math.floor(i / 10)}`, {}));
  const tally = new Tally(p.members, 2);
  const members = await connectMany(p.members, 20, (i) => ctx.connect(ctx.url, `s${i}`, 'churn', { onChat: tally.receiver(i) }));
  await sleep(300);
  const senders = members.slice(0, 2).map((client) => ({ client, room: 'churn' }));
  const total = p.baselineMs + p.measureMs + 500;
  const sending = openLoop(senders, p.rate, total, 'x'.repeat(20));

  // The chat alone, for the server's CPU rate without churn.
  const base = startWindow(ctx.serverPid);
  await sleep(p.baselineMs);
  const b = base();

  let running = true;
  let measuring = false;
  let cycles = 0;
  let failures = 0;
  const worker = async (k: number) => {
    for (let n = 0; running; n++) {
      try {
        let gone!: () => void;
        const closed = new Promise<void>((r) => (gone = r));
        const c: ChatClient = await ctx.connect(ctx.url, `c${k}-${n}`, 'churn', { onClose: () => gone() });
        c.close();
        await closed;
        if (measuring) cycles++;
      } catch {
        failures++;
        await sleep(50);
      }
    }
  };
  const workers = Array.from({ length: p.churners }, (_, k) => worker(k));
  await sleep(250);
  measuring = true;
  const end = startWindow(ctx.serverPid);
  await sleep(p.measureMs);
  const w = end();
  measuring = false;
  running = false;
  await Promise.all(workers);
  const sent = await sending;
  const expected = sent * (p.members - 1);
  await waitFor(() => tally.received >= expected, p.drainMs);

  // The chat's share of the window is taken out at the baseline's rate.
  const user = w.serverUser - (b.serverUser / b.seconds) * w.seconds;
  const totalCpu = w.serverUser + w.serverSys - ((b.serverUser + b.serverSys) / b.seconds) * w.seconds;
  const metrics = {
    cyclesPerSec: cycles / w.seconds,
    serverUserUsPerCycle: (user * 1e6) / cycles,
    serverTotalUsPerCycle: (totalCpu * 1e6) / cycles,
    baselineServerCore: (b.serverUser + b.serverSys) / b.seconds,
    serverCore: (w.serverUser + w.serverSys) / w.seconds,
    generatorCore: w.generatorCore,
    chatLoss: expected - tally.received,
    reordered: tally.reordered,
    failures,
    ...interference(w),
  };
  return { metrics, notes: boundNotes(metrics) };
}
