// What a scenario gets and gives back.
import { Connect, TargetName } from '../lib/client';
import { Window } from '../lib/proc';

export interface Ctx {
  target: TargetName;
  /** ws://…/ws for rxchat and raw-ws, http://… for Socket.IO. */
  url: string;
  /** The server process, for its CPU time and RSS. */
  serverPid: number;
  connect: Connect;
  log: (line: string) => void;
  /**
   * Several nodes of one chat (`npm run bench -- --cluster`): client i connects to
   * urls[i % urls.length], and the window reads every node's CPU. Absent: one server, `url`.
   */
  cluster?: ClusterCtx;
}

export interface ClusterCtx {
  /** One URL per node, in node order. */
  urls: string[];
  /** Each node's process, in the same order. */
  pids: number[];
  /** The Redis the nodes share, for INFO before and after the sending (none: a node without Redis). */
  redisUrl?: string;
  /** That Redis's process when the bench started it (its CPU is ours, not a neighbour's). */
  redisPid?: number;
}

/** The URL client number `i` connects to: nodes alternate, so a room has members on every node. */
export const urlOf = (ctx: Ctx, i: number): string => (ctx.cluster ? ctx.cluster.urls[i % ctx.cluster.urls.length] : ctx.url);

/** How many nodes the clients are spread over. */
export const nodesOf = (ctx: Ctx): number => ctx.cluster?.urls.length ?? 1;

/** Numbers only: they are compared across targets and take medians over repetitions. */
export type Metrics = Record<string, number>;

export interface Result {
  metrics: Metrics;
  notes: string[];
}

/** The generator shares one core with all its clients: near 100 % of it, the figure is the generator's limit. */
export const GENERATOR_BOUND = 0.9;

/** Server CPU cost and generator load of a window in which `deliveries` frames arrived. */
export function costs(w: Window, deliveries: number): Metrics {
  return {
    deliveriesPerSec: deliveries / w.seconds,
    serverUserUsPerDelivery: (w.serverUser * 1e6) / deliveries,
    serverTotalUsPerDelivery: ((w.serverUser + w.serverSys) * 1e6) / deliveries,
    serverCore: (w.serverUser + w.serverSys) / w.seconds,
    generatorCore: w.generatorCore,
    ...interference(w),
  };
}

/** The neighbours' share of our two cores during the window. */
export const interference = (w: Window): Metrics => ({
  othersOnServerCore: w.othersOnServerCore,
  othersOnGeneratorCore: w.othersOnGeneratorCore,
});

/** Above this share of a core used by other processes, a run is flagged as disturbed. */
export const DISTURBED = 0.1;

export function disturbedNotes(m: Metrics): string[] {
  if (m.othersOnMachine !== undefined) {
    // Cluster runs share both cores between nodes, generator and Redis: what is left is the neighbours'.
    return m.othersOnMachine > DISTURBED
      ? [`disturbed: other processes used ${(m.othersOnMachine * 100).toFixed(0)} % of a core (both cores together)`]
      : [];
  }
  const worst = Math.max(m.othersOnServerCore ?? 0, m.othersOnGeneratorCore ?? 0);
  return worst > DISTURBED
    ? [`disturbed: other processes used ${(m.othersOnServerCore * 100).toFixed(0)} % of the server's core, ${(m.othersOnGeneratorCore * 100).toFixed(0)} % of the generator's`]
    : [];
}

/** A fixed-rate cluster run whose median delivery took this long was behind its offered load. */
export const BEHIND_MS = 100;

export function boundNotes(m: Metrics): string[] {
  const bound = m.generatorCore >= GENERATOR_BOUND ? [`generator-bound (generator at ${(m.generatorCore * 100).toFixed(0)} % of its core)`] : [];
  // Cluster runs only (the one-process suite's notes stay as they were): a backlog makes CPU per delivery incomparable.
  const behind = m.othersOnMachine !== undefined && m.p50Ms > BEHIND_MS
    ? [`behind the offered load (p50 ${m.p50Ms.toFixed(0)} ms): its CPU per delivery is not comparable`]
    : [];
  return [...bound, ...behind, ...disturbedNotes(m)];
}
