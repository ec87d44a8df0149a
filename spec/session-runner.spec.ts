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
    holdUser: fake('holdUser', { ok: true }),
    dropUser: fake('dropUser', { ok: true }),
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

  it('beats as soon as its link to Redis is back, and says what the beat put back (sessions.ts, "What a node puts back")', async () => {
    let listener: ((down: string | undefined) => void) | undefined;
    let unwatched = false;
    const beats: string[] = [];
    const sessions = {
      beat: () => {
        beats.push('beat');
        return Promise.resolve({ ok: true, reclaimed: 2, parked: 1 });
      },
      link: { watch: (l: (down: string | undefined) => void) => { listener = l; return () => { unwatched = true; }; } },
    } as unknown as Sessions;
    const logged: [string, string, unknown][] = [];
    const runner = new SessionRunner(sessions, () => undefined, { log: (level, event, fields) => logged.push([level, event, fields]), beatMs: 0 });
    listener?.('lost the connection to Redis');
    await new Promise((r) => setImmediate(r));
    expect(beats).toEqual([]);
    listener?.(undefined);
    await new Promise((r) => setImmediate(r));
    expect(beats).toEqual(['beat']);
    expect(logged).toEqual([['info', 'sessions_restored', { reclaimed: 2, parked: 1 }]]);
    runner.stop();
    expect(unwatched).toBe(true);
  });

  it('logs a failed park with what becomes of it (parked again when Redis is back)', async () => {
    const reason = 'park: Redis is not connected (reconnecting); parked again when Redis is back';
    const seen: unknown[] = [];
    const runner = new SessionRunner({ park: () => Promise.resolve({ ok: false, code: 'unavailable', reason }) } as unknown as Sessions, () => undefined, {
      log: (level, event, fields) => seen.push([level, event, fields]), beatMs: 0,
    });
    runner.submit(session({ op: 'park', token: 't'.repeat(32), record, ttlMs: 1000 }));
    await runner.drain();
    expect(seen).toEqual([['warn', 'session_op_failed', { op: 'park', ok: false, code: 'unavailable', reason }]]);
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

  it('sends a Direct to a user: a client\'s looks for a user, then an identity; the rest of one acked here only for users, and nothing comes back', async () => {
    const { runner, calls, events, logged } = setup({ send: (_to, _m, mode) => Promise.resolve({ ok: true, delivered: 'user', nodes: mode === 'user' ? 0 : 2 }) });
    const toUser: SendOp = { ...send, to: 'u-bob', purpose: { for: 'direct', from: 'alice-id', msgId: 'm1' } };
    const rest: SendOp = { ...send, to: 'u-bob', purpose: { for: 'user' } };
    runner.submit(session(toUser));
    runner.submit(session(rest));
    runner.submit(session({ ...send, purpose: { for: 'redirect' } }));
    await runner.drain();
    expect(calls).toEqual([['send', 'u-bob', JSON.stringify(message)], ['send', 'u-bob', JSON.stringify(message), 'user'], ['send', 'bob-id', JSON.stringify(message), 'id']]);
    // Handed to the nodes holding the user reads as live to the hub.
    expect(events).toEqual([directSent(toUser, { ok: true, delivered: 'live' }, 42)]);
    expect(logged).toEqual([]);
  });

  it('holds and drops users, and only logs a failure', async () => {
    const { runner, calls, events, logged } = setup({ dropUser: () => Promise.resolve({ ok: false, code: 'unavailable', reason: 'down' }) });
    runner.submit(session({ op: 'holdUser', user: 'u-bob' }));
    runner.submit(session({ op: 'dropUser', user: 'u-bob' }));
    await runner.drain();
    expect(calls).toEqual([['holdUser', 'u-bob'], ['dropUser', 'u-bob']]);
    expect(events).toEqual([]);
    expect(logged).toEqual([['warn', 'session_op_failed']]);
  });
});
