// The message rate at the edge (protocol.md "Message rate"): a connection's frames
// over its token bucket become `rejected` rate_limited events without being decoded,
// and one that keeps sending while told to wait for 10 s becomes `flooded`, then
// nothing more. In virtual time: the bucket reads the clock it is given, no timer.
import { interval, map, merge, take as first } from 'rxjs';
import { ConnectionDeps, connection$ } from '../src/edge/connection';
import { HubEvent, close, opened, received, rejected, flooded, send } from '../src/core/events';
import { Close, rateLimited } from '../src/core/protocol';
import { FLOOD_MS, RateLimit } from '../src/core/rate';
import { Step } from '../src/core/reducer';
import * as M from '../src/core/messages';
import { marbles, withoutLogs } from './support/marbles';
import { throughLog } from './support/fake-log';
import { FakeSocket, SocketFact, text } from './support/socket';
import { msg } from './support/outgoing';

const A = 'alice-id';
const B = 'bob-id';

function deps(now: () => number, rate?: RateLimit): ConnectionDeps {
  let n = 0;
  return { newId: () => `m${++n}`, now, rate };
}

describe('connection$ with a message rate', () => {
  it('takes a burst, and refuses the frame over it with the time to wait and its Ref, unread', () => {
    marbles(({ cold, expectObservable, now }) => {
      const ws = new FakeSocket(cold<SocketFact>('-(abc)', {
        a: text('{"Type":2,"Ref":1}'), b: text('{"Type":2,"Ref":2}'), c: text('{"Type":1,"Content":42,"Ref":"r3"}'),
      }));
      expectObservable(connection$(A, {}, ws.socket, deps(now, { rate: 1, burst: 2 })), '^ 5ms !').toBe('a(bcd)', {
        a: opened(A, 0),
        b: received(A, 1, { type: 'heartbeat', ref: 1 }),
        c: received(A, 1, { type: 'heartbeat', ref: 2 }),
        // Not decoded (Content 42 would be bad_field): only its Ref was read.
        d: rejected(A, 1, rateLimited(1000, 'r3')),
      });
    });
  });

  it('without a rate, takes every frame', () => {
    marbles(({ cold, expectObservable, now }) => {
      const ws = new FakeSocket(cold<SocketFact>('-(aaa)', { a: text('{"Type":2}') }));
      const hb = received(A, 1, { type: 'heartbeat' });
      expectObservable(connection$(A, {}, ws.socket, deps(now)), '^ 5ms !').toBe('a(bbb)', { a: opened(A, 0), b: hb });
    });
  });

  it('a client that keeps sending while told to wait for 10 s is flooded once, and read no more', () => {
    marbles(({ flush, now }) => {
      // 50 frames a second for 12 s, at 10 a second with a burst of 20.
      const facts = interval(20).pipe(first(600), map((): SocketFact => text('{"Type":2}')));
      const events: HubEvent[] = [];
      const ws = new FakeSocket(facts);
      connection$(A, {}, ws.socket, deps(now, { rate: 10, burst: 20 })).subscribe((e) => events.push(e));
      flush();
      const kinds = events.map((e) => e.kind);
      const at = events.findIndex((e) => e.kind === 'flooded');
      expect(events[at]).toEqual(flooded(A, events[at].at));
      // Refused from 0.44 s (the burst and its refill gone); flooded 10 s after the first frame sent while told to wait.
      const firstRefused = events.find((e) => e.kind === 'rejected') as HubEvent;
      expect(events[at].at - firstRefused.at).toBe(FLOOD_MS + 20);
      // Taken meanwhile: the burst and 10 a second.
      const taken = kinds.filter((k) => k === 'received').length;
      expect(taken).toBeGreaterThanOrEqual(20 + 10 * 10);
      expect(taken).toBeLessThanOrEqual(20 + 10 * 11);
      // Nothing after it: the rest of the flood is not read.
      expect(kinds.slice(at + 1)).toEqual([]);
    });
  });
});

describe('hub$ and a flood', () => {
  it('refused frames change nothing and reach nobody; the flooder is closed with 4029; bob is unaffected', () => {
    marbles(({ hot, flush, now }) => {
      const flood = interval(20).pipe(first(600), map((i): SocketFact => text(`{"Type":1,"Content":"spam ${i}","Ref":${i}}`)));
      const alice = new FakeSocket(flood);
      const bob = new FakeSocket(hot<SocketFact>('5s h', { h: text('{"Type":2,"Ref":"b"}') }));
      const rate = { rate: 10, burst: 20 };
      const steps: { before: Step; after: Step }[] = [];
      let last: Step | undefined;
      merge(
        connection$(B, { name: 'bob' }, bob.socket, deps(now, rate)),
        connection$(A, { name: 'alice' }, alice.socket, deps(now, rate)),
      ).pipe(throughLog()).subscribe((s) => {
        if (last) steps.push({ before: last, after: s });
        last = s;
      });
      flush();
      const effects = steps.flatMap((s) => withoutLogs(s.after.effects));
      const limited = steps.filter((s) => s.after.effects.some((e) => e.kind === 'send' && msg(e.message).Code === 'rate_limited'));
      expect(limited.length).toBeGreaterThan(300);
      for (const s of limited) {
        // rate_limited: the state is the same object, and only alice hears of it.
        expect(s.after.state).toBe(s.before.state);
        expect(withoutLogs(s.after.effects)).toEqual([send(A, expect.objectContaining({ Type: 5, Code: 'rate_limited', RetryMs: expect.any(Number) }))]);
      }
      // Bob got every line alice was allowed (none refused), and his HeartBeat answered.
      const lines = effects.filter((e) => e.kind === 'broadcast' && msg(e.message).Type === 1);
      const acks = effects.filter((e) => e.kind === 'send' && msg(e.message).Type === 12);
      expect(lines.length).toBe(acks.length);
      expect(lines.every((e) => e.kind === 'broadcast' && e.to.includes(B))).toBe(true);
      expect(effects).toContainEqual(send(B, M.heartbeat(B, 5000, 'b')));
      // Closed with 4029, once.
      expect(effects.filter((e) => e.kind === 'close')).toEqual([close(A, Close.RateLimited, expect.any(String))]);
    });
  });
});
