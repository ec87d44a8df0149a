// `npm run build:web`: bundles the browser client (web/) into dist/web with esbuild.
// Script and stylesheet get content hashes in their names (served as immutable);
// index.html is rewritten to point at them (served no-cache). The new build is
// written aside and swapped in, so a running server never serves half of one.
import { build } from 'esbuild';
import { promises as fs } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '..' : '../..'); // run as scripts/*.ts or built as dist/scripts/*.js
export const WEB_SRC = path.join(ROOT, 'web');
export const WEB_OUT = path.join(ROOT, 'dist', 'web');

export interface BuiltWeb {
  outDir: string;
  files: string[];
  ms: number;
}

export async function buildWeb(outDir: string = WEB_OUT): Promise<BuiltWeb> {
  const started = Date.now();
  const staging = `${outDir}.tmp-${process.pid}-${started}`;
  await fs.mkdir(staging, { recursive: true });
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: { app: path.join(WEB_SRC, 'src', 'main.ts'), style: path.join(WEB_SRC, 'style.css') },
      entryNames: '[name]-[hash]',
      outdir: staging,
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: ['chrome100', 'firefox100', 'safari15.4'],
      minify: true,
      sourcemap: 'linked',
      metafile: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
    const outputs = Object.keys(result.metafile.outputs).map((f) => path.basename(f));
    const pick = (re: RegExp) => {
      const f = outputs.find((o) => re.test(o));
      if (!f) throw new Error(`build-web: no output matching ${re}`);
      return f;
    };
    let html = await fs.readFile(path.join(WEB_SRC, 'index.html'), 'utf8');
    for (const [ref, file] of [['./app.js', pick(/^app-.*\.js$/)], ['./style.css', pick(/^style-.*\.css$/)]]) {
      if (!html.includes(`"${ref}"`)) throw new Error(`build-web: web/index.html does not reference ${ref}`);
      html = html.replace(`"${ref}"`, `"./${file}"`);
    }
    await fs.writeFile(path.join(staging, 'index.html'), html);
    await fs.copyFile(path.join(WEB_SRC, 'favicon.svg'), path.join(staging, 'favicon.svg'));

    // Swap: the old build steps aside, the new one takes its name, the old one goes.
    const old = `${outDir}.old-${process.pid}-${started}`;
    await fs.rename(outDir, old).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
    await fs.rename(staging, outDir);
    await fs.rm(old, { recursive: true, force: true });
    return { outDir, files: (await fs.readdir(outDir)).sort(), ms: Date.now() - started };
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}

if (require.main === module) {
  buildWeb(process.argv[2] ? path.resolve(process.argv[2]) : WEB_OUT).then(
    (b) => process.stdout.write(`built ${path.relative(process.cwd(), b.outDir) || '.'} in ${b.ms} ms: ${b.files.join(', ')}\n`),
    (e) => {
      process.stderr.write(`build-web failed: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
