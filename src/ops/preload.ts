// Third-party packages that ship source maps, loaded before any module of ours
// with Node's source-map support off for the while (issue 12, RSS at rest).
//
// `npm start` runs with --enable-source-maps so that our stack traces name .ts
// lines. But while the support is on, Node reads, parses and keeps the map of
// every module it loads, and computes each module's line lengths, at load time,
// not when a trace is printed. rxjs is 223 modules with a map each (pointing at
// .ts sources it does not ship): about 0.9 MB of the server's resident memory at
// rest, measured, for maps no trace of ours ever reads.
// Loaded here, they sit in the module cache when our files ask for them; our own
// files (dist/src) load afterwards with the support on and keep their maps.
//
// Imported by main.ts before anything else. Without the flag it does nothing.
// A package left off this list still works: its maps are merely kept.
// Should the server ever be bundled (esbuild), drop this file: a bundler leaves the
// require below to run time, which would load a second, unbundled copy of rxjs.
const PACKAGES = ['rxjs'];

if (process.sourceMapsEnabled) {
  process.setSourceMapsEnabled(false);
  try {
    for (const name of PACKAGES) require(name);
  } finally {
    process.setSourceMapsEnabled(true);
  }
}
