// Heap held per idle connection by the hub's own machinery, in-process: N fake
// sockets go through connection$, mergeConnections, the hub and the runner, as
// in src/edge/server.ts, and the heap is read after GC before and after. What ws
// itself holds per socket is the same for every server and not counted here
// (the `connections` scenario of npm run bench measures whole-process RSS).
// Run: npm run bench:memory [-- N] [--no-heartbeat]
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Subject, merge } from 'rxjs';
import { nanoid } from 'nanoid';
import type WebSocket from 'ws';
import { connection$ } from '../src/edge/connection';
import { rateLimit } from '../src/core/rate';
import { DEFAULTS } from '../src/ops/config';

// The server's default message rate, as `npm start` runs: an idle connection holds no bucket, only the limit's reference.
const rate = rateLimit(DEFAULTS.msgRate, DEFAULTS.msgBurst);
import { liveness as livenessOn } from '../src/edge/heartbeat';
import { hub$, mergeConnections } from '../src/edge/hub';
import { Runner } from '../src/edge/runner';
import { HubEvent, pingDue } from '../src/core/events';
import { MemoryLog } from '../src/store/memory';
import { StoreRunner } from '../src/store/runner';

const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 5000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:memory does)');

/** Just enough of a socket for the hub; closed, so nothing is sent. */
class IdleSocket extends EventEmitter {
  readyState = 3;
  bufferedAmount = 0;
}

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const sockets: IdleSocket[] = [];
const bare = heapAfterGc();
for (let i = 0; i < N; i++) sockets.push(new IdleSocket());
const socketsOnly = heapAfterGc();

const connections$ = new Subject<ReturnType<typeof connection$>>();
// As the server: each connection's heartbeat is a `timeout` on one shared timer wheel (counted here).
const liveness = livenessOn(DEFAULTS.heartbeatTimeoutMs, DEFAULTS.heartbeatIntervalMs);
// --no-heartbeat: without it, to see what the timeout costs.
const withHeartbeat = !process.argv.includes('--no-heartbeat');
// The log answers each room's first join (its Seq and Epoch), as in the server.
const stored$ = new Subject<HubEvent | readonly HubEvent[]>();
const store = new StoreRunner(new MemoryLog({ retention: { maxPerRoom: 100, maxDays: 1 } }), (es) => stored$.next(es.length === 1 ? es[0] : es), { log: () => undefined, trimEveryMs: 0 });
const runner = new Runner({ maxBuffered: 1 << 20, log: () => undefined, onDropped: () => undefined, store: (e) => store.submit(e) });
// As the server: one set of dependencies for every connection.
const deps = { newId: nanoid, liveness: withHeartbeat ? liveness : undefined, rate };
const subscription = hub$(merge(mergeConnections(connections$), stored$)).subscribe((s) => runner.run(s.effects));
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function main(): Promise<void> {
await settle();
const before = heapAfterGc();
for (let i = 0; i < N; i++) {
  const id = nanoid();
  const ws = sockets[i] as unknown as WebSocket;
  // As server.ts: one object is the runner's seat for the socket and the identity the connection names.
  const who = { id, ws };
  runner.register(who);
  connections$.next(connection$(who, { name: `user${i}`, room: `room${i % Math.max(1, N / 10)}` }, ws, deps, randomBytes(24).toString('base64url')));
}
await settle();
// The hub's scan holds its last step, effects and all, until the next event: here the one that
// answered 500 rooms' joins at once (one batch of the log), thousands of frames that were sent
// already. A server's next event (a ping cadence at the latest) lets go of them; so does this one.
stored$.next(pingDue([], Date.now()));
await settle();
const after = heapAfterGc();
const perConnection = (after - before) / N;
console.log(`${N} idle connections in rooms of 10: ${perConnection.toFixed(0)} B of heap each for the hub's machinery`);
console.log(`(an idle fake socket with no listeners: ${((socketsOnly - bare) / N).toFixed(0)} B, not included)`);
subscription.unsubscribe();
}

void main();
