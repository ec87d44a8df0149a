// A timer wheel as an RxJS scheduler: coarse time for many timeouts that are
// mostly re-armed and seldom fire (issue 9 item 4, the heartbeat). Time is cut
// into slots `slotMs` wide; work due at `t` waits in slot ceil(t / slotMs) and
// runs when that slot's edge has passed: never early, at most one slot late.
// The whole wheel holds one timer on its base scheduler (asyncScheduler: one
// Node timer), set for its earliest slot, so an idle connection's timeout holds
// no Node timer of its own, and re-arming one (a frame, a pong) is unlinking one
// small object from a list and linking a new one into another: O(1), no timer.
import { SchedulerAction, SchedulerLike, Subscription, asyncScheduler } from 'rxjs';

/** One piece of scheduled work, linked into its slot's list (intrusive: no Set or array entry per timer). */
class WheelAction<T> extends Subscription implements SchedulerAction<T> {
  /** The slot it waits in; -1 when in none (a small integer, not NaN: a double field would cost a box per action). */
  slot = -1;
  prev: WheelAction<any> | undefined = undefined;
  next: WheelAction<any> | undefined = undefined;
  private state: T | undefined = undefined;

  constructor(private readonly wheel: TimerWheel, private readonly work: (this: SchedulerAction<T>, state?: T) => void) {
    super();
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.state = state;
    // A delay that is not a number is taken as none.
    this.wheel.link(this, this.wheel.now() + (delay > 0 ? delay : 0));
    return this;
  }

  /** Runs the work (it may schedule itself again); an error unsubscribes it, and is the wheel's to throw. */
  execute(): unknown {
    try {
      this.work(this.state);
      return undefined;
    } catch (e) {
      this.unsubscribe();
      return e ?? new Error('scheduled action failed');
    }
  }

  unsubscribe(): void {
    if (!this.closed) this.wheel.unlink(this);
    this.state = undefined;
    super.unsubscribe();
  }
}

/** A slot's list of actions, first scheduled first. */
interface Slot {
  head: WheelAction<any> | undefined;
  tail: WheelAction<any> | undefined;
}

export class TimerWheel implements SchedulerLike {
  private readonly slots = new Map<number, Slot>();
  /** The base scheduler's one action, and the slot it is set for. */
  private tick: Subscription | undefined;
  private tickSlot = Infinity;
  private count = 0;
  /** The slot being run: nothing scheduled meanwhile goes into it, or work that schedules itself for now would never end. */
  private running = -Infinity;
  private idleDue = false;

  /** @param slotMs how coarse: the most a timeout fires late. @param base the one timer's scheduler (virtual in specs). */
  constructor(readonly slotMs: number, private readonly base: SchedulerLike = asyncScheduler) {
    if (!(slotMs > 0)) throw new RangeError('a timer wheel needs slots wider than 0 ms');
  }

  now(): number {
    return this.base.now();
  }

  /** How many actions wait in the wheel. */
  get size(): number {
    return this.count;
  }

  schedule<T>(work: (this: SchedulerAction<T>, state: T) => void, delay = 0, state?: T): Subscription {
    return new WheelAction<T>(this, work as (this: SchedulerAction<T>, state?: T) => void).schedule(state, delay);
  }

  /** The slot work scheduled now with this delay goes in: work scheduled again into the same slot runs no sooner or later. */
  slotOf(delay: number): number {
    return Math.max(Math.ceil((this.now() + (delay > 0 ? delay : 0)) / this.slotMs), this.running + 1);
  }

  /** @internal Puts an action in the slot for `due` (out of any other first). */
  link(a: WheelAction<any>, due: number): void {
    this.unlink(a);
    const k = Math.max(Math.ceil(due / this.slotMs), this.running + 1);
    let slot = this.slots.get(k);
    if (slot === undefined) this.slots.set(k, (slot = { head: undefined, tail: undefined }));
    a.slot = k;
    a.prev = slot.tail;
    if (slot.tail) slot.tail.next = a;
    else slot.head = a;
    slot.tail = a;
    this.count++;
    if (k < this.tickSlot) this.arm(k);
  }

  /** @internal Takes an action out of its slot, if it is in one. */
  unlink(a: WheelAction<any>): void {
    if (a.slot < 0) return;
    const slot = this.slots.get(a.slot);
    if (a.prev) a.prev.next = a.next;
    else if (slot) slot.head = a.next;
    if (a.next) a.next.prev = a.prev;
    else if (slot) slot.tail = a.prev;
    // An empty slot is dropped; the tick set for it finds nothing and moves on.
    if (slot && slot.head === undefined) this.slots.delete(a.slot);
    a.prev = a.next = undefined;
    a.slot = -1;
    // Empty: the timer goes, but only once this turn is over, for a re-arm takes out then puts in.
    if (--this.count === 0 && !this.idleDue) {
      this.idleDue = true;
      queueMicrotask(this.idle);
    }
  }

  private readonly idle = (): void => {
    this.idleDue = false;
    if (this.count > 0 || this.tick === undefined) return;
    this.tick.unsubscribe();
    this.tick = undefined;
    this.tickSlot = Infinity;
  };

  /** Sets the one timer for slot k's edge, replacing the one set for a later slot. */
  private arm(k: number): void {
    this.tick?.unsubscribe();
    this.tickSlot = k;
    this.tick = this.base.schedule(() => this.run(), Math.max(0, k * this.slotMs - this.now()));
  }

  /** Runs every slot whose edge has passed, oldest first, then sets the timer for the earliest left. */
  private run(): void {
    this.tick = undefined;
    this.tickSlot = Infinity;
    const now = this.now();
    let failure: unknown;
    for (;;) {
      let k = Infinity;
      for (const s of this.slots.keys()) if (s < k) k = s;
      // Not yet (a timer may wake a little early): wait for its edge.
      if (k === Infinity || k * this.slotMs > now) break;
      // One at a time from the head: work may cancel others of the slot, or schedule again (into a later slot).
      this.running = k;
      for (let slot = this.slots.get(k); slot?.head; slot = this.slots.get(k)) {
        const a = slot.head;
        this.unlink(a);
        const e = a.closed ? undefined : a.execute();
        if (failure === undefined) failure = e;
      }
    }
    this.running = -Infinity;
    let k = Infinity;
    for (const s of this.slots.keys()) if (s < k) k = s;
    if (k !== Infinity && k < this.tickSlot) this.arm(k);
    if (failure !== undefined) throw failure;
  }
}
