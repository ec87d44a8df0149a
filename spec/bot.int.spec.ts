// The bot CLI against a real server on an ephemeral port: a tiny script, then
// chatter for about a second, then --verify (also across a restart of the server);
// the JSON summary is what is checked.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatServer, startServer } from '../src/edge/server';
import type { MessageLog } from '../src/store/log';
import { MemoryLog } from '../src/store/memory';
import { Summary } from '../scripts/lib/stats';
import { BURSTS } from './support/limits';

const ROOT = path.resolve(__dirname, '..');
// As `npm run bot` runs it: the build (made by jest's globalSetup), plain node (stack traces name .ts lines: src/ops/stack-maps.ts).
const BOT = ['dist/scripts/bot.js'];

/** A port nobody listens on: bind one, then let it go. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Runs the bot CLI to its end (bounded) and returns its exit code and JSON summary. */
function bot(args: string[], ms = 12_000): Promise<{ code: number | null; summary: Summary; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...BOT, ...args, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += String(d); });
    child.stderr.on('data', (d) => { stderr += String(d); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`bot did not exit within ${ms} ms\n${stderr}`)); }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve({ code, summary: JSON.parse(stdout) as Summary, stderr });
      } catch {
        reject(new Error(`no JSON summary (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

describe('bot CLI', () => {
  let server: ChatServer;
  let dir: string;

  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', ...BURSTS });
    dir = mkdtempSync(path.join(os.tmpdir(), 'bot-spec-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await server.close();
  });

  it('runs a script on every bot and reports what was sent and heard', async () => {
    const script = path.join(dir, 'tiny.txt');
    writeFileSync(script, '# tiny\nsay hello from {bot}\njoin s2\nsay @s2 hi s2\nwait 50ms\nleave s2\n');
    const { code, summary, stderr } = await bot(['--url', server.url, '--bots', '2', '--rooms', 's1', '--script', script]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // Two bots, two lines each, all acked; both were in s1 before either spoke, so each heard the other there.
    expect(summary).toMatchObject({ bots: 2, connected: 2, sent: 4, acked: 4, errors: 0 });
    expect(summary.received).toBeGreaterThanOrEqual(2);
    expect(summary.latencyMs.samples).toBe(summary.received);
  });

  it('chatters for about a second and measures delivery latency', async () => {
    const { code, summary } = await bot([
      '--url', server.url, '--bots', '3', '--rooms', 'c1', '--behaviour', 'chatter', '--rate', '10', '--duration', '1s',
    ]);
    expect(code).toBe(0);
    expect(summary.errors).toBe(0);
    expect(summary.sent).toBeGreaterThan(0);
    expect(summary.acked).toBe(summary.sent);
    expect(summary.received).toBeGreaterThan(0);
    // Every line reaches the two other bots in c1: nothing lost, nothing counted twice.
    expect(summary.received).toBe(2 * summary.sent);
    expect(summary.latencyMs.p50).not.toBeNull();
    const l = summary.latencyMs;
    expect(l.p99 as number).toBeGreaterThanOrEqual(l.p50 as number);
    expect(l.p999 as number).toBeGreaterThanOrEqual(l.p99 as number);
    expect(l.max as number).toBeGreaterThanOrEqual(l.p999 as number);
  });

  it('--verify: every receiver gets every Seq of its rooms once, in order', async () => {
    const { code, summary, stderr } = await bot([
      '--url', server.url, '--bots', '3', '--rooms', 'v1,v2', '--behaviour', 'chatter', '--rate', '20', '--duration', '1s', '--verify',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(summary.errors).toBe(0);
    expect(summary.acked).toBe(summary.sent);
    // Each line is checked at its 3 receivers: the 2 that hear it and the sender, by its Ack.
    expect(summary.verify).toEqual({
      receivers: 6, checked: 3 * summary.acked, missing: 0, duplicates: 0, trimmed: 0, resets: 0,
    });
  });
});

describe('bot CLI across a server restart', () => {
  it('--verify: the bots come back, send what they queued, catch up, and miss nothing', async () => {
    // One log for both servers, as one data directory would be (the wrapper outlives the first server).
    const log = new MemoryLog({ retention: { maxPerRoom: 10_000, maxDays: 30 } });
    const shared: MessageLog = { run: (ops) => log.run(ops), trim: (now) => log.trim(now), close: () => undefined };
    const port = await freePort();
    const start = () => startServer({ port, host: '127.0.0.1', logLevel: 'silent', messages: shared, ...BURSTS });
    let server = await start();
    const run = bot([
      '--url', server.url, '--bots', '3', '--rooms', 'r1,r2', '--behaviour', 'chatter', '--rate', '20', '--duration', '3s', '--verify',
    ], 20_000);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await server.close(500);
      await new Promise((resolve) => setTimeout(resolve, 300));
      server = await start();
      const { code, summary, stderr } = await run;
      // Each bot lost its connection once: that is an error of the run (exit 1), and said so.
      expect(summary.errors).toBe(3);
      expect(stderr).toMatch(/connection lost/);
      expect(code).toBe(1);
      // What they said while the server was down went once it was back: everything was acked.
      expect(summary.acked).toBe(summary.sent);
      // The new sessions caught up from History: nobody missed a line or got one twice.
      expect(summary.verify).toMatchObject({ receivers: 6, missing: 0, duplicates: 0, trimmed: 0, resets: 0 });
      expect(summary.verify?.checked).toBe(3 * summary.acked);
    } finally {
      await server.close(500);
      log.close();
    }
  }, 30_000);
});
