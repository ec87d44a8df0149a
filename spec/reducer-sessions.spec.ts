// The hub with identities in Redis (several processes; issue 8 item 4;
// src/cluster/sessions.ts "FOR THE HUB"): a welcome claims the identity, a
// disconnect parks it, a resume takes it (here or from another node: one path),
// a Direct to an ID not here goes through Redis and is acked on its outcome,
// and what other nodes send this one (a Direct, a cut) reaches its sockets.
// With one process none of this happens (spec/reducer.spec.ts, reducer-log.spec.ts).
import * as M from '../src/core/messages';
import {
  Effect, HubEvent, IdentityRecord, SendOp, TakeOp, closed, close, cutHeard, directHeard, directSent, heard, opened, presence, rebind, received,
  send, session, sessionTaken, shutdownRequested, terminate,
} from '../src/core/events';
import { Close, Message } from '../src/core/protocol';
import { DEFAULT_RESUME_WINDOW_MS, HubState, MAX_EARLY_FRAMES, initialState } from '../src/core/reducer';
import { withoutLogs } from './support/marbles';
import { EPOCH, FakeLog, Scene, runWithLog } from './support/fake-log';
import { msg } from './support/outgoing';

const A = 'alice-id';
const B = 'bob-id';
const tk = (name: string) => name.padEnd(32, '_');
const cluster = (o: { resumeWindowMs?: number } = {}) => initialState({ cluster: true, ...o });
const sessionOps = (effects: readonly Effect[]) => effects.filter((e) => e.kind === 'session');
const dm = (id: string, at: number, to: string, content: string, msgId: string, o: { ref?: string; key?: string } = {}): HubEvent =>
  received(id, at, { type: 'direct', to, content, ...o }, msgId);
const bobRecord = (extra: Partial<IdentityRecord> = {}): IdentityRecord => ({ id: B, name: 'bob', rooms: ['lobby'], keys: [], ...extra });

/** alice here in the lobby (log at Seq `head`), settled. */
function aliceHere(head = 0): Scene {
  const log = new FakeLog().seed('lobby', { head });
  const sc = new Scene(runWithLog([opened(A, 0, { name: 'alice' }, tk('a'))], cluster(), log).state, log);
  return sc;
}

describe('hub, identities in Redis: a connection claims, parks, releases', () => {
  it('claims a new identity with its token and record; its token is the secret alone, looked up in Redis', () => {
    const r = runWithLog([opened(A, 0, { name: 'alice', room: 'rust' }, tk('a'))], cluster());
    expect(sessionOps(withoutLogs(r.effects))).toEqual([
      session({ op: 'claim', id: A, token: tk('a'), record: { id: A, name: 'alice', rooms: ['rust'], keys: [] } }),
    ]);
    expect(r.effects).toContainEqual(send(A, M.welcome(A, 'alice', ['rust'], 0, tk('a'))));
  });

  it('parks it when the connection ends, with its rooms and settled Keys, for the resume window', () => {
    const sc = aliceHere();
    sc.on(dm(A, 1, A, 'note to self', 'm1', { key: 'k1' }));
    const effects = sc.on(closed(A, 2, 'closed'));
    expect(sessionOps(effects)).toEqual([session({
      op: 'park', token: tk('a'), ttlMs: DEFAULT_RESUME_WINDOW_MS,
      record: { id: A, name: 'alice', rooms: ['lobby'], keys: [['k1', { msgId: 'm1', to: A }]] },
    })]);
    expect(sc.state.away.size).toBe(0);
  });

  it('releases it when there is no resume window', () => {
    const log = new FakeLog();
    const r = runWithLog([opened(A, 0, { name: 'alice' }, tk('a')), closed(A, 1, 'closed')], cluster({ resumeWindowMs: 0 }), log);
    expect(sessionOps(r.effects)).toEqual([session({ op: 'release', id: A })]);
  });

  it('parks during a shutdown too: the clients of a stopping node resume on another', () => {
    const sc = aliceHere();
    sc.on(shutdownRequested(1));
    expect(sessionOps(sc.on(closed(A, 2, 'closed')))).toEqual([
      session({ op: 'park', token: tk('a'), ttlMs: DEFAULT_RESUME_WINDOW_MS, record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] } }),
    ]);
  });

  it('updates the record kept in Redis after a join, a leave and a rename (for a resume after this node dies)', () => {
    const sc = aliceHere();
    const joined = sc.on(received(A, 1, { type: 'join', room: 'rust' }));
    expect(sessionOps(joined)).toEqual([session({ op: 'update', id: A, token: tk('a'), record: { id: A, name: 'alice', rooms: ['lobby', 'rust'], keys: [] } })]);
    sc.settle();
    const renamed = sc.on(received(A, 2, { type: 'rename', name: 'al' }));
    expect(sessionOps(renamed)).toEqual([session({ op: 'update', id: A, token: tk('a'), record: { id: A, name: 'al', rooms: ['lobby', 'rust'], keys: [] } })]);
    const left = sc.on(received(A, 3, { type: 'leave', room: 'rust' }));
    expect(sessionOps(left)).toEqual([session({ op: 'update', id: A, token: tk('a'), record: { id: A, name: 'al', rooms: ['lobby'], keys: [] } })]);
  });

  it('updates the record again when a room it joined or resumed is taken from it (the log or presence failed)', () => {
    const log = new FakeLog();
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }, tk('a'))], cluster(), log);
    const record = (rooms: string[], token = tk('a')) => session({ op: 'update', id: A, token, record: { id: A, name: 'alice', rooms, keys: [] } });
    log.readsFail = 'I/O error';
    const joined = runWithLog([received(A, 1, { type: 'join', room: 'rust' })], state, log);
    expect(sessionOps(joined.effects)).toEqual([record(['lobby', 'rust']), record(['lobby'])]);
    expect(joined.state.clients.get(A)?.rooms).toEqual(['lobby']);
    // A resume whose room's position cannot be read (the hub does not know it either): Redis keeps it without.
    const sc = new Scene(runWithLog([closed(A, 2, 'closed')], state, log).state, log);
    sc.on(opened('alice-2', 3, { resume: tk('a') }, tk('a2')));
    const taken = sc.on(sessionTaken({ op: 'take', conn: 'alice-2', token: tk('a') }, { found: true, record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] }, directs: [] }, 3));
    expect(sessionOps(taken)).toEqual([session({ op: 'claim', id: A, token: tk('a2'), record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] } })]);
    expect(sessionOps(sc.settle(4))).toEqual([record([], tk('a2'))]);
    expect(sc.state.clients.get(A)?.rooms).toEqual([]);
  });

  it('with one process, asks nothing of Redis', () => {
    const r = runWithLog([
      opened(A, 0, { name: 'alice' }, tk('a')), received(A, 1, { type: 'rename', name: 'al' }), closed(A, 2, 'closed'),
    ], initialState());
    expect(sessionOps(r.effects)).toEqual([]);
  });
});

describe('hub, identities in Redis: a resume', () => {
  const take: TakeOp = { op: 'take', conn: 'bob-2', token: tk('b') };
  const resumeBob = (at = 5, since = `lobby:0:${EPOCH}`) => opened('bob-2', at, { resume: tk('b'), since, name: 'ignored' }, tk('b2'));

  it('takes the token from Redis, holds the connection\'s frames, and gives it the identity: welcome, directs, replay, then its frames', () => {
    const sc = aliceHere();
    sc.on(received(A, 1, { type: 'broadcast', content: 'while bob was away' }, 'l1'));
    sc.settle(1);
    // Heard here (the room's live position is Seq 1): the replay has it; a line the log kept and this
    // node has not heard yet comes live instead (reducer-cluster.spec.ts).
    sc.on(heard({ ...sc.log.lines('lobby')[0], epoch: EPOCH }, 1));
    expect(sc.on(resumeBob())).toEqual([session(take)]);
    // Sent before its welcome: handled once it is bob.
    expect(sc.on(received('bob-2', 6, { type: 'heartbeat', ref: 'h1' }))).toEqual([]);
    const kept = M.direct({ id: A, name: 'alice' }, B, 'd1', 'psst', 3);
    const effects = sc.on(sessionTaken(take, { found: true, record: bobRecord(), directs: [kept] }, 7));
    expect(effects.slice(0, 4)).toEqual([
      session({ op: 'claim', id: B, token: tk('b2'), record: bobRecord() }),
      rebind('bob-2', B),
      send(B, M.welcome(B, 'bob', ['lobby'], 7, tk('b2'), true)),
      send(B, kept),
    ]);
    // The held heartbeat is answered as bob's, after the welcome.
    expect(effects).toContainEqual(send(B, M.heartbeat(B, 6, 'h1')));
    sc.settle(8);
    // welcome, the kept Direct, the held heartbeat's answer, then the room's Join reply and the line bob missed.
    expect(sc.inbox(B).map((m) => m.Type)).toEqual([0, 11, M.heartbeat(B, 6, 'h1').Type, 6, 1]);
    // The replay: the Join reply (Recovered) and the line it missed.
    const join = sc.inbox(B).find((m) => m.Type === 6) as Message;
    expect(join.Recovered).toBe(true);
    expect(sc.inbox(B).filter((m) => m.Type === 1).map((m) => m.Seq)).toEqual([1]);
    expect(sc.state.resuming.size).toBe(0);
  });

  it('restores the Keys: a repeat of a keyed Direct after the resume is acked with the original MsgID, not sent again', () => {
    const sc = aliceHere();
    sc.on(resumeBob());
    sc.on(sessionTaken(take, { found: true, record: bobRecord({ keys: [['k9', { msgId: 'orig', to: A }]] }), directs: [] }, 6));
    sc.settle(6);
    const effects = sc.on(dm(B, 7, A, 'again', 'new-id', { key: 'k9', ref: 'r9' }));
    expect(effects).toEqual([send(B, M.ack(B, 'orig', 7, 'r9', { To: A }, 'k9', true))]);
  });

  it('answers an unknown token with resume_failed and a new identity, and handles the held frames as that one\'s', () => {
    const sc = aliceHere();
    sc.on(resumeBob());
    sc.on(received('bob-2', 6, { type: 'heartbeat', ref: 'h1' }));
    const effects = sc.on(sessionTaken(take, { found: false, why: 'unknown' }, 7));
    expect(effects[0]).toEqual(send('bob-2', M.error({ code: 'resume_failed', reason: 'the resume token is unknown, used or expired: this is a new session' }, 7)));
    expect(effects[1]).toEqual(send('bob-2', M.welcome('bob-2', 'ignored', ['lobby'], 7, tk('b2'))));
    expect(effects).toContainEqual(session({ op: 'claim', id: 'bob-2', token: tk('b2'), record: { id: 'bob-2', name: 'ignored', rooms: ['lobby'], keys: [] } }));
    expect(effects).toContainEqual(send('bob-2', M.heartbeat('bob-2', 6, 'h1')));
  });

  it('with Redis away, says unavailable and closes with 1013: the token may be good, to try again', () => {
    const sc = aliceHere();
    sc.on(resumeBob());
    const effects = sc.on(sessionTaken(take, { found: false, why: 'unavailable', reason: 'not connected' }, 7));
    expect(effects).toEqual([
      send('bob-2', M.error({ code: 'unavailable', reason: 'your session could not be looked up just now (not connected): reconnect with the same token shortly' }, 7)),
      close('bob-2', Close.TryAgainLater, 'unavailable'),
    ]);
    expect(sc.state.clients.has('bob-2')).toBe(false);
  });

  it('puts the identity back under the old token, with its directs, when the connection ended before the answer', () => {
    const sc = aliceHere();
    sc.on(resumeBob());
    sc.on(closed('bob-2', 6, 'closed'));
    expect(sc.state.resuming.size).toBe(0);
    const kept = M.direct({ id: A, name: 'alice' }, B, 'd1', 'psst', 3);
    expect(sc.on(sessionTaken(take, { found: true, record: bobRecord(), directs: [kept] }, 7))).toEqual([
      session({ op: 'claim', id: B, token: tk('b'), record: bobRecord() }),
      session({ op: 'park', token: tk('b'), record: bobRecord(), ttlMs: DEFAULT_RESUME_WINDOW_MS }),
      session({ op: 'send', to: B, message: kept, purpose: { for: 'redirect' } }),
    ]);
    expect(sc.state.clients.has(B)).toBe(false);
  });

  it('takes over a socket of the identity still here (half-open): cut as on one node, not parked', () => {
    const log = new FakeLog();
    const sc = new Scene(runWithLog([opened(A, 0, { name: 'alice' }, tk('a')), opened(B, 0, { name: 'bob' }, tk('b'))], cluster(), log).state, log);
    sc.on(resumeBob(5, `lobby:0:${EPOCH}`));
    const effects = sc.on(sessionTaken(take, { found: true, record: bobRecord(), directs: [], liveOn: 'this-node' }, 6));
    expect(sessionOps(effects)).toEqual([session({ op: 'claim', id: B, token: tk('b2'), record: bobRecord() })]);
    expect(effects).toContainEqual(rebind('bob-2', B));
    expect(effects).toContainEqual(terminate('bob-2'));
    expect(sc.state.clients.get(B)?.token).toBe(tk('b2'));
    // Presence: the old socket leaves before the identity joins again, in one batch, in order; alice hears
    // bob go and come back from their events, as on one node.
    expect(effects.filter((e) => e.kind === 'presence')).toEqual([
      presence({ op: 'leave', room: 'lobby', id: B, reason: 'closed', at: 6 }),
      presence({ op: 'join', room: 'lobby', id: B, name: 'bob', at: 6, list: 100 }, { for: 'resume', to: B }),
    ]);
    const told = sc.settle(7).filter((e) => e.kind === 'broadcast' && e.to.includes(A)).map((e) => e.kind === 'broadcast' && msg(e.message).Type);
    expect(told).toEqual([M.disconnected({ ID: B, Name: 'bob' }, 'lobby', 'closed', 6).Type, M.connected({ ID: B, Name: 'bob' }, 'lobby', 6).Type]);
  });

  it('refuses frames past MAX_EARLY_FRAMES while the resume is looked up', () => {
    const sc = aliceHere();
    sc.on(resumeBob());
    for (let i = 0; i < MAX_EARLY_FRAMES; i++) expect(sc.on(received('bob-2', 6, { type: 'heartbeat' }))).toEqual([]);
    const over = sc.on(received('bob-2', 6, { type: 'heartbeat', ref: 'late' }));
    expect(over.map((e) => (e.kind === 'send' ? [e.to, msg(e.message).Code, msg(e.message).Ref] : e.kind))).toEqual([['bob-2', 'too_many_requests', 'late']]);
  });

  it('closes connections still resuming when the server stops', () => {
    const sc = aliceHere();
    sc.on(resumeBob());
    expect(sc.on(shutdownRequested(6))).toContainEqual(close('bob-2', Close.GoingAway, 'server shutting down'));
  });

  it('with no resume window, asks nothing: resume_failed and a new identity, as on one node', () => {
    const r = runWithLog([opened('bob-2', 0, { resume: tk('b') }, tk('b2'))], cluster({ resumeWindowMs: 0 }));
    expect(r.effects[0]).toEqual(send('bob-2', M.error({ code: 'resume_failed', reason: 'the resume token is unknown, used or expired: this is a new session' }, 0)));
    expect(sessionOps(r.effects).map((e) => (e.kind === 'session' ? e.op.op : ''))).toEqual(['claim']);
  });
});

describe('hub, identities in Redis: Directs across nodes', () => {
  const op = (o: Partial<SendOp['purpose']> = {}): SendOp => ({
    op: 'send', to: B, message: M.direct({ id: A, name: 'alice' }, B, 'm1', 'psst', 1),
    purpose: { for: 'direct', from: A, msgId: 'm1', key: 'k1', ref: 'r1', ...o } as SendOp['purpose'],
  });

  it('hands a Direct to an ID not here to Redis, and acks it on the outcome, recording its Key', () => {
    const sc = aliceHere();
    expect(sc.on(dm(A, 1, B, 'psst', 'm1', { key: 'k1', ref: 'r1' }))).toEqual([session(op())]);
    // A repeat before the outcome: no answer of its own, nothing sent again.
    expect(sc.on(dm(A, 1, B, 'psst', 'm2', { key: 'k1', ref: 'r2' }))).toEqual([]);
    const done = sc.on(directSent(op(), { ok: true, delivered: 'live' }, 2));
    expect(done[0]).toEqual(send(A, M.ack(A, 'm1', 2, 'r1', { To: B }, 'k1')));
    expect(sessionOps(done)).toEqual([session({ op: 'update', id: A, token: tk('a'), record: { id: A, name: 'alice', rooms: ['lobby'], keys: [['k1', { msgId: 'm1', to: B }]] } })]);
    expect(sc.on(dm(A, 3, B, 'psst', 'm3', { key: 'k1', ref: 'r3' }))).toEqual([send(A, M.ack(A, 'm1', 3, 'r3', { To: B }, 'k1', true))]);
  });

  it('answers a refused Direct with its code, and forgets its Key so a retry goes again', () => {
    for (const code of ['no_such_client', 'mailbox_full', 'unavailable'] as const) {
      const sc = aliceHere();
      sc.on(dm(A, 1, B, 'psst', 'm1', { key: 'k1', ref: 'r1' }));
      expect(sc.on(directSent(op(), { ok: false, code, reason: 'why' }, 2))).toEqual([send(A, M.error({ code, reason: 'why', ref: 'r1' }, 2))]);
      const again = sc.on(dm(A, 3, B, 'psst', 'm4', { key: 'k1' }));
      expect(again.map((e) => (e.kind === 'session' && e.op.op === 'send' && e.op.purpose.for === 'direct' ? e.op.purpose.msgId : e.kind))).toEqual(['m4']);
    }
  });

  it('answers nobody when the sender is gone by the time Redis answers (found by reducer-props.spec.ts)', () => {
    for (const outcome of [{ ok: true, delivered: 'kept' }, { ok: false, code: 'no_such_client', reason: 'why' }] as const) {
      const sc = aliceHere();
      sc.on(dm(A, 1, B, 'psst', 'm1', { key: 'k1', ref: 'r1' }));
      sc.on(closed(A, 2, 'closed'));
      expect(sc.on(directSent(op(), outcome, 3))).toEqual([]);
    }
  });

  it('keeps a Direct between two members here synchronous, as on one node', () => {
    const log = new FakeLog();
    const r = runWithLog([opened(A, 0, { name: 'alice' }, tk('a')), opened(B, 0, { name: 'bob' }, tk('b')), dm(A, 1, B, 'hi', 'm1', { ref: 'r1' })], cluster(), log);
    expect(r.effects).toEqual([send(B, M.direct({ id: A, name: 'alice' }, B, 'm1', 'hi', 1)), send(A, M.ack(A, 'm1', 1, 'r1', { To: B }))]);
  });

  it('delivers a Direct heard on the node channel to its member here, and hands back one for an ID gone from here', () => {
    const sc = aliceHere();
    const m = M.direct({ id: B, name: 'bob' }, A, 'm7', 'hello', 1);
    expect(sc.on(directHeard(A, m, 2))).toEqual([send(A, m)]);
    const lost = M.direct({ id: A, name: 'alice' }, 'carol-id', 'm8', 'hi', 1);
    expect(sc.on(directHeard('carol-id', lost, 2))).toEqual([session({ op: 'send', to: 'carol-id', message: lost, purpose: { for: 'redirect' } })]);
  });
});

describe('hub, identities in Redis: a cut from the node that took an identity over', () => {
  it('cuts the socket that still holds the token, named apart first, without parking it', () => {
    const sc = aliceHere();
    const effects = sc.on(cutHeard(A, tk('a'), 'node-b', 3));
    // alice was the lobby's last member here: it is not listened to any more. It leaves presence as this
    // node's member: if the taker's join got there first, that changes nothing (presence.ts: a leave acts
    // on this node's members only); if not, the room sees it go and come back, as on one node.
    expect(effects).toEqual([
      { kind: 'unsubscribe', room: 'lobby' },
      presence({ op: 'leave', room: 'lobby', id: A, reason: 'closed', at: 3 }),
      rebind(`${A}~cut`, A), terminate(`${A}~cut`),
    ]);
    expect(sc.state.clients.has(A)).toBe(false);
    // Its closing names the apart ID, which the hub never knew: nothing more.
    expect(sc.on(closed(`${A}~cut`, 4, 'closed'))).toEqual([{ kind: 'forget', to: `${A}~cut` }]);
  });

  it('ignores a cut for another token (the identity resumed here again since)', () => {
    const sc = aliceHere();
    const before: HubState = sc.state;
    expect(sc.on(cutHeard(A, tk('old'), 'node-b', 3))).toEqual([]);
    expect(sc.state).toBe(before);
  });
});
