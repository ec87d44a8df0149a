// The chat CLI as a user runs it: a child process with piped stdin against a
// real server, watched by plain `ws` clients; and across a restart of that server
// (issue 7: the outbox, the catch-up, /history).
import { ChildProcess, spawn } from 'node:child_process';
import { Socket, connect, createServer } from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { Message, Type } from '../src/core/protocol';
import { ChatServer, startServer } from '../src/edge/server';
import type { MessageLog } from '../src/store/log';
import { MemoryLog } from '../src/store/memory';

const ROOT = path.resolve(__dirname, '..');
// As `npm run chat` runs it: the build (made by jest's globalSetup), plain node (stack traces name .ts lines: src/ops/stack-maps.ts).
const CHAT = ['dist/scripts/chat.js'];

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

/**
 * A TCP proxy to the server, for a network blip: hold() stops what the server sends from
 * reaching the client, cut() drops every connection and refuses new ones, heal() lets them in.
 */
async function blip(target: number) {
  const pairs = new Set<{ client: Socket; up: Socket }>();
  let refusing = false;
  const srv = createServer((client) => {
    if (refusing) return void client.destroy();
    const up = connect(target, '127.0.0.1');
    const pair = { client, up };
    const end = () => { client.destroy(); up.destroy(); pairs.delete(pair); };
    for (const s of [client, up]) {
      s.on('error', end);
      s.on('close', end);
    }
    pairs.add(pair);
    client.pipe(up);
    up.pipe(client);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  const cut = () => { for (const p of [...pairs]) { p.client.destroy(); p.up.destroy(); } };
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    hold: () => { for (const p of pairs) { p.up.unpipe(p.client); p.up.pause(); } },
    cut: () => { refusing = true; cut(); },
    heal: () => { refusing = false; },
    close: () => new Promise<void>((resolve) => { cut(); srv.close(() => resolve()); }),
  };
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

  it('resumes after a network blip: the same ID, the missed line shown once, a line whose Ack was lost shown and sent once', async () => {
    const erin = await peer(server.url, 'erin', 'blip');
    sockets.push(erin.ws);
    const net = await blip(server.port);
    try {
      const run = cli(['--url', net.url, '--name', 'carol', '--room', 'blip']);
      children.push(run.child);
      await run.output(/you are in blip/, 10_000);
      const id = /connected as carol \(ID ([\w-]+)\)/.exec(run.out())?.[1];
      expect(id).toBeDefined();

      // The line reaches the server and erin, but its Ack never reaches carol: the link drops first.
      net.hold();
      run.child.stdin?.write('hi\n');
      await erin.next('carol\'s hi', (f) => f.Type === Type.Broadcast && f.Content === 'hi');
      net.cut();
      await run.output(/server went away/);
      await run.output(/\[blip\] carol: hi \(sending…\)$/m);
      erin.ws.send(JSON.stringify({ Type: Type.Broadcast, Content: 'during the blip', Ref: 'b' }));
      await erin.next('its Ack', (f) => f.Type === Type.Ack && f.Ref === 'b');
      net.heal();

      // protocol.md "Resuming": the same identity, and every line after carol's last Seq replayed, her
      // own "hi" too; the outbox sends "hi" again with its Key, and the server acks it as a Duplicate.
      await run.output(/-- reconnected as carol, in blip \(resumed\)/, 10_000);
      await run.output(/^\d\d:\d\d \[blip\] erin: during the blip$/m);
      run.child.stdin?.end();
      expect(await within(5000, 'the CLI to exit', run.exited)).toBe(0);
      const out = run.out();
      expect(out).not.toMatch(/new session/);
      expect(out.match(/^\d\d:\d\d \[blip\] carol: hi$/gm)).toHaveLength(1);
      expect(out.match(/^\d\d:\d\d \[blip\] erin: during the blip$/gm)).toHaveLength(1);
      expect(out.search(/^\d\d:\d\d \[blip\] carol: hi$/m)).toBeLessThan(out.indexOf('erin: during the blip'));
      expect(erin.frames.filter((f) => f.Type === Type.Broadcast && f.Content === 'hi')).toHaveLength(1);
      // Erin saw carol come, go, and come back, under one ID.
      await erin.next('carol gone', (f) => f.Type === Type.Disconnected && f.Name === 'carol');
      const comings = erin.frames.filter((f) => f.Type === Type.Connected && f.Name === 'carol');
      expect(comings.map((f) => f.ID)).toEqual([id, id]);
    } finally {
      await net.close();
    }
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

describe('chat CLI across a server restart', () => {
  const children: ChildProcess[] = [];
  const sockets: WebSocket[] = [];
  const servers: ChatServer[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of sockets.splice(0)) s.terminate();
    await Promise.all(servers.splice(0).map((s) => s.close(200)));
  });

  it('queues a line typed while the server is down, delivers it once after, shows what it missed, and /history reaches back', async () => {
    // One log for both servers, as one data directory would be. A server closes its log when it
    // stops; this one outlives the first server, so the wrapper ignores that.
    const log = new MemoryLog({ retention: { maxPerRoom: 1000, maxDays: 30 } });
    const shared: MessageLog = { run: (ops) => log.run(ops), trim: (now) => log.trim(now), close: () => undefined };
    const port = await freePort();
    const start = async () => {
      const s = await startServer({ port, host: '127.0.0.1', logLevel: 'silent', messages: shared });
      servers.push(s);
      return s;
    };
    const say = async (p: Awaited<ReturnType<typeof peer>>, text: string) => {
      p.ws.send(JSON.stringify({ Type: Type.Broadcast, Content: text, Ref: text }));
      await p.next(`the Ack of "${text}"`, (f) => f.Type === Type.Ack && f.Ref === text);
    };

    const first = await start();
    const dave = await peer(first.url, 'dave', 'lobby');
    sockets.push(dave.ws);
    await say(dave, 'before the restart');
    const run = cli(['--url', first.url, '--name', 'carol', '--room', 'lobby']);
    children.push(run.child);
    run.child.stdin?.write('first line\n');
    await dave.next('carol\'s first line', (f) => f.Type === Type.Broadcast && f.Content === 'first line', 10_000);

    // The server stops. A line typed now goes to the outbox and shows as pending.
    await first.close(1000);
    servers.splice(servers.indexOf(first), 1);
    await run.output(/server went away/);
    run.child.stdin?.write('typed while down\n');
    await run.output(/\[lobby\] carol: typed while down \(sending…\)$/m);

    // Once its next try is at least 1.5 s away, a new server takes the port and the log, and
    // erin says something carol will have missed.
    await run.output(/reconnecting in (1\.[5-9]|[2-9]\.\d|\d\d+\.\d) s/, 10_000);
    const second = await start();
    const erin = await peer(second.url, 'erin', 'lobby');
    sockets.push(erin.ws);
    await say(erin, 'while you were away');

    // The CLI comes back as a new session (the server's resume tokens died with it), reads what it
    // missed from History, and its queued line goes once, with its Key.
    await run.output(/^\d\d:\d\d \[lobby\] carol: typed while down$/m, 10_000);
    await erin.next('carol\'s queued line', (f) => f.Type === Type.Broadcast && f.Content === 'typed while down');
    expect(run.out()).toMatch(/-- reconnected as carol, in lobby \(new session, ID [\w-]+\)/);
    const out = run.out();
    const missed = out.search(/^\d\d:\d\d \[lobby\] erin: while you were away$/m);
    const mine = out.search(/^\d\d:\d\d \[lobby\] carol: typed while down$/m);
    expect(missed).toBeGreaterThan(0);
    expect(mine).toBeGreaterThan(missed); // shown in the room's order: the missed line first

    run.child.stdin?.end('/history 10\n');
    expect(await within(10_000, 'the CLI to exit', run.exited)).toBe(0);
    const [live, history] = run.out().split(/^.*-- lobby: the last \d+ lines.*$/m);
    const count = (text: string, line: RegExp) => (text.match(line) ?? []).length;
    // Exactly once on screen before /history, and exactly once in the log.
    expect(count(live, /^\d\d:\d\d \[lobby\] carol: typed while down$/gm)).toBe(1);
    expect(count(live, /^\d\d:\d\d \[lobby\] erin: while you were away$/gm)).toBe(1);
    expect(erin.frames.filter((f) => f.Content === 'typed while down')).toHaveLength(1);
    const kept = (await log.run([{ op: 'read', req: { room: 'lobby', limit: 100 } }]))[0] as { messages?: { content: string }[] };
    expect(kept.messages?.filter((m) => m.content === 'typed while down')).toHaveLength(1);
    // /history reads back past the restart, oldest first.
    expect(history.split('\n').filter((l) => /^\d\d:\d\d \[lobby\]/.test(l)).map((l) => l.slice(6))).toEqual([
      '[lobby] dave: before the restart',
      '[lobby] carol: first line',
      '[lobby] erin: while you were away',
      '[lobby] carol: typed while down',
    ]);
    expect(history).toMatch(/-- lobby: end of history/);
    log.close();
  }, 40_000);
});
