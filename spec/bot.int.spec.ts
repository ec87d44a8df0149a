// The bot CLI against a real server on an ephemeral port: a tiny script, then
// chatter for about a second; the JSON summary is what is checked.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ChatServer, startServer } from '../src/edge/server';
import { Summary } from '../scripts/lib/stats';

const ROOT = path.resolve(__dirname, '..');
// As `npm run bot` runs it: the build (made by jest's globalSetup), plain node, source maps on.
const BOT = ['--enable-source-maps', 'dist/scripts/bot.js'];

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
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
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
});
