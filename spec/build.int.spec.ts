// The build `npm start` runs (jest's globalSetup makes it): plain node, no loader,
// and stack traces that name .ts lines through the source maps.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

describe('the build', () => {
  it('is what npm start runs: exec, so that SIGTERM reaches the server, and no TypeScript at run time', () => {
    expect(scripts.start).toBe('exec node dist/src/main.js');
    expect(scripts.prestart).toBe('npm run build');
    for (const name of ['start', 'chat', 'bot', 'bench', 'bench:reducer', 'bench:memory', 'soak']) expect(scripts[name]).not.toMatch(/tsx/);
  });

  it('loads rxjs and immutable from the one-file builds their packages ship (src/ops/preload.ts, RSS at rest)', () => {
    // Should an upgrade move or drop either file, the server still runs (from the package's entry), but is bigger.
    const r = spawnSync(process.execPath, ['-e', [
      "require('./dist/src/ops/preload');",
      // What require('rxjs') returns is the module cached under the package's entry: which file it was read from.
      "const from = (name) => require.cache[require.resolve(name)].filename;",
      "console.log(JSON.stringify([from('rxjs'), from('immutable'), typeof require('rxjs').merge, typeof require('immutable').OrderedMap]));",
    ].join(' ')], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const [rx, im, merge, orderedMap] = JSON.parse(r.stdout) as string[];
    expect(rx).toMatch(/rxjs\/dist\/bundles\/rxjs\.umd\.min\.js$/);
    expect(im).toMatch(/immutable\/dist\/immutable\.min\.js$/);
    expect([merge, orderedMap]).toEqual(['function', 'function']);
  });

  it('names the .ts line in a stack trace, without --enable-source-maps (src/ops/stack-maps.ts)', () => {
    // A bad flag makes parseConfig throw a ConfigError from src/ops/config.ts; main.ts, chat.ts and bot.ts import stack-maps first.
    const r = spawnSync(process.execPath, ['-e',
      "require('./dist/src/ops/stack-maps'); require('./dist/src/ops/config').parseConfig(['--port', 'x'])"], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--port: expected a whole number');
    expect(r.stderr).toMatch(/src\/ops\/config\.ts:\d+:\d+/);
    expect(r.stderr).not.toMatch(/^\s+at .*dist\/src\/ops\/config\.js:\d+/m);
  });
});
