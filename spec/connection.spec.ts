// A connection's life in virtual time: frames decoded to events, pings on a
// cadence, silence turned into `timedOut`, and errors contained.
import { EMPTY, NEVER, Observable, concat, of, throwError } from 'rxjs';
import { SocketFact, connection$ } from '../src/connection';
import { HubEvent, closed, opened, pingDue, received, rejected, timedOut } from '../src/events';
import { hub$, mergeConnections } from '../src/hub';
import { BINARY_FRAME } from '../src/protocol';
import * as M from '../src/messages';
import { broadcast, send } from '../src/events';
import { effectsOf, marbles } from './support/marbles';

const A = 'alice-id';
const B = 'bob-id';
let n = 0;
const deps = (scheduler: unknown) => ({
  heartbeatIntervalMs: 25_000,
  heartbeatTimeoutMs: 60_000,
  newId: () => `m${++n}`,
  scheduler: scheduler as never,
});

beforeEach(() => {
  n = 0;
});

const text = (data: string): SocketFact => ({ kind: 'text', data });

describe('connection$', () => {
  it('opens, decodes frames to events and ends with the close', () => {
    marbles(({ cold, expectObservable, expectSubscriptions }) => {
      const facts = cold<SocketFact>('-h-b-x-c', {
        h: text('{"Type":1,"Content":"hi"}'),
        b: { kind: 'binary' },
        x: text('nope'),
        c: { kind: 'close', reason: 'closed' },
      });
      expectObservable(connection$(A, { name: 'alice' }, facts, deps(undefined))).toBe('ah-b-x-(c|)', {
        a: opened(A, 0, { name: 'alice' }),
        h: received(A, 1, { type: 'broadcast', content: 'hi' }, 'm1'),
        b: rejected(A, 3, BINARY_FRAME),
        x: rejected(A, 5, { code: 'bad_json', reason: 'the frame is not valid JSON' }),
        c: closed(A, 7, 'closed'),
      });
      expectSubscriptions(facts.subscriptions).toBe('^------!');
    });
  });

  it('mints message IDs only for lines that are delivered', () => {
    marbles(({ cold, expectObservable }) => {
      const facts = cold<SocketFact>('-h-d', { h: text('{"Type":2}'), d: text('{"Type":11,"To":"b","Content":"x"}') });
      expectObservable(connection$(A, {}, facts, deps(undefined)), '^ 9ms !').toBe('ah-d', {
        a: opened(A, 0),
        h: received(A, 1, { type: 'heartbeat' }),
        d: received(A, 3, { type: 'direct', to: 'b', content: 'x' }, 'm1'),
      });
    });
  });

  it('pings every interval and times out a peer silent for 60 s', () => {
    marbles(({ expectObservable }) => {
      expectObservable(connection$(A, {}, NEVER, deps(undefined))).toBe(
        'a 24999ms p 24999ms p 9999ms (t|)',
        { a: opened(A, 0), p: pingDue(A), t: timedOut(A, 60_000) },
      );
    });
  });

  it('counts pongs and frames as signs of life: the timeout runs from the last one', () => {
    marbles(({ cold, expectObservable }) => {
      // A pong at 50 s: the peer is alive until 110 s; pongs never reach the hub.
      const facts = cold<SocketFact>('50s p', { p: { kind: 'pong' } }).pipe(s => concat(s, NEVER));
      expectObservable(connection$(A, {}, facts, deps(undefined)), '^ 120s !').toBe(
        'a 24999ms p 24999ms p 24999ms p 24999ms p 9999ms (t|)',
        { a: opened(A, 0), p: pingDue(A), t: timedOut(A, 110_000) },
      );
    });
  });

  it('turns a socket error into a closed event instead of an error', () => {
    marbles(({ cold, expectObservable }) => {
      const facts = cold<SocketFact>('--#', {}, new Error('ECONNRESET'));
      expectObservable(connection$(A, {}, facts, deps(undefined))).toBe('a-(c|)', {
        a: opened(A, 0),
        c: closed(A, 2, 'error'),
      });
    });
  });
});

describe('hub$ with connections', () => {
  it('an erroring connection leaves the hub and the others untouched', () => {
    marbles(({ cold, hot, expectObservable }) => {
      const aliceFacts = cold<SocketFact>('----#', {}, new Error('boom'));
      const bobFacts = cold<SocketFact>('-----h', { h: text('{"Type":2}') });
      const connections = hot<Observable<HubEvent>>('a-b', {
        a: connection$(A, { name: 'alice' }, aliceFacts, deps(undefined)),
        b: connection$(B, { name: 'bob' }, bobFacts, deps(undefined)),
      });
      expectObservable(effectsOf(hub$(mergeConnections(connections))), '^ 10ms !').toBe('a-b-c--h', {
        a: expect.any(Array),
        b: expect.any(Array),
        c: [broadcast([B], M.disconnected({ ID: A, Name: 'alice' }, 'lobby', 'error', 4))],
        h: [send(B, M.heartbeat(B, 7))],
      });
    });
  });

  it('an empty hub stays quiet', () => {
    marbles(({ expectObservable }) => {
      expectObservable(effectsOf(hub$(EMPTY))).toBe('|');
      expectObservable(effectsOf(hub$(of(closed(A, 0, 'closed'))))).toBe('|');
    });
  });

  it('a connection whose socket fails at once still opens and closes, without an error', () => {
    marbles(({ expectObservable }) => {
      const broken = connection$(A, {}, throwError(() => new Error('x')), deps(undefined));
      expectObservable(broken).toBe('(ac|)', { a: opened(A, 0), c: closed(A, 0, 'error') });
    });
  });
});
