// What the kernel says about a process: CPU time and resident memory, read from
// /proc so the figures are the server's own, measured from outside it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/PID/stat (100 on Linux, but asked, not assumed). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface CpuTimes {
  /** Seconds of user CPU. */
  user: number;
  /** Seconds of system CPU. */
  sys: number;
}

/** utime and stime (fields 14 and 15 of /proc/PID/stat). */
export function procCpu(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces: count from the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK };
}

/** Resident set size in KiB (VmRSS of /proc/PID/status). */
export function procRssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Busy seconds of each CPU (all but idle and iowait), from /proc/stat. */
export function cpuBusy(): number[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const [, ...v] = l.trim().split(/\s+/).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      return (total - v[3] - v[4]) / CLK_TCK;
    });
}

/** The cores bench/run.ts pins the server and the generator to. */
export const SERVER_CPU = 0;
export const GENERATOR_CPU = 1;

/** A measured window: wall time, the server's CPU, and the generator's own CPU. */
export interface Window {
  seconds: number;
  serverUser: number;
  serverSys: number;
  /** Generator CPU (user+sys) as a fraction of one core. */
  generatorCore: number;
  /**
   * Other processes' CPU on the server's and the generator's core, as a fraction
   * of the core: this machine is shared, and a busy neighbour skews a run.
   */
  othersOnServerCore: number;
  othersOnGeneratorCore: number;
}

export function startWindow(serverPid: number): () => Window {
  const t0 = performance.now();
  const s0 = procCpu(serverPid);
  const g0 = process.cpuUsage();
  const b0 = cpuBusy();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const s1 = procCpu(serverPid);
    const g = process.cpuUsage(g0);
    const b1 = cpuBusy();
    const serverUser = s1.user - s0.user;
    const serverSys = s1.sys - s0.sys;
    const generator = (g.user + g.system) / 1e6;
    const busy = (cpu: number) => (b1[cpu] ?? 0) - (b0[cpu] ?? 0);
    return {
      seconds,
      serverUser,
      serverSys,
      generatorCore: generator / seconds,
      // Clock ticks are coarse (10 ms): small negatives are rounding, not negative load.
      othersOnServerCore: Math.max(0, busy(SERVER_CPU) - serverUser - serverSys) / seconds,
      othersOnGeneratorCore: Math.max(0, busy(GENERATOR_CPU) - generator) / seconds,
    };
  };
}

/** A measured window over several server processes (`--cluster`): each one's CPU, and the machine's. */
export interface ClusterWindow {
  seconds: number;
  /** Each server's user and system seconds, in the order of the pids given. */
  servers: CpuTimes[];
  serverUser: number;
  serverSys: number;
  /** Generator CPU (user+sys) as a fraction of one core. */
  generatorCore: number;
  /** The Redis the bench started (undefined when it uses someone else's). */
  redis?: CpuTimes;
  /**
   * Busy time of both cores not spent by the servers, the generator or our Redis,
   * as a fraction of one core: the neighbours (the cores are shared in a cluster run).
   */
  othersOnMachine: number;
}

export function startClusterWindow(pids: readonly number[], redisPid?: number): () => ClusterWindow {
  const t0 = performance.now();
  const s0 = pids.map(procCpu);
  const r0 = redisPid === undefined ? undefined : procCpu(redisPid);
  const g0 = process.cpuUsage();
  const b0 = cpuBusy();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const servers = pids.map((pid, i) => {
      const now = procCpu(pid);
      return { user: now.user - s0[i].user, sys: now.sys - s0[i].sys };
    });
    const r1 = redisPid === undefined ? undefined : procCpu(redisPid);
    const redis = r0 && r1 ? { user: r1.user - r0.user, sys: r1.sys - r0.sys } : undefined;
    const g = process.cpuUsage(g0);
    const b1 = cpuBusy();
    const generator = (g.user + g.system) / 1e6;
    const serverUser = servers.reduce((a, c) => a + c.user, 0);
    const serverSys = servers.reduce((a, c) => a + c.sys, 0);
    const busy = b1.reduce((a, v, i) => a + v - (b0[i] ?? 0), 0);
    const ours = serverUser + serverSys + generator + (redis ? redis.user + redis.sys : 0);
    return {
      seconds, servers, serverUser, serverSys, generatorCore: generator / seconds, redis,
      othersOnMachine: Math.max(0, busy - ours) / seconds,
    };
  };
}
