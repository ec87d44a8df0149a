// The heartbeat in virtual time: one cadence pings every live connection and
// reports the silent ones, which the hub then drops.
import { merge } from 'rxjs';
import { connection$ } from '../src/edge/connection';
import { opened, pingDue, received, timedOut } from '../src/core/events';
import { Liveness, heartbeat$ } from '../src/edge/heartbeat';
import { marbles } from './support/marbles';
import { FakeSocket, SocketFact, pong, text } from './support/socket';

const A = 'alice-id';
const B = 'bob-id';
const beat = { intervalMs: 25_000, timeoutMs: 60_000 };

describe('Liveness', () => {
  it('splits connections into due a ping and silent for the timeout, and forgets the silent', () => {
    const l = new Liveness();
    l.heard(A, 0);
    l.heard(B, 30_000);
    expect(l.sweep(59_999, 60_000)).toEqual({ due: [A, B], silent: [] });
    expect(l.sweep(60_000, 60_000)).toEqual({ due: [B], silent: [A] });
    expect(l.size).toBe(1);
    l.forget(B);
    expect(l.sweep(1e9, 60_000)).toEqual({ due: [], silent: [] });
  });
});

describe('heartbeat$', () => {
  it('pings a silent peer every 25 s and reports it timed out at the first tick after 60 s', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = new Liveness();
      const alice = new FakeSocket(cold<SocketFact>('-'));
      const events$ = merge(
        connection$(A, {}, alice.socket, { newId: () => 'm', liveness, now }),
        heartbeat$(liveness, { ...beat, scheduler }),
      );
      // Every tick says when it is, and comes even with nobody to ping (the hub ends resume windows on it).
      expectObservable(events$, '^ 80s !').toBe('a 24999ms p 24999ms q 24999ms (tz)', {
        a: opened(A, 0), p: pingDue([A], 25_000), q: pingDue([A], 50_000), t: timedOut(A, 75_000), z: pingDue([], 75_000),
      });
    });
  });

  it('counts pongs and frames as signs of life: the timeout runs from the last one', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = new Liveness();
      const alice = new FakeSocket(cold<SocketFact>('45s p', { p: pong }));
      const bob = new FakeSocket(cold<SocketFact>('70s h', { h: text('{"Type":2}') }));
      const events$ = merge(
        connection$(A, {}, alice.socket, { newId: () => 'm', liveness, now }),
        connection$(B, {}, bob.socket, { newId: () => 'm', liveness, now }),
        heartbeat$(liveness, { ...beat, scheduler }),
      );
      // Alice: last heard at 45 s, so still pinged at 100 s and dropped at 125 s. Bob: heard at 70 s, dropped at 150 s.
      expectObservable(events$, '^ 160s !').toBe('(ab) 24996ms c 24999ms d 19999ms h 4999ms e 24999ms f 24999ms (tq) 24996ms (uz)', {
        a: opened(A, 0), b: opened(B, 0),
        c: pingDue([A, B], 25_000), d: pingDue([A, B], 50_000), h: received(B, 70_000, { type: 'heartbeat' }),
        e: pingDue([A, B], 75_000), f: pingDue([A, B], 100_000),
        t: timedOut(A, 125_000), q: pingDue([B], 125_000), u: timedOut(B, 150_000), z: pingDue([], 150_000),
      });
    });
  });
});
