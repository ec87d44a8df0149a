// `npm run bench -- --cluster` (issue 8, "Speed"): the chat-line scenarios against
// several processes sharing one Redis, clients spread over the nodes (client i on
// node i % nodes, so every room has members on both), and what Redis did per message.
//
// - fanout: 200 in a room at a fixed 200 lines/s (~40k deliveries/s, as in the
//   one-process suite): latency, across nodes and within one.
// - rooms-rate: 100 rooms of 5 at a fixed 2,500 lines/s (10k deliveries/s: 20k overloaded
//   every two-node target on this shared 2-core machine): CPU per delivery, each node's and summed.
// - redis-5, redis-500: one room of 5, one of 500, at the same 50 lines/s: Redis
//   commands and round trips per message, which must not grow with the room.
import { FANOUT, FanoutParams, fanout } from './fanout';
import type { Instance, Shown } from './index';
import { ROOMS, roomsRate } from './rooms';

const DEFAULT_HEARTBEAT = { intervalMs: 25_000, timeoutMs: 60_000 };
const lower = (key: string, label: string, digits = 2): Shown => ({ key, label, better: 'lower', digits });
const higher = (key: string, label: string, digits = 0): Shown => ({ key, label, better: 'higher', digits });

const COST: Shown[] = [
  lower('serverUserUsPerDelivery', 'user µs/delivery, all nodes summed'),
  lower('node0UserUsPerDelivery', 'node A user µs per delivery to its clients'),
  lower('node1UserUsPerDelivery', 'node B user µs per delivery to its clients'),
  lower('serverTotalUsPerDelivery', 'user+sys µs/delivery, all nodes summed'),
];
const REDIS: Shown[] = [
  lower('redisCommandsPerMessage', 'Redis commands/message (scripts\' own counted)'),
  lower('redisScriptsPerMessage', 'Redis script calls/message'),
  lower('redisReadsPerMessage', 'Redis reads (round trips)/message'),
  lower('redisCommandUsPerMessage', 'Redis µs in commands/message (commandstats usec)'),
  lower('redisCpuUsPerMessage', 'Redis CPU µs/message'),
];
const HONESTY: Shown[] = [
  lower('loss', 'loss (frames)', 0),
  lower('reordered', 'reordered', 0),
  lower('generatorCore', 'generator core'),
  lower('othersOnMachine', 'other processes (cores)'),
];

/** The fixed rooms-rate load: below what every target sustains with two nodes, a generator and Redis on 2 cores. */
export const CLUSTER_ROOMS_RATE = 2_500;
const SIZE_RATE = 50;
/**
 * The warm-up of the two scenarios whose figure is CPU per delivery. At these rates (a few thousand lines
 * a second over two nodes) new code gets hot slowly, and a process's user time counts V8's optimizing
 * compiler on its own threads: with 1.5 s of warm-up it was 10 % of an rxchat node's user time in the
 * window, 1.4 % after 8 s, none after 15 s (`perf record -e cpu-clock:u`; docs/benchmarks.md, "The JIT in
 * the window"). Every target gets the same: the figure is each one's steady state, as a server runs.
 */
const CLUSTER_WARMUP_MS = 15_000;

export function clusterSuite(quick: boolean): Instance[] {
  const q = <T>(full: T, small: Partial<T>): T => (quick ? { ...full, ...small } : full);
  const fan = q({ ...FANOUT, warmupMs: CLUSTER_WARMUP_MS }, { clients: 20, senders: 2, rate: 100, warmupMs: 300, measureMs: 1000, drainMs: 1500 });
  const rms = q({ ...ROOMS, rate: CLUSTER_ROOMS_RATE, warmupMs: CLUSTER_WARMUP_MS }, { rooms: 10, perRoom: 5, warmupMs: 300, measureMs: 1000, drainMs: 1500, rate: 500 });
  const sized = (clients: number): FanoutParams => q(
    { ...FANOUT, clients, senders: Math.min(5, clients), rate: SIZE_RATE, warmupMs: 500, measureMs: 3000, drainMs: 3000 },
    { clients: Math.min(clients, 50), warmupMs: 200, measureMs: 1000, drainMs: 1500 },
  );
  const bySize = (clients: number): Instance => {
    const p = sized(clients);
    return {
      name: `redis-${p.clients}`,
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => fanout(ctx, p),
      shown: [...REDIS, higher('deliveriesPerSec', 'deliveries/s'), lower('p99Ms', 'p99 ms'), lower('loss', 'loss (frames)', 0)],
    };
  };
  return [
    {
      name: 'fanout',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => fanout(ctx, fan),
      shown: [
        lower('p50Ms', 'p50 ms, all deliveries'), lower('p99Ms', 'p99 ms, all deliveries'),
        lower('crossP50Ms', 'p50 ms across nodes'), lower('crossP99Ms', 'p99 ms across nodes'),
        lower('sameP99Ms', 'p99 ms within a node'), lower('maxMs', 'max ms'),
        higher('deliveriesPerSec', 'deliveries/s'), ...COST, ...REDIS, ...HONESTY,
      ],
    },
    {
      name: 'rooms-rate',
      heartbeat: DEFAULT_HEARTBEAT,
      run: (ctx) => roomsRate(ctx, rms),
      shown: [
        ...COST, higher('deliveriesPerSec', 'deliveries/s'), lower('p50Ms', 'p50 ms'), lower('p99Ms', 'p99 ms'),
        lower('crossP99Ms', 'p99 ms across nodes'), lower('redisCore', 'Redis core'), ...REDIS, ...HONESTY,
      ],
    },
    bySize(5),
    bySize(500),
  ];
}
