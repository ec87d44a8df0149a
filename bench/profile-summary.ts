// `node dist/bench/profile-summary.js FILE.cpuprofile [N]`: the top N functions by self
// time in a `node --cpu-prof` profile (as written by `npm run bench -- --profile`),
// and the share of time by package, to see where a server's CPU goes.
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function main(): void {
  const [file, n = '25'] = process.argv.slice(2);
  if (!file) throw new Error('usage: node dist/bench/profile-summary.js FILE.cpuprofile [N]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[] };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const hits = new Map<number, number>();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const fns = new Map<string, number>();
  const pkgs = new Map<string, number>();
  for (const [id, count] of hits) {
    const { functionName, url, lineNumber } = (byId.get(id) as Node).callFrame;
    const where = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(bench|src)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + count);
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1]
      ?? (url.startsWith('node:') ? 'node core' : url ? 'app (dist/)' : functionName || '(native)');
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + count);
  }
  const pct = (c: number) => `${((c / total) * 100).toFixed(1).padStart(5)} %`;
  process.stdout.write(`${total} samples\n\nby package:\n`);
  for (const [k, c] of [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 12)) process.stdout.write(`${pct(c)}  ${k}\n`);
  process.stdout.write(`\nby function (self time):\n`);
  for (const [k, c] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, Number(n))) process.stdout.write(`${pct(c)}  ${k}\n`);
}

main();
