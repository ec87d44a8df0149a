// `npm run token` and the chat CLI's --token against a server with auth on, as a user runs them:
// child processes of the build (made by jest's globalSetup). Every wait is bounded.
import { spawn } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { Message, Type } from '../src/core/protocol';
import { ChatServer, startServer } from '../src/edge/server';
import { within } from './support/server-process';

const ROOT = path.resolve(__dirname, '..');
const SECRET = 'cli-secret-long-enough-for-hs256-0';

/** Runs a built script: its exit code and stdout. */
function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [path.join('dist/scripts', script), ...args], {
    cwd: ROOT, env: { ...process.env, NO_COLOR: '1', AUTH_SECRET: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  child.stdin.end(stdin);
  return within(new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err }))), 15_000, `${script} to exit`);
}

let server: ChatServer;
beforeAll(async () => {
  server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', store: 'memory', authSecret: SECRET });
});
afterAll(() => server.close(100));

it('npm run token mints with AUTH_SECRET; the chat CLI connects with --token, named by it', async () => {
  const alice = await run('token.js', ['--sub', 'alice', '--name', 'Alice', '--rooms', 'lobby'], { AUTH_SECRET: SECRET });
  expect(alice).toMatchObject({ code: 0, err: '' });
  const token = alice.out.trim();
  expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

  // A watcher in the room, with a token of its own.
  const watcher = (await run('token.js', ['--sub', 'w', '--auth-secret', SECRET])).out.trim();
  const ws = new WebSocket(`${server.url}?token=${watcher}`);
  const lines: Message[] = [];
  const joined = within(new Promise<void>((resolve) => ws.on('message', (d) => {
    const f = JSON.parse(String(d)) as Message;
    if (f.Type === Type.Join) resolve();
    if (f.Type === Type.Broadcast) lines.push(f);
  })), 5000, 'the watcher in lobby');
  await joined;
  try {
    const chat = await run('chat.js', ['--url', server.url, '--token', token, '--name', 'Mallory', '--room', 'lobby'], {}, 'hello\n');
    expect(chat.code).toBe(0);
    await within((async () => { while (lines.length === 0) await new Promise((r) => setTimeout(r, 10)); })(), 5000, 'the line');
    expect(lines[0]).toMatchObject({ Name: 'Alice', Content: 'hello', Room: 'lobby' });
    // Without a token the CLI is refused (401) and says it cannot connect: exit 1.
    const refused = await run('chat.js', ['--url', server.url, '--room', 'lobby'], {}, 'hello\n');
    expect(refused.code).toBe(1);
  } finally {
    ws.terminate();
  }
}, 40_000);

it('npm run token without a secret or --sub: a usage error, exit 2', async () => {
  expect((await run('token.js', ['--sub', 'a'])).code).toBe(2);
  expect((await run('token.js', [], { AUTH_SECRET: SECRET })).code).toBe(2);
}, 20_000);
