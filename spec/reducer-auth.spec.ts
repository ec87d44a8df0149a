// The hub with auth on (docs/protocol.md "Auth", docs/security.md "Identity"): a connection speaks for
// the user of its token; a Direct to a user reaches each of that user's connections; rename and rooms
// outside the token's claim are refused with `forbidden`; an identity is resumed only by the same user.
import * as M from '../src/core/messages';
import { closed, opened, received, send } from '../src/core/events';
import { initialState } from '../src/core/reducer';
import { stepFrozen, withoutLogs } from './support/marbles';
import { runWithLog } from './support/fake-log';

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
    expect(effects).toEqual([send('b1', M.welcome('b1', 'Bob', [], 0, 'tok-b1')), send('b1', M.error({ code: 'forbidden', reason: expect.any(String) }, 0))]);
    expect(state.clients.get('b1')?.rooms).toEqual([]);
    expect(state.users.get('u-bob')).toEqual(['b1']);
  });

  it('an identity is resumed by a token of the same user only; another user\'s gets resume_failed and a new session', () => {
    const base = runWithLog([opened('a1', 0, { name: 'Alice', user: alice }, tk('a1')), closed('a1', 1, 'closed')], initialState()).state;
    expect(base.users.has('u-alice')).toBe(false);
    // Bob holds Alice's resume token (stolen): not Alice's identity.
    const stolen = runWithLog([opened('x', 2, { name: 'Bob', user: bob, resume: tk('a1') }, tk('x'))], base);
    expect(stolen.effects[0]).toEqual(send('x', M.error({ code: 'resume_failed', reason: expect.any(String) }, 2)));
    expect(stolen.state.clients.get('x')).toMatchObject({ user: 'u-bob', name: 'Bob' });
    expect(stolen.state.away.has('a1')).toBe(true);
    // Alice's own comes back, under her user.
    const back = runWithLog([opened('y', 3, { name: 'Alice', user: alice, resume: tk('a1') }, tk('y'))], base).state;
    expect(back.clients.get('a1')).toMatchObject({ user: 'u-alice' });
    expect(back.users.get('u-alice')).toEqual(['a1']);
  });

  it('a resume does not rejoin rooms the new token no longer allows', () => {
    const base = runWithLog([opened('b1', 0, { name: 'Bob', user: { sub: 'u-bob' } }, tk('b1')), received('b1', 0, { type: 'join', room: 'secret' }), closed('b1', 1, 'closed')]).state;
    const back = runWithLog([opened('z', 2, { name: 'Bob', user: bob, resume: tk('b1') }, tk('z'))], base).state;
    expect(back.clients.get('b1')?.rooms).toEqual(['lobby']);
    expect(back.rooms.get('secret')).toBeUndefined();
  });
});
