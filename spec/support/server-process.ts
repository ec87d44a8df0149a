// The real server as a process (`npm start` without the web build): for tests of
// what only a whole process shows, such as a request that ends it or a stop under
// load. Every wait is bounded.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');

export interface Spawned {
  child: ChildProcess;
  /** Everything printed so far, stdout and stderr together. */
  output: () => string;
  /** The exit code (null when ended by a signal). */
  exited: Promise<number | null>;
}

/** Starts the server process with these flags. The one place that says how it is run. */
export function spawnServer(args: readonly string[]): Spawned {
  // The default log is SQLite under ./data: a spec that does not choose gets a fresh
  // directory of its own, removed when the process ends, never the checkout's ./data.
  const own = args.includes('--data') || args.includes('--store') ? undefined : mkdtempSync(path.join(os.tmpdir(), 'rxchat-spec-'));
  const all = own ? [...args, '--data', own] : args;
  // As `npm start` runs it: the build (made by jest's globalSetup), plain node (stack traces name .ts lines: src/ops/stack-maps.ts).
  const child = spawn(process.execPath, ['dist/src/main.js', ...all], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    // One process unless a spec says --redis: a REDIS_URL in the shell (the server's --redis) is not for these.
    env: { ...process.env, REDIS_URL: '' },
  });
  if (own) child.on('exit', () => rmSync(own, { recursive: true, force: true }));
  let out = '';
  child.stdout?.on('data', (d) => { out += d; });
  child.stderr?.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Waits (bounded) until the process has printed a line matching re; resolves with its first group. */
export function printed(output: () => string, re: RegExp, ms = 10_000): Promise<string> {
  let check: NodeJS.Timeout | undefined;
  const found = new Promise<string>((resolve) => {
    check = setInterval(() => {
      const m = re.exec(output());
      if (m) resolve(m[1] ?? m[0]);
    }, 20);
  });
  return within(found, ms, `${re} in output`).finally(() => clearInterval(check));
}

export interface ServerProcess extends Spawned {
  port: number;
  /** ws://127.0.0.1:PORT/ws */
  url: string;
  /** SIGTERM, then the exit code; SIGKILL (and null) if it has not exited within ms. */
  stop(ms?: number): Promise<number | null>;
}

/** Starts the server on 127.0.0.1 and a free port, and waits (bounded) until it says where it listens. */
export async function startServerProcess(args: readonly string[] = []): Promise<ServerProcess> {
  const spawned = spawnServer(['--port', '0', '--host', '127.0.0.1', ...args]);
  const { child, output, exited } = spawned;
  let url: string;
  try {
    url = await Promise.race([
      printed(output, /chat server listening on (ws:\/\/\S+:\d+\/ws)/, 15_000),
      exited.then((code) => { throw new Error(`server exited (${code}) before listening:\n${output()}`); }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const port = Number(/:(\d+)\/ws$/.exec(url)?.[1]);
  const stop = async (ms = 5000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    try {
      return await within(exited, ms, 'exit after SIGTERM');
    } catch {
      child.kill('SIGKILL');
      await within(exited, 2000, 'exit after SIGKILL').catch(() => undefined);
      return null;
    }
  };
  return { ...spawned, port, url, stop };
}
