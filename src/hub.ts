// The hub: every connection's events merged into one stream and folded by the
// pure reducer with `scan`. What comes out is each step's state and effects;
// carrying them out is the runner's job, not this file's.
import { Observable, Subscription, scan } from 'rxjs';
import { HubEvent, log } from './events';
import { HubState, Step, initialState, step } from './reducer';

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

/** Folds the events of all connections (and any other source) into steps. */
export function hub$(events$: Observable<HubEvent>, init: HubState = initialState()): Observable<Step> {
  return events$.pipe(scan((last: Step, e: HubEvent) => safeStep(last.state, e), { state: init, effects: [] }));
}

/**
 * Flattens a stream of connections into one stream of events, like
 * `mergeMap(c => c)`, but a connection that ends leaves in O(1): mergeMap keeps
 * its inner subscriptions in an array, so each disconnect would cost a search
 * through every live connection.
 */
export function mergeConnections(connections$: Observable<Observable<HubEvent>>): Observable<HubEvent> {
  return new Observable<HubEvent>((sub) => {
    const live = new Set<Subscription>();
    const forward = (e: HubEvent) => sub.next(e);
    const outer = connections$.subscribe({
      next: (connection$) => {
        let inner: Subscription | undefined;
        const done = () => {
          if (inner) live.delete(inner);
        };
        // Connection streams never error (connection.ts); were one to, only it would end.
        inner = connection$.subscribe({ next: forward, error: done, complete: done });
        if (!inner.closed) live.add(inner);
      },
      error: (e) => sub.error(e),
      complete: () => sub.complete(),
    });
    return () => {
      outer.unsubscribe();
      for (const inner of live) inner.unsubscribe();
      live.clear();
    };
  });
}
