// What Redis says it did (`npm run bench -- --cluster`): INFO's commandstats
// (every command, including those a script runs: the append script's XADD,
// HSET, PUBLISH… each count), total_commands_processed, total_reads_processed
// (read events on client connections: a pipeline sent in one write is one read,
// so this counts round trips as Redis sees them) and Redis's own CPU. Read
// before and after a run's sending and divided by the messages sent.
import Redis from 'ioredis';

export interface RedisSnapshot {
  /** Calls per command (cmdstat_NAME), INFO itself left out. */
  calls: Record<string, number>;
  /** Microseconds spent in each command (a script's includes the commands it runs, which also count their own). */
  usec: Record<string, number>;
  totalCommands: number;
  reads: number;
  cpuUser: number;
  cpuSys: number;
}

function parse(info: string): RedisSnapshot {
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    calls[m[1]] = Number(m[2]);
    usec[m[1]] = Number(m[3]);
  }
  return {
    calls,
    usec,
    totalCommands: field('total_commands_processed'),
    reads: field('total_reads_processed'),
    cpuUser: field('used_cpu_user'),
    cpuSys: field('used_cpu_sys'),
  };
}

/** A connection that reads INFO; `snapshot` costs one INFO command, which `diff` leaves out. */
export class RedisStats {
  static async connect(url: string): Promise<RedisStats> {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectionName: 'rxchat-bench-stats' });
    r.on('error', () => undefined);
    await r.connect();
    return new RedisStats(r);
  }

  private constructor(private readonly redis: Redis) {}

  async snapshot(): Promise<RedisSnapshot> {
    return parse(await this.redis.info('all'));
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

export interface RedisDelta {
  /** Calls per command between the two snapshots, INFO and the snapshots' own left out. */
  calls: Record<string, number>;
  commands: number;
  /** Script calls (EVAL, EVALSHA, FCALL): what a client sends for a scripted step. */
  scripts: number;
  /**
   * Microseconds Redis spent running commands: the script calls' time (which covers what
   * they run) when scripts ran, else every command's. INFO left out.
   */
  commandUs: number;
  /** Read events on client connections, the later snapshot's own left out. */
  reads: number;
  /** Redis's CPU seconds (user, sys). */
  cpuUser: number;
  cpuSys: number;
}

export function diff(a: RedisSnapshot, b: RedisSnapshot): RedisDelta {
  const calls: Record<string, number> = {};
  for (const [name, n] of Object.entries(b.calls)) {
    if (name === 'info') continue;
    const d = n - (a.calls[name] ?? 0);
    if (d > 0) calls[name] = d;
  }
  const infos = (b.calls.info ?? 0) - (a.calls.info ?? 0);
  const SCRIPTS = ['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro'];
  const scripts = SCRIPTS.reduce((s, c) => s + (calls[c] ?? 0), 0);
  const us = (name: string) => (b.usec[name] ?? 0) - (a.usec[name] ?? 0);
  const commandUs = scripts > 0
    ? SCRIPTS.reduce((s, c) => s + us(c), 0)
    : Object.keys(calls).reduce((s, c) => s + us(c), 0);
  return {
    calls,
    commands: b.totalCommands - a.totalCommands - infos,
    scripts,
    commandUs,
    reads: b.reads - a.reads - 1,
    cpuUser: b.cpuUser - a.cpuUser,
    cpuSys: b.cpuSys - a.cpuSys,
  };
}
