// Third-party packages loaded before any module of ours, each from the one-file
// minified build its own package ships, and with Node's source-map support off for
// the while (issue 12, RSS at rest).
//
// rxjs's `require('rxjs')` entry is dist/cjs: 223 modules, each a module object, a
// wrapper function and its own source kept by V8. The same package ships
// dist/bundles/rxjs.umd.min.js: the same version and the same ES5 code (both
// compiled from the same sources), in one file. immutable's entry, dist/immutable.js,
// is one file whose comments hold a few non-Latin-1 characters, so V8 keeps its
// 212 KB of source as a two-byte string (424 KB); dist/immutable.min.js is the same
// build minified, 68 KB of ASCII. Measured (the bench's `rest` figure, medians of 5):
// 59.7 MiB with the plain entries, 56.7 MiB with these. Each one is loaded here and
// registered in require's cache under the package's own entry file, so our
// `require('rxjs')` and `require('immutable')` get it (Node documents require.cache
// as replaceable). Stack frames inside them name the minified file: they had no map
// of use before (rxjs's point at .ts sources it does not ship).
//
// Should the server be run with --enable-source-maps (npm start no longer passes it:
// src/ops/stack-maps.ts maps our traces lazily), Node reads, parses and keeps the map
// of every module it loads at load time, not when a trace is printed; so the support
// is off while these load (no trace of ours reads their maps).
//
// Imported by main.ts right after stack-maps.ts, so nothing has loaded either package
// yet. A package whose minified file is missing (another version's layout) loads from
// its entry as before. A package left off this list still works: it is merely bigger.
// Should the server ever be bundled (esbuild), drop this file.
import path from 'node:path';

/** Each package, and its one-file build relative to the directory of its `require` entry. */
const PACKAGES: ReadonlyArray<readonly [name: string, minified: string]> = [
  ['rxjs', '../bundles/rxjs.umd.min.js'], // entry: rxjs/dist/cjs/index.js
  ['immutable', 'immutable.min.js'], // entry: immutable/dist/immutable.js
];

function loadMinified(name: string, minified: string): void {
  const entry = require.resolve(name);
  const file = path.join(path.dirname(entry), minified);
  try {
    require(file);
  } catch {
    require(name);
    return;
  }
  require.cache[entry] = require.cache[file];
}

const maps = process.sourceMapsEnabled;
if (maps) process.setSourceMapsEnabled(false);
try {
  for (const [name, minified] of PACKAGES) loadMinified(name, minified);
} finally {
  if (maps) process.setSourceMapsEnabled(true);
}
