// The soak's load (issue 9 item 8), one process started by bench/soak.ts with its plan as
// JSON: `connections` ws clients spread over `rooms` rooms, `churn` of them a second closed
// and replaced, `rate` chat lines a second from random members. Every receiver checks each
// room's Seq with the bots' --verify bookkeeping (scripts/lib/verify.ts): a gap is a lost
// line, a repeat a duplicate. No timer per client: two shared intervals pace the churn and
// the lines, and `ws` answers the server's pings by itself (the heartbeat stays on).
// Prints RUNNING once every connection is up, progress on stderr, and `RESULT {json}`.
import WebSocket from 'ws';
import { SeqVerifier } from '../scripts/lib/verify';
import { Sample, sleep } from './lib/stats';
import { SoakPlan, SoakResult, intAfter, readSeqFrame, stringAfter } from './lib/soak';

interface Job {
  url: string;
  plan: SoakPlan;
  /** Hard limit for the whole process. */
  limitMs: number;
}

interface Client {
  readonly ws: WebSocket;
  readonly name: string;
  readonly room: string;
  ready: boolean;
  /** We closed it (churn, or the end): what it gets now is not checked. */
  gone: boolean;
  /** Lines sent, not yet acked. */
  pending: number;
}

const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const plan = job.plan;
setTimeout(() => {
  process.stderr.write(`soak generator: exceeded ${job.limitMs} ms\n`);
  process.exit(3);
}, job.limitMs).unref();

const problems: string[] = [];
const verifier = new SeqVerifier((who, what) => {
  if (problems.length < 20) problems.push(`${who}: ${what}`);
});
const latency = new Sample();
const errors: Record<string, number> = {};
/** Per room: the highest Seq anyone saw there, and its Epoch. */
const heads = new Map<string, { seq: number; epoch: string }>();
const slots: (Client | undefined)[] = new Array(plan.connections);
const counts = { sent: 0, acked: 0, delivered: 0, churned: 0, connectFailures: 0, dropped: 0 };
let measuring = false;
let running = true;
let serial = 0;

const roomOf = (slot: number) => `soak-${slot % plan.rooms}`;

function head(room: string, seq: number, epoch: string): void {
  const h = heads.get(room);
  if (h === undefined || h.epoch !== epoch || seq > h.seq) heads.set(room, { seq, epoch });
}

function onFrame(c: Client, data: Buffer): void {
  if (c.gone) return;
  const s = data.toString('latin1');
  const type = intAfter(s, '"Type":');
  if (type !== 1 && type !== 12 && type !== 6 && type !== 5) return; // presence, welcome, pongs
  if (type === 5) {
    const code = stringAfter(s, '"Code":"') || 'unknown';
    errors[code] = (errors[code] ?? 0) + 1;
    if (problems.length < 20) problems.push(`${c.name}: ${s.slice(0, 200)}`);
    return;
  }
  const f = readSeqFrame(s);
  if (type === 6) {
    if (f.room !== c.room || c.ready) return;
    c.ready = true;
    verifier.joined(c.name, f.room, f.seq, f.epoch);
    head(f.room, f.seq, f.epoch);
    return;
  }
  if (!c.ready || f.seq < 0) return;
  verifier.seen(c.name, f.room, f.seq, f.epoch);
  head(f.room, f.seq, f.epoch);
  if (type === 12) {
    counts.acked++;
    c.pending--;
    return;
  }
  counts.delivered++;
  if (measuring) {
    // Content: `sentAt|padding`, sentAt on this process's clock.
    const i = s.indexOf('"Content":"') + 11;
    latency.add(performance.now() - Number(s.slice(i, s.indexOf('|', i))));
  }
}

/** Opens the connection of a slot; resolves when it has joined its room (or failed). */
function open(slot: number): Promise<void> {
  const room = roomOf(slot);
  const name = `s${slot}-${serial++}`;
  const ws = new WebSocket(`${job.url}?name=${name}&room=${room}`, { perMessageDeflate: false, skipUTF8Validation: true });
  const c: Client = { ws, name, room, ready: false, gone: false, pending: 0 };
  slots[slot] = c;
  return new Promise((resolve) => {
    ws.on('message', (d: Buffer) => {
      const was = c.ready;
      onFrame(c, d);
      if (!was && c.ready) resolve();
    });
    ws.on('error', () => undefined); // the close that follows says it
    ws.on('close', () => {
      resolve();
      if (c.gone) return;
      c.gone = true;
      if (c.ready) {
        counts.dropped++;
        if (problems.length < 20) problems.push(`${name}: closed by the server`);
      } else counts.connectFailures++;
      verifier.left(name, room);
      if (slots[slot] === c) slots[slot] = undefined;
      if (running) void open(slot);
    });
  });
}

/** We close it: its lines in flight and its room's lines from now on are not its to miss. */
function retire(c: Client): void {
  c.gone = true;
  verifier.left(c.name, c.room);
  c.ws.close(1000);
}

const randomSlot = () => Math.floor(Math.random() * plan.connections);

function say(): void {
  for (let tries = 0; tries < 8; tries++) {
    const c = slots[randomSlot()];
    if (c === undefined || !c.ready || c.gone || c.ws.readyState !== WebSocket.OPEN) continue;
    c.pending++;
    counts.sent++;
    c.ws.send(`{"Type":1,"Content":"${performance.now().toFixed(2)}|${'x'.repeat(plan.pad)}","Room":"${c.room}","Ref":${counts.sent}}`);
    return;
  }
}

function churnOne(): void {
  const slot = randomSlot();
  const c = slots[slot];
  if (c !== undefined) {
    if (!c.ready) return; // still connecting: leave it be
    retire(c);
  }
  counts.churned++;
  void open(slot);
}

/** Calls `fn` `perSecond` times a second, on elapsed time (timer jitter does not lower the rate), until stopped. */
function paced(perSecond: number, fn: () => void): () => void {
  if (perSecond <= 0) return () => undefined;
  const start = performance.now();
  let done = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * perSecond) / 1000);
    for (; done < due; done++) fn();
  }, 5);
  return () => clearInterval(timer);
}

function liveClients(): Client[] {
  return slots.filter((c): c is Client => c !== undefined && c.ready && !c.gone);
}

/** Every live receiver at its room's head, and every line of theirs acked. */
function caughtUp(): boolean {
  for (const c of liveClients()) {
    if (c.pending > 0) return false;
    const h = heads.get(c.room);
    const t = verifier.last(c.name, c.room);
    if (h !== undefined && t !== undefined && t.epoch === h.epoch && t.seq < h.seq) return false;
  }
  return true;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  // Connect at most 100 at a time, in slot order.
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(100, plan.connections) }, async () => {
    while (next < plan.connections) await open(next++);
  }));
  const connectSeconds = (performance.now() - t0) / 1000;
  const live = liveClients().length;
  process.stderr.write(`soak: ${live} of ${plan.connections} connections up in ${connectSeconds.toFixed(1)} s\n`);
  process.stdout.write('RUNNING\n');

  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const stopLines = paced(plan.rate, say);
  const stopChurn = paced(plan.churn, churnOne);
  const warm = setTimeout(() => (measuring = true), plan.warmupMs);
  const progress = setInterval(() => {
    const s = verifier.summary();
    process.stderr.write(
      `soak: ${((performance.now() - start) / 1000).toFixed(0)} s, ${liveClients().length} live, ${counts.sent} sent, ` +
        `${counts.delivered} delivered, ${counts.churned} churned, missing ${s.missing}, duplicates ${s.duplicates}\n`,
    );
  }, Math.max(plan.sampleMs, 10_000));
  await sleep(plan.durationMs);
  stopLines();
  stopChurn();
  clearTimeout(warm);
  clearInterval(progress);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);

  // Drain: every live receiver reaches its room's head, every line of theirs is acked, or time is up.
  const end = performance.now() + plan.drainMs;
  while (!caughtUp() && performance.now() < end) await sleep(50);
  running = false;
  const alive = liveClients();
  let unacked = 0;
  for (const c of alive) {
    unacked += c.pending;
    const h = heads.get(c.room);
    if (h !== undefined) verifier.tail(c.name, c.room, h.seq, h.epoch);
  }
  const v = verifier.summary();
  const l = latency.summary();
  const result: SoakResult = {
    seconds, connectSeconds, sent: counts.sent, acked: counts.acked, unacked, delivered: counts.delivered,
    missing: v.missing, duplicates: v.duplicates, trimmed: v.trimmed, resets: v.resets,
    churned: counts.churned, connectFailures: counts.connectFailures, dropped: counts.dropped, errors,
    p50Ms: l.p50, p99Ms: l.p99, maxMs: l.max,
    generatorCore: (cpu.user + cpu.system) / 1e6 / seconds,
    problems,
  };
  for (const c of alive) retire(c);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(`soak generator failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
