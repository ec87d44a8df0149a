// The hub with auth on (docs/protocol.md "Auth", docs/security.md "Identity"): a connection speaks for
// the user of its token; a Direct to a user reaches each of that user's connections; rename and rooms
// outside the token's claim are refused with `forbidden`; an identity is resumed only by the same user.
import * as M from '../src/core/messages';
import { merge } from 'rxjs';
import {
  Effect, SendOp, close, closed, directHeard, directSent, opened, ping, pingDue, received, refreshed, send, session, sessionTaken,
} from '../src/core/events';
import { REFRESH_GRACE_MS } from '../src/core/claims';
import { Close } from '../src/core/protocol';
import { initialState } from '../src/core/reducer';
import { effectsOf, marbles, stepFrozen, withoutLogs } from './support/marbles';
import { FakeLog, runWithLog, throughLog } from './support/fake-log';

const alice = { sub: 'u-alice' };
const bob = { sub: 'u-bob', rooms: ['lobby', 'dev*'] };
const tk = (id: string) => `tok-${id}`.padEnd(32, '_');

describe('reducer: identity from tokens', () => {
  it('indexes each user\'s connections, and forgets each as it closes', () => {
    let { state } = runWithLog([opened('a1', 0, { name: 'Alice', user: alice }), opened('a2', 0, { name: 'Alice', user: alice }), opened('b1', 0, { name: 'Bob', user: bob })]);
    expect(state.users.get('u-alice')).toEqual(['a1', 'a2']);
    expect(state.clients.get('b1')).toMatchObject({ user: 'u-bob', allowed: ['lobby', 'dev*'] });
    state = stepFrozen(state, closed('a1', 1, 'closed')).state;
    expect(state.users.get('u-alice')).toEqual(['a2']);
    state = stepFrozen(state, closed('a2', 1, 'closed')).state;
    expect(state.users.has('u-alice')).toBe(false);
  });

  it('a Direct To a user reaches all of that user\'s connections (two tabs), and is acked once', () => {
    const { state } = runWithLog([opened('a1', 0, { name: 'Alice', user: alice }), opened('a2', 0, { name: 'Alice', user: alice }), opened('b1', 0, { name: 'Bob', user: bob })]);
    const r = stepFrozen(state, received('b1', 2, { type: 'direct', to: 'u-alice', content: 'hi', ref: 'r' }, 'm1'));
    const dm = M.direct(state.clients.get('b1') as never, 'u-alice', 'm1', 'hi', 2);
    expect(withoutLogs(r.effects)).toEqual([send('a1', dm), send('a2', dm), send('b1', M.ack('b1', 'm1', 2, 'r', { To: 'u-alice' }))]);
  });

  it('a Direct To a connection ID works as before', () => {
    const { state } = runWithLog([opened('a1', 0, { name: 'Alice', user: alice }), opened('b1', 0, { name: 'Bob', user: bob })]);
    const r = stepFrozen(state, received('b1', 2, { type: 'direct', to: 'a1', content: 'hi' }, 'm1'));
    expect(withoutLogs(r.effects).map((e) => (e as { to: string }).to)).toEqual(['a1', 'b1']);
  });

  it('refuses a Rename with forbidden, the state unchanged; without auth a Rename works as before', () => {
    const { state } = runWithLog([opened('a1', 0, { name: 'Alice', user: alice }), opened('g', 0, { name: 'guest' })]);
    const r = stepFrozen(state, received('a1', 1, { type: 'rename', name: 'Mallory', ref: 'n' }));
    expect(r.state).toBe(state);
    expect(withoutLogs(r.effects)).toEqual([send('a1', M.error({ code: 'forbidden', reason: expect.stringContaining('token'), ref: 'n' }, 1))]);
    expect(stepFrozen(state, received('g', 1, { type: 'rename', name: 'other' })).state.clients.get('g')?.name).toBe('other');
  });

  it('refuses a Join outside the rooms claim with forbidden; takes one inside it', () => {
    const { state } = runWithLog([opened('b1', 0, { name: 'Bob', user: bob })]);
    const no = stepFrozen(state, received('b1', 1, { type: 'join', room: 'secret', ref: 'j' }));
    expect(no.state).toBe(state);
    expect(withoutLogs(no.effects)).toEqual([send('b1', M.error({ code: 'forbidden', reason: 'your token does not allow room "secret"', ref: 'j' }, 1))]);
    const yes = runWithLog([received('b1', 1, { type: 'join', room: 'dev-ops' })], state).state;
    expect(yes.clients.get('b1')?.rooms).toEqual(['lobby', 'dev-ops']);
  });

  it('a first room outside the claim (past the edge): welcomed in no room, told forbidden', () => {
    const { state, effects } = runWithLog([opened('b1', 0, { name: 'Bob', room: 'secret', user: bob })]);
    expect(effects).toEqual([send('b1', M.welcome('b1', 'Bob', [], 0, 'b1.tok-b1')), send('b1', M.error({ code: 'forbidden', reason: expect.any(String) }, 0))]);
    expect(state.clients.get('b1')?.rooms).toEqual([]);
    expect(state.users.get('u-bob')).toEqual(['b1']);
  });

  it('an identity is resumed by a token of the same user only; another user\'s gets resume_failed and a new session', () => {
    const base = runWithLog([opened('a1', 0, { name: 'Alice', user: alice }, tk('a1')), closed('a1', 1, 'closed')], initialState()).state;
    expect(base.users.has('u-alice')).toBe(false);
    // Bob holds Alice's resume token (stolen): not Alice's identity.
    const stolen = runWithLog([opened('x', 2, { name: 'Bob', user: bob, resume: `a1.${tk('a1')}` }, tk('x'))], base);
    expect(stolen.effects[0]).toEqual(send('x', M.error({ code: 'resume_failed', reason: expect.any(String) }, 2)));
    expect(stolen.state.clients.get('x')).toMatchObject({ user: 'u-bob', name: 'Bob' });
    expect(stolen.state.away.has('a1')).toBe(true);
    // Alice's own comes back, under her user.
    const back = runWithLog([opened('y', 3, { name: 'Alice', user: alice, resume: `a1.${tk('a1')}` }, tk('y'))], base).state;
    expect(back.clients.get('a1')).toMatchObject({ user: 'u-alice' });
    expect(back.users.get('u-alice')).toEqual(['a1']);
  });

  it('a resume does not rejoin rooms the new token no longer allows', () => {
    const base = runWithLog([opened('b1', 0, { name: 'Bob', user: { sub: 'u-bob' } }, tk('b1')), received('b1', 0, { type: 'join', room: 'secret' }), closed('b1', 1, 'closed')]).state;
    const back = runWithLog([opened('z', 2, { name: 'Bob', user: bob, resume: `b1.${tk('b1')}` }, tk('z'))], base).state;
    expect(back.clients.get('b1')?.rooms).toEqual(['lobby']);
    expect(back.rooms.get('secret')).toBeUndefined();
  });
});

describe('reducer: a token that expires while connected (checked at each heartbeat tick)', () => {
  const exp = 10_000;
  const carol = { sub: 'u-carol', exp };
  const open = () => runWithLog([opened('c1', 0, { name: 'Carol', user: carol }), opened('d1', 0, { name: 'Dan', user: { sub: 'u-dan', exp: 999_999 } })]).state;

  it('before exp: only the ping; at the first tick past exp: one notice; a tick within the grace: nothing more', () => {
    const s0 = open();
    const before = stepFrozen(s0, pingDue(['c1', 'd1'], exp - 1));
    expect(withoutLogs(before.effects)).toEqual([ping(['c1', 'd1'])]);
    const told = stepFrozen(before.state, pingDue(['c1', 'd1'], exp + 5));
    expect(withoutLogs(told.effects)).toEqual([ping(['c1', 'd1']), send('c1', M.notice(expect.stringContaining('token expired'), exp + 5))]);
    expect(told.state.clients.get('c1')?.graceUntil).toBe(exp + 5 + REFRESH_GRACE_MS);
    const quiet = stepFrozen(told.state, pingDue(['c1', 'd1'], exp + 5 + REFRESH_GRACE_MS - 1));
    expect(withoutLogs(quiet.effects)).toEqual([ping(['c1', 'd1'])]);
  });

  it('no Refresh within the grace: closed with 4001 at the tick past it (then leaves as any close)', () => {
    const told = runWithLog([pingDue(['c1'], exp)], open()).state;
    const r = stepFrozen(told, pingDue(['c1'], exp + REFRESH_GRACE_MS));
    expect(withoutLogs(r.effects)).toEqual([ping(['c1']), close('c1', Close.TokenExpired, 'token_expired')]);
    expect(Close.TokenExpired).toBe(4001);
    expect(stepFrozen(r.state, closed('c1', exp + REFRESH_GRACE_MS, 'closed')).state.users.has('u-carol')).toBe(false);
  });

  it('a Refresh of the same user: answered, the new exp kept, the grace forgotten: no close', () => {
    const told = runWithLog([pingDue(['c1'], exp)], open()).state;
    const r = stepFrozen(told, refreshed('c1', exp + 1000, { sub: 'u-carol', exp: 90_000, rooms: ['lobby'] }, 'r1'));
    expect(withoutLogs(r.effects)).toEqual([send('c1', M.refreshedFrame('c1', exp + 1000, 90_000, 'r1'))]);
    expect(r.state.clients.get('c1')).toMatchObject({ expires: 90_000, allowed: ['lobby'] });
    expect(r.state.clients.get('c1')?.graceUntil).toBeUndefined();
    expect(withoutLogs(stepFrozen(r.state, pingDue(['c1'], exp + REFRESH_GRACE_MS)).effects)).toEqual([ping(['c1'])]);
  });

  it('a Refresh that is bad, or another user\'s: Error bad_token, nothing changes; with auth off: forbidden', () => {
    const told = runWithLog([pingDue(['c1'], exp)], open()).state;
    const bad = stepFrozen(told, refreshed('c1', exp + 1, undefined, 'r'));
    expect(bad.state).toBe(told);
    expect(withoutLogs(bad.effects)).toEqual([send('c1', M.error({ code: 'bad_token', reason: expect.any(String), ref: 'r' }, exp + 1))]);
    const other = stepFrozen(told, refreshed('c1', exp + 1, { sub: 'u-dan', exp: 90_000 }));
    expect(other.state).toBe(told);
    expect(withoutLogs(other.effects)).toEqual([send('c1', M.error({ code: 'bad_token', reason: expect.stringContaining('same sub') }, exp + 1))]);
    const guest = runWithLog([opened('g', 0, { name: 'guest' })]).state;
    const r = stepFrozen(guest, received('g', 1, { type: 'refresh', token: 'x.y.z', ref: 'q' }));
    expect(r.state).toBe(guest);
    expect(withoutLogs(r.effects)).toEqual([send('g', M.error({ code: 'forbidden', reason: expect.any(String), ref: 'q' }, 1))]);
  });

  it('costs nothing with auth off: a tick without users is only the ping', () => {
    const guest = runWithLog([opened('g', 0, { name: 'guest' })]).state;
    const r = stepFrozen(guest, pingDue(['g'], 1e12));
    expect(r.state).toBe(guest);
  });
});

describe('reducer: identity from tokens, several processes', () => {
  it('the identity\'s record in Redis carries its user, so a resume elsewhere can check it', () => {
    const r = stepFrozen(initialState({ cluster: true }), opened('a1', 0, { name: 'Alice', user: alice }));
    const claim = r.effects.find((e) => e.kind === 'session') as { op: { op: string; record: { user?: string } } } | undefined;
    expect(claim?.op).toMatchObject({ op: 'claim', record: { id: 'a1', name: 'Alice', user: 'u-alice' } });
  });

  it('a resume whose record is another user\'s: resume_failed, a new session, and the identity put back for its owner', () => {
    const asked = stepFrozen(initialState({ cluster: true }), opened('x', 0, { name: 'Bob', user: bob, resume: tk('a1') }, tk('x'))).state;
    const record = { id: 'a1', name: 'Alice', rooms: ['lobby'], keys: [], user: 'u-alice' };
    const r = stepFrozen(asked, sessionTaken({ op: 'take', conn: 'x', token: tk('a1') }, { found: true, record, directs: [] }, 1));
    expect(r.state.clients.get('x')).toMatchObject({ user: 'u-bob', name: 'Bob' });
    expect(r.state.clients.has('a1')).toBe(false);
    const ops = r.effects.filter((e) => e.kind === 'session').map((e) => (e as { op: { op: string; id?: string; token?: string } }).op);
    expect(ops).toEqual(expect.arrayContaining([
      expect.objectContaining({ op: 'claim', id: 'a1', token: tk('a1') }),
      expect.objectContaining({ op: 'park', token: tk('a1') }),
    ]));
    expect(r.effects).toContainEqual(send('x', M.error({ code: 'resume_failed', reason: expect.any(String) }, 1)));
  });
});

describe('reducer: a Direct to a user across nodes (several processes; sessions.ts `user:{SUB}`)', () => {
  const A1 = 'a1';
  const B1 = 'b1';
  const B2 = 'b2';
  const cluster = () => initialState({ cluster: true });
  const sessionOps = (effects: readonly Effect[]) => effects.filter((e) => e.kind === 'session').map((e) => (e as { op: unknown }).op);
  const toBob = (at: number, msgId: string, o: { key?: string; ref?: string } = {}) =>
    received(A1, at, { type: 'direct', to: 'u-bob', content: 'hi bob', ...o }, msgId);
  const dmFrom = (at: number, msgId: string) => M.direct({ id: A1, name: 'Alice' }, 'u-bob', msgId, 'hi bob', at);
  /** alice (a1) on this node; bob's first tab (b1) too when `bobHere`. */
  const here = (bobHere: boolean) => runWithLog([
    opened(A1, 0, { name: 'Alice', user: alice }, tk(A1)),
    ...(bobHere ? [opened(B1, 0, { name: 'Bob', user: bob }, tk(B1))] : []),
  ], cluster()).state;

  it('tells Redis this node holds a user at its first connection here, and no longer at its last; nothing for a second tab', () => {
    const first = stepFrozen(cluster(), opened(B1, 0, { name: 'Bob', user: bob }, tk(B1)));
    expect(sessionOps(first.effects)).toEqual([expect.objectContaining({ op: 'claim', id: B1 }), { op: 'holdUser', user: 'u-bob' }]);
    const second = stepFrozen(first.state, opened(B2, 0, { name: 'Bob', user: bob }, tk(B2)));
    expect(sessionOps(second.effects)).toEqual([expect.objectContaining({ op: 'claim', id: B2 })]);
    const one = stepFrozen(second.state, closed(B1, 1, 'closed'));
    expect(sessionOps(one.effects)).toEqual([expect.objectContaining({ op: 'park', record: expect.objectContaining({ id: B1 }) })]);
    const none = stepFrozen(one.state, closed(B2, 1, 'closed'));
    expect(sessionOps(none.effects)).toEqual([{ op: 'dropUser', user: 'u-bob' }, expect.objectContaining({ op: 'park' })]);
    // A resume here holds the user again.
    const asked = stepFrozen(none.state, opened('b3', 2, { name: 'Bob', user: bob, resume: tk(B1) }, tk('b3'))).state;
    const record = { id: B1, name: 'Bob', rooms: ['lobby'], keys: [], user: 'u-bob' };
    const back = stepFrozen(asked, sessionTaken({ op: 'take', conn: 'b3', token: tk(B1) }, { found: true, record, directs: [] }, 3));
    expect(sessionOps(back.effects)).toEqual([expect.objectContaining({ op: 'claim', id: B1 }), { op: 'holdUser', user: 'u-bob' }]);
    // Without auth, and with one process, nothing of the kind.
    expect(sessionOps(stepFrozen(cluster(), opened('g', 0, { name: 'guest' }, tk('g'))).effects)).toEqual([expect.objectContaining({ op: 'claim' })]);
    expect(sessionOps(runWithLog([opened(B1, 0, { name: 'Bob', user: bob }), closed(B1, 1, 'closed')]).effects)).toEqual([]);
  });

  it('a user with a tab here and one elsewhere: the tab here at once, the sender acked at once, the rest through Redis; a tab elsewhere gets it from its node\'s channel', () => {
    const init = here(true);
    marbles(({ cold, expectObservable }) => {
      const alice$ = cold('d---r', { d: toBob(1, 'm1', { key: 'k1', ref: 'r1' }), r: toBob(4, 'm2', { key: 'k1', ref: 'r2' }) });
      // What another node's alice sent bob, heard on this node's channel, marked `user`.
      const channel$ = cold('--h--', { h: directHeard('u-bob', dmFrom(2, 'm9'), 2, true) });
      expectObservable(effectsOf(merge(alice$, channel$).pipe(throughLog(new FakeLog(), init)))).toBe('x-y-z', {
        x: [
          send(B1, dmFrom(1, 'm1')),
          send(A1, M.ack(A1, 'm1', 1, 'r1', { To: 'u-bob' }, 'k1')),
          session({ op: 'send', to: 'u-bob', message: dmFrom(1, 'm1'), purpose: { for: 'user' } }),
          session({ op: 'update', id: A1, token: tk(A1), record: { id: A1, name: 'Alice', rooms: ['lobby'], keys: [['k1', { msgId: 'm1', to: 'u-bob' }]], user: 'u-alice' } }),
        ],
        y: [send(B1, dmFrom(2, 'm9'))],
        // The same Key again: acked again with the first MsgID, delivered to nobody, not sent on.
        z: [send(A1, M.ack(A1, 'm1', 4, 'r2', { To: 'u-bob' }, 'k1', true))],
      });
    });
  });

  it('a user with no tab here: through Redis, acked once on its outcome; a repeat meanwhile waits for that Ack, one after it is a Duplicate', () => {
    const init = here(false);
    const purpose = { for: 'direct', from: A1, msgId: 'm1', key: 'k1', ref: 'r1' } as const;
    const op: SendOp = { op: 'send', to: 'u-bob', message: dmFrom(1, 'm1'), purpose };
    marbles(({ cold, expectObservable }) => {
      const alice$ = cold('d-r--a', { d: toBob(1, 'm1', { key: 'k1', ref: 'r1' }), r: toBob(2, 'm2', { key: 'k1' }), a: toBob(5, 'm3', { key: 'k1', ref: 'r3' }) });
      const redis$ = cold('---s--', { s: directSent(op, { ok: true, delivered: 'live' }, 3) });
      expectObservable(effectsOf(merge(alice$, redis$).pipe(throughLog(new FakeLog(), init)))).toBe('d--s-a', {
        d: [session(op)],
        s: [
          send(A1, M.ack(A1, 'm1', 3, 'r1', { To: 'u-bob' }, 'k1')),
          session({ op: 'update', id: A1, token: tk(A1), record: { id: A1, name: 'Alice', rooms: ['lobby'], keys: [['k1', { msgId: 'm1', to: 'u-bob' }]], user: 'u-alice' } }),
        ],
        a: [send(A1, M.ack(A1, 'm1', 5, 'r3', { To: 'u-bob' }, 'k1', true))],
      });
    });
  });

  it('a user connected nowhere: Redis says no_such_client, and that is the sender\'s Error', () => {
    const init = here(false);
    const op: SendOp = { op: 'send', to: 'u-bob', message: dmFrom(1, 'm1'), purpose: { for: 'direct', from: A1, msgId: 'm1', ref: 'r1' } };
    const asked = stepFrozen(init, toBob(1, 'm1', { ref: 'r1' }));
    expect(withoutLogs(asked.effects)).toEqual([session(op)]);
    const r = stepFrozen(asked.state, directSent(op, { ok: false, code: 'no_such_client', reason: 'nobody' }, 2));
    expect(withoutLogs(r.effects)).toEqual([send(A1, M.error({ code: 'no_such_client', reason: 'nobody', ref: 'r1' }, 2))]);
  });

  it('a Direct heard for a user: each of its tabs here gets it; with none left here, Redis is told this node does not hold it', () => {
    const init = runWithLog([opened(B1, 0, { name: 'Bob', user: bob }, tk(B1)), opened(B2, 0, { name: 'Bob', user: bob }, tk(B2))], cluster()).state;
    const m = dmFrom(1, 'm1');
    expect(withoutLogs(stepFrozen(init, directHeard('u-bob', m, 2, true)).effects)).toEqual([send(B1, m), send(B2, m)]);
    const r = stepFrozen(init, directHeard('u-carol', m, 2, true));
    expect(r.state).toBe(init);
    expect(withoutLogs(r.effects)).toEqual([session({ op: 'dropUser', user: 'u-carol' })]);
    // Not handed back as one to an identity would be: a user has no mailbox.
    expect(r.effects.some((e) => e.kind === 'session' && e.op.op === 'send')).toBe(false);
  });
});
