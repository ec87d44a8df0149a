// Smoke test of `npm run bench -- --cluster`'s code (bench/scenarios/cluster.ts,
// measure.ts, lib/redis-stats.ts), not a benchmark: two rxchat nodes in this
// process on a redis-server of the spec's own (so INFO counts nothing but ours),
// clients alternating between them; then two Socket.IO nodes with the Redis
// adapter, compiled, as the bench spawns them. Tiny runs, no thresholds on speed:
// lines cross nodes without loss, and Redis's figures per message are the ones
// issue 8 names (one script call per message, the same commands in a room of 4 as
// of 10).
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { connectSocketIo, connectWs } from '../bench/lib/client';
import { stop, waitForLine } from '../bench/lib/spawn';
import { fanout } from '../bench/scenarios/fanout';
import { Ctx } from '../bench/scenarios/types';
import { ChatServer, startServer } from '../src/edge/server';
import { RedisLog } from '../src/store/redis';
import { ownRedis } from './support/redis';
import { BURSTS } from './support/limits';

jest.setTimeout(20_000);

const ROOT = path.resolve(__dirname, '..');
const PREFIX = 'rxchat-bench-smoke:';
const tiny = (clients: number) => ({ clients, senders: 2, rate: 50, window: 2, warmupMs: 150, measureMs: 600, drainMs: 1500, pad: 8 });

let redis: Awaited<ReturnType<typeof ownRedis>>;
beforeAll(async () => { redis = await ownRedis(); });
afterAll(async () => { await redis?.stop(); });

describe('bench --cluster smoke: two rxchat nodes on Redis', () => {
  const servers: ChatServer[] = [];

  beforeAll(async () => {
    for (const id of ['a', 'b']) {
      const messages = await RedisLog.connect(redis.url, { maxPerRoom: 10_000, maxDays: 30 }, { prefix: PREFIX });
      servers.push(await startServer({
        port: 0, host: '127.0.0.1', log: () => undefined, messages, redis: redis.url, redisPrefix: PREFIX, nodeId: `smoke-${id}`,
        // Presence beats and sweeps every 5 s, a node's work, not a message's: in a 600 ms window it would
        // land in one run's counts and not the other's. Off here; the bench's longer windows dilute it.
        presenceEveryMs: 0,
        // As bench/run.ts starts rxchat: the load is the point (spec/support/limits.ts).
        ...BURSTS,
      }));
    }
  });
  afterAll(async () => { await Promise.all(servers.map((s) => s.close(1000))); });

  const ctx = (): Ctx => ({
    target: 'rxchat-2', url: servers[0].url, serverPid: process.pid, connect: connectWs, log: () => undefined,
    cluster: { urls: servers.map((s) => s.url), pids: [process.pid, process.pid], redisUrl: redis.url },
  });

  it('delivers across nodes without loss, and Redis does the same per message in a room of 4 and of 10', async () => {
    const small = await fanout(ctx(), tiny(4));
    const big = await fanout(ctx(), tiny(10));
    for (const r of [small, big]) {
      expect(r.metrics.loss).toBe(0);
      expect(r.metrics.reordered).toBe(0);
      expect(Number.isFinite(r.metrics.crossP99Ms)).toBe(true);
      expect(Number.isFinite(r.metrics.node1UserUsPerDelivery)).toBe(true);
      // One round trip's worth of client commands: the append script, which also publishes.
      expect(r.metrics.redisScriptsPerMessage).toBe(1);
      expect(r.metrics['cmd:publish']).toBe(1);
      expect(r.metrics['cmd:xadd']).toBe(1);
      expect(r.metrics.redisReadsPerMessage).toBeLessThanOrEqual(1.05);
      expect(r.metrics.redisCommandUsPerMessage).toBeGreaterThan(0);
    }
    expect(big.metrics.redisCommandsPerMessage).toBe(small.metrics.redisCommandsPerMessage);
  });
});

describe('bench --cluster smoke: two Socket.IO nodes with the Redis adapter', () => {
  const nodes: ChildProcess[] = [];
  let urls: string[] = [];

  beforeAll(async () => {
    for (const id of ['a', 'b']) {
      nodes.push(spawn(process.execPath, ['dist/bench/servers/socketio.js', '--port', '0', '--host', '127.0.0.1',
        '--redis', redis.url, '--redis-prefix', PREFIX, '--node-id', `smoke-${id}`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    }
    urls = await Promise.all(nodes.map((n) => waitForLine(n, /listening on (\S+)/, 10_000)));
  });
  afterAll(async () => { await Promise.all(nodes.map((n) => stop(n, 2000))); });

  it('delivers across nodes through Redis without loss, one PUBLISH per message', async () => {
    const r = await fanout({
      target: 'socketio-redis', url: urls[0], serverPid: nodes[0].pid as number, connect: connectSocketIo, log: () => undefined,
      cluster: { urls, pids: nodes.map((n) => n.pid as number), redisUrl: redis.url },
    }, tiny(6));
    expect(r.metrics.loss).toBe(0);
    expect(Number.isFinite(r.metrics.crossP99Ms)).toBe(true);
    expect(r.metrics['cmd:publish']).toBe(1);
  });
});
