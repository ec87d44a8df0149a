// The hub: every connection's events merged into one stream and folded by the
// pure reducer with `scan`. What comes out is each step's state and effects;
// carrying them out is the runner's job, not this file's.
import { Observable, Observer, Subscriber, Subscription, TeardownLogic, scan } from 'rxjs';
import { Effect, HubEvent, log } from '../core/events';
import { HubState, Step, initialState, step } from '../core/reducer';
import { Held, release, vacant } from './compact';

/**
 * A reducer that throws is a bug, but it must not take every connection down
 * with it: the event is dropped, the state kept, and the failure logged.
 */
export function safeStep(state: HubState, event: HubEvent): Step {
  try {
    return step(state, event);
  } catch (e) {
    return { state, effects: [log('reducer_failed', { event: event.kind, error: String(e) }, 'error')] };
  }
}

/**
 * Events that came together (a store batch's outcomes), stepped in order as one step: the state
 * and effects of stepping each in turn, for one trip through the stream and the runner. Each is
 * its own `reduce` (safeStep), so a reducer failure drops only its event.
 */
export function stepAll(reduce: (state: HubState, event: HubEvent) => Step, state: HubState, events: readonly HubEvent[]): Step {
  let s = state;
  const effects: Effect[] = [];
  for (const e of events) {
    const r = reduce(s, e);
    s = r.state;
    for (const f of r.effects) effects.push(f);
  }
  return { state: s, effects };
}

/**
 * Folds the events of all connections (and any other source) into steps; `reduce` is safeStep,
 * timed when metrics are on. An array is events that came together, one step (stepAll).
 */
export function hub$(
  events$: Observable<HubEvent | readonly HubEvent[]>,
  init: HubState = initialState(),
  reduce: (state: HubState, event: HubEvent) => Step = safeStep,
): Observable<Step> {
  return events$.pipe(scan(
    (last: Step, e: HubEvent | readonly HubEvent[]) => (isBatch(e) ? stepAll(reduce, last.state, e) : reduce(last.state, e)),
    { state: init, effects: [] },
  ));
}

const isBatch = (e: HubEvent | readonly HubEvent[]): e is readonly HubEvent[] => Array.isArray(e);

/**
 * One connection's place in the merge: an Observer that is its own Subscription.
 * RxJS then subscribes it as it is, with no wrapper objects; with a wrapper it
 * would work the same and only cost more per connection, which with 10,000 idle
 * connections is what counts (docs/benchmarks.md, memory).
 */
class Member extends Subscription implements Observer<HubEvent> {
  /** Its one finalizer for life, its connection's teardown: in a field, not RxJS's array (compact.ts). */
  private held: Held = undefined;

  constructor(private readonly out: Subscriber<HubEvent>, private readonly live: Set<Member>) {
    super();
  }

  next(e: HubEvent): void {
    if (!this.closed) this.out.next(e);
  }

  // Connection streams never error (connection.ts); were one to, only it would end.
  error(): void {
    this.complete();
  }

  complete(): void {
    this.live.delete(this);
    this.unsubscribe();
  }

  override add(teardown: TeardownLogic): void {
    if (!teardown || teardown === this || teardown === this.held) return;
    if (vacant(this.held) && !this.closed) this.held = teardown;
    else super.add(teardown);
  }

  override remove(teardown: Exclude<TeardownLogic, void>): void {
    if (teardown === this.held) this.held = undefined;
    else super.remove(teardown);
  }

  override unsubscribe(): void {
    if (this.closed) return;
    const held = this.held;
    this.held = undefined;
    super.unsubscribe();
    release(held);
  }
}

/**
 * Flattens a stream of connections into one stream of events, like
 * `mergeMap(c => c)`, but a connection that ends leaves in O(1): mergeMap keeps
 * its inner subscriptions in an array, so each disconnect would cost a search
 * through every live connection.
 */
export function mergeConnections(connections$: Observable<Observable<HubEvent>>): Observable<HubEvent> {
  return new Observable<HubEvent>((sub) => {
    const live = new Set<Member>();
    const outer = connections$.subscribe({
      next: (connection$) => {
        const member = new Member(sub, live);
        live.add(member);
        connection$.subscribe(member);
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    });
    return () => {
      outer.unsubscribe();
      for (const member of live) member.unsubscribe();
      live.clear();
    };
  });
}
