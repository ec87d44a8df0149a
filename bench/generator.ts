// The load generator: one process per run, pinned to its own core by bench/run.ts.
// Runs one scenario against one server and prints `RESULT {json}` on stdout.
import { TargetName, connectorFor } from './lib/client';
import { suite } from './scenarios';
import { clusterSuite } from './scenarios/cluster';
import { ClusterCtx } from './scenarios/types';

interface Job {
  scenario: string;
  target: TargetName;
  url: string;
  serverPid: number;
  quick: boolean;
  /** Hard limit for the whole run. */
  limitMs: number;
  /** `--cluster`: the nodes (and their Redis) of this run; the scenario is one of the cluster suite. */
  cluster?: ClusterCtx;
  /** `--keys`: every line carries a Key. */
  keys?: boolean;
  /** `--rate`: rooms-rate's lines a second, in place of its default. */
  rate?: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as Job;
  const instance = (job.cluster ? clusterSuite(job.quick) : suite(job.quick, job.rate)).find((s) => s.name === job.scenario);
  if (!instance) throw new Error(`unknown scenario ${job.scenario}`);
  // Bounded in time whatever happens: a stuck run reports failure rather than hanging the suite.
  setTimeout(() => {
    process.stderr.write(`generator: ${job.scenario} on ${job.target} exceeded ${job.limitMs} ms\n`);
    process.exit(3);
  }, job.limitMs).unref();
  const result = await instance.run({
    target: job.target,
    url: job.url,
    serverPid: job.serverPid,
    connect: connectorFor(job.target, job.keys ?? false),
    log: (line) => process.stderr.write(`${line}\n`),
    ...(job.cluster ? { cluster: job.cluster } : {}),
  });
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((e) => {
  process.stderr.write(`generator failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
