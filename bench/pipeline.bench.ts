// `node dist/bench/pipeline.bench.js [--store memory|sqlite | --same-work] [--metrics] [--keys] [--quick] [--json]`:
// a chat line's whole trip through this process, with fake sockets and no network,
// wired as src/edge/server.ts wires it: a frame into connection$ (decode, a MsgID),
// the hub's step, the runner, the store runner's batch on the message log, the
// `appended` step, the runner's writes to the room and the Ack, and the uncork.
// Less noisy than `npm run bench` on a shared machine (no kernel, no generator),
// so A/B comparisons of the hot path are read here first. --same-work runs
// bench/servers/same-work.ts's per-line work instead (decode, Seq, nanoid, the
// frames built and serialized once, corked writes), on the same fake sockets.
//
// Load: 100 rooms × 5 members (the rooms scenario); each turn of the event loop
// 40 frames arrive from members round robin (20,000 lines/s at 2 ms a turn),
// then the loop runs until every delivery and Ack of the turn has been written
// out. --metrics counts as src/edge/server.ts does with --metrics on (src/ops/metrics.ts),
// to price it against a run without. --keys gives every line a Key, as our own clients
// send them (src/client/keys.ts; same-work keeps no Keys, so compare keyed runs with
// unkeyed ones, not with it). Reported: CPU µs per line (user + system, the median of 9 batches), and how many
// event-loop turns a line takes from its frame to its writes leaving (`turns`).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Subject, merge } from 'rxjs';
import { nanoid } from 'nanoid';
import type WebSocket from 'ws';
import type { HubEvent } from '../src/core/events';
import { connection$ } from '../src/edge/connection';
import { liveness as livenessOn } from '../src/edge/heartbeat';
import { DEFAULTS } from '../src/ops/config';
import { hub$, mergeConnections, safeStep } from '../src/edge/hub';
import { Metrics } from '../src/ops/metrics';
import { Runner } from '../src/edge/runner';
import type { MessageLog } from '../src/store/log';
import { MemoryLog } from '../src/store/memory';
import { StoreRunner } from '../src/store/runner';
import { SqliteLog } from '../src/store/sqlite';
import { decode } from '../src/core/protocol';
import { keySequence } from '../src/client/keys';
import * as M from '../src/core/messages';
import { corkingWriter } from './servers/cork';
import { LastLines } from './servers/last-lines';

const ROOMS = 100;
const PER_ROOM = 5;
const PER_TURN = 40;
/** Lines kept per room, by the log and by same-work alike (--history-max's default). */
const HISTORY_MAX = DEFAULTS.historyMax;

let written = 0; // frames handed to a socket
let flushed = 0; // of those, frames that have left (uncorked)

/** The net.Socket under a fake WebSocket: corks as Node's does, and counts what leaves. */
class FakeNetSocket extends EventEmitter {
  writableCorked = 0;
  writableLength = 0;
  writableNeedDrain = false;
  held = 0;
  cork(): void {
    this.writableCorked++;
  }
  uncork(): void {
    if (this.writableCorked > 0 && --this.writableCorked === 0) {
      flushed += this.held;
      this.held = 0;
    }
  }
  /** A whole frame (src/edge/frame.ts), as the runner and the corking writer write them. */
  write(frame: Buffer): void {
    written++;
    if (this.writableCorked > 0) this.held++;
    else flushed++;
    if (frame.length <= 2) throw new Error('empty frame');
  }
}

/** As much of a ws WebSocket as connection$ and the runner use. */
class FakeSocket extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  isPaused = false;
  readonly _socket = new FakeNetSocket();
  pause(): void {
    this.isPaused = true;
  }
  resume(): void {
    this.isPaused = false;
  }
  ping(): void {}
  close(): void {}
  terminate(): void {}
}

const turn = () => new Promise<void>((r) => setImmediate(r));

function openLog(kind: string, dir: string): MessageLog {
  const retention = { maxPerRoom: HISTORY_MAX, maxDays: 30 };
  return kind === 'sqlite' ? SqliteLog.open(dir, retention) : new MemoryLog({ retention });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const kind = args[args.indexOf('--store') + 1] === 'sqlite' && args.includes('--store') ? 'sqlite' : 'memory';
  const quick = args.includes('--quick');
  const json = args.includes('--json');
  const sameWork = args.includes('--same-work');
  const metrics = args.includes('--metrics') ? new Metrics({ connections: () => 0, rooms: () => 0 }) : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rxchat-pipeline-'));
  const messages = openLog(kind, dir);
  const connections$ = new Subject<ReturnType<typeof connection$>>();
  const stored$ = new Subject<HubEvent | readonly HubEvent[]>();
  // As the server: every connection's heartbeat timeout on one timer wheel.
  const liveness = livenessOn(DEFAULTS.heartbeatTimeoutMs, DEFAULTS.heartbeatIntervalMs);
  const store = new StoreRunner(messages, (es) => stored$.next(es.length === 1 ? es[0] : es), { log: () => undefined, trimEveryMs: 0, onBatch: metrics?.logBatch });
  const runner = new Runner({
    maxBuffered: 1 << 20, log: () => undefined, onDropped: () => undefined, store: (e) => store.submit(e), delivered: metrics?.delivered,
  });
  const subscription = hub$(merge(mergeConnections(connections$), stored$), undefined, metrics ? metrics.timed(safeStep) : safeStep)
    .subscribe((s) => {
      runner.run(s.effects);
      metrics?.stepDone();
    });
  const deps = { newId: nanoid, liveness, onFrame: metrics?.frame, onClose: metrics?.closed };

  const sockets: FakeSocket[] = [];
  const roomOf = (i: number) => `r${Math.floor(i / PER_ROOM)}`;
  if (sameWork) subscription.unsubscribe();
  for (let i = 0; sameWork && i < ROOMS * PER_ROOM; i++) sockets.push(sameWorkSocket(nanoid(), `m${i}`, roomOf(i)));
  for (let i = 0; !sameWork && i < ROOMS * PER_ROOM; i++) {
    const ws = new FakeSocket();
    const id = nanoid();
    runner.register({ id, ws: ws as unknown as WebSocket });
    sockets.push(ws);
    connections$.next(connection$(id, { name: `m${i}`, room: roomOf(i) }, ws as unknown as WebSocket, deps, randomBytes(24).toString('base64url')));
    if (i % 50 === 49) for (let k = 0; k < 5; k++) await turn();
  }
  for (let k = 0; k < 20; k++) await turn();

  const pad = 'x'.repeat(40);
  // --keys: each line carries a Key as src/client/keys.ts makes them (what every client of ours sends).
  const keyed = args.includes('--keys');
  const keySequences = sockets.map(() => keySequence());
  let sender = 0;
  let ref = 0;
  let turns = 0;
  let lines = 0;
  /** One turn's frames, then the loop until all they cause has left. */
  async function oneTurn(): Promise<void> {
    const expect = flushed + PER_TURN * PER_ROOM; // 4 deliveries and an Ack a line
    for (let k = 0; k < PER_TURN; k++) {
      const i = sender;
      sender = (sender + 1) % sockets.length;
      ref++;
      const key = keyed ? `,"Key":"${keySequences[i]()}"` : '';
      const frame = Buffer.from(`{"Type":1,"Content":"${i}|${ref}|${pad}","Room":"${roomOf(i)}","Ref":${ref}${key}}`);
      sockets[i].emit('message', frame, false);
    }
    lines += PER_TURN;
    let n = 0;
    while (flushed < expect) {
      await turn();
      if (++n > 100) throw new Error(`pipeline: ${expect - flushed} frames never left`);
    }
    turns += n;
  }

  const perBatch = quick ? 50 : 500;
  for (let b = 0; b < 3; b++) for (let t = 0; t < perBatch; t++) await oneTurn();
  const us: number[] = [];
  turns = 0;
  lines = 0;
  for (let b = 0; b < 9; b++) {
    // CPU time, not wall time: on a shared machine the wall clock also counts the
    // time other processes had the core.
    const t0 = process.cpuUsage();
    for (let t = 0; t < perBatch; t++) await oneTurn();
    const d = process.cpuUsage(t0);
    us.push((d.user + d.system) / (perBatch * PER_TURN));
  }
  const median = us.sort((a, b) => a - b)[4];
  const turnsPerTurn = turns / (lines / PER_TURN);
  subscription.unsubscribe();
  await store.drain();
  await messages.close();
  if (metrics && !(await metrics.scrape()).body.includes('rxchat_deliveries_total')) throw new Error('metrics: nothing counted');
  metrics?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (written === 0) throw new Error('nothing was written');
  const what = sameWork ? 'same-work' : `${kind} log${metrics ? ', metrics on' : ''}`;
  if (json) process.stdout.write(`RESULT ${JSON.stringify({ target: what, usPerLine: median, turns: turnsPerTurn })}\n`);
  else {
    process.stdout.write(`pipeline (${what}, ${ROOMS} rooms × ${PER_ROOM}, ${PER_TURN} lines a turn; node ${process.version}): `
      + `${median.toFixed(2)} CPU µs per line (median of 9 batches; ${us[0].toFixed(2)}–${us[8].toFixed(2)}), `
      + `${turnsPerTurn.toFixed(2)} event-loop turns from frames to writes out\n`);
  }
}

// same-work's onFrame (bench/servers/same-work.ts), on fake sockets.
interface SwConn { id: string; name: string; rooms: string[]; ws: WebSocket }
const swRooms = new Map<string, { seq: number; epoch: string; members: Set<SwConn>; kept: LastLines<ReturnType<typeof M.chat>> }>();
const swHeard = new Map<SwConn, number>();
const swWriter = corkingWriter(1 << 20);
const swWrite = swWriter.write;
const swEncode = (m: ReturnType<typeof M.chat>): Buffer => swWriter.encode(m);

function sameWorkSocket(id: string, name: string, roomName: string): FakeSocket {
  const ws = new FakeSocket();
  const c: SwConn = { id, name, rooms: [roomName], ws: ws as unknown as WebSocket };
  let room = swRooms.get(roomName);
  if (!room) swRooms.set(roomName, (room = { seq: 0, epoch: nanoid(8), members: new Set(), kept: new LastLines(HISTORY_MAX) }));
  room.members.add(c);
  ws.on('message', (data: Buffer) => {
    const at = Date.now();
    swHeard.set(c, at);
    const d = decode(data.toString());
    if (!d.ok || d.message.type !== 'broadcast') throw new Error('same-work: a bad frame');
    const m = d.message;
    const name = m.room ?? c.rooms[0];
    const r = swRooms.get(name);
    if (!r || !c.rooms.includes(name)) throw new Error('same-work: not a member');
    const seq = ++r.seq;
    const msgId = nanoid();
    const line = M.chat(c, name, seq, r.epoch, msgId, m.content, at);
    r.kept.push(line);
    const out = swEncode(line);
    for (const to of r.members) if (to !== c) swWrite(to.ws, out);
    swWrite(c.ws, swEncode(M.ack(c.id, msgId, at, m.ref, { Room: name, Seq: seq, Epoch: r.epoch })));
  });
  return ws;
}

void main();
