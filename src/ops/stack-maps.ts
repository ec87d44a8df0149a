// Stack traces that name .ts lines, at no cost until a trace is made (issue 12).
//
// `node --enable-source-maps` reads, parses and keeps the source map of every module
// when the module loads, not when a trace is printed: at rest that was 1.0 MiB of the
// server's RSS (four alternating starts of each, 58.0 against 57.0 MiB), for maps no
// trace may ever read. Here V8's hook for formatting a trace maps each frame in a
// file of our build (dist/) through that file's .map, read and parsed the first time
// a trace names it (node:module's SourceMap), and formats the trace as V8 does
// otherwise. Frames elsewhere (node's own, packages without maps) stay as they are.
//
// Imported first by every entry point that users run (src/main.ts, scripts/chat.ts,
// scripts/bot.ts). A process started with --enable-source-maps keeps Node's own.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SourceMap } from 'node:module';

/** The build's root, dist/ (this file is dist/src/ops/stack-maps.js). */
const DIST = path.resolve(__dirname, '../..') + path.sep;

// Bounded: one per file of the build a trace has named, and the build is a few dozen files.
const maps = new Map<string, SourceMap | null>();

function mapOf(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map !== undefined) return map;
  map = null;
  try {
    // Loaded with the first trace, not at start (node:module brings Node's source-map code).
    const { SourceMap } = require('node:module') as typeof import('node:module');
    map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
  } catch {
    // No map, or one that cannot be read: the frame names the .js line.
  }
  maps.set(file, map);
  return map;
}

/** A frame as V8 prints it, with its place in the build replaced by the .ts one when the map knows it. */
export function frameText(frame: NodeJS.CallSite): string {
  const text = String(frame);
  const file = frame.getFileName();
  const line = frame.getLineNumber();
  const column = frame.getColumnNumber();
  if (!file || !file.startsWith(DIST) || line === null || column === null) return text;
  const map = mapOf(file);
  const entry = map?.findEntry(line - 1, column - 1) as
    { originalSource?: string; originalLine?: number; originalColumn?: number } | undefined;
  if (!entry?.originalSource || entry.originalLine === undefined || entry.originalColumn === undefined) return text;
  const source = entry.originalSource.startsWith('file://')
    ? new URL(entry.originalSource).pathname
    : path.resolve(path.dirname(file), entry.originalSource);
  const where = `${file}:${line}:${column}`;
  const i = text.lastIndexOf(where);
  if (i < 0) return text;
  return `${text.slice(0, i)}${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}${text.slice(i + where.length)}`;
}

function header(error: unknown): string {
  try {
    return Error.prototype.toString.call(error);
  } catch {
    return 'Error';
  }
}

// Node 20 has a hook of its own there, which formats as V8 does when source maps are off.
if (!process.sourceMapsEnabled) {
  Error.prepareStackTrace = (error, frames) => {
    let text = header(error);
    for (const frame of frames) {
      let line: string;
      try {
        line = frameText(frame);
      } catch {
        line = String(frame);
      }
      text += `\n    at ${line}`;
    }
    return text;
  };
}
