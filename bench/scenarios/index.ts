// The suite: every scenario run, with its sizes (full and --quick), the heartbeat
// the servers are started with, and the figures the summary table shows.
import { CHURN, churn } from './churn';
import { CONNECTIONS, connections } from './connections';
import { FANOUT, fanout, fanoutMax } from './fanout';
import { REST, rest } from './rest';
import { RATE_WARMUP_MS, ROOMS, rooms, roomsRate } from './rooms';
import { Ctx, Result } from './types';

export interface Shown {
  key: string;
  label: string;
  /** Which way is better, for reading the ratio. */
  better: 'lower' | 'higher';
  digits: number;
}

export interface Instance {
  name: string;
  heartbeat: { intervalMs: number; timeoutMs: number };
  run: (ctx: Ctx) => Promise<Result>;
  shown: Shown[];
}

const DEFAULT_HEARTBEAT = { intervalMs: 25_000, timeoutMs: 60_000 };
const lower = (key: string, label: string, digits = 2): Shown => ({ key, label, better: 'lower', digits });
const higher = (key: string, label: string, digits = 0): Shown => ({ key, label, better: 'higher', digits });

const COST: Shown[] = [
  lower('serverUserUsPerDelivery', 'server user µs/delivery'),
  lower('serverTotalUsPerDelivery', 'server user+sys µs/delivery'),
];
const LOAD: Shown[] = [
  lower('generatorCore', 'generator core', 2),
  lower('othersOnServerCore', "other processes on server's core", 2),
];
const HONESTY: Shown[] = [lower('loss', 'loss (frames)', 0), lower('reordered', 'reordered', 0), ...LOAD];

/** `rate`: rooms-rate's lines a second, all senders together, in place of ROOMS.rate (`npm run bench -- --rate N`). */
export function suite(quick: boolean, rate?: number): Instance[] {
  const q = <T>(full: T, small: Partial<T>): T => (quick ? { ...full, ...small } : full);
  const fan = q(FANOUT, { clients: 20, senders: 2, rate: 100, window: 4, warmupMs: 300, measureMs: 1000, drainMs: 1000 });
  const rms = q(ROOMS, { rooms: 10, perRoom: 5, warmupMs: 300, measureMs: 1000, drainMs: 1000, rate: 1000 });
  const conns = q(CONNECTIONS, { connections: 300, settleMs: 1500 });
  const rst = q(REST, { settleMs: 1000 });
  const chn = q(CHURN, { members: 5, churners: 4, baselineMs: 500, measureMs: 1000, drainMs: 1000 });
  const churnAt = (idle: number): Instance => ({
    name: `churn-${idle}`,
    heartbeat: DEFAULT_HEARTBEAT,
    run: (ctx) => churn(ctx, { ...chn, idle }),
    shown: [
      lower('serverUserUsPerCycle', 'server user µs/join+leave', 0),
      lower('serverTotalUsPerCycle', 'server user+sys µs/join+leave', 0),
      higher('cyclesPerSec', 'join+leave cycles/s'),
      lower('chatLoss', 'chat loss', 0),
      ...LOAD,
    ],
  });
  return [
    {
      name: 'rest',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => rest(ctx, rst),
      shown: [lower('rssAtRestMb', 'server RSS MiB at rest', 1)],
    },
    {
      name: 'fanout',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => fanout(ctx, fan),
      shown: [lower('p50Ms', 'p50 ms'), lower('p99Ms', 'p99 ms'), lower('maxMs', 'max ms'), higher('deliveriesPerSec', 'deliveries/s'), ...COST, ...HONESTY],
    },
    {
      name: 'fanout-max',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => fanoutMax(ctx, fan),
      shown: [higher('deliveriesPerSec', 'deliveries/s'), ...COST, lower('serverCore', 'server core'), ...HONESTY],
    },
    {
      name: 'rooms',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => rooms(ctx, rms),
      shown: [higher('deliveriesPerSec', 'deliveries/s'), ...COST, lower('serverCore', 'server core'), ...HONESTY],
    },
    {
      name: 'rooms-rate',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => roomsRate(ctx, { ...(quick ? rms : { ...rms, warmupMs: RATE_WARMUP_MS }), ...(rate === undefined ? {} : { rate }) }),
      shown: [...COST, higher('deliveriesPerSec', 'deliveries/s'), lower('p50Ms', 'p50 ms'), lower('p99Ms', 'p99 ms'), lower('serverCore', 'server core'), ...HONESTY],
    },
    {
      name: 'connections',
      // protocol.md's heartbeat, shortened so that pings go out during the run.
      heartbeat: { intervalMs: 5_000, timeoutMs: 15_000 },
      run: (ctx) => connections(ctx, conns),
      shown: [
        lower('rssPerConnKb', 'server RSS KiB/connection'),
        lower('rssMarginalKb', 'server RSS KiB/connection, second half'),
        lower('connectSeconds', `s to connect ${conns.connections}`),
        higher('held', 'connections held'),
        ...LOAD,
      ],
    },
    churnAt(quick ? 100 : 1000),
    churnAt(quick ? 500 : 5000),
  ];
}
