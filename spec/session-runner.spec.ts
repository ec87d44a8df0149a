// The session runner (src/cluster/session-runner.ts) against a fake of
// RedisSessions: which ops come back to the hub as events and how their
// outcomes read there, what is only logged, a Direct handed back at most once,
// and drain.
import * as M from '../src/core/messages';
import { HubEvent, IdentityRecord, SendOp, TakeOp, directSent, session, sessionTaken } from '../src/core/events';
import { SessionRunner, Sessions } from '../src/cluster/session-runner';

const record: IdentityRecord = { id: 'bob-id', name: 'bob', rooms: ['lobby'], keys: [] };
const message = M.direct({ id: 'alice-id', name: 'alice' }, 'bob-id', 'm1', 'psst', 1);

function setup(over: Partial<Record<keyof Sessions, (...a: unknown[]) => Promise<unknown>>> = {}) {
  const calls: [string, ...unknown[]][] = [];
  const fake = (name: keyof Sessions, answer: unknown) => (...a: unknown[]) => {
    calls.push([name, ...a]);
    return (over[name]?.(...a) ?? Promise.resolve(answer)) as Promise<never>;
  };
  const sessions = {
    claim: fake('claim', { ok: true }),
    update: fake('update', { ok: true, updated: true }),
    park: fake('park', { ok: true, parked: true }),
    release: fake('release', { ok: true, released: true }),
    take: fake('take', { ok: true, found: true, record, directs: [message], liveOn: 'one' }),
    send: fake('send', { ok: true, delivered: 'kept', waiting: 1 }),
    beat: fake('beat', { ok: true }),
  } as unknown as Sessions;
  const events: HubEvent[] = [];
  const logged: [string, string][] = [];
  const runner = new SessionRunner(sessions, (e) => events.push(e), { log: (level, event) => logged.push([level, event]), beatMs: 0, now: () => 42 });
  return { runner, calls, events, logged };
}

describe('session runner', () => {
  const take: TakeOp = { op: 'take', conn: 'c1', token: 't'.repeat(32) };
  const send: SendOp = { op: 'send', to: 'bob-id', message, purpose: { for: 'direct', from: 'alice-id', msgId: 'm1' } };

  it('hands a take\'s outcome back as sessionTaken', async () => {
    const { runner, events } = setup();
    runner.submit(session(take));
    await runner.drain();
    expect(events).toEqual([sessionTaken(take, { found: true, record, directs: [message], liveOn: 'one' }, 42)]);
  });

  it('reads Redis failing as unavailable, a rejection too', async () => {
    const { runner, events } = setup({ take: () => Promise.reject(new Error('boom')) });
    runner.submit(session(take));
    await runner.drain();
    expect(events).toEqual([sessionTaken(take, { found: false, why: 'unavailable', reason: 'boom' }, 42)]);
  });

  it('hands a client\'s Direct\'s outcome back as directSent; a bad_request is logged and reads unavailable', async () => {
    const { runner, events, logged, calls } = setup();
    runner.submit(session(send));
    await runner.drain();
    expect(calls).toEqual([['send', 'bob-id', JSON.stringify(message)]]);
    expect(events).toEqual([directSent(send, { ok: true, delivered: 'kept' }, 42)]);
    const bad = setup({ send: () => Promise.resolve({ ok: false, code: 'bad_request', reason: 'too big' }) });
    bad.runner.submit(session(send));
    await bad.runner.drain();
    expect(bad.events).toEqual([directSent(send, { ok: false, code: 'unavailable', reason: 'too big' }, 42)]);
    expect(bad.logged).toContainEqual(['error', 'direct_refused']);
    expect(logged).toEqual([]);
  });

  it('only logs the failures of the ops nobody waits for', async () => {
    const { runner, events, logged } = setup({ park: () => Promise.resolve({ ok: false, code: 'unavailable', reason: 'down' }) });
    runner.submit(session({ op: 'claim', id: 'a', token: 't'.repeat(32), record }));
    runner.submit(session({ op: 'park', token: 't'.repeat(32), record, ttlMs: 1000 }));
    await runner.drain();
    expect(events).toEqual([]);
    expect(logged).toEqual([['warn', 'session_op_failed']]);
  });

  it('hands a Direct back to Redis once: the same MsgID again is dropped, so none goes round for ever', async () => {
    const { runner, calls, events, logged } = setup();
    const redirect: SendOp = { ...send, purpose: { for: 'redirect' } };
    runner.submit(session(redirect));
    runner.submit(session(redirect));
    await runner.drain();
    expect(calls).toHaveLength(1);
    expect(events).toEqual([]);
    expect(logged).toEqual([['warn', 'direct_dropped']]);
  });
});
