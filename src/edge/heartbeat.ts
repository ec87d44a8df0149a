// The heartbeat: one cadence for every connection, as RxJS `interval`. Each tick
// pings the connections heard from within the timeout and reports the others as
// `timedOut`. Connections only note when they last heard from their peer (a
// frame or a pong), so a frame costs a map write, not a timer re-armed, and an
// idle connection holds no timer of its own (docs/benchmarks.md, memory).
import { Observable, SchedulerLike, asyncScheduler, concatMap, interval } from 'rxjs';
import { HubEvent, pingDue, timedOut } from '../core/events';

/** When each live connection was last heard from. Edge state, like the runner's registry. */
export class Liveness {
  private readonly lastHeard = new Map<string, number>();

  heard(id: string, at: number): void {
    this.lastHeard.set(id, at);
  }

  forget(id: string): void {
    this.lastHeard.delete(id);
  }

  get size(): number {
    return this.lastHeard.size;
  }

  /** Splits the connections into those to ping and those silent for timeoutMs or more; forgets the silent. */
  sweep(now: number, timeoutMs: number): { due: string[]; silent: string[] } {
    const due: string[] = [];
    const silent: string[] = [];
    for (const [id, at] of this.lastHeard) (now - at >= timeoutMs ? silent : due).push(id);
    for (const id of silent) this.lastHeard.delete(id);
    return { due, silent };
  }
}

export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
  scheduler?: SchedulerLike;
}

/**
 * Every intervalMs: `timedOut` for each connection silent for timeoutMs or more,
 * then one `pingDue` for the rest (possibly none), with the time. A silent peer is dropped at the first tick
 * after the timeout: between timeoutMs and timeoutMs + intervalMs of silence.
 */
export function heartbeat$(liveness: Liveness, { intervalMs, timeoutMs, scheduler = asyncScheduler }: HeartbeatOptions): Observable<HubEvent> {
  return interval(intervalMs, scheduler).pipe(
    concatMap(() => {
      const now = scheduler.now();
      const { due, silent } = liveness.sweep(now, timeoutMs);
      const events: HubEvent[] = silent.map((id) => timedOut(id, now));
      // Every tick, even with nobody to ping: the hub ends resume windows on it too.
      events.push(pingDue(due, now));
      return events;
    }),
  );
}
