// Jest globalSetup: the specs that spawn a process (the server, the chat CLI, the
// bots, the bench baselines) run the build as `npm start` does, `node dist/...`,
// so the build comes first, once per jest run. `tsc -b` skips an up-to-date build
// (about half a second) and otherwise emits only what changed.
//
// The build emits without checking types (tsconfig.build.json: noCheck), as ts-jest
// here does; `npm run typecheck` is the gate for types. Should tsc still report
// errors (a syntax error), the specs run what it emitted, with the errors shown;
// only a build that leaves no dist/src/main.js fails here.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
// Jest runs in the same checkout may overlap: one builds at a time.
const LOCK = path.join(ROOT, 'dist', '.build-lock');
const STALE_LOCK_MS = 120_000;

async function locked<T>(body: () => T): Promise<T> {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + STALE_LOCK_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS || Date.now() > deadline) rmSync(LOCK, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return body();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export default async function buildOnce(): Promise<void> {
  const started = Date.now();
  const tsc = require.resolve('typescript/bin/tsc');
  const r = await locked(() => spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' }));
  const main = path.join(ROOT, 'dist', 'src', 'main.js');
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim();
    if (!existsSync(main)) throw new Error(`the build (tsc -b tsconfig.build.json) failed:\n${out}`);
    process.stderr.write(`\nthe build reported errors; specs run what tsc emitted:\n${out}\n`);
  }
  if (process.env.BUILD_TIMING) process.stderr.write(`\nbuild for the spawned-process specs: ${Date.now() - started} ms\n`);
}
