// The hub's story, told in marbles: one line per actor, the effects below. Lines
// and first joins go through the message log; here a fake log answers at once
// (support/fake-log.ts), and spec/reducer-log.spec.ts tells what happens between
// the asking and the answer.
import { merge } from 'rxjs';
import { Close, Limits } from '../src/core/protocol';
import * as M from '../src/core/messages';
import {
  Effect, HubEvent, broadcast, close, closed, forget, opened, ping, pingDue, received, rejected, send,
  shutdownRequested, terminate, timedOut,
} from '../src/core/events';
import { DEFAULT_RESUME_WINDOW_MS, HubState, initialState, step } from '../src/core/reducer';
import { effectsOf, marbles, stepFrozen, withoutLogs } from './support/marbles';
import { EPOCH, FakeLog, appended, cascade, runWithLog, throughLog } from './support/fake-log';
import { msg } from './support/outgoing';

const A = 'alice-id';
const B = 'bob-id';
const C = 'carol-id';
const alice = { id: A, name: 'alice' };
const bob = { id: B, name: 'bob' };
const mA = { ID: A, Name: 'alice' };
const mB = { ID: B, Name: 'bob' };
const mC = { ID: C, Name: 'carol' };

/** Runs events through the hub and a log that answers at once; the effects are the last event's, in the end. */
const run = (events: HubEvent[], from: HubState = initialState()) => runWithLog(events, from);
const tok = (id: string) => `tok-${id}`;

const lobbyOfTwo = [opened(A, 0, { name: 'alice' }), opened(B, 0, { name: 'bob' })];

describe('reducer: joining', () => {
  it('welcomes a newcomer with its ID and who is there; only the others hear Connected', () => {
    marbles(({ cold, expectObservable }) => {
      const a = cold('a----', { a: opened(A, 0, { name: 'alice' }) });
      const b = cold('--b--', { b: opened(B, 0, { name: 'bob' }) });
      expectObservable(effectsOf(merge(a, b).pipe(throughLog()))).toBe('x-y--', {
        x: [send(A, M.welcome(A, 'alice', ['lobby'], 0, `${A}.${tok(A)}`)), send(A, M.joined(A, 'lobby', [mA], 1, 0, EPOCH, 0))],
        y: [
          send(B, M.welcome(B, 'bob', ['lobby'], 0, `${B}.${tok(B)}`)),
          send(B, M.joined(B, 'lobby', [mA, mB], 2, 0, EPOCH, 0)),
          broadcast([A], M.connected(mB, 'lobby', 0)),
        ],
      });
    });
  });

  it('starts a newcomer in ?room= and gives a default name when there is none', () => {
    const { state, effects } = run([opened(C, 0, { room: 'dev' })]);
    expect(effects[0]).toEqual(send(C, M.welcome(C, 'guest-caro', ['dev'], 0, `${C}.${tok(C)}`)));
    expect(state.rooms.get('dev')?.members).toEqual([C]);
  });

  it.each([
    ['a bad room', { room: 'no spaces' }, 'bad_room'],
    ['a blank name', { name: ' ' }, 'bad_name'],
    ['an over-long name', { name: 'x'.repeat(Limits.maxName + 1) }, 'too_long'],
  ])('refuses a connection with %s: error frame, close 1008, nothing changes', (_w, q, code) => {
    const before = run(lobbyOfTwo).state;
    const r = stepFrozen(before, opened(C, 0, q));
    expect(r.state).toBe(before);
    expect(withoutLogs(r.effects)).toEqual([
      send(C, expect.objectContaining({ Type: 5, Code: code })),
      close(C, Close.PolicyViolation, code),
    ]);
  });

  it('joins a second room: the joiner gets its members, the room hears Connected, the first room nothing', () => {
    const { state, effects } = run([
      ...lobbyOfTwo, opened(C, 0, { name: 'carol', room: 'dev' }), received(A, 5, { type: 'join', room: 'dev', ref: 'j' }),
    ]);
    expect(effects).toEqual([
      send(A, M.joined(A, 'dev', [mC, mA], 2, 0, EPOCH, 5, 'j')),
      broadcast([C], M.connected(mA, 'dev', 5)),
    ]);
    expect(state.clients.get(A)?.rooms).toEqual(['lobby', 'dev']);
  });

  it('answers a join to a room one is already in with its members, changing nothing', () => {
    const before = run(lobbyOfTwo).state;
    const r = stepFrozen(before, received(A, 5, { type: 'join', room: 'lobby' }));
    expect(r.state).toBe(before);
    expect(withoutLogs(r.effects)).toEqual([send(A, M.joined(A, 'lobby', [mA, mB], 2, 0, EPOCH, 5))]);
  });

  it(`refuses a room past the ${Limits.maxRoomsPerConnection}th`, () => {
    const joins = Array.from({ length: Limits.maxRoomsPerConnection - 1 }, (_, i) =>
      received(A, 1, { type: 'join', room: `r${i}` }));
    const { state } = run([opened(A, 0), ...joins]);
    const r = stepFrozen(state, received(A, 2, { type: 'join', room: 'onemore', ref: 9 }));
    expect(r.state).toBe(state);
    expect(withoutLogs(r.effects)).toEqual([send(A, expect.objectContaining({ Type: 5, Code: 'too_many_rooms', Ref: 9 }))]);
  });
});

describe('reducer: chatting', () => {
  it('relays a line to the rest of the room, never back to the sender, with per-room Seq and an ack', () => {
    marbles(({ cold, expectObservable }) => {
      const a = cold('a---s-t', {
        a: opened(A, 0, { name: 'alice' }),
        s: received(A, 1000, { type: 'broadcast', content: 'hi', ref: 'm1' }, 'msg1'),
        t: received(A, 2000, { type: 'broadcast', content: 'again' }, 'msg2'),
      });
      const b = cold('--b----', { b: opened(B, 0, { name: 'bob' }) });
      expectObservable(effectsOf(merge(a, b).pipe(throughLog()))).toBe('x-y-z-w', {
        x: expect.any(Array),
        y: expect.any(Array),
        z: [
          broadcast([A, B], M.chat(alice, 'lobby', 1, EPOCH, 'msg1', 'hi', 1000), A),
          send(A, M.ack(A, 'msg1', 1000, 'm1', { Room: 'lobby', Seq: 1, Epoch: EPOCH })),
        ],
        w: [
          broadcast([A, B], M.chat(alice, 'lobby', 2, EPOCH, 'msg2', 'again', 2000), A),
          send(A, M.ack(A, 'msg2', 2000, undefined, { Room: 'lobby', Seq: 2, Epoch: EPOCH })),
        ],
      });
    });
  });

  it('keeps Seq per room, and a line reaches only the room it names', () => {
    const { state, effects } = run([
      ...lobbyOfTwo,
      received(A, 1, { type: 'broadcast', content: 'one' }, 'm1'),
      opened(C, 1, { name: 'carol', room: 'dev' }),
      received(A, 1, { type: 'join', room: 'dev' }),
      received(A, 3, { type: 'broadcast', content: 'to dev', room: 'dev' }, 'm2'),
    ]);
    expect(effects).toEqual([
      broadcast([C, A], M.chat(alice, 'dev', 1, EPOCH, 'm2', 'to dev', 3), A),
      send(A, M.ack(A, 'm2', 3, undefined, { Room: 'dev', Seq: 1, Epoch: EPOCH })),
    ]);
    expect(state.rooms.get('lobby')?.seq).toBe(1);
    expect(state.rooms.get('dev')?.seq).toBe(1);
  });

  it('refuses a line to a room the sender is not in, and changes nothing', () => {
    const before = run([...lobbyOfTwo, opened(C, 0, { room: 'dev' })]).state;
    const r = stepFrozen(before, received(A, 1, { type: 'broadcast', content: 'x', room: 'dev', ref: 'r' }, 'm'));
    expect(r.state).toBe(before);
    expect(withoutLogs(r.effects)).toEqual([send(A, expect.objectContaining({ Type: 5, Code: 'not_member', Ref: 'r' }))]);
  });

  it('sends a direct message to one connection and acks the sender', () => {
    const before = run(lobbyOfTwo).state;
    const r = stepFrozen(before, received(A, 1, { type: 'direct', to: B, content: 'psst', ref: 'd' }, 'dm1'));
    expect(r.state).toBe(before);
    expect(withoutLogs(r.effects)).toEqual([
      send(B, M.direct(alice, B, 'dm1', 'psst', 1)),
      send(A, M.ack(A, 'dm1', 1, 'd', { To: B })),
    ]);
  });

  it('refuses a direct message to an unknown ID', () => {
    const r = step(run(lobbyOfTwo).state, received(A, 1, { type: 'direct', to: 'ghost', content: 'x' }, 'dm'));
    expect(withoutLogs(r.effects)).toEqual([send(A, expect.objectContaining({ Type: 5, Code: 'no_such_client' }))]);
  });

  it('answers a heartbeat to that client only', () => {
    const r = step(run(lobbyOfTwo).state, received(B, 1, { type: 'heartbeat' }));
    expect(withoutLogs(r.effects)).toEqual([send(B, M.heartbeat(B, 1))]);
  });
});

describe('reducer: presence', () => {
  it('lists the members of a room, and an empty list for a room that does not exist', () => {
    const s = run(lobbyOfTwo).state;
    expect(withoutLogs(step(s, received(A, 1, { type: 'members', room: 'lobby', ref: 1 })).effects))
      .toEqual([send(A, M.members('lobby', [mA, mB], 2, 1, 1))]);
    expect(withoutLogs(step(s, received(A, 1, { type: 'members', room: 'nowhere' })).effects))
      .toEqual([send(A, M.members('nowhere', [], 0, 1))]);
  });

  it('lists rooms with member counts, biggest first', () => {
    const s = run([...lobbyOfTwo, opened(C, 0, { room: 'dev' })]).state;
    expect(withoutLogs(step(s, received(C, 1, { type: 'rooms' })).effects)).toEqual([
      send(C, M.roomList([{ Room: 'lobby', Count: 2 }, { Room: 'dev', Count: 1 }], 2, 1)),
    ]);
  });

  it('tells the renamer and each of its rooms about a new name', () => {
    const { state, effects } = run([
      ...lobbyOfTwo, opened(C, 0, { name: 'carol', room: 'dev' }), received(A, 1, { type: 'join', room: 'dev' }),
      received(A, 2, { type: 'rename', name: 'alice2', ref: 'n' }),
    ]);
    expect(effects).toEqual([
      send(A, M.renamed(A, 'alice2', 'alice', 2, undefined, 'n')),
      broadcast([A, B], M.renamed(A, 'alice2', 'alice', 2, 'lobby'), A),
      broadcast([C, A], M.renamed(A, 'alice2', 'alice', 2, 'dev'), A),
    ]);
    expect(state.clients.get(A)?.name).toBe('alice2');
    expect(withoutLogs(step(state, received(B, 3, { type: 'members', room: 'lobby' })).effects))
      .toEqual([send(B, M.members('lobby', [{ ID: A, Name: 'alice2' }, mB], 2, 3))]);
  });

  it('leaves a room: the leaver gets a Leave, the room a Disconnected with reason "left"; an empty room disappears', () => {
    const s1 = run(lobbyOfTwo);
    const r = run([received(A, 4, { type: 'leave', room: 'lobby', ref: 'l' })], s1.state);
    expect(r.effects).toEqual([
      send(A, M.left(A, 'lobby', 4, 'l')),
      broadcast([B], M.disconnected(mA, 'lobby', 'left', 4)),
    ]);
    const r2 = run([received(B, 5, { type: 'leave', room: 'lobby' })], r.state);
    expect(r2.state.rooms.has('lobby')).toBe(false);
    expect(r2.state.clients.get(B)?.rooms).toEqual([]);
  });

  it('refuses to leave a room one is not in', () => {
    const r = step(run(lobbyOfTwo).state, received(A, 1, { type: 'leave', room: 'dev' }));
    expect(withoutLogs(r.effects)).toEqual([send(A, expect.objectContaining({ Type: 5, Code: 'not_member' }))]);
  });

  it('a line with no Room goes to the first room still joined; with none, it is refused', () => {
    const s = run([...lobbyOfTwo, received(A, 1, { type: 'leave', room: 'lobby' })]).state;
    const r = step(s, received(A, 2, { type: 'broadcast', content: 'anyone?' }, 'm'));
    expect(withoutLogs(r.effects)).toEqual([send(A, expect.objectContaining({ Type: 5, Code: 'not_member' }))]);
  });
});

describe('reducer: leaving the hub', () => {
  it('tells every room of a closed connection, with the reason, and forgets it', () => {
    marbles(({ cold, expectObservable }) => {
      const a = cold('a---c', { a: opened(A, 0, { name: 'alice' }), c: closed(A, 0, 'closed') });
      const b = cold('-b---', { b: opened(B, 0, { name: 'bob' }) });
      expectObservable(effectsOf(merge(a, b).pipe(throughLog()))).toBe('xy--z', {
        x: expect.any(Array),
        y: expect.any(Array),
        z: [broadcast([B], M.disconnected(mA, 'lobby', 'closed', 0)), forget(A)],
      });
    });
  });

  it('drops a timed-out connection without a handshake and tells its rooms', () => {
    const { state, effects } = run([...lobbyOfTwo, timedOut(B, 60_000)]);
    expect(effects).toEqual([broadcast([A], M.disconnected(mB, 'lobby', 'timeout', 60_000)), terminate(B)]);
    expect(state.clients.has(B)).toBe(false);
    expect(state.rooms.get('lobby')?.members).toEqual([A]);
    // protocol.md "Resuming after a reconnect": the identity is kept for the resume window, whatever ended it.
    expect(state.away.get(B)).toEqual(expect.objectContaining({ until: 60_000 + DEFAULT_RESUME_WINDOW_MS }));
    expect(state.away.get(B)?.client.token).toBe(tok(B));
  });

  it('only lets go of the socket when a connection it has already forgotten closes', () => {
    const s = run([...lobbyOfTwo, timedOut(B, 1)]).state;
    const r = stepFrozen(s, closed(B, 2, 'closed'));
    expect(r.state).toBe(s);
    expect(withoutLogs(r.effects)).toEqual([forget(B)]);
  });

  it('pings the live connections the heartbeat names, and nobody it does not know', () => {
    const s = run(lobbyOfTwo).state;
    expect(step(s, pingDue([A, 'ghost', B])).effects).toEqual([ping([A, B])]);
    expect(step(s, pingDue(['ghost'])).effects).toEqual([]);
  });

  it('on shutdown tells everyone once, closes them with 1001, and refuses newcomers', () => {
    const { state, effects } = run([...lobbyOfTwo, shutdownRequested(9)]);
    expect(effects).toEqual([
      broadcast([A, B], M.notice('server shutting down', 9)),
      close(A, Close.GoingAway, 'server shutting down'),
      close(B, Close.GoingAway, 'server shutting down'),
    ]);
    // Leaving during shutdown is quiet: no O(n^2) storm of Disconnected frames.
    const quiet = step(state, closed(A, 10, 'closed'));
    expect(withoutLogs(quiet.effects)).toEqual([forget(A)]);
    expect(quiet.effects).toContainEqual(expect.objectContaining({ event: 'disconnect', fields: expect.objectContaining({ reason: 'shutdown' }) }));
    // Nobody comes back to a stopped server: no identity is kept, no token stays good.
    expect(quiet.state.away.has(A)).toBe(false);
    // A newcomer during the shutdown gets what everyone else got: the notice, then 1001.
    expect(run([opened(C, 11)], state).effects).toEqual([
      send(C, M.notice('server shutting down', 11)),
      close(C, Close.GoingAway, 'server shutting down'),
    ]);
  });
});

describe('reducer: large rooms (protocol.md, "Large rooms")', () => {
  const many = (n: number, room = 'big', from = 0) =>
    Array.from({ length: n }, (_, i) => opened(`m${from + i}`, 0, { name: `n${from + i}`, room }));
  const member = (i: number) => ({ ID: `m${i}`, Name: `n${i}` });

  it(`lists at most ${Limits.maxMembersListed} members in a Join reply, with the Count of all`, () => {
    const { effects } = run(many(150));
    expect(effects[1]).toEqual(send('m149', M.joined('m149', 'big', Array.from({ length: 100 }, (_, i) => member(i)), 150, 0, EPOCH, 0)));
  });

  it('pages the members with After and Next, in join order, and ends without Next', () => {
    const { state } = run(many(250));
    const ask = (after?: string) =>
      withoutLogs(step(state, received('m0', 1, after === undefined ? { type: 'members', room: 'big' } : { type: 'members', room: 'big', after })).effects);
    const page = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => member(from + i));
    expect(ask()).toEqual([send('m0', M.members('big', page(0, 100), 250, 1, undefined, 'm99'))]);
    expect(ask('m99')).toEqual([send('m0', M.members('big', page(100, 200), 250, 1, undefined, 'm199'))]);
    expect(ask('m199')).toEqual([send('m0', M.members('big', page(200, 250), 250, 1))]);
  });

  it('refuses an After that is not in the room with bad_cursor, changing nothing', () => {
    const { state } = run(many(3));
    const r = stepFrozen(state, received('m0', 1, { type: 'members', room: 'big', after: 'gone', ref: 'p' }));
    expect(r.state).toBe(state);
    expect(withoutLogs(r.effects)).toEqual([send('m0', expect.objectContaining({ Type: 5, Code: 'bad_cursor', Ref: 'p' }))]);
  });

  it('announces comings, goings and renames up to --presence-max members, and no further', () => {
    const small = initialState({ presenceMax: 3 });
    // The third member makes 3: announced. The fourth makes 4: not.
    const three = run(many(3), small);
    expect(three.effects).toContainEqual(broadcast(['m0', 'm1'], M.connected(member(2), 'big', 0)));
    const four = run([opened('m3', 0, { name: 'n3', room: 'big' })], three.state);
    expect(four.effects.filter((e) => e.kind === 'broadcast')).toEqual([]);
    expect(four.effects[1]).toEqual(send('m3', expect.objectContaining({ Type: 6, Count: 4 })));
    // Renaming in a room of 4: only the renamer hears.
    const renamed = run([received('m0', 1, { type: 'rename', name: 'zed' })], four.state);
    expect(renamed.effects).toEqual([send('m0', M.renamed('m0', 'zed', 'n0', 1))]);
    // Leaving a room of 4: nobody is told; the next leave (a room of 3) is announced.
    const gone = run([closed('m3', 2, 'closed')], four.state);
    expect(gone.effects).toEqual([forget('m3')]);
    const next = run([closed('m2', 3, 'closed')], gone.state);
    expect(next.effects).toEqual([broadcast(['m0', 'm1'], M.disconnected(member(2), 'big', 'closed', 3)), forget('m2')]);
  });
});

describe('reducer: the rooms list', () => {
  const rooms = (s: HubState, asker = 'asker') => {
    const e = withoutLogs(step(s, received(asker, 9, { type: 'rooms' })).effects)[0] as Extract<Effect, { kind: 'send' }>;
    return { list: msg(e.message).Rooms, total: msg(e.message).Total };
  };

  it('keeps the biggest first as members come and go; rooms of one size in the order they reached it', () => {
    let s = run([
      opened('asker', 0, { room: 'quiet' }),
      opened('a', 0, { room: 'x' }), opened('b', 0, { room: 'y' }), opened('c', 0, { room: 'y' }),
      opened('d', 0, { room: 'z' }),
    ]).state;
    expect(rooms(s)).toEqual({
      list: [{ Room: 'y', Count: 2 }, { Room: 'quiet', Count: 1 }, { Room: 'x', Count: 1 }, { Room: 'z', Count: 1 }],
      total: 4,
    });
    s = run([received('d', 1, { type: 'join', room: 'x' }), closed('b', 2, 'closed'), closed('c', 2, 'closed')], s).state;
    expect(rooms(s)).toEqual({ list: [{ Room: 'x', Count: 2 }, { Room: 'quiet', Count: 1 }, { Room: 'z', Count: 1 }], total: 3 });
  });

  it('answers without walking every room: its cost is what it lists (issue 11, 3a)', () => {
    const { state } = run(Array.from({ length: 300 }, (_, i) => opened(`c${i}`, 0, { room: `r${i % 250}` })));
    // Any way of visiting all the rooms throws; looking one up and counting them do not.
    const walks = new Set<PropertyKey>(['valueSeq', 'values', 'entries', 'keys', 'keySeq', 'entrySeq', 'forEach',
      'toArray', 'toList', 'toJS', 'map', 'filter', 'sort', 'sortBy', 'reduce', '__iterate', '__iterator', Symbol.iterator]);
    const rooms = new Proxy(state.rooms, {
      get(target, key) {
        if (walks.has(key)) throw new Error(`walked every room (${String(key)})`);
        const v = Reflect.get(target, key, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const r = step({ ...state, rooms }, received('c0', 9, { type: 'rooms' }));
    const e = withoutLogs(r.effects)[0] as Extract<Effect, { kind: 'send' }>;
    expect(msg(e.message).Total).toBe(250);
    expect((msg(e.message).Rooms as unknown[]).slice(0, 3)).toEqual([
      { Room: 'r0', Count: 2 }, { Room: 'r1', Count: 2 }, { Room: 'r2', Count: 2 },
    ]);
  });

  it(`lists at most ${Limits.maxRoomsListed} rooms, with the Total of all`, () => {
    const { state } = run(Array.from({ length: 250 }, (_, i) => opened(`c${i}`, 0, { room: `r${i}` })));
    const { list, total } = rooms(state, 'c0');
    expect(total).toBe(250);
    expect(list).toHaveLength(Limits.maxRoomsListed);
    expect((list as { Room: string }[])[0]).toEqual({ Room: 'r0', Count: 1 });
  });

  it('agrees with a full sort after a random walk of joins and leaves', () => {
    let s = initialState();
    const log = new FakeLog();
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 60; i++) s = cascade(s, opened(`c${i}`, 0, { room: `r${rand(8)}` }), log).state;
    for (let k = 0; k < 400; k++) {
      const id = `c${rand(60)}`;
      const room = `r${rand(8)}`;
      const inIt = s.clients.get(id)?.rooms.includes(room);
      s = cascade(s, received(id, k, { type: inIt ? 'leave' : 'join', room }), log).state;
    }
    const expected = [...s.rooms.values()].map((r) => r.members.length).sort((a, b) => b - a);
    const listed = (rooms(s, 'c0').list as { Room: string; Count: number }[]);
    expect(listed.map((r) => r.Count)).toEqual(expected);
    for (const r of listed) expect(s.rooms.get(r.Room)?.members.length).toBe(r.Count);
  });
});

describe('reducer: names', () => {
  it('stores a name from ?name= in NFC and refuses one that hides or reverses text', () => {
    const ok = run([opened(A, 0, { name: 'Zoe\u0308' })]);
    expect(ok.state.clients.get(A)?.name).toBe('Zo\u00eb');
    const bad = run([opened(B, 0, { name: '\u202eevil' })]);
    expect(bad.effects[0]).toEqual(send(B, expect.objectContaining({ Type: 5, Code: 'bad_name' })));
    expect(bad.state.clients.has(B)).toBe(false);
    const long = run([opened(C, 0, { name: '\u{1F98A}'.repeat(33) })]);
    expect(long.effects[0]).toEqual(send(C, expect.objectContaining({ Type: 5, Code: 'too_long' })));
    expect(run([opened(C, 0, { name: '\u{1F98A}'.repeat(32) })]).state.clients.get(C)?.name).toBe('\u{1F98A}'.repeat(32));
  });
});

describe('reducer: bad input', () => {
  it('answers a rejected frame with its error to the sender only, and changes nothing', () => {
    const s = run(lobbyOfTwo).state;
    const error = { code: 'bad_json' as const, reason: 'the frame is not valid JSON' };
    const r = stepFrozen(s, rejected(B, 1, error));
    expect(r.state).toBe(s);
    expect(withoutLogs(r.effects)).toEqual([send(B, M.error(error, 1))]);
  });

  it('ignores events from connections it does not know', () => {
    const s = run(lobbyOfTwo).state;
    for (const e of [received('ghost', 1, { type: 'broadcast', content: 'x' }, 'm'), rejected('ghost', 1, { code: 'bad_json', reason: '' })]) {
      const r = stepFrozen(s, e);
      expect(r.state).toBe(s);
      expect(r.effects).toEqual([]);
    }
  });
});

describe('reducer: cost', () => {
  it('replaces only what a line touches: asking the log changes nothing; its answer only the room spoken in', () => {
    const { state } = run([...lobbyOfTwo, opened(C, 0, { room: 'dev' })]);
    const asked = stepFrozen(state, received(A, 1, { type: 'broadcast', content: 'x' }, 'm'));
    // No Key: nothing to remember until the log answers.
    expect(asked.state).toBe(state);
    const [append] = asked.effects.filter((e) => e.kind === 'append') as Extract<Effect, { kind: 'append' }>[];
    const r = stepFrozen(asked.state, appended(append.req, 1, { at: 2 }));
    expect(r.state.rooms.get('lobby')?.seq).toBe(1);
    expect(r.state.rooms.get('dev')).toBe(state.rooms.get('dev'));
    expect(r.state.clients).toBe(state.clients);
    expect(r.state.away).toBe(state.away);
    expect(r.state.rooms.get('lobby')?.members).toBe(state.rooms.get('lobby')?.members);
  });
});

describe('away identities at scale', () => {
  it('forgets, at one beat, every identity whose resume window has ended, however many, and keeps the rest in order', () => {
    // The soak's shape: thousands closing over time, a beat after many windows ended at once.
    let state = initialState({ resumeWindowMs: 1_000 });
    const n = 3_000;
    for (let i = 0; i < n; i++) {
      state = step(state, opened(`c${i}`, i)).state;
      state = step(state, closed(`c${i}`, i, 'closed')).state;
    }
    expect(state.away.size).toBe(n);
    // At 1000 + 2499 the windows of c0..c2499 have ended (until = at + 1000 <= now); c2500.. are still open.
    state = step(state, pingDue([], 1_000 + 2_499)).state;
    expect(state.away.size).toBe(n - 2_500);
    expect(state.leaving.slice(0, 2).map((a) => a.client.id).toArray()).toEqual(['c2500', 'c2501']);
    expect(state.leaving.size).toBe(n - 2_500);
    expect(state.away.has('c0')).toBe(false);
    expect(state.away.has('c2999')).toBe(true);
    state = step(state, pingDue([], 10_000)).state;
    expect([state.away.size, state.leaving.size, state.awayBytes]).toEqual([0, 0, 0]);
  });
});
