// What every Redis-backed module shares (the log, presence, sessions): Lua
// scripts named by their SHA1, a connection that waits for its first ready
// within a deadline and (re)loads the scripts on every ready, and the first
// check of a payload heard on a channel.
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

export interface Script {
  lua: string;
  sha: string;
}

export const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });

/** Where a module keeps the connection's last error, for the reason a failed op or start gives. */
export interface ErrorSink {
  /** `first`: keep an error already there (the first failure says more than later retries). */
  error(e: unknown, first?: boolean): void;
}

/** Sends every SCRIPT LOAD at once (no await between them), so no command can slip in between. */
export async function loadScripts(redis: Redis, scripts: readonly Script[]): Promise<void> {
  const shas = await Promise.all(scripts.map((s) => redis.script('LOAD', s.lua)));
  scripts.forEach((s, i) => {
    if (shas[i] !== s.sha) throw new Error(`Redis gave SHA ${String(shas[i])} for a script whose SHA1 is ${s.sha}`);
  });
}

/**
 * Waits for the first connection (ioredis retries meanwhile) and loads the
 * scripts; rejects after `timeoutMs`. Later connections load them again: a
 * Redis that restarted has none, and 'ready' comes before any command can be
 * sent on the new connection, so the loads precede every EVALSHA on it.
 */
export async function startScripted(redis: Redis, scripts: readonly Script[], timeoutMs: number, sink: ErrorSink): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', resolve);
  });
  // The first failure rejects connect() while ioredis goes on retrying: only the deadline gives up.
  redis.connect().catch((e) => sink.error(e, true));
  try {
    await ready;
    await loadScripts(redis, scripts);
  } finally {
    clearTimeout(timer);
  }
  redis.on('ready', () => { loadScripts(redis, scripts).catch((e) => sink.error(e)); });
}

/** A channel's payload as a JSON object, or why it is not one: another process's words are input like any other. */
export function parseObject(payload: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return 'not JSON';
  }
  if (v === null || typeof v !== 'object') return 'not an object';
  return v as Record<string, unknown>;
}
