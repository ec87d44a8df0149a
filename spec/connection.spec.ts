// A connection's life in virtual time: frames decoded to events, errors
// contained, listeners removed at the end.
import { Observable } from 'rxjs';
import { ConnectionDeps, connection$ } from '../src/edge/connection';
import { HubEvent, broadcast, closed, forget, opened, received, rejected, send, timedOut } from '../src/core/events';
import { Liveness, liveness as livenessOn } from '../src/edge/heartbeat';
import { TimerWheel } from '../src/edge/wheel';
import { hub$, mergeConnections } from '../src/edge/hub';
import { BINARY_FRAME } from '../src/core/protocol';
import * as M from '../src/core/messages';
import { effectsOf, marbles } from './support/marbles';
import { FakeSocket, SocketFact, binary, close, closing, error, pong, text } from './support/socket';

const A = 'alice-id';
const B = 'bob-id';

/** Deterministic message IDs and the virtual clock. */
function deps(now: () => number, liveness?: Liveness): ConnectionDeps {
  let n = 0;
  return { newId: () => `m${++n}`, liveness, now };
}

describe('connection$', () => {
  it('opens, decodes frames to events, ends with the close, and removes every listener', () => {
    marbles(({ cold, expectObservable, expectSubscriptions, flush, now, scheduler }) => {
      const facts = cold<SocketFact>('-h-b-x-c', {
        h: text('{"Type":1,"Content":"hi"}'), b: binary('{"Type":2}'), x: text('nope'), c: close,
      });
      const ws = new FakeSocket(facts);
      const liveness = livenessOn(60_000, 25_000, scheduler);
      expectObservable(connection$(A, { name: 'alice' }, ws.socket, deps(now, liveness))).toBe('ah-b-x-(c|)', {
        a: opened(A, 0, { name: 'alice' }),
        h: received(A, 1, { type: 'broadcast', content: 'hi' }, 'm1'),
        b: rejected(A, 3, BINARY_FRAME),
        x: rejected(A, 5, { code: 'bad_json', reason: 'the frame is not valid JSON' }),
        c: closed(A, 7, 'closed'),
      });
      expectSubscriptions(facts.subscriptions).toBe('^------!');
      flush();
      expect(ws.listenerTotal()).toBe(0);
      // Its heartbeat timeout went with it.
      expect((liveness.scheduler as TimerWheel).size).toBe(0);
    });
  });

  it('reads no more frames once the server has begun closing the connection', () => {
    marbles(({ cold, expectObservable, now }) => {
      const ws = new FakeSocket(cold<SocketFact>('-h-s-h-c', { h: text('{"Type":2}'), s: closing, c: close }));
      expectObservable(connection$(A, {}, ws.socket, deps(now))).toBe('ah-----(c|)', {
        a: opened(A, 0),
        h: received(A, 1, { type: 'heartbeat' }),
        c: closed(A, 7, 'closed'),
      });
    });
  });

  it('mints message IDs only for lines that are delivered', () => {
    marbles(({ cold, expectObservable, now }) => {
      const ws = new FakeSocket(cold<SocketFact>('-h-d', { h: text('{"Type":2}'), d: text('{"Type":11,"To":"b","Content":"x"}') }));
      expectObservable(connection$(A, {}, ws.socket, deps(now)), '^ 9ms !').toBe('ah-d', {
        a: opened(A, 0),
        h: received(A, 1, { type: 'heartbeat' }),
        d: received(A, 3, { type: 'direct', to: 'b', content: 'x' }, 'm1'),
      });
    });
  });

  it('counts every frame and pong as a sign of life, and says when it has been silent for the timeout', () => {
    marbles(({ cold, expectObservable, now, scheduler }) => {
      const liveness = livenessOn(60_000, 25_000, scheduler);
      const ws = new FakeSocket(cold<SocketFact>('10s p 9999ms h', { p: pong, h: text('{"Type":2}') }));
      // Heard at 20 s: silent for 60 s at 80 s, told at the wheel's next slot edge, 100 s; the stream goes on till the close.
      expectObservable(connection$(A, {}, ws.socket, deps(now, liveness)), '^ 120s !').toBe('a 19999ms h 79999ms t', {
        a: opened(A, 0), h: received(A, 20_000, { type: 'heartbeat' }), t: timedOut(A, 100_000),
      });
    });
  });

  it('turns a socket error into a closed event instead of an error, and lets go of the socket', () => {
    marbles(({ cold, expectObservable, flush, now }) => {
      const ws = new FakeSocket(cold<SocketFact>('--e', { e: error }));
      expectObservable(connection$(A, {}, ws.socket, deps(now))).toBe('a-(c|)', { a: opened(A, 0), c: closed(A, 2, 'error') });
      flush();
      expect(ws.listenerTotal()).toBe(0);
    });
  });

  it('gives a socket one live stream at a time: a second is refused while the first goes on, and once it is over the socket can be read again', () => {
    marbles(({ cold, expectObservable, flush, now }) => {
      const ws = new FakeSocket(cold<SocketFact>('--h', { h: text('{"Type":2}') }));
      const hb = { type: 'heartbeat' } as const;
      expectObservable(connection$(A, {}, ws.socket, deps(now)), '^ 5ms !').toBe('a-h', { a: opened(A, 0), h: received(A, 2, hb) });
      // The listeners are shared by every connection and find theirs through the socket: two could not both be told.
      expectObservable(connection$(A, {}, ws.socket, deps(now))).toBe('#', undefined, new Error('the socket already has a live connection stream'));
      expectObservable(connection$(B, {}, ws.socket, deps(now)), '------^ 5ms !').toBe('------a-h', { a: opened(B, 6), h: received(B, 8, hb) });
      flush();
      expect(ws.listenerTotal()).toBe(0);
    });
  });
});

describe('hub$ with connections', () => {
  it('an erroring connection leaves the hub and the others untouched', () => {
    marbles(({ cold, hot, expectObservable, now }) => {
      const alice = new FakeSocket(cold<SocketFact>('----e', { e: error }));
      const bob = new FakeSocket(cold<SocketFact>('-----h', { h: text('{"Type":2}') }));
      const connections = hot<Observable<HubEvent>>('a-b', {
        a: connection$(A, { name: 'alice' }, alice.socket, deps(now)),
        b: connection$(B, { name: 'bob' }, bob.socket, deps(now)),
      });
      expectObservable(effectsOf(hub$(mergeConnections(connections))), '^ 10ms !').toBe('a-b-c--h', {
        a: expect.any(Array),
        b: expect.any(Array),
        c: [broadcast([B], M.disconnected({ ID: A, Name: 'alice' }, 'lobby', 'error', 4)), forget(A)],
        h: [send(B, M.heartbeat(B, 7))],
      });
    });
  });
});

describe('mergeConnections', () => {
  it('merges connections as they come, outlives the ones that end, and tears down the live ones', () => {
    marbles(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const a = cold<HubEvent>('x-|', { x: opened(A, 0) });
      const b = cold<HubEvent>('y---z', { y: opened(B, 0), z: closed(B, 0, 'closed') });
      const connections = hot<Observable<HubEvent>>('a-b', { a, b });
      expectObservable(mergeConnections(connections), '^ 7ms !').toBe('x-y---z', {
        x: opened(A, 0), y: opened(B, 0), z: closed(B, 0, 'closed'),
      });
      expectSubscriptions(a.subscriptions).toBe('^-!');
      expectSubscriptions(b.subscriptions).toBe('--^-----!');
    });
  });
});
