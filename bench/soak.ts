// `npm run soak` (issue 9 item 8; not in CI): the compiled server (`node dist/src/main.js`,
// its SQLite log in a fresh directory, the flags the load needs passed explicitly) and one
// load generator (bench/soak-generator.ts), both on 127.0.0.1 and both bounded in time.
// By default 10,000 connections with the heartbeat on, 100 connects and disconnects a
// second, 250 lines a second in 500 rooms, for 10 minutes; `--duration 60s` for a short
// run, and bench/lib/soak.ts for every flag. It reads the server's RSS from
// /proc/PID/status as it goes and reports: lines lost (per-room Seq gaps seen by
// receivers) and duplicated, RSS over time and its growth after the warm-up, p99
// delivery latency. Exit 0: no loss; 1: loss or another failure; 2: a usage error.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../scripts/lib/args';
import { procCpu, procRssKb } from './lib/proc';
import { RssSample, SoakPlan, SoakResult, gaugeKb, heapUsedKb, parseSoakArgs, rssVerdict, serverFlags, soakFailures } from './lib/soak';
import { pinned, startCommand, stop, waitForLine } from './lib/spawn';

// Run as dist/bench/soak.js (npm run soak); the server and the generator are its neighbours in dist/.
const DIST = path.resolve(__dirname, '..');
const mib = (kb: number) => (kb / 1024).toFixed(1);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Time to connect everything, however slow the machine: generous, but a bound. */
const connectBudgetMs = (plan: SoakPlan) => 30_000 + plan.connections * 10;

async function soak(plan: SoakPlan): Promise<number> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'rxchat-soak-'));
  const cores = `0-${os.cpus().length - 1}`;
  // As `npm start` runs it: its node flags and its main.
  const launch = startCommand();
  const server = pinned(cores, launch.nodeFlags, [launch.main, ...serverFlags(plan, dataDir)]);
  let serverErr = '';
  server.stderr?.on('data', (d: Buffer) => (serverErr = (serverErr + d.toString()).slice(-2000)));
  let gen: ReturnType<typeof pinned> | undefined;
  const samples: RssSample[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    const url = await waitForLine(server, /listening on (\S+)/, 15_000);
    const pid = server.pid as number;
    log(`soak: ${plan.connections} connections, ${plan.rooms} rooms, ${plan.churn} connects and disconnects/s, ` +
      `${plan.rate} lines/s, ${plan.durationMs / 1000} s (warm-up ${plan.warmupMs / 1000} s), heartbeat ` +
      `${plan.heartbeatIntervalMs === undefined ? 'at the server defaults' : `${plan.heartbeatIntervalMs}/${plan.heartbeatTimeoutMs} ms`}, ` +
      `resume window ${plan.resumeWindowMs === undefined ? 'the default' : `${plan.resumeWindowMs} ms`}; ` +
      `server ${url}, pid ${pid}, RSS at rest ${mib(procRssKb(pid))} MiB`);

    const limitMs = connectBudgetMs(plan) + plan.durationMs + plan.drainMs + 30_000;
    gen = pinned(cores, ['--max-old-space-size=4096'], [path.join(DIST, 'bench/soak-generator.js'), JSON.stringify({ url, plan, limitMs })]);
    gen.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
    const result = waitForLine(gen, /^RESULT (.*)\n/m, limitMs + 5000);
    result.catch(() => undefined); // awaited below; a failure while connecting must not go unhandled
    await waitForLine(gen, /^(RUNNING)\n/m, connectBudgetMs(plan));
    const t0 = performance.now();
    const cpu0 = procCpu(pid);
    // RSS from /proc; beside it the V8 heap in use from the server's /metrics (bounded to 2 s), which tells
    // growth of live objects from the heap and allocator keeping pages they may reuse.
    const metricsUrl = url.replace(/^ws/, 'http').replace(/\/ws$/, '/metrics');
    const sample = () => {
      const t = Math.round(performance.now() - t0);
      const s: RssSample = { t, kb: procRssKb(pid) };
      samples.push(s);
      fetch(metricsUrl, { signal: AbortSignal.timeout(2000) })
        .then((res) => res.text())
        .then((text) => {
          s.heapKb = heapUsedKb(text);
          s.heapTotalKb = gaugeKb(text, 'rxchat_process_heap_total_bytes');
          s.externalKb = gaugeKb(text, 'rxchat_process_external_memory_bytes');
          const m = (kb: number | undefined) => (kb === undefined ? '?' : mib(kb));
          if (t <= plan.durationMs) {
            log(`soak: at ${(t / 1000).toFixed(1)} s: RSS ${mib(s.kb)} MiB, heap used ${m(s.heapKb)} of ${m(s.heapTotalKb)} MiB, external ${m(s.externalKb)} MiB`);
          }
        })
        .catch(() => undefined);
    };
    sample();
    sampler = setInterval(sample, plan.sampleMs);
    const r = JSON.parse(await result) as SoakResult;
    clearInterval(sampler);
    // The server's CPU over the run and the drain, as a fraction of one core.
    const cpu1 = procCpu(pid);
    const serverCore = (cpu1.user - cpu0.user + cpu1.sys - cpu0.sys) / ((performance.now() - t0) / 1000);
    if (server.exitCode !== null) throw new Error(`the server exited during the run: ${serverErr.slice(-300)}`);
    return report(plan, r, samples.filter((s) => s.t <= plan.durationMs + plan.sampleMs / 2), serverCore);
  } catch (e) {
    log(`soak: FAILED: ${(e as Error).message}${serverErr ? `\nserver stderr: ${serverErr.slice(-500)}` : ''}`);
    return 1;
  } finally {
    if (sampler) clearInterval(sampler);
    if (gen) await stop(gen);
    await stop(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** How long the RSS verdict's warm-up must be to read past V8's sizing of its heap (docs/benchmarks.md, the 40-minute soaks). */
const SETTLED_MS = 20 * 60_000;

function report(plan: SoakPlan, r: SoakResult, samples: RssSample[], serverCore: number): number {
  const rss = rssVerdict(samples, plan.warmupMs);
  const failures = soakFailures(r);
  const growth = Number.isFinite(rss.growth) ? `${(rss.growth * 100).toFixed(1)} %` : 'n/a';
  log(`soak: connected in ${r.connectSeconds.toFixed(1)} s; ran ${r.seconds.toFixed(1)} s`);
  log(`soak: lines sent ${r.sent}, acked ${r.acked}, delivered ${r.delivered} (${(r.delivered / r.seconds).toFixed(0)}/s); churned ${r.churned}`);
  log(`soak: lost ${r.missing}, duplicated ${r.duplicates}, unacked ${r.unacked}, trimmed ${r.trimmed}, resets ${r.resets}, ` +
    `dropped ${r.dropped}, failed joins ${r.connectFailures}`);
  log(`soak: delivery latency after warm-up: p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms`);
  const at = (s: RssSample) => `${(s.t / 1000).toFixed(plan.sampleMs < 1000 ? 1 : 0)}s`;
  log(`soak: RSS ${samples.map((s) => `${at(s)} ${mib(s.kb)}`).join(', ')} MiB`);
  log(`soak: heap used ${samples.map((s) => `${at(s)} ${s.heapKb === undefined ? '?' : mib(s.heapKb)}`).join(', ')} MiB`);
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : 'n/a');
  log(`soak: RSS after warm-up, on its trend line ${mib(rss.afterWarmupKb)} -> ${mib(rss.finalKb)} MiB, growth ${growth} ` +
    `(the halves' peaks: ${pct(rss.peakGrowth)}; the two ends alone: ${pct(rss.endsGrowth)}): ` +
    `${rss.ok === undefined ? 'too few samples to judge' : rss.ok ? 'under 5 %, met' : '5 % or more, NOT met'}`);
  if (plan.warmupMs < SETTLED_MS) {
    log(`soak: (RSS is judged on --duration 40m --warmup 20m: until about the 15th minute V8 is still sizing its heap ` +
      `for the resume window's state, and a shorter window reads that; README, "The soak")`);
  }
  log(`soak: CPU, as a share of one core: server ${(serverCore * 100).toFixed(0)} %, generator ${(r.generatorCore * 100).toFixed(0)} %`);
  for (const p of r.problems.slice(0, 10)) log(`soak: problem: ${p}`);
  log(`SOAK ${JSON.stringify({ plan, result: r, rss, samples, serverCore, failures })}`);
  if (failures.length > 0) {
    log(`soak: FAILED: ${failures.join('; ')}`);
    return 1;
  }
  log('soak: passed: no line lost or duplicated');
  return 0;
}

async function main(): Promise<void> {
  let plan: SoakPlan;
  try {
    plan = parseSoakArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`soak: ${e.message}\n`);
    process.exit(2);
  }
  process.exitCode = await soak(plan);
}

void main();
