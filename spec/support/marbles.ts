// Marble-test helpers: a TestScheduler whose assertions are jest's toEqual, and
// ways to look at a hub's effects without its log lines, and frozen states.
import { Observable, filter, map, scan } from 'rxjs';
import { RunHelpers, TestScheduler } from 'rxjs/testing';
import { Effect, HubEvent } from '../../src/core/events';
import { HubState, Step, step } from '../../src/core/reducer';

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
  for (const a of state.away.values()) freeze(a);
  Object.freeze(state);
  return state;
}

/** One step from a frozen state to a frozen state: a reducer that mutates either throws. */
export function stepFrozen(state: HubState, event: HubEvent): Step {
  const r = step(deepFreeze(state), event);
  deepFreeze(r.state);
  return r;
}

/** The hub as src/edge/hub.ts folds it, but with every state frozen and a throw not swallowed: for reducer specs. */
export const frozenHub$ = (events$: Observable<HubEvent>, init: HubState): Observable<Step> =>
  events$.pipe(scan((last: Step, e: HubEvent) => stepFrozen(last.state, e), { state: deepFreeze(init), effects: [] }));
