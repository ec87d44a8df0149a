// `npm run bench:stall`: does a burst of the requests whose cost once grew with
// the whole server stall everyone else? (issue 11, 3). The built server (as
// `npm start` runs it) on an ephemeral port, 1,024 connections in 32 rooms each
// (32,768 rooms), then one client sends 100 Rooms requests (Type 8) at once
// while a bystander measures its HeartBeat echo (target: under 50 ms); then
// 2,000 members fill one room, 50 at a time, while the bystander measures again.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';

/** The project root, whether this runs from bench/ (tsx) or dist/bench/ (the build). */
function root(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

function startBuilt(): Promise<{ url: string; child: ChildProcess }> {
  const main = path.join(root(), 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const child = spawn(process.execPath, [main, '--store', 'memory', '--port', '0', '--host', '127.0.0.1', '--log-level', 'error', '--msg-rate', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start within 10 s')), 10_000);
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on (ws:\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ url: m[1], child });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
}

const CONNS = 1_024;
const ROOMS_EACH = 32;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const t = setTimeout(() => reject(new Error('connect timed out')), 30_000);
    // Ready at the Join of the first room, which follows the welcome.
    const onJoin = (data: Buffer) => {
      if (!data.includes('"Type":6,')) return;
      clearTimeout(t);
      ws.off('message', onJoin);
      resolve(ws);
    };
    ws.on('message', onJoin);
    ws.once('error', reject);
  });
}

/** Sends frames and waits until `count` answers of `type` came back; bounded. */
function answers(ws: WebSocket, frames: object[], type: number, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const t = setTimeout(() => reject(new Error(`only ${n}/${count} answers of Type ${type}`)), 30_000);
    const on = (data: Buffer) => {
      const mine = data.includes(`"Type":${type},`) || data.includes(`"Type":${type}}`);
      if (mine && ++n === count) {
        clearTimeout(t);
        ws.off('message', on);
        resolve();
      }
    };
    ws.on('message', on);
    for (const f of frames) ws.send(JSON.stringify(f));
  });
}

/** The bystander's HeartBeat round trips, every 5 ms, until `during` settles. */
async function echoes(ws: WebSocket, during: Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  let done = false;
  during.finally(() => { done = true; }).catch(() => undefined);
  while (!done) {
    const t0 = performance.now();
    await answers(ws, [{ Type: 2 }], 2, 1);
    samples.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  await during;
  return samples;
}

const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

async function main(): Promise<void> {
  const server = await startBuilt();
  const sockets: WebSocket[] = [];
  try {
    for (let c = 0; c < CONNS; c++) {
      const ws = await open(`${server.url}?name=c${c}&room=r${c}-0`);
      sockets.push(ws);
      const joins = Array.from({ length: ROOMS_EACH - 1 }, (_, k) => ({ Type: 6, Room: `r${c}-${k + 1}` }));
      await answers(ws, joins, 6, joins.length);
    }
    const bystander = await open(`${server.url}?name=bystander&room=quiet`);
    sockets.push(bystander);
    const asker = sockets[0];

    const rooms = CONNS * ROOMS_EACH + 1;
    const burst = answers(asker, Array.from({ length: 100 }, () => ({ Type: 8 })), 8, 100);
    const roomsEcho = await echoes(bystander, burst);

    // 50 at a time: the member list and the notices of a filling room are the work measured.
    const fill = (async () => {
      for (let i = 0; i < 2_000; i += 50) {
        const batch = Array.from({ length: 50 }, (_, k) => open(`${server.url}?name=f${i + k}&room=huge`));
        sockets.push(...await Promise.all(batch));
      }
    })();
    const fillEcho = await echoes(bystander, fill);

    process.stdout.write([
      `Bystander's HeartBeat echo (node ${process.version}; the built server, clients in one other process):`,
      '',
      '| while | echoes | max ms | target |',
      '|---|---:|---:|---:|',
      `| 100 Rooms requests, ${rooms.toLocaleString('en-US')} rooms | ${roomsEcho.length} | ${max(roomsEcho).toFixed(1)} | < 50 |`,
      `| 2,000 members join one room, 50 at a time | ${fillEcho.length} | ${max(fillEcho).toFixed(1)} | – |`,
      '',
    ].join('\n'));
  } finally {
    for (const ws of sockets) ws.terminate();
    server.child.kill('SIGTERM');
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
