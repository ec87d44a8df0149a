// What every Redis-backed module shares (the log, presence, sessions): Lua
// scripts named by their SHA1, a connection that waits for its first ready
// within a deadline and (re)loads the scripts on every ready, and the first
// check of a payload heard on a channel.
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { redactUrl } from '../ops/config';
import { messageOf } from './memory';

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

/**
 * The connection's last error, for the reason a failed op or start gives. Listening
 * to 'error' also keeps ioredis from printing every connection error; 'ready' clears it.
 */
export class LastError implements ErrorSink {
  value?: unknown;

  constructor(private readonly redis: Redis) {
    redis.on('error', (e) => { this.value = e; });
    redis.on('ready', () => { this.value = undefined; });
  }

  /** Why an op is not sent: the connection's state, and its last error. */
  notConnected(): string {
    const why = this.value ? `: ${messageOf(this.value)}` : '';
    return `Redis is not connected (${this.redis.status})${why}`;
  }

  error(e: unknown, first = false): void {
    if (first) this.value ??= e;
    else this.value = e;
  }
}

/**
 * Whether a started connection can be used, told once per change (not once per
 * refused op, nor per reconnect attempt): down when the connection closes, or
 * when an op got no answer in time (`trouble`: a Redis that stopped answering
 * keeps its socket open); up again on 'ready', or on an op answered (`fine`).
 */
export class LinkWatch {
  private reason: string | undefined;
  private readonly listeners = new Set<(down: string | undefined) => void>();

  constructor(redis: Redis, where: string, lastError: LastError) {
    redis.on('close', () => {
      const why = lastError.value ? `: ${messageOf(lastError.value)}` : '';
      this.trouble(`lost the connection to Redis at ${where}${why}`);
    });
    redis.on('ready', () => this.fine());
  }

  get down(): string | undefined {
    return this.reason;
  }

  watch(listener: (down: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** The link is down (if it was up): says why, once. */
  trouble(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.tell();
  }

  /** The link works (again). */
  fine(): void {
    if (this.reason === undefined) return;
    this.reason = undefined;
    this.tell();
  }

  private tell(): void {
    // Inside ioredis's event handlers: a listener that throws must not become an uncaught exception.
    for (const l of this.listeners) {
      try {
        l(this.reason);
      } catch {
        // the listener's own failure; the state is already set
      }
    }
  }
}

/** An error that says Redis is away (the connection broke, or no answer in time), not that it refused the op. */
export function isLinkError(e: unknown): boolean {
  // "max retries per request": what ioredis (maxRetriesPerRequest 0) gives a command in flight when the connection breaks.
  return /Connection is closed|Command timed out|no answer from Redis|max retries per request|Stream isn't writeable|ECONNRESET|EPIPE|ECONNREFUSED/i
    .test(messageOf(e));
}

/** Quits the connection, or drops it when Redis is away. */
export async function quitLink(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

export type Reply = [error: Error | null, result: unknown];

/** The pipeline's replies, or a rejection if it gets none in time (ioredis times out each command; this is the backstop). */
export function execWithin(pipe: ReturnType<Redis['pipeline']>, commandTimeoutMs: number): Promise<Reply[]> {
  return withinTime(pipe.exec().then((replies) => (replies ?? []) as Reply[]), commandTimeoutMs);
}

/**
 * Several commands as one write: each is sent at once (`send` calls ioredis, which writes it to the socket),
 * the socket corked around them so that they leave in one segment and Redis reads them in one go, as a
 * Pipeline's do; each answer, or its error, is a Reply in the order sent. For the hot path (runBatch): a
 * Pipeline object, made for every batch of more than one op, outlived its batch in V8's young generation
 * (~740 KB promoted per scavenge on a node at 2,500 lines a second, 12 KB without; docs/benchmarks.md
 * "A Pipeline per batch"), and each promoted batch is work for the old generation's collector.
 */
export function sendAll(redis: Redis, send: readonly (() => Promise<unknown>)[], commandTimeoutMs: number): Promise<Reply[]> {
  // Undefined until the first connect (lazyConnect), whatever the typings say: then each command fails at once.
  const stream = redis.stream as Redis['stream'] | undefined;
  stream?.cork();
  let replies: Promise<Reply>[];
  try {
    replies = send.map((s) => s().then(
      (v): Reply => [null, v],
      (e: unknown): Reply => [e instanceof Error ? e : new Error(String(e)), null],
    ));
  } finally {
    stream?.uncork();
  }
  return withinTime(Promise.all(replies), commandTimeoutMs);
}

/** What `p` gives, or a rejection if it gives nothing within commandTimeoutMs and a second (the backstop behind ioredis's own timeout). */
export function withinTime<T>(p: Promise<T>, commandTimeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from Redis within ${commandTimeoutMs} ms`)), commandTimeoutMs + 1_000);
    p.then(
      (v) => { clearTimeout(timer); resolve(v); },
      (e: unknown) => { clearTimeout(timer); reject(e); },
    );
  });
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
  await firstReady(redis, timeoutMs, sink, () => loadScripts(redis, scripts));
  redis.on('ready', () => { loadScripts(redis, scripts).catch((e) => sink.error(e)); });
}

/**
 * Connects and waits for the first 'ready' (ioredis retries meanwhile), then
 * runs `then`; rejects when both are not done within `timeoutMs`.
 */
export async function firstReady(redis: Redis, timeoutMs: number, sink: ErrorSink, then: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    redis.once('ready', resolve);
  });
  // The first failure rejects connect() while ioredis goes on retrying: only the deadline gives up.
  redis.connect().catch((e) => sink.error(e, true));
  try {
    await ready;
    await then();
  } finally {
    clearTimeout(timer);
  }
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

/** Redis cannot be used at start: a bad URL, or no answer in time. The message is one line and names the URL (without password). */
export class RedisOpenError extends Error {
  readonly code = 'REDIS_OPEN';

  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RedisOpenError';
  }
}

/** Checks a `redis://` or `rediss://` URL; returns why it is bad, or undefined. */
export function redisUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL (expected redis://HOST:PORT/DB)';
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return `the scheme must be redis: or rediss:, got ${u.protocol}`;
  if (!u.hostname) return 'no host';
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) return `the database must be a number, got "${db}"`;
  return undefined;
}

/** What every module's `connect` takes. */
export interface LinkOptions {
  /** Put before every key and channel; default `rxchat:`. No `{` or `}` (they would break the hash tags). */
  prefix?: string;
  /** How long `connect` keeps trying to reach Redis before it gives up (ms). Default 10000. */
  connectTimeoutMs?: number;
  /** How long one command waits for Redis's answer before it fails (ms). Default 5000. */
  commandTimeoutMs?: number;
}

/**
 * Checks the URL (a RedisOpenError of one line naming it, without its password)
 * and the prefix, and makes a connection that never hangs a caller: nothing waits
 * for a connection (the offline queue is off: a command while Redis is away fails
 * at once), nothing is sent twice (a command in flight when the connection breaks
 * fails, since Redis may have run it), nothing waits forever (commandTimeout: a
 * Redis that stops answering, a dead host or a partition), and it reconnects for
 * as long as the process lives, at most a second apart.
 */
export function openLink(url: string, opts: LinkOptions, name: string) {
  const where = redactUrl(url);
  const problem = redisUrlProblem(url);
  if (problem) throw new RedisOpenError(`bad Redis URL ${where}: ${problem}`);
  const prefix = opts.prefix ?? 'rxchat:';
  if (/[{}]/.test(prefix)) throw new RangeError(`the Redis key prefix may not hold { or }, got ${JSON.stringify(prefix)}`);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const commandTimeoutMs = opts.commandTimeoutMs ?? 5_000;
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.min(connectTimeoutMs, 5_000),
    retryStrategy: (times) => Math.min(100 * times, 1_000),
    connectionName: name,
  });
  return { redis, where, prefix, connectTimeoutMs, commandTimeoutMs };
}

/** Runs a module's start; when it fails, drops the connection and says why in one line (the connection's own error first). */
export async function started(redis: Redis, where: string, start: () => Promise<void>, lastError: () => unknown): Promise<void> {
  try {
    await start();
  } catch (e) {
    redis.disconnect();
    const last = lastError();
    const own = messageOf(e);
    const first = last ? messageOf(last) : '';
    // The connection's own error says why (ECONNREFUSED, a wrong password), the deadline for how long it tried.
    const why = first && first !== own ? `${first} (${own})` : first || own;
    throw new RedisOpenError(`cannot use Redis at ${where}: ${why}`, e);
  }
}
