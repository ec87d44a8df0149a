// `npm run bench`: the same scenarios against rxchat (this project), raw-ws (the
// leanest ws server) and Socket.IO v4, back to back in one invocation. Every run
// starts its server fresh on core 0 and a fresh generator on core 1; the order of
// targets rotates between repetitions; the table shows medians and the ratio to
// raw-ws. Flags: --quick (smoke sizes, 1 repetition), --reps N, --targets a,b,
// --scenarios x,y, --profile (rxchat under node --cpu-prof, into bench/results/profiles).
import { mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { TargetName } from './lib/client';
import { GENERATOR_CPU, SERVER_CPU } from './lib/proc';
import { pinned, stop, waitForLine } from './lib/spawn';
import { median } from './lib/stats';
import { Instance, suite } from './scenarios';
import { Metrics } from './scenarios/types';

const ROOT = path.resolve(__dirname, '..');
const BUILD = path.join(ROOT, 'bench', '.build');
const RESULTS = path.join(ROOT, 'bench', 'results');
const TARGETS: TargetName[] = ['rxchat', 'raw-ws', 'socketio'];

interface RunRecord {
  type: 'run';
  rep: number;
  scenario: string;
  target: TargetName;
  metrics: Metrics;
  notes: string[];
  error?: string;
}

async function buildAll(): Promise<void> {
  // One bundle per process, same esbuild settings for all three servers; packages stay in node_modules.
  await build({
    entryPoints: {
      rxchat: path.join(ROOT, 'src/main.ts'),
      'raw-ws': path.join(ROOT, 'bench/servers/raw-ws.ts'),
      socketio: path.join(ROOT, 'bench/servers/socketio.ts'),
      generator: path.join(ROOT, 'bench/generator.ts'),
    },
    outdir: BUILD,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    logLevel: 'warning',
  });
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

async function runOne(inst: Instance, target: TargetName, quick: boolean, profile: boolean): Promise<Omit<RunRecord, 'type' | 'rep'>> {
  const flags = ['--port', '0', '--host', '127.0.0.1', '--log-level', 'warn',
    '--heartbeat-interval', String(inst.heartbeat.intervalMs), '--heartbeat-timeout', String(inst.heartbeat.timeoutMs)];
  const nodeFlags = profile && target === 'rxchat'
    ? ['--cpu-prof', '--cpu-prof-dir', path.join(RESULTS, 'profiles'), '--cpu-prof-name', `${inst.name}-${Date.now()}.cpuprofile`]
    : [];
  const server = pinned(SERVER_CPU, nodeFlags, [path.join(BUILD, `${target}.js`), ...flags]);
  let serverErr = '';
  server.stderr?.on('data', (d: Buffer) => (serverErr = (serverErr + d.toString()).slice(-2000)));
  try {
    const url = await waitForLine(server, /listening on (\S+)/, 15_000);
    const limitMs = quick ? 30_000 : 90_000;
    const job = { scenario: inst.name, target, url, serverPid: server.pid, quick, limitMs };
    const gen = pinned(GENERATOR_CPU, ['--max-old-space-size=4096'], [path.join(BUILD, 'generator.js'), JSON.stringify(job)]);
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
  }
}

const fmt = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(insts: Instance[], targets: TargetName[], runs: RunRecord[]): { md: string; medians: Record<string, Record<string, Metrics>> } {
  const medians: Record<string, Record<string, Metrics>> = {};
  const lines: string[] = [];
  const others = targets.filter((t) => t !== 'raw-ws');
  const hasRaw = targets.includes('raw-ws');
  lines.push(`| scenario | figure | ${targets.join(' | ')} |${hasRaw ? others.map((t) => ` ${t} / raw-ws |`).join('') : ''}`);
  lines.push(`|---|---|${targets.map(() => '---:|').join('')}${hasRaw ? others.map(() => '---:|').join('') : ''}`);
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
        const b = v('raw-ws');
        return a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;
      };
      lines.push(`| ${inst.name} | ${s.label} (${s.better} is better) | ${targets.map((t) => fmt(v(t), s.digits)).join(' | ')} |${hasRaw ? others.map((t) => ` ${ratio(t)} |`).join('') : ''}`);
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
    lines.push(`| churn growth | user µs/cycle, ${b} ÷ ${a} (1.00× = flat) | ${targets.map((t) => growth(t, 'serverUserUsPerCycle')).join(' | ')} |${hasRaw ? others.map(() => ' |').join('') : ''}`);
    lines.push(`| churn growth | user+sys µs/cycle, ${b} ÷ ${a} | ${targets.map((t) => growth(t, 'serverTotalUsPerCycle')).join(' | ')} |${hasRaw ? others.map(() => ' |').join('') : ''}`);
  }
  return { md: lines.join('\n'), medians };
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
    },
  });
  const quick = values.quick as boolean;
  const reps = Number(values.reps ?? (quick ? 1 : 3));
  const targets = values.targets ? (values.targets.split(',') as TargetName[]) : TARGETS;
  for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`--targets: unknown target ${t} (one of ${TARGETS.join(', ')})`);
  const wanted = values.scenarios?.split(',');
  const insts = suite(quick).filter((i) => !wanted || wanted.includes(i.name));
  if (insts.length === 0) throw new Error(`--scenarios: none of ${wanted?.join(',')} (one of ${suite(quick).map((i) => i.name).join(', ')})`);

  mkdirSync(RESULTS, { recursive: true });
  const started = new Date();
  const file = path.join(RESULTS, `bench-${started.toISOString().replace(/[:.]/g, '-')}.jsonl`);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const m = machine();
  process.stdout.write(`building into ${path.relative(ROOT, BUILD)} …\n`);
  await buildAll();
  process.stdout.write(`${m.nproc} cores (${m.cpu}), node ${m.node}; servers on core ${SERVER_CPU}, generator on core ${GENERATOR_CPU}; ${reps} repetition(s)\n`);

  const runs: RunRecord[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const order = targets.map((_, i) => targets[(i + rep) % targets.length]);
    for (const inst of insts) {
      for (const target of order) {
        const t0 = Date.now();
        const r: RunRecord = { type: 'run', rep, ...(await runOne(inst, target, quick, values.profile as boolean)) };
        runs.push(r);
        appendFileSync(file, `${JSON.stringify(r)}\n`);
        const brief = r.error
          ? `FAILED: ${r.error.split('\n')[0]}`
          : inst.shown.slice(0, 3).map((s) => `${s.label} ${fmt(r.metrics[s.key], s.digits)}`).join(', ');
        process.stdout.write(`[rep ${rep + 1}/${reps}] ${inst.name.padEnd(11)} ${target.padEnd(8)} ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${brief}${r.notes.length ? `  (${r.notes.join('; ')})` : ''}\n`);
      }
    }
  }

  const { md, medians } = table(insts, targets, runs);
  const notes = runs.filter((r) => r.notes.length || r.error).map((r) => `- rep ${r.rep + 1}, ${r.scenario}, ${r.target}: ${r.error ? `error: ${r.error.split('\n')[0]}` : r.notes.join('; ')}`);
  const header = [
    `Run ${started.toISOString()}, ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s: \`${command}\``,
    `Machine: ${m.nproc} cores, ${m.cpu}, ${m.memGiB} GiB, Linux ${m.kernel}, node ${m.node}. Medians of ${reps} repetition(s).`,
  ].join('\n');
  const report = `${header}\n\n${md}\n${notes.length ? `\nNotes:\n${notes.join('\n')}\n` : ''}`;
  appendFileSync(file, `${JSON.stringify({ type: 'summary', command, machine: m, reps, medians })}\n`);
  writeFileSync(path.join(RESULTS, 'latest.md'), report);
  process.stdout.write(`\n${report}\nresults: ${path.relative(ROOT, file)}, table: bench/results/latest.md\n`);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
