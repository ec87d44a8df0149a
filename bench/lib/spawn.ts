// Processes of a run: a server pinned to one core, the generator to the other,
// each with the open-files limit raised as far as the hard limit allows.
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '../..' : '../../..');

/**
 * `npm start`'s own command line, read from package.json so the two cannot drift:
 * `exec node FLAGS… dist/src/main.js`. Every server a bench or the soak starts gets the same node flags.
 */
export function startCommand(): { nodeFlags: string[]; main: string } {
  const start = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
  const m = /^exec node((?: --?[\w-]+(?:=\S+)?)*) (\S+\.js)$/.exec(start);
  if (!m) throw new Error(`bench: cannot read npm start's command line from package.json ("${start}")`);
  return { nodeFlags: m[1].trim().split(/\s+/).filter(Boolean), main: path.join(ROOT, m[2]) };
}

const RAISE_NOFILE = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"';

/**
 * `exec` keeps the PID: the child's PID is node's, whose /proc entry the generator reads.
 * `cpu` is one core, or a taskset list ('0,1': free to run on either).
 */
export function pinned(cpu: number | string, node: string[], args: string[]): ChildProcess {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `${RAISE_NOFILE}; exec taskset -c ${cpu} ${['node', ...node, ...args].map(quote).join(' ')}`;
  // One process unless the run says --redis: a REDIS_URL in the shell would turn rxchat into a cluster node.
  return spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDIS_URL: '' } });
}

/** Resolves with the first stdout line matching `re` (its first group), or fails after ms. */
export function waitForLine(child: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms: ${buf.slice(-500)}`)), ms);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before printing ${re}: ${buf.slice(-500)}`));
    });
  });
}

/** SIGTERM, then SIGKILL after ms: this child only, by its PID. */
export async function stop(child: ChildProcess, ms = 6000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

/** A TCP port free on 127.0.0.1 a moment ago, for a process of our own to listen on. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
