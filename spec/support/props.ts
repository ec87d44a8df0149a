// fast-check settings shared by the property and fuzz specs (docs/security.md,
// "Fuzzing and properties"). Each property keeps a small run count so that
// `npm test` stays quick; a failure prints its seed and path (fast-check's own
// report), and the same counterexample comes back with
//   FC_SEED=<seed> FC_PATH=<path> npx jest spec/<file>
// FC_RUNS=<n> runs every property n times instead, for a longer hunt.
import fs from 'node:fs';
import path from 'node:path';
import type { Parameters } from 'fast-check';

const int = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));

/** Parameters for fc.assert: `numRuns` unless FC_RUNS says otherwise, and the seed and path FC_SEED/FC_PATH give. */
export function props<T>(numRuns: number): Parameters<T> {
  const seed = int(process.env.FC_SEED);
  const p = process.env.FC_PATH;
  return {
    numRuns: int(process.env.FC_RUNS) ?? numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(p ? { path: p } : {}),
    // The shrunk counterexample and the error it threw, in the report.
    includeErrorInReport: true,
  };
}

/** The error codes docs/protocol.md documents: the first column of the table under "## Errors". */
export function documentedCodes(): Set<string> {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/protocol.md'), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Errors'), doc.indexOf('\n## ', doc.indexOf('\n## Errors') + 1));
  const codes = new Set<string>();
  for (const m of section.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)) codes.add(m[1]);
  return codes;
}
