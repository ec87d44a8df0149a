// `npm run bench`: the same scenarios against rxchat (this project, run as `npm
// start` runs it: the compiled build under plain node, its SQLite log in a fresh
// data directory), rxchat-memory (the same with --store memory), same-work (the same protocol
// work hand-written on ws), raw-ws with and without write batching, and Socket.IO
// v4, back to back in one invocation. Every run starts its server fresh on core 0
// and a fresh generator on core 1; the order of targets rotates between
// repetitions; the table shows medians and the ratio to same-work (to raw-ws when
// same-work is not run). Flags: --quick (smoke sizes, 1 repetition), --reps N,
// --targets a,b, --scenarios x,y, --no-reducer (skip the reducer step),
// --profile (rxchat under node --cpu-prof, into bench/results/profiles; with --cluster, each rxchat node),
// --keys (every line carries a Key, as every line of src/client does; the baselines keep no Keys, so
// compare a keyed run of rxchat with an unkeyed one, not with them), --rate N (rooms-rate at N
// lines a second instead of 20,000: to compare at a load every target keeps up with).
// Everything runs from dist/: `npm run bench` builds first (tsc -b).
// --cluster (issue 8): the cluster suite (bench/scenarios/cluster.ts) against rxchat,
// rxchat on Redis with one node and with two, and Socket.IO with its Redis adapter on
// two (bench/cluster.ts: pinning, the Redis, the targets); --redis-url URL to use a
// running Redis instead of one the bench starts.
import { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TargetName } from './lib/client';
import { GENERATOR_CPU, SERVER_CPU } from './lib/proc';
import { pinned, startCommand, stop, waitForLine } from './lib/spawn';
import { median } from './lib/stats';
import { Instance, suite } from './scenarios';
import { Metrics } from './scenarios/types';
import { clusterSuite } from './scenarios/cluster';
import { BenchRedis, CLUSTER_TARGETS, benchRedis, clusterHeadline, layoutOf } from './cluster';

// Run as dist/bench/run.js (npm run bench) or, for a change to this file alone, from bench/run.ts.
const ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '..' : '../..');
const DIST = path.join(ROOT, 'dist');
const RESULTS = path.join(ROOT, 'bench', 'results');
const TARGETS: TargetName[] = ['rxchat', 'rxchat-memory', 'same-work', 'raw-ws-corked', 'raw-ws', 'socketio'];


/**
 * rxchat's abuse limits, set for load (issue 9: "never by weakening defaults"): a bench client sends far over
 * 10 frames a second, and a scenario may put every connection in one room. Only rxchat takes these flags.
 */
export const RXCHAT_LOAD_FLAGS = ['--msg-rate', '0', '--max-room-members', '0'];

/** The server of each target, as a script in dist/ and its own arguments. */
function serverOf(target: TargetName, main: string, dataDir: string): string[] {
  switch (target) {
    case 'rxchat':
      return [main, '--data', dataDir, ...RXCHAT_LOAD_FLAGS];
    case 'rxchat-memory':
      return [main, '--store', 'memory', ...RXCHAT_LOAD_FLAGS];
    case 'same-work':
      return [path.join(DIST, 'bench/servers/same-work.js')];
    case 'raw-ws-corked':
      return [path.join(DIST, 'bench/servers/raw-ws.js'), '--cork'];
    case 'raw-ws':
      return [path.join(DIST, 'bench/servers/raw-ws.js')];
    case 'socketio':
    case 'socketio-redis':
      return [path.join(DIST, 'bench/servers/socketio.js')];
    case 'rxchat-1':
    case 'rxchat-1-shared':
    case 'rxchat-2':
      return [main, ...RXCHAT_LOAD_FLAGS];
  }
}

interface RunRecord {
  type: 'run';
  rep: number;
  scenario: string;
  target: TargetName;
  metrics: Metrics;
  notes: string[];
  error?: string;
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: os.cpus().length,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
  };
}

/**
 * The door's limits the runs need (issue 9: passed, never by weakening the defaults): the connections
 * scenario holds 10,000 clients, --max-connections' default, plus what the generator probes with.
 * Loopback is exempt from the per-address limits already.
 */
const DOOR = ['--max-connections', '20000'];

interface Launch {
  /** npm start's node flags, given to every server. */
  nodeFlags: string[];
  /** npm start's script: dist/src/main.js. */
  main: string;
}

/** `rate`: `--rate N`, rooms-rate's lines a second in place of its default (one-process suite). */
async function runOne(inst: Instance, target: TargetName, quick: boolean, profile: boolean, launch: Launch, keys: boolean, rate?: number): Promise<Omit<RunRecord, 'type' | 'rep'>> {
  const flags = ['--port', '0', '--host', '127.0.0.1', '--log-level', 'warn',
    '--heartbeat-interval', String(inst.heartbeat.intervalMs), '--heartbeat-timeout', String(inst.heartbeat.timeoutMs), ...DOOR];
  const nodeFlags = profile && (target === 'rxchat' || target === 'rxchat-memory' || target === 'same-work')
    ? [...launch.nodeFlags, '--cpu-prof', '--cpu-prof-dir', path.join(RESULTS, 'profiles'), '--cpu-prof-name', `${inst.name}-${Date.now()}.cpuprofile`]
    : launch.nodeFlags;
  // A fresh data directory per run: every run starts from an empty log, as a new server does.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rxchat-bench-'));
  const server = pinned(SERVER_CPU, nodeFlags, [...serverOf(target, launch.main, dataDir), ...flags]);
  let serverErr = '';
  server.stderr?.on('data', (d: Buffer) => (serverErr = (serverErr + d.toString()).slice(-2000)));
  try {
    const url = await waitForLine(server, /listening on (\S+)/, 15_000);
    const limitMs = quick ? 30_000 : 90_000;
    const job = { scenario: inst.name, target, url, serverPid: server.pid, quick, limitMs, keys, rate };
    const gen = pinned(GENERATOR_CPU, ['--max-old-space-size=4096'], [path.join(DIST, 'bench/generator.js'), JSON.stringify(job)]);
    let genErr = '';
    gen.stderr?.on('data', (d: Buffer) => (genErr = (genErr + d.toString()).slice(-2000)));
    const line = await waitForLine(gen, /^RESULT (.*)$/m, limitMs + 5000).catch((e: Error) => {
      throw new Error(`${e.message}\n${genErr}`);
    });
    await stop(gen);
    const { metrics, notes } = JSON.parse(line) as { metrics: Metrics; notes: string[] };
    if (server.exitCode !== null) notes.push(`server exited during the run: ${serverErr.slice(-300)}`);
    return { scenario: inst.name, target, metrics, notes };
  } catch (e) {
    return { scenario: inst.name, target, metrics: {}, notes: [], error: `${(e as Error).message}\n${serverErr}`.slice(0, 2000) };
  } finally {
    await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

let clusterRuns = 0;

/**
 * One cluster run: the target's nodes (one or two) pinned as bench/cluster.ts lays
 * them out, on a key prefix of their own that is deleted afterwards, and one
 * generator spreading its clients over them.
 */
async function runCluster(inst: Instance, target: TargetName, quick: boolean, launch: Launch, redis: BenchRedis, profile = false, keys = false): Promise<Omit<RunRecord, 'type' | 'rep'>> {
  const layout = layoutOf(target);
  const prefix = `rxchat-bench:${process.pid}:${++clusterRuns}:`;
  const flags = ['--port', '0', '--host', '127.0.0.1', '--log-level', 'warn',
    '--heartbeat-interval', String(inst.heartbeat.intervalMs), '--heartbeat-timeout', String(inst.heartbeat.timeoutMs), ...DOOR];
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rxchat-bench-'));
  redis.pin(layout.redis);
  const servers: ChildProcess[] = [];
  const errs: string[] = [];
  try {
    layout.nodes.forEach((cpu, i) => {
      const own = layout.redisBacked ? ['--redis', redis.url, '--redis-prefix', prefix, '--node-id', `bench-${'ab'[i]}`] : [];
      // --profile: each rxchat node under --cpu-prof, named by node, to see where a node's CPU goes.
      const nodeFlags = profile && target.startsWith('rxchat')
        ? [...launch.nodeFlags, '--cpu-prof', '--cpu-prof-dir', path.join(RESULTS, 'profiles'), '--cpu-prof-name', `${inst.name}-${target}-${'ab'[i]}-${Date.now()}.cpuprofile`]
        : launch.nodeFlags;
      const child = pinned(cpu, nodeFlags, [...serverOf(target, launch.main, dataDir), ...flags, ...own]);
      errs[i] = '';
      child.stderr?.on('data', (d: Buffer) => (errs[i] = (errs[i] + d.toString()).slice(-2000)));
      servers.push(child);
    });
    const urls = await Promise.all(servers.map((c) => waitForLine(c, /listening on (\S+)/, 15_000)));
    const limitMs = quick ? 30_000 : 90_000;
    const cluster = {
      urls, pids: servers.map((c) => c.pid as number),
      ...(layout.redisBacked ? { redisUrl: redis.url, ...(redis.pid === undefined ? {} : { redisPid: redis.pid }) } : {}),
    };
    const job = { scenario: inst.name, target, url: urls[0], serverPid: cluster.pids[0], quick, limitMs, cluster, keys };
    const gen = pinned(layout.generator, ['--max-old-space-size=4096'], [path.join(DIST, 'bench/generator.js'), JSON.stringify(job)]);
    let genErr = '';
    gen.stderr?.on('data', (d: Buffer) => (genErr = (genErr + d.toString()).slice(-2000)));
    const line = await waitForLine(gen, /^RESULT (.*)$/m, limitMs + 5000).catch(async (e: Error) => {
      await stop(gen);
      throw new Error(`${e.message}\n${genErr}`);
    });
    await stop(gen);
    const { metrics, notes } = JSON.parse(line) as { metrics: Metrics; notes: string[] };
    servers.forEach((c, i) => {
      if (c.exitCode !== null) notes.push(`node ${'AB'[i]} exited during the run: ${errs[i].slice(-300)}`);
    });
    return { scenario: inst.name, target, metrics, notes };
  } catch (e) {
    return { scenario: inst.name, target, metrics: {}, notes: [], error: `${(e as Error).message}\n${errs.join('\n')}`.slice(0, 2000) };
  } finally {
    await Promise.all(servers.map((c) => stop(c)));
    rmSync(dataDir, { recursive: true, force: true });
    await redis.clean(prefix).catch(() => undefined);
  }
}

const fmt = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The target the ratios are taken to: same-work (the same protocol work, by hand) when it ran, else raw-ws; in a cluster run, rxchat-1. */
const baseOf = (targets: TargetName[]): TargetName | undefined =>
  (['same-work', 'raw-ws', 'rxchat-1'] as TargetName[]).find((t) => targets.includes(t));

function table(insts: Instance[], targets: TargetName[], runs: RunRecord[]): { md: string; medians: Record<string, Record<string, Metrics>> } {
  const medians: Record<string, Record<string, Metrics>> = {};
  const lines: string[] = [];
  const base = baseOf(targets);
  const others = base ? targets.filter((t) => t !== base) : [];
  const blank = others.map(() => ' |').join('');
  lines.push(`| scenario | figure | ${targets.join(' | ')} |${others.map((t) => ` ${t} / ${base} |`).join('')}`);
  lines.push(`|---|---|${targets.map(() => '---:|').join('')}${others.map(() => '---:|').join('')}`);
  for (const inst of insts) {
    medians[inst.name] = {};
    for (const t of targets) {
      const mine = runs.filter((r) => r.scenario === inst.name && r.target === t && !r.error);
      const keys = new Set(mine.flatMap((r) => Object.keys(r.metrics)));
      medians[inst.name][t] = Object.fromEntries([...keys].map((k) => [k, median(mine.map((r) => r.metrics[k]))]));
    }
    for (const s of inst.shown) {
      const v = (t: TargetName) => medians[inst.name][t]?.[s.key];
      const ratio = (t: TargetName) => {
        const a = v(t);
        const b = base && v(base);
        // A share of a core read from /proc can come out as 1e-12 rather than 0: no ratio to that.
        return a === undefined || b === undefined || Math.abs(b) < 1e-6 ? '–' : `${(a / b).toFixed(2)}×`;
      };
      lines.push(`| ${inst.name} | ${s.label} (${s.better} is better) | ${targets.map((t) => fmt(v(t), s.digits)).join(' | ')} |${others.map((t) => ` ${ratio(t)} |`).join('')}`);
    }
  }
  // Churn: the cost per join+leave at the bigger background over the smaller one (1.00× = flat).
  const churns = insts.filter((i) => i.name.startsWith('churn-'));
  if (churns.length === 2) {
    const [a, b] = churns.map((c) => c.name);
    const growth = (t: TargetName, k: string) => {
      const x = medians[a][t]?.[k];
      const y = medians[b][t]?.[k];
      return x && y ? `${(y / x).toFixed(2)}×` : '–';
    };
    lines.push(`| churn growth | user µs/cycle, ${b} ÷ ${a} (1.00× = flat) | ${targets.map((t) => growth(t, 'serverUserUsPerCycle')).join(' | ')} |${blank}`);
    lines.push(`| churn growth | user+sys µs/cycle, ${b} ÷ ${a} | ${targets.map((t) => growth(t, 'serverTotalUsPerCycle')).join(' | ')} |${blank}`);
  }
  return { md: lines.join('\n'), medians };
}

interface ReducerResult {
  node: string;
  iterations: number;
  results: { rooms: number; others: number; broadcastUs: number; joinLeaveUs: number }[];
}

/** `npm run bench:reducer`'s measurement, compiled, pinned to the server's core with nothing else of ours running. */
async function reducerStep(quick: boolean, nodeFlags: string[]): Promise<ReducerResult> {
  const child = pinned(SERVER_CPU, nodeFlags, [path.join(DIST, 'bench/reducer.bench.js'), '--json', ...(quick ? ['--quick'] : [])]);
  try {
    return JSON.parse(await waitForLine(child, /^RESULT (.*)$/m, 300_000)) as ReducerResult;
  } finally {
    await stop(child);
  }
}

/**
 * The four figures issue 12 names, with their targets: the Broadcast step of the
 * reducer, RSS at rest, RSS per idle connection at 10,000, and server user CPU per
 * delivery in the rooms scenario as a ratio to same-work, measured side by side.
 */
function headline(targets: TargetName[], medians: Record<string, Record<string, Metrics>>, reducer: ReducerResult | undefined): string {
  const at = (scenario: string, t: TargetName, key: string) => medians[scenario]?.[t]?.[key];
  /** `mine`'s figure, with its ratio to `base`'s when both ran. */
  const pair = (scenario: string, key: string, digits: number, unit: string, mine: TargetName, base: TargetName) => {
    const a = at(scenario, mine, key);
    const b = at(scenario, base, key);
    const ratio = a !== undefined && b !== undefined && b !== 0 ? ` (**${(a / b).toFixed(2)}×** ${base}'s ${fmt(b, digits)}${unit})` : '';
    return `${fmt(a, digits)}${unit}${ratio}`;
  };
  const has = (t: TargetName) => targets.includes(t);
  // Issue 12 compares the hub with the hand-written server on the same footing: both keep lines in memory.
  const mem: TargetName = has('rxchat-memory') ? 'rxchat-memory' : 'rxchat';
  const rows: string[] = [];
  if (reducer) {
    const r1000 = reducer.results.filter((r) => r.rooms === 1000);
    const worst = Math.max(...r1000.map((r) => r.broadcastUs));
    rows.push(`| 12 | a line's steps (received + appended), 10-member room, 1,000 rooms (bench:reducer, the slower of 1k and 10k connections) | ${fmt(worst, 2)} µs (${r1000.map((r) => fmt(r.broadcastUs, 2)).join(' / ')}) | ≤ 1.10 µs |`);
  }
  if (medians.rest && has('rxchat')) rows.push(`| 12 | RSS at rest, rxchat (SQLite log) | ${pair('rest', 'rssAtRestMb', 1, ' MiB', 'rxchat', 'same-work')} | ≤ 60 MB |`);
  if (medians.connections && has('rxchat')) rows.push(`| – | RSS per idle connection, ${fmt(at('connections', 'rxchat', 'held'), 0)} held | ${pair('connections', 'rssPerConnKb', 2, ' KiB', 'rxchat', 'same-work')} | – |`);
  if (medians['rooms-rate']) {
    rows.push(`| 12 | rooms-rate: server user CPU per delivery, ${mem} | ${pair('rooms-rate', 'serverUserUsPerDelivery', 2, ' µs', mem, 'same-work')} | ≤ 1.15× same-work |`);
    if (has('rxchat') && has('rxchat-memory')) {
      rows.push(`| 7 | rooms-rate: server user CPU per delivery, SQLite log | ${pair('rooms-rate', 'serverUserUsPerDelivery', 2, ' µs', 'rxchat', 'rxchat-memory')} | ≤ 1.3× rxchat-memory |`);
      if (has('raw-ws')) rows.push(`| 7 | rooms-rate: the SQLite log against raw-ws | ${pair('rooms-rate', 'serverUserUsPerDelivery', 2, ' µs', 'rxchat', 'raw-ws')} | ≤ 1.0× raw-ws |`);
    }
  }
  if (medians['fanout-max'] && has('rxchat') && has('rxchat-memory')) {
    rows.push(`| 7 | fanout-max: server user CPU per delivery, SQLite log | ${pair('fanout-max', 'serverUserUsPerDelivery', 2, ' µs', 'rxchat', 'rxchat-memory')} | ≤ 1.1× rxchat-memory |`);
    if (has('raw-ws')) rows.push(`| 7 | fanout-max: the SQLite log against raw-ws | ${pair('fanout-max', 'serverUserUsPerDelivery', 2, ' µs', 'rxchat', 'raw-ws')} | ≤ 1.0× raw-ws |`);
  }
  if (medians.rooms) rows.push(`| – | rooms as fast as each server goes (closed loop): user CPU per delivery | ${pair('rooms', 'serverUserUsPerDelivery', 2, ' µs', mem, 'same-work')} | moves with throughput |`);
  if (rows.length === 0) return '';
  return ['Figures with targets (issue 12: the compiled build; issue 7: the message log):', '', '| issue | figure | value | target |', '|---|---|---|---|', ...rows].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean', default: false },
      reps: { type: 'string' },
      targets: { type: 'string' },
      scenarios: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'no-reducer': { type: 'boolean', default: false },
      cluster: { type: 'boolean', default: false },
      'redis-url': { type: 'string' },
      keys: { type: 'boolean', default: false },
      rate: { type: 'string' },
    },
  });
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && (!Number.isInteger(rate) || rate <= 0)) throw new Error(`--rate: a whole number of lines a second, not ${values.rate}`);
  const cluster = values.cluster as boolean;
  const quick = values.quick as boolean;
  const reps = Number(values.reps ?? (quick ? 1 : 3));
  const known = cluster ? CLUSTER_TARGETS : TARGETS;
  const targets = values.targets ? (values.targets.split(',') as TargetName[]) : known;
  for (const t of targets) if (!known.includes(t)) throw new Error(`--targets: unknown target ${t} (one of ${known.join(', ')})`);
  const wanted = values.scenarios?.split(',');
  const all = cluster ? clusterSuite(quick) : suite(quick);
  const insts = all.filter((i) => !wanted || wanted.includes(i.name));
  if (insts.length === 0) throw new Error(`--scenarios: none of ${wanted?.join(',')} (one of ${all.map((i) => i.name).join(', ')})`);
  const launch = startCommand();
  for (const f of [launch.main, path.join(DIST, 'bench/generator.js')]) {
    if (!existsSync(f)) throw new Error(`${path.relative(ROOT, f)} is missing: run \`npm run bench\` (it builds first) or \`npm run build\``);
  }

  mkdirSync(RESULTS, { recursive: true });
  const started = new Date();
  const file = path.join(RESULTS, `bench-${started.toISOString().replace(/[:.]/g, '-')}.jsonl`);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const m = machine();
  const redis = cluster ? await benchRedis(values['redis-url']) : undefined;
  if (redis) {
    process.stdout.write(`${m.nproc} cores (${m.cpu}), node ${m.node}; cluster suite, Redis at ${redis.url}${redis.pid === undefined ? ' (not ours: its INFO counts every client\'s commands)' : ' (started for this run)'}; one-process targets: server on core 0, generator and Redis on core 1 (rxchat-1-shared: on either, as in a two-node run); two-node targets: node A on core 0, node B on core 1, generator and Redis on either; ${reps} repetition(s)\n`);
  } else {
    process.stdout.write(`${m.nproc} cores (${m.cpu}), node ${m.node}; servers on core ${SERVER_CPU} as npm start runs them (node ${launch.nodeFlags.join(' ')} dist/…), generator on core ${GENERATOR_CPU}; ${reps} repetition(s)\n`);
  }

  let reducer: ReducerResult | undefined;
  if (!cluster && !values['no-reducer'] && targets.includes('rxchat')) {
    const t0 = Date.now();
    reducer = await reducerStep(quick, launch.nodeFlags);
    appendFileSync(file, `${JSON.stringify({ type: 'reducer', ...reducer })}\n`);
    const r1000 = reducer.results.filter((r) => r.rooms === 1000).map((r) => fmt(r.broadcastUs, 2)).join(' / ');
    process.stdout.write(`[reducer]   Broadcast step at 1,000 rooms ${r1000} µs ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s\n`);
  }

  const runs: RunRecord[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const order = targets.map((_, i) => targets[(i + rep) % targets.length]);
    for (const inst of insts) {
      for (const target of order) {
        const t0 = Date.now();
        const r: RunRecord = {
          type: 'run', rep,
          ...(redis ? await runCluster(inst, target, quick, launch, redis, values.profile as boolean, values.keys as boolean) : await runOne(inst, target, quick, values.profile as boolean, launch, values.keys as boolean, rate)),
        };
        runs.push(r);
        appendFileSync(file, `${JSON.stringify(r)}\n`);
        const brief = r.error
          ? `FAILED: ${r.error.split('\n')[0]}`
          : inst.shown.slice(0, 3).map((s) => `${s.label} ${fmt(r.metrics[s.key], s.digits)}`).join(', ');
        process.stdout.write(`[rep ${rep + 1}/${reps}] ${inst.name.padEnd(11)} ${target.padEnd(13)} ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${brief}${r.notes.length ? `  (${r.notes.join('; ')})` : ''}\n`);
      }
    }
  }

  await redis?.close();
  const { md, medians } = table(insts, targets, runs);
  const head = cluster ? clusterHeadline(targets, medians) : headline(targets, medians, reducer);
  const notes = runs.filter((r) => r.notes.length || r.error).map((r) => `- rep ${r.rep + 1}, ${r.scenario}, ${r.target}: ${r.error ? `error: ${r.error.split('\n')[0]}` : r.notes.join('; ')}`);
  const header = [
    `Run ${started.toISOString()}, ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s: \`${command}\``,
    `Machine: ${m.nproc} cores, ${m.cpu}, ${m.memGiB} GiB, Linux ${m.kernel}, node ${m.node}. Medians of ${reps} repetition(s).`,
  ].join('\n');
  const report = `${header}\n\n${head ? `${head}\n\n` : ''}${md}\n${notes.length ? `\nNotes:\n${notes.join('\n')}\n` : ''}`;
  appendFileSync(file, `${JSON.stringify({ type: 'summary', command, machine: m, reps, medians, reducer })}\n`);
  const latest = cluster ? 'latest-cluster.md' : 'latest.md';
  writeFileSync(path.join(RESULTS, latest), report);
  process.stdout.write(`\n${report}\nresults: ${path.relative(ROOT, file)}, table: bench/results/${latest}\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
