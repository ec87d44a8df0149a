// Marble-test helpers: a TestScheduler whose assertions are jest's toEqual, and
// ways to look at a hub's effects without its log lines.
import { Observable, filter, map } from 'rxjs';
import { RunHelpers, TestScheduler } from 'rxjs/testing';
import { Effect } from '../../src/core/events';
import { HubState, Step } from '../../src/core/reducer';

/** Runs a marble spec; `now` is the virtual clock, `scheduler` the TestScheduler itself. */
export function marbles(fn: (helpers: RunHelpers & { now: () => number; scheduler: TestScheduler }) => void): void {
  const scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  scheduler.run((helpers) => fn({ ...helpers, now: () => scheduler.now(), scheduler }));
}

export const withoutLogs = (effects: readonly Effect[]): Effect[] => effects.filter((e) => e.kind !== 'log');

/** The effects of each step, logs left out, steps with nothing else left out. */
export const effectsOf = (steps$: Observable<Step>): Observable<Effect[]> =>
  steps$.pipe(map((s) => withoutLogs(s.effects)), filter((e) => e.length > 0));

/** Freezes every record in a state, so a reducer that mutates one throws (specs run in strict mode). */
export function deepFreeze(state: HubState): HubState {
  const freeze = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || Object.isFrozen(o)) return;
    Object.freeze(o);
    for (const v of Object.values(o)) freeze(v);
  };
  for (const c of state.clients.values()) freeze(c);
  for (const r of state.rooms.values()) freeze(r);
  Object.freeze(state);
  return state;
}
