// `npm start` as a user runs it: a real process, its output, and signals.
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { TestClient } from './support/client';
import { Close } from '../src/protocol';

const root = path.join(__dirname, '..');
// As `npm start` runs it: the build (made by jest's globalSetup), plain node, source maps on.
const START = ['--enable-source-maps', 'dist/src/main.js'];

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...START, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => { out += d; });
  child.stderr?.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);
}

/** Waits (bounded) until the process has printed a line matching re; resolves with its first group. */
function printed(output: () => string, re: RegExp, ms = 10_000): Promise<string> {
  let check: NodeJS.Timeout | undefined;
  const found = new Promise<string>((resolve) => {
    check = setInterval(() => {
      const m = re.exec(output());
      if (m) resolve(m[1] ?? m[0]);
    }, 20);
  });
  return within(found, ms, `${re} in output`).finally(() => clearInterval(check));
}

describe('the server process', () => {
  it('prints where it listens, and on SIGTERM tells clients, closes them with 1001 and exits 0 within 5 s', async () => {
    const { child, output, exited } = run(['--port', '0', '--host', '127.0.0.1']);
    try {
      const url = await printed(output, /listening on (ws:\/\/\S+:\d+\/ws)/);
      expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
      const c = await TestClient.connect(url, { name: 'alice' });
      await printed(output, /"event":"connect".*"name":"alice"/, 3000);
      const sent = Date.now();
      child.kill('SIGTERM');
      expect(await c.next((m) => m.Type === 0)).toMatchObject({ Content: 'server shutting down' });
      expect(await c.closed()).toBe(Close.GoingAway);
      expect(await within(exited, 5000, 'exit')).toBe(0);
      expect(Date.now() - sent).toBeLessThan(5000);
    } finally {
      child.kill('SIGKILL');
    }
  }, 20_000);

  it('prints help', async () => {
    const { output, exited } = run(['--help']);
    expect(await within(exited, 10_000, 'exit')).toBe(0);
    expect(output()).toContain('--heartbeat-interval');
  }, 15_000);

  it('refuses a bad flag, naming it, with exit code 2', async () => {
    const { output, exited } = run(['--port', 'x']);
    expect(await within(exited, 10_000, 'exit')).toBe(2);
    expect(output()).toContain('--port: expected a whole number');
  }, 15_000);
});
