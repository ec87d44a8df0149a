// Command-line parsing shared by chat and bot: node:util's parseArgs for the
// flags, plus typed readers that name the bad flag in their error (STYLE.md 7).
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;
export type Flags = Record<string, string | boolean | undefined>;

/** Parses argv against the spec; unknown flags and positionals are usage errors. */
export function readFlags(argv: readonly string[], spec: FlagSpec): Flags {
  try {
    return parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false }).values as Flags;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function stringFlag(flags: Flags, name: string, fallback: string): string {
  const v = flags[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`--${name} needs a value`);
  return v;
}

export function intFlag(flags: Flags, name: string, fallback: number, min: number, max: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not "${String(v)}"`);
  }
  return n;
}

export function numberFlag(flags: Flags, name: string, fallback: number, min: number, max: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, not "${String(v)}"`);
  }
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** "500ms", "2s", "1.5s", "1m", or a bare number of milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']);
}

export function durationFlag(flags: Flags, name: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined) throw new UsageError(`--${name} must be a duration such as 500ms, 10s or 1m, not "${String(v)}"`);
  return ms;
}

/** "a,b" -> ["a", "b"], blanks dropped, duplicates removed, order kept. */
export function listFlag(flags: Flags, name: string, fallback: readonly string[]): string[] {
  const v = flags[name];
  if (v === undefined) return [...fallback];
  const items = [...new Set(String(v).split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  if (items.length === 0) throw new UsageError(`--${name} needs at least one item`);
  return items;
}

/** ws://host:port/ws, checked early so a typo is a usage error, not a connection failure. */
export function urlFlag(flags: Flags, name: string, fallback: string): string {
  const v = stringFlag(flags, name, fallback);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new UsageError(`--${name} is not a URL: "${v}"`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new UsageError(`--${name} must be a ws:// or wss:// URL, not "${v}"`);
  }
  return v;
}
