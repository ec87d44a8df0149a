// The heartbeat in virtual time: each connection's `timeout` on the shared timer
// wheel reports it when silent, and one cadence pings every connection.
import { merge } from 'rxjs';
import { connection$ } from '../src/edge/connection';
import { closed, opened, pingDue, received, timedOut } from '../src/core/events';
import { liveness as livenessOn, pings$ } from '../src/edge/heartbeat';
import { TimerWheel } from '../src/edge/wheel';
import { marbles } from './support/marbles';
import { FakeSocket, SocketFact, close, pong, text } from './support/socket';

const A = 'alice-id';
const B = 'bob-id';

describe('heartbeat', () => {
  it('pings a silent peer every 25 s and reports it timed out at the first slot edge after 60 s', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const alice = new FakeSocket(cold<SocketFact>('-'));
      const events$ = merge(
        connection$(A, {}, alice.socket, { newId: () => 'm', liveness, now }),
        // The runner's sockets: the hub pings only those it knows, so one timed out is no longer pinged.
        pings$(() => [A], { intervalMs: 25_000, scheduler }),
      );
      // Every tick says when it is, and comes even with nobody to ping (the hub ends resume windows on it).
      expectObservable(events$, '^ 80s !').toBe('a 24999ms p 24999ms q 24999ms (tz)', {
        a: opened(A, 0), p: pingDue([A], 25_000), q: pingDue([A], 50_000), t: timedOut(A, 75_000), z: pingDue([A], 75_000),
      });
    });
  });

  it('counts pongs and frames as signs of life: the timeout runs from the last one, within a slot of it', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const alice = new FakeSocket(cold<SocketFact>('45s p', { p: pong }));
      const bob = new FakeSocket(cold<SocketFact>('70s h', { h: text('{"Type":2}') }));
      const events$ = merge(
        connection$(A, {}, alice.socket, { newId: () => 'm', liveness, now }),
        connection$(B, {}, bob.socket, { newId: () => 'm', liveness, now }),
      );
      // Alice: last heard at 45 s, silent for 60 s at 105 s, told at 125 s. Bob: heard at 70 s, due at 130 s, told at 150 s.
      expectObservable(events$, '^ 160s !').toBe('(ab) 69996ms h 54999ms t 24999ms u', {
        a: opened(A, 0), b: opened(B, 0), h: received(B, 70_000, { type: 'heartbeat' }),
        t: timedOut(A, 125_000), u: timedOut(B, 150_000),
      });
    });
  });

  it('re-arms a timeout only when a sign of life moves it to a later slot, and fires as if each had re-armed it', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const wheel = liveness.scheduler as TimerWheel;
      const schedule = jest.spyOn(wheel, 'schedule');
      // Four frames at 1-4 s all time out in the slot ending at 75 s (as silence since 0 does); one at 20 s moves it to 100 s.
      const hb = { h: text('{"Type":2}') };
      const alice = new FakeSocket(cold<SocketFact>('1s h 999ms h 999ms h 999ms h 15999ms h', hb));
      expectObservable(connection$(A, {}, alice.socket, { newId: () => 'm', liveness, now }), '^ 110s !').toBe(
        'a 999ms b 999ms c 999ms d 999ms e 15999ms f 79999ms t',
        {
          a: opened(A, 0), b: received(A, 1_000, { type: 'heartbeat' }), c: received(A, 2_000, { type: 'heartbeat' }),
          d: received(A, 3_000, { type: 'heartbeat' }), e: received(A, 4_000, { type: 'heartbeat' }),
          f: received(A, 20_000, { type: 'heartbeat' }), t: timedOut(A, 100_000),
        },
      );
      scheduler.flush();
      // The first arming at 0 s and the one at 20 s: the frames at 1-4 s cost the wheel nothing.
      expect(schedule).toHaveBeenCalledTimes(2);
    });
  });

  it('names the identity a resumed socket has when it times out', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const who = { id: 'fresh' };
      const ws = new FakeSocket(cold<SocketFact>('-'));
      scheduler.schedule(() => (who.id = A), 10_000);
      expectObservable(connection$(who, {}, ws.socket, { newId: () => 'm', liveness, now }), '^ 80s !').toBe('a 74999ms t', {
        a: opened('fresh', 0), t: timedOut(A, 75_000),
      });
    });
  });

  it('ends the watch, not the connection, when it fires: frames and the close still come after the timedOut', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const ws = new FakeSocket(cold<SocketFact>('80s h 999ms c', { h: text('{"Type":2}'), c: close }));
      expectObservable(connection$(A, {}, ws.socket, { newId: () => 'm', liveness, now })).toBe('a 74999ms t 4999ms h 999ms (c|)', {
        a: opened(A, 0), t: timedOut(A, 75_000), h: received(A, 80_000, { type: 'heartbeat' }), c: closed(A, 81_000, 'closed'),
      });
    });
  });

  it('lets go of each timer it re-arms from, and of the last when the connection ends', () => {
    marbles(({ cold, expectObservable, flush, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const wheel = liveness.scheduler as TimerWheel;
      const hb = { h: text('{"Type":2}'), c: close };
      // Frames at 30 s and 60 s each move the timeout to a later slot (100 s, then 125 s): three actions in all.
      const ws = new FakeSocket(cold<SocketFact>('30s h 29999ms h 29999ms c', hb));
      const schedule = jest.spyOn(wheel, 'schedule');
      expectObservable(connection$(A, {}, ws.socket, { newId: () => 'm', liveness, now })).toBe('a 29999ms h 29999ms i 29999ms (c|)', {
        a: opened(A, 0), h: received(A, 30_000, { type: 'heartbeat' }), i: received(A, 60_000, { type: 'heartbeat' }),
        c: closed(A, 90_000, 'closed'),
      });
      scheduler.schedule(() => expect(wheel.size).toBe(1), 70_000);
      flush();
      expect(schedule).toHaveBeenCalledTimes(3);
      expect(wheel.size).toBe(0);
    });
  });

  it('holds one timer for thousands of connections, and none once they are gone', () => {
    marbles(({ cold, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const subs = Array.from({ length: 5000 }, (_, i) =>
        connection$(`c${i}`, {}, new FakeSocket(cold<SocketFact>('-')).socket, { newId: () => 'm', liveness, now }).subscribe());
      expect((liveness.scheduler as TimerWheel).size).toBe(5000);
      // The wheel's one timer, for the slot of 75 s.
      expect(scheduler.actions.length).toBe(1);
      for (const s of subs) s.unsubscribe();
      expect((liveness.scheduler as TimerWheel).size).toBe(0);
    });
  });
});
