// Scripted and behavioural bots against a chat server (docs/cli.md).
//   npm run bot -- --bots 5 --rooms lobby,dev --behaviour chatter --rate 2 --duration 10s
//   npm run bot -- --bots 2 --script scripts/examples/demo.txt --json
//   npm run bot -- --bots 20 --rooms a,b --rate 5 --duration 10s --verify
// Prints a summary (bots, sent, acked, received, errors, latency p50/p99, and with
// --verify the lines missing or doubled at any receiver) and exits 0 when there were
// no errors (and nothing missing or doubled), 1 otherwise. Every phase is bounded.
import '../src/ops/stack-maps'; // first: traces name .ts lines (src/ops/stack-maps.ts)
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { firstValueFrom, merge, of, race, timeout, timer, filter } from 'rxjs';
import {
  UsageError, durationFlag, intFlag, listFlag, numberFlag, readFlags, stringFlag, urlFlag,
} from './lib/args';
import { Bot } from './lib/bot';
import { Step, parseScript } from './lib/script';
import { formatSummary, newCounters, summarize } from './lib/stats';
import { SeqVerifier } from './lib/verify';

const USAGE = `usage: npm run bot -- [--url ws://localhost:8080/ws] [--bots 2] [--rooms lobby[,dev…]]
         [--name-prefix bot] [--script FILE] [--behaviour chatter|echo|chatter,echo] [--rate 1]
         [--duration 10s] [--verify] [--json]`;

/** After the run: stop waiting for stragglers once nothing has arrived for QUIET_MS, or after DRAIN_MS. */
const QUIET_MS = 250;
const DRAIN_MS = 2000;
/** After the run: how long answers still due may take (each message is bounded by its own 5 s on the wire). */
const SETTLE_MS = 5000;
/** --verify: how long every receiver may take to reach its room's latest Seq. */
const TAIL_MS = 2000;
/** Failures printed to stderr before the rest are only counted. */
const MAX_REPORTS = 10;
/**
 * Messages one bot's outbox may hold. The library's default (200) suits a person; a bot at
 * --rate 1000 whose link drops for a second queues more than that, and each one refused
 * (outbox_full) would be an error of the bots, not of the server.
 */
const BOT_OUTBOX = 2000;

function options(argv: readonly string[]) {
  const flags = readFlags(argv, {
    url: { type: 'string' }, bots: { type: 'string' }, rooms: { type: 'string' }, 'name-prefix': { type: 'string' },
    script: { type: 'string' }, behaviour: { type: 'string' }, behavior: { type: 'string' }, rate: { type: 'string' },
    duration: { type: 'string' }, json: { type: 'boolean' }, verify: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  const script = flags.script === undefined ? undefined : stringFlag(flags, 'script', '');
  const behaviours = listFlag(flags, flags.behavior !== undefined ? 'behavior' : 'behaviour', script ? [] : ['chatter']);
  for (const b of behaviours) {
    if (b !== 'chatter' && b !== 'echo') throw new UsageError(`--behaviour must be chatter, echo or both, not "${b}"`);
  }
  return {
    help: flags.help === true,
    url: urlFlag(flags, 'url', 'ws://localhost:8080/ws'),
    bots: intFlag(flags, 'bots', 2, 1, 5000),
    rooms: listFlag(flags, 'rooms', ['lobby']),
    prefix: stringFlag(flags, 'name-prefix', 'bot'),
    script,
    chatter: behaviours.includes('chatter'),
    echo: behaviours.includes('echo'),
    rate: numberFlag(flags, 'rate', 1, 0.01, 1000),
    // A script ends by itself; behaviours alone run for 10 s unless told otherwise.
    durationMs: flags.duration === undefined && script ? undefined : durationFlag(flags, 'duration', 10_000),
    json: flags.json === true,
    verify: flags.verify === true,
  };
}

function loadScript(file: string): Step[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--script: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const parsed = parseScript(text, file);
  if (!parsed.ok) throw new UsageError(parsed.error);
  return parsed.steps;
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const steps = opts.script === undefined ? undefined : loadScript(opts.script);
  const counters = newCounters();
  let reports = 0;
  const report = (bot: string, what: string) => {
    if (++reports <= MAX_REPORTS) process.stderr.write(`bot: ${bot}: ${what}\n`);
    else if (reports === MAX_REPORTS + 1) process.stderr.write('bot: more failures; only counting them now\n');
  };
  const verifier = opts.verify ? new SeqVerifier((bot, what) => report(bot, `verify: ${what}`)) : undefined;
  const ctx = { url: opts.url, run: randomBytes(4).toString('hex'), rooms: opts.rooms, counters, report, verifier, outboxMax: BOT_OUTBOX };
  const bots = Array.from({ length: opts.bots }, (_, i) => new Bot(`${opts.prefix}-${i + 1}`, i + 1, ctx));

  const started = performance.now();
  const up = await Promise.all(bots.map((b) => b.start()));
  const live = bots.filter((_, i) => up[i]);

  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // every bot's behaviours listen for the end of the run
  const deadline = opts.durationMs === undefined ? undefined : setTimeout(() => stop.abort(), opts.durationMs);
  const interrupt = () => (stop.signal.aborted ? process.exit(130) : stop.abort());
  process.on('SIGINT', interrupt);

  await Promise.all(live.map(async (b) => {
    const running: Promise<void>[] = [];
    if (opts.echo) running.push(b.echo(stop.signal));
    if (opts.chatter) running.push(b.chatter(opts.rate, stop.signal));
    if (steps) await b.runScript(steps, stop.signal);
    else await Promise.all(running);
  }));
  // Scripts are done (or time is up): stop whatever behaviours run beside them.
  stop.abort();
  clearTimeout(deadline);
  const ranMs = performance.now() - started;

  // Drain: answers still due (each bounded), then lines in flight until the room goes quiet.
  await Promise.all(live.map((b) => b.settle(SETTLE_MS)));
  const quiet$ = merge(...live.map((b) => b.lines$)).pipe(
    timeout({ each: QUIET_MS, with: () => of('quiet' as const) }),
    filter((v) => v === 'quiet'),
  );
  await firstValueFrom(race(quiet$, timer(DRAIN_MS)), { defaultValue: 0 });

  if (verifier) await verifyTails(live, verifier);

  for (const b of bots) b.close();
  process.off('SIGINT', interrupt);
  const summary = summarize(counters, bots.length, live.length, ranMs, verifier?.summary());
  process.stdout.write(`${opts.json ? JSON.stringify(summary) : formatSummary(summary)}\n`);
  const doubtful = summary.verify !== undefined && summary.verify.missing + summary.verify.duplicates > 0;
  return summary.errors > 0 || live.length === 0 || doubtful ? 1 : 0;
}

/**
 * --verify: a line missing at the very end shows no gap (no later line follows it). So read
 * each room's latest Seq from the log, give every receiver in it a moment to get there,
 * and count what it still lacks as missing.
 */
async function verifyTails(live: readonly Bot[], verifier: SeqVerifier): Promise<void> {
  const rooms = new Set(live.flatMap((b) => b.client.rooms));
  const heads = new Map<string, { seq: number; epoch: string }>();
  for (const room of rooms) {
    const reader = live.find((b) => b.client.ready && b.client.rooms.includes(room));
    const page = await reader?.client.history(room, { limit: 1 }).catch(() => undefined);
    if (page?.seq !== undefined && page.epoch !== undefined) heads.set(room, { seq: page.seq, epoch: page.epoch });
  }
  const behind = () => [...heads].some(([room, h]) => verifier.receiversIn(room).some((r) => {
    const t = verifier.last(r, room);
    return t !== undefined && t.epoch === h.epoch && t.seq < h.seq;
  }));
  const until = performance.now() + TAIL_MS;
  while (behind() && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  for (const [room, h] of heads) for (const r of verifier.receiversIn(room)) verifier.tail(r, room, h.seq, h.epoch);
}

main().then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (e: unknown) => {
    process.stderr.write(e instanceof UsageError ? `bot: ${e.message}\n${USAGE}\n` : `bot: ${String((e as Error)?.stack ?? e)}\n`);
    process.exit(e instanceof UsageError ? 64 : 1);
  },
);
