// rest: the server's resident memory when it has started and nobody is connected,
// read from /proc after it has settled. What a user's `npm start` holds before the
// first client (issue 12: ≤ 60 MB for rxchat).
import { procRssKb } from '../lib/proc';
import { sleep } from '../lib/stats';
import { Ctx, Result } from './types';

export interface RestParams {
  /** Idle time before reading: past start-up's garbage and first timers. */
  settleMs: number;
}

export const REST: RestParams = { settleMs: 3000 };

export async function rest(ctx: Ctx, p: RestParams): Promise<Result> {
  await sleep(p.settleMs);
  return { metrics: { rssAtRestMb: procRssKb(ctx.serverPid) / 1024 }, notes: [] };
}
