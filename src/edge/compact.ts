// Memory per idle connection (docs/benchmarks.md, memory): RxJS keeps what a
// Subscription is given to tear down (its finalizers) in an array it grows by
// push: a JSArray and its store, ~56 B for one entry, and at the first push V8
// makes room for 17 (~150 B). A connection's Subscriptions are each given one or
// two things for their whole life, so they keep them in fields instead, with
// these helpers; add, remove and unsubscribe still do what a Subscription's do.
import { Subscription, TeardownLogic } from 'rxjs';

/** A finalizer held in a field. */
export type Held = Exclude<TeardownLogic, void> | undefined;

/** Whether a field is free for another finalizer: empty, or holding a Subscription that has closed (nothing left to tear down). */
export function vacant(held: Held): boolean {
  return held === undefined || (held instanceof Subscription && held.closed);
}

/** Runs a finalizer taken out of its field. */
export function release(held: Held): void {
  if (typeof held === 'function') held();
  else held?.unsubscribe();
}
