// Smoke test of `npm run soak`'s code, not a soak: the compiled bench/soak.js as npm runs
// it (its own server and generator, both spawned), tiny sizes for 3 seconds with a short
// heartbeat. It must pass (exit 0), and say so with its figures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

it('runs a tiny soak: lines sent and delivered, none lost or duplicated, RSS sampled, exit 0', async () => {
  const child = spawn(process.execPath, [
    'dist/bench/soak.js', '--connections', '40', '--rooms', '4', '--churn', '10', '--rate', '40',
    '--duration', '3s', '--drain', '3s', '--heartbeat-interval', '1000', '--heartbeat-timeout', '3000',
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDIS_URL: '' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 13_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  const line = /^SOAK (.*)$/m.exec(out);
  expect({ code, out: line ? '' : out }).toEqual({ code: 0, out: '' });
  const { result, samples, failures } = JSON.parse(line![1]) as {
    result: { sent: number; delivered: number; missing: number; duplicates: number; churned: number; p99Ms: number };
    samples: unknown[];
    failures: string[];
  };
  expect(failures).toEqual([]);
  expect(result.sent).toBeGreaterThan(0);
  expect(result.delivered).toBeGreaterThan(result.sent);
  expect(result.churned).toBeGreaterThan(0);
  expect(result).toMatchObject({ missing: 0, duplicates: 0 });
  expect(Number.isFinite(result.p99Ms)).toBe(true);
  expect(samples.length).toBeGreaterThan(5);
  expect(out).toMatch(/soak: passed/);
}, 15_000);
