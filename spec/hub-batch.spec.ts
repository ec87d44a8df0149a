// Events that come together (a store batch's outcomes) are one step of the hub:
// the same state and effects, in the same order, as stepping each in turn.
import { from } from 'rxjs';
import { HubEvent, opened, received, timedOut } from '../src/core/events';
import * as reducer from '../src/core/reducer';
import { Step } from '../src/core/reducer';
import { hub$, safeStep, stepAll } from '../src/edge/hub';

const A = 'alice-id';
const B = 'bob-id';

const events: HubEvent[] = [
  opened(A, 1, { name: 'alice', room: 'lobby' }),
  opened(B, 2, { name: 'bob', room: 'lobby' }),
  received(A, 3, { type: 'heartbeat' }),
  timedOut(B, 4),
];

function steps(input: (HubEvent | readonly HubEvent[])[]): Step[] {
  const out: Step[] = [];
  hub$(from(input)).subscribe((s) => out.push(s));
  return out;
}

describe('hub$: events that came together', () => {
  it('steps them in order as one step: the state and effects of stepping each in turn', () => {
    const one = steps(events);
    const batched = steps([events[0], events.slice(1)]);
    expect(batched).toHaveLength(2);
    expect(batched[0]).toEqual(one[0]);
    expect(batched[1].state).toEqual(one[3].state);
    expect(batched[1].effects).toEqual([...one[1].effects, ...one[2].effects, ...one[3].effects]);
    // Not vacuous: the batch's steps did something (bob joined, alice was answered, bob timed out).
    expect(batched[1].effects.length).toBeGreaterThan(2);
  });

  it('drops only the event whose step fails: the others in the batch still change the state', () => {
    const real = reducer.step;
    const spy = jest.spyOn(reducer, 'step').mockImplementation((state, e) => {
      if (e.kind === 'received') throw new Error('a bug');
      return real(state, e);
    });
    try {
      const r = stepAll(safeStep, reducer.initialState(), events);
      expect(r.state.clients.has(A)).toBe(true);
      // bob joined and then timed out, after the failed step.
      expect(r.state.clients.has(B)).toBe(false);
      expect(r.effects).toContainEqual(expect.objectContaining({ kind: 'log', event: 'reducer_failed' }));
    } finally {
      spy.mockRestore();
    }
  });
});
