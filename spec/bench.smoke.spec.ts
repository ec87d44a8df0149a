// Smoke test of the benchmark code (bench/), not a benchmark: a tiny fanout
// against the real server in this process, for about a second. It asserts only
// that chat lines were delivered and counted; no thresholds.
import { connectWs } from '../bench/lib/client';
import { fanout } from '../bench/scenarios/fanout';
import { ChatServer, startServer } from '../src/server';

describe('bench smoke: fanout against rxchat', () => {
  let server: ChatServer;

  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', log: () => undefined });
  });

  afterAll(async () => {
    await server.close(1000);
  });

  it('delivers and counts chat lines', async () => {
    const result = await fanout(
      { target: 'rxchat', url: server.url, serverPid: process.pid, connect: connectWs, log: () => undefined },
      { clients: 8, senders: 2, rate: 100, window: 2, warmupMs: 200, measureMs: 800, drainMs: 1000, pad: 8 },
    );
    expect(result.metrics.deliveriesPerSec).toBeGreaterThan(0);
    expect(Number.isFinite(result.metrics.p50Ms)).toBe(true);
    expect(result.metrics.loss).toBe(0);
  });
});
