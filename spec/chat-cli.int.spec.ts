// The chat CLI as a user runs it: a child process with piped stdin against a
// real server on an ephemeral port, watched by plain `ws` clients.
import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { Message, Type } from '../src/core/protocol';
import { ChatServer, startServer } from '../src/edge/server';

const ROOT = path.resolve(__dirname, '..');
// As `npm run chat` runs it: the build (made by jest's globalSetup), plain node, source maps on.
const CHAT = ['--enable-source-maps', 'dist/scripts/chat.js'];

/** Rejects after ms, naming what was awaited. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A plain ws client that remembers every frame and can wait for one. */
async function peer(url: string, name: string, room: string) {
  const ws = new WebSocket(`${url}?name=${name}&room=${room}`);
  const frames: Message[] = [];
  const waiting = new Set<(f: Message) => void>();
  ws.on('message', (data) => {
    const f = JSON.parse(String(data)) as Message;
    frames.push(f);
    for (const w of [...waiting]) w(f);
  });
  const next = (what: string, pred: (f: Message) => boolean, ms = 5000): Promise<Message> =>
    within(ms, `${name}: ${what}`, new Promise<Message>((resolve) => {
      const seen = frames.find(pred);
      if (seen) return resolve(seen);
      const w = (f: Message) => { if (pred(f)) { waiting.delete(w); resolve(f); } };
      waiting.add(w);
    }));
  await next('its Join', (f) => f.Type === Type.Join && f.Room === room, 5000);
  return { ws, frames, next };
}

function cli(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [...CHAT, ...args], {
    cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => { stdout += String(d); });
  child.stderr?.on('data', (d) => { stderr += String(d); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = (what: RegExp, ms = 5000) => within(ms, `CLI prints ${what}`, new Promise<void>((resolve) => {
    const check = () => { if (what.test(stdout)) { child.stdout?.off('data', check); resolve(); } };
    child.stdout?.on('data', check);
    check();
  }));
  return { child, exited, output, out: () => stdout, err: () => stderr };
}

/** A port nobody listens on: bind one, then let it go. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('chat CLI (piped stdin)', () => {
  let server: ChatServer;
  const children: ChildProcess[] = [];
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    server = await startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of sockets.splice(0)) s.terminate();
  });
  afterAll(() => server.close());

  it('sends each line in order, shows what others say, and exits 0', async () => {
    const dave = await peer(server.url, 'dave', 'lobby');
    const erin = await peer(server.url, 'erin', 'dev');
    sockets.push(dave.ws, erin.ws);
    const run = cli(['--url', server.url, '--name', 'carol', '--room', 'lobby']);
    children.push(run.child);

    run.child.stdin?.write('hello\n');
    // The longest wait: it covers starting node, which takes a second on a busy machine.
    const hello = await dave.next('carol\'s hello', (f) => f.Type === Type.Broadcast && f.Content === 'hello', 10_000);
    expect(hello).toMatchObject({ Name: 'carol', Room: 'lobby' });

    // While it is connected, the CLI prints what others say, with time, room and name.
    dave.ws.send(JSON.stringify({ Type: Type.Broadcast, Content: 'hi carol' }));
    await run.output(/^\d\d:\d\d \[lobby\] dave: hi carol$/m);

    run.child.stdin?.end('/join dev\nhi dev\n');
    const hiDev = await erin.next('carol\'s line in dev', (f) => f.Type === Type.Broadcast && f.Content === 'hi dev');
    expect(hiDev).toMatchObject({ Name: 'carol', Room: 'dev' });
    expect(await within(5000, 'the CLI to exit', run.exited)).toBe(0);

    // Lines went in order and only where they were meant to go.
    const said = (frames: Message[]) => frames.filter((f) => f.Type === Type.Broadcast).map((f) => f.Content);
    expect(said(dave.frames)).toEqual(['hello']);
    expect(said(erin.frames)).toEqual(['hi dev']);
    // It left cleanly: the rooms were told "closed", not "error" or "timeout".
    const gone = await erin.next('carol leaving', (f) => f.Type === Type.Disconnected && f.Name === 'carol');
    expect(gone.Reason).toBe('closed');
    expect(run.out()).not.toMatch(/\x1b\[/);
  });

  it('exits non-zero with a message when it cannot connect', async () => {
    const port = await freePort();
    const run = cli(['--url', `ws://127.0.0.1:${port}/ws`, '--name', 'carol']);
    children.push(run.child);
    run.child.stdin?.end('hello\n');
    expect(await within(10_000, 'the CLI to give up', run.exited)).toBe(1);
    expect(run.err()).toMatch(/cannot connect to ws:\/\/127\.0\.0\.1:\d+\/ws/);
  });
});
