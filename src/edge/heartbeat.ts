// The heartbeat (issue 9 item 4). Each connection's liveness is an RxJS `timeout`
// over its own stream of signs of life (frames and pongs): silent for timeoutMs,
// and the hub gets its `timedOut`. Every `timeout` runs on one shared coarse
// scheduler, a timer wheel (wheel.ts) with slots a heartbeat interval wide: the
// whole server holds one Node timer for them, an idle connection none of its own,
// and a frame re-arms its timeout only when that moves it to a later slot.
// The pings are one shared `interval` for every connection.
import {
  Observable, SchedulerLike, Subscriber, TimeoutInfo, asyncScheduler, interval, map, of, timeout,
} from 'rxjs';
import { HubEvent, pingDue, timedOut } from '../core/events';
import { TimerWheel } from './wheel';
import { compact } from './compact';

/** Whose liveness a timeout watches: the identity object, so a resume (the runner's rebind) is followed. */
export interface Named {
  id: string;
}

/** What every connection's `timeout` shares: the timeout, the scheduler, and the `with` that names the silent one. */
export interface Liveness {
  readonly timeoutMs: number;
  readonly scheduler: SchedulerLike;
  readonly silent: (info: TimeoutInfo<unknown, Named>) => Observable<HubEvent>;
}

/**
 * One server's liveness: timeouts of timeoutMs on a wheel of slots `slotMs` wide (the heartbeat interval),
 * so a silent peer is dropped after between timeoutMs and timeoutMs + slotMs of silence, never sooner.
 * `base` is where the wheel's one timer runs: asyncScheduler, or a TestScheduler in specs.
 */
export function liveness(timeoutMs: number, slotMs: number, base: SchedulerLike = asyncScheduler): Liveness {
  const scheduler = new TimerWheel(slotMs, base);
  return { timeoutMs, scheduler, silent: ({ meta }) => of(timedOut(meta.id, scheduler.now())) };
}

/**
 * Where a connection's `timeout` ends: the `timedOut` goes to the connection's
 * stream, the signs of life (undefined) go nowhere, and the end of the watch
 * (after a timeout, or unsubscribed) is not the end of the connection.
 */
export class Watch extends Subscriber<unknown> {
  /** Where the `timeout`'s signs of life go: `beat()` tells it one. */
  life: Subscriber<unknown> | undefined;
  /** On a timer wheel: the slot the timeout is set for (-1: none known, every sign of life re-arms it). */
  armed = -1;

  constructor(private readonly out: Subscriber<HubEvent>, private readonly wheel: TimerWheel | undefined, private readonly timeoutMs: number) {
    super();
  }

  /**
   * A sign of life. The timeout is re-armed only if that moves it to another slot of the wheel: within
   * the slot it is set for, re-arming would change nothing about when it fires, and would cost an action
   * and a subscription per frame (a busy connection's frames mostly fall in one slot, 25 s wide).
   */
  beat(): void {
    if (this.wheel !== undefined) {
      const k = this.wheel.slotOf(this.timeoutMs);
      if (k === this.armed) return;
      this.armed = k;
    }
    this.life?.next(undefined);
  }

  protected override _next(v: unknown): void {
    if (v !== undefined) this.out.next(v as HubEvent);
  }

  protected override _error(): void {
    this.unsubscribe();
  }

  protected override _complete(): void {
    this.unsubscribe();
  }
}

/** Starts watching `who`'s signs of life; unsubscribe the Watch when the connection ends. */
export function watch(l: Liveness, who: Named, out: Subscriber<HubEvent>): Watch {
  const wheel = l.scheduler instanceof TimerWheel ? l.scheduler : undefined;
  const w = new Watch(out, wheel, l.timeoutMs);
  new Observable<unknown>((life) => {
    w.life = life;
  }).pipe(timeout({ each: l.timeoutMs, with: l.silent, meta: who, scheduler: l.scheduler })).subscribe(w);
  if (wheel !== undefined) w.armed = wheel.slotOf(l.timeoutMs);
  // It holds the operator's subscriber and its timer for the connection's life; a re-arm takes one out first.
  compact(w);
  return w;
}

export interface PingOptions {
  intervalMs: number;
  scheduler?: SchedulerLike;
}

/**
 * Every intervalMs one `pingDue` for the connections `ids` names (possibly none), with the time.
 * The hub pings those it knows; a silent one's `timedOut` comes from its own `timeout`.
 */
export function pings$(ids: () => readonly string[], { intervalMs, scheduler = asyncScheduler }: PingOptions): Observable<HubEvent> {
  // Every tick, even with nobody to ping: the hub ends resume windows on it too.
  return interval(intervalMs, scheduler).pipe(map(() => pingDue(ids(), scheduler.now())));
}
