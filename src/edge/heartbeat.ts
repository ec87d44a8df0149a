// The heartbeat (issue 9 item 4). Each connection's liveness is an RxJS `timeout`
// over its own stream of signs of life (frames and pongs): silent for timeoutMs,
// and the hub gets its `timedOut`. Every `timeout` runs on one shared coarse
// scheduler, a timer wheel (wheel.ts) with slots a heartbeat interval wide: the
// whole server holds one Node timer for them, an idle connection none of its own,
// and a frame re-arms its timeout only when that moves it to a later slot.
// The pings are one shared `interval` for every connection.
import { Observable, OperatorFunction, SchedulerLike, Subscriber, TeardownLogic, asyncScheduler, interval, map, of, timeout } from 'rxjs';
import { HubEvent, pingDue, timedOut } from '../core/events';
import { TimerWheel } from './wheel';
import { Held, release, vacant } from './compact';

/** Whose liveness a timeout watches: the identity object, so a resume (the runner's rebind) is followed. */
export interface Named {
  id: string;
}

/** What a connection's `timeout` gives when it fires: the Watch it ends in turns it into that connection's `timedOut`. */
const SILENT = Symbol('silent');
const silent$ = of<typeof SILENT>(SILENT);

/** What every connection's `timeout` shares: the timeout, the wheel, and the operator itself. */
export interface Liveness {
  readonly timeoutMs: number;
  readonly scheduler: TimerWheel;
  /** Every connection's `timeout`, over its signs of life (undefined). */
  readonly timeout: OperatorFunction<undefined, undefined | typeof SILENT>;
}

/**
 * One server's liveness: timeouts of timeoutMs on a wheel of slots `slotMs` wide (the heartbeat interval),
 * so a silent peer is dropped after between timeoutMs and timeoutMs + slotMs of silence, never sooner.
 * `base` is where the wheel's one timer runs: asyncScheduler, or a TestScheduler in specs.
 */
export function liveness(timeoutMs: number, slotMs: number, base: SchedulerLike = asyncScheduler): Liveness {
  const scheduler = new TimerWheel(slotMs, base);
  // One operator function for every connection (each subscription has its own state all the same). With
  // `meta` naming the connection it would take one `timeout(...)` per connection, and its config held for
  // the connection's life; so `with` names no one, and the Watch the timeout ends in knows whose it is.
  // (Not `lastValue` either: RxJS clears it before it calls `with`.)
  return { timeoutMs, scheduler, timeout: timeout({ each: timeoutMs, scheduler, with: () => silent$ }) };
}

/**
 * Where a connection's `timeout` ends: a Subscriber whose destination is the
 * connection's stream. A firing goes on to it as the connection's `timedOut`;
 * the signs of life go nowhere; and the end of the watch (after a timeout) is
 * not the end of the stream. The connection (connection.ts) is a Watch, so
 * that the timeout's subscriber is no object of its own.
 */
export abstract class Watch extends Subscriber<undefined | typeof SILENT> {
  /** Where the `timeout`'s signs of life go: `beat()` tells it one. */
  private life: Subscriber<undefined> | undefined = undefined;
  /** The slot of the wheel the timeout is set for. */
  private armed = -1;
  /**
   * What the `timeout` gives the Watch to tear down, its subscriber and its timer's action (a new one at each
   * re-arm, after the last has closed): in two fields, not RxJS's array (compact.ts).
   */
  private held1: Held = undefined;
  private held2: Held = undefined;

  /** @param out the connection's stream, this Watch's destination (it holds the Watch as its teardown). */
  constructor(out: Subscriber<HubEvent>, readonly who: Named) {
    super(out);
  }

  /** The server's liveness (the connection's, not a field of its own here); none: never timed out. */
  protected abstract get liveness(): Liveness | undefined;

  /** Starts watching the signs of life; unsubscribing the Watch ends it. */
  watch(): void {
    const l = this.liveness;
    if (l === undefined) return;
    // Made and applied here, but held by nothing once subscribed: what stays is the timeout's own state.
    l.timeout(new Observable<undefined>((life) => void (this.life = life))).subscribe(this);
    this.armed = l.scheduler.slotOf(l.timeoutMs);
  }

  /**
   * A sign of life. The timeout is re-armed only if that moves it to another slot of the wheel: within
   * the slot it is set for, re-arming would change nothing about when it fires, and would cost an action
   * and a subscription per frame (a busy connection's frames mostly fall in one slot, 25 s wide).
   */
  beat(): void {
    const l = this.liveness;
    if (l === undefined) return;
    const k = l.scheduler.slotOf(l.timeoutMs);
    if (k === this.armed) return;
    this.armed = k;
    this.life?.next(undefined);
  }

  override add(teardown: TeardownLogic): void {
    if (!teardown || teardown === this || teardown === this.held1 || teardown === this.held2) return;
    if (this.closed) super.add(teardown);
    else if (vacant(this.held1)) this.held1 = teardown;
    else if (vacant(this.held2)) this.held2 = teardown;
    else super.add(teardown);
  }

  override remove(teardown: Exclude<TeardownLogic, void>): void {
    if (teardown === this.held1) this.held1 = undefined;
    else if (teardown === this.held2) this.held2 = undefined;
    else super.remove(teardown);
  }

  override unsubscribe(): void {
    if (this.closed) return;
    const { held1, held2 } = this;
    this.held1 = this.held2 = undefined;
    super.unsubscribe();
    release(held1);
    release(held2);
  }

  protected override _next(v: undefined | typeof SILENT): void {
    if (v === SILENT) this.destination.next(timedOut(this.who.id, this.liveness!.scheduler.now()));
  }

  // The timeout has fired (or failed): it has let go of its subscriber and its timer. The watch is over;
  // the connection is not.
  protected override _error(): void {
    this.life = undefined;
  }

  protected override _complete(): void {
    this.life = undefined;
  }
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
