// The measured part every chat scenario shares: warm up, one window of server
// CPU, a bounded drain, then what arrived against what was expected. In a
// cluster run (`ctx.cluster`) also: every node's CPU, latency across nodes and
// within one, and what Redis did per message (INFO before the first message and
// after the drain).
import { Tally } from '../lib/load';
import { startClusterWindow, startWindow } from '../lib/proc';
import { RedisDelta, RedisStats, diff } from '../lib/redis-stats';
import { sleep, waitFor } from '../lib/stats';
import { Ctx, Metrics, costs } from './types';

export interface Phases {
  warmupMs: number;
  measureMs: number;
  drainMs: number;
}

/**
 * `send` starts the senders and resolves when they stop; `expected` turns what it
 * gives into the deliveries due, `messages` into the messages sent (for Redis's
 * figures per message).
 */
export async function measureDeliveries<T>(
  ctx: Ctx, p: Phases, tally: Tally, send: () => Promise<T>, expected: (done: T) => number, messages?: (done: T) => number,
): Promise<Metrics> {
  if (ctx.cluster) return measureCluster(ctx, p, tally, send, expected, messages);
  const sending = send();
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

async function measureCluster<T>(
  ctx: Ctx, p: Phases, tally: Tally, send: () => Promise<T>, expected: (done: T) => number, messages?: (done: T) => number,
): Promise<Metrics> {
  const cluster = ctx.cluster!;
  const stats = cluster.redisUrl ? await RedisStats.connect(cluster.redisUrl) : undefined;
  try {
    const before = await stats?.snapshot();
    const sending = send();
    await sleep(p.warmupMs);
    tally.measuring = true;
    const end = startClusterWindow(cluster.pids, cluster.redisPid);
    await sleep(p.measureMs);
    const w = end();
    tally.measuring = false;
    const done = await sending;
    const want = expected(done);
    await waitFor(() => tally.received >= want, p.drainMs);
    const after = await stats?.snapshot();
    const d = before && after ? diff(before, after) : undefined;
    const lat = tally.latency.summary();
    const deliveries = tally.inWindow;
    const m: Metrics = {
      deliveriesPerSec: deliveries / w.seconds,
      serverUserUsPerDelivery: (w.serverUser * 1e6) / deliveries,
      serverTotalUsPerDelivery: ((w.serverUser + w.serverSys) * 1e6) / deliveries,
      serverCore: (w.serverUser + w.serverSys) / w.seconds,
      generatorCore: w.generatorCore,
      othersOnMachine: w.othersOnMachine,
      p50Ms: lat.p50, p99Ms: lat.p99, maxMs: lat.max,
      loss: want - tally.received, reordered: tally.reordered,
    };
    // Each node's user CPU over the deliveries to its own clients.
    w.servers.forEach((c, i) => {
      const mine = cluster.pids.length > 1 ? tally.inWindowByNode[i] : deliveries;
      m[`node${i}UserUsPerDelivery`] = (c.user * 1e6) / mine;
    });
    if (cluster.pids.length > 1) {
      const cross = tally.crossLatency.summary();
      const same = tally.sameLatency.summary();
      Object.assign(m, { crossP50Ms: cross.p50, crossP99Ms: cross.p99, sameP50Ms: same.p50, sameP99Ms: same.p99 });
    }
    if (w.redis) {
      m.redisCore = (w.redis.user + w.redis.sys) / w.seconds;
      m.redisUserUsPerDelivery = (w.redis.user * 1e6) / deliveries;
    }
    if (d && messages) Object.assign(m, perMessage(d, messages(done)));
    return m;
  } finally {
    await stats?.close();
  }
}

/** Redis's work per message sent, with the command mix kept as `cmd:NAME` figures. */
function perMessage(d: RedisDelta, sent: number): Metrics {
  const m: Metrics = {
    messages: sent,
    redisCommandsPerMessage: d.commands / sent,
    redisScriptsPerMessage: d.scripts / sent,
    redisReadsPerMessage: d.reads / sent,
    redisCommandUsPerMessage: d.commandUs / sent,
    redisCpuUsPerMessage: ((d.cpuUser + d.cpuSys) * 1e6) / sent,
  };
  for (const [name, n] of Object.entries(d.calls)) m[`cmd:${name}`] = n / sent;
  return m;
}
