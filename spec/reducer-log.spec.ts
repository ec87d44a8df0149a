// The hub and the message log (issue 7; protocol.md "History", "Resuming after a
// reconnect", "Sending twice", "What an Ack guarantees"): what the reducer does
// between asking the log (`append`, `read`) and hearing back (`appended`,
// `appendFailed`, `readDone`). Where the timing is the story, the log is one more
// actor in the marbles; elsewhere a Scene holds its answers until told.
import { merge } from 'rxjs';
import { Limits, Message, wireSize } from '../src/core/protocol';
import * as M from '../src/core/messages';
import {
  Effect, HubEvent, append, broadcast, closed, forget, opened, ping, pingDue, read, rebind, received, send, terminate,
} from '../src/core/events';
import type { AppendRequest, ReadRequest } from '../src/core/history';
import { DEFAULT_RESUME_WINDOW_MS, HubState, initialState, step } from '../src/core/reducer';
import { effectsOf, frozenHub$, marbles, stepFrozen, withoutLogs } from './support/marbles';
import {
  EPOCH, FakeLog, Scene, appendFailed, appended, inbox, line, readDone, readOk, runWithLog,
} from './support/fake-log';

const A = 'alice-id';
const B = 'bob-id';
const C = 'carol-id';
const alice = { id: A, name: 'alice' };
const mA = { ID: A, Name: 'alice' };
const mB = { ID: B, Name: 'bob' };
const mC = { ID: C, Name: 'carol' };

/** A well-formed resume secret, as the edge mints one for a connection (32 characters of base64url), one per name. */
const tk = (name: string) => name.padEnd(32, '_');
/** The resume token identity `id` is given with the secret of `name` (one process: `ID.SECRET`, reducer.ts resumeToken). */
const rt = (id: string, name: string) => `${id}.${tk(name)}`;

const say = (id: string, at: number, content: string, msgId: string, o: { room?: string; ref?: string; key?: string } = {}): HubEvent =>
  received(id, at, { type: 'broadcast', content, ...o }, msgId);
const dm = (id: string, at: number, to: string, content: string, msgId: string, o: { ref?: string; key?: string } = {}): HubEvent =>
  received(id, at, { type: 'direct', to, content, ...o }, msgId);
/** The line the hub gives the log for a Broadcast from alice. */
const req = (msgId: string, content: string, at: number, o: { room?: string; key?: string } = {}): AppendRequest =>
  ({ room: o.room ?? 'lobby', msgId, from: A, name: 'alice', content, at, key: o.key });
/** A resume reads each room's position first (no lines)... */
const resumeRead = (to: string, after: number, epoch = EPOCH, room = 'lobby') =>
  read({ room, limit: 0 }, { for: 'resume', to, since: { seq: after, epoch } });
/** ...then, one room at a time, the lines it missed where they can be replayed. */
const replayRead = (to: string, after: number, epoch = EPOCH, room = 'lobby', maxBytes: number = Limits.maxReplayBytes) =>
  read({ room, after, limit: Limits.maxReplay + 1, maxBytes }, { for: 'replay', to, since: { seq: after, epoch } });

const kinds = (effects: readonly Effect[]) => withoutLogs(effects).map((e) => e.kind);
const lines = (messages: readonly Message[]) => messages.filter((m) => m.Type === 1);
const seqs = (messages: readonly Message[]) => lines(messages).map((m) => m.Seq);
const code = (c: string, ref?: string | number) =>
  expect.objectContaining({ Type: 5, Code: c, ...(ref === undefined ? {} : { Ref: ref }) });

/** alice and bob in the lobby, with tokens that can resume; the lobby's log at Seq 0. */
function lobby(log = new FakeLog(), state: HubState = initialState()) {
  return runWithLog([opened(A, 0, { name: 'alice' }, tk('alice1')), opened(B, 0, { name: 'bob' }, tk('bob1'))], state, log);
}

describe('reducer + log: an Ack means the line is in the log', () => {
  it('gives a line to the log, and delivers and acks it only when the log has kept it, with its Seq and Epoch', () => {
    const { state } = lobby();
    const hi = req('msg1', 'hi', 1000);
    marbles(({ cold, expectObservable }) => {
      const alice$ = cold('-s----', { s: say(A, 1000, 'hi', 'msg1', { ref: 'm1' }) });
      const log$ = cold('---k--', { k: appended(hi, 42, { at: 1003, epoch: 'Qm7xK2pA', ref: 'm1' }) });
      const carol$ = cold('-----c', { c: opened(C, 1005, { name: 'carol' }) });
      expectObservable(effectsOf(frozenHub$(merge(alice$, log$, carol$), state))).toBe('-x-y-z', {
        // Nothing reaches anyone while the log has the line.
        x: [append(hi, 'm1')],
        y: [
          broadcast([A, B], M.chat(alice, 'lobby', 42, 'Qm7xK2pA', 'msg1', 'hi', 1000), A),
          send(A, M.ack(A, 'msg1', 1003, 'm1', { Room: 'lobby', Seq: 42, Epoch: 'Qm7xK2pA' })),
        ],
        // The room's position is the log's now: a newcomer starts from it.
        z: [
          send(C, M.welcome(C, 'carol', ['lobby'], 1005, `${C}.tok-${C}`)),
          send(C, M.joined(C, 'lobby', [mA, mB, mC], 3, 42, 'Qm7xK2pA', 1005)),
          broadcast([A, B], M.connected(mC, 'lobby', 1005)),
        ],
      });
    });
  });

  it.each(['store_failed', 'store_busy', 'unavailable'] as const)(
    'answers a line the log could not keep (%s) with an Error to the sender: no Ack, nobody gets it', (failure) => {
      const { state } = lobby();
      const asked = stepFrozen(state, say(A, 1, 'lost?', 'msg1', { ref: 'm1' }));
      expect(asked.state).toBe(state);
      const r = stepFrozen(asked.state, appendFailed(req('msg1', 'lost?', 1), { at: 2, ref: 'm1', code: failure, reason: 'disk full' }));
      expect(withoutLogs(r.effects)).toEqual([send(A, code(failure, 'm1'))]);
      expect(r.state).toBe(state);
      expect(r.state.rooms.get('lobby')?.seq).toBe(0);
    },
  );

  it('logs a line refused as unavailable at debug only: the log\'s link said it once (server.ts store_down)', () => {
    const { state } = lobby();
    const asked = stepFrozen(state, say(A, 1, 'lost?', 'msg1', { ref: 'm1' }));
    const levels = (c: 'unavailable' | 'store_failed') => stepFrozen(asked.state, appendFailed(req('msg1', 'lost?', 1), { at: 2, ref: 'm1', code: c, reason: 'x' }))
      .effects.filter((e) => e.kind === 'log').map((e) => (e as { level?: string }).level);
    expect(levels('unavailable')).toEqual(['debug']);
    expect(levels('store_failed')).toEqual(['warn']);
  });

  it('frees the Key of a line the log could not keep, so the retry is taken and delivered once', () => {
    const sc = new Scene(lobby().state);
    const first = req('msg1', 'retry me', 1, { key: 'k1' });
    expect(sc.on(say(A, 1, 'retry me', 'msg1', { key: 'k1', ref: 'r1' }))).toEqual([append(first, 'r1')]);
    // While the first is with the log, a repeat is not a new line.
    expect(sc.on(say(A, 2, 'retry me', 'msg2', { key: 'k1', ref: 'r2' }))).toEqual([]);
    sc.log.appendsFail = 'disk full';
    expect(sc.answer(3)).toEqual([send(A, code('store_failed', 'r1'))]);
    sc.log.appendsFail = undefined;
    const retry = req('msg3', 'retry me', 4, { key: 'k1' });
    expect(sc.on(say(A, 4, 'retry me', 'msg3', { key: 'k1', ref: 'r3' }))).toEqual([append(retry, 'r3')]);
    expect(sc.answer(5)).toEqual([
      broadcast([A, B], M.chat(alice, 'lobby', 1, EPOCH, 'msg3', 'retry me', 4), A),
      send(A, M.ack(A, 'msg3', 5, 'r3', { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k1')),
    ]);
    expect(seqs(sc.inbox(B))).toEqual([1]);
  });

  it('delivers a line the log kept after its sender went away; her retry after resuming is acked by the log as a Duplicate', () => {
    const sc = new Scene(lobby().state);
    sc.on(say(A, 1, 'bye', 'msg1', { key: 'k1' }));
    sc.on(closed(A, 2, 'closed'));
    expect(sc.answer(3)).toEqual([
      broadcast([B], M.chat(alice, 'lobby', 1, EPOCH, 'msg1', 'bye', 1), A),
      // No Ack: she has no socket while away (and the hub names none it does not know).
    ]);
    expect(sc.state.rooms.get('lobby')?.seq).toBe(1);
    // An away identity keeps no Broadcast Keys: the log has the line under her Key.
    expect(sc.state.away.get(A)?.keys).toEqual([]);
    sc.on(opened('alice-2', 4, { resume: rt(A, 'alice1'), since: 'lobby:1:E1' }, tk('alice2')));
    sc.settle(5);
    sc.on(say(A, 6, 'bye', 'msg2', { key: 'k1', ref: 'retry' }));
    expect(sc.settle(7)).toEqual([send(A, M.ack(A, 'msg1', 7, 'retry', { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k1', true))]);
    expect(seqs(sc.inbox(B))).toEqual([1]);
  });
});

describe('reducer + log: nothing for a connection gone while the log worked (found by reducer-props.spec.ts)', () => {
  it('acks no sender that is gone when the log has its line: no socket would take it', () => {
    const sc = new Scene(initialState({ resumeWindowMs: 0 }));
    sc.on(opened(A, 0, { name: 'alice' }, tk('alice1')));
    sc.settle(0);
    sc.on(say(A, 1, 'hi', 'msg1'));
    sc.on(closed(A, 2, 'closed'));
    expect(sc.answer(3)).toEqual([]);
    expect(sc.log.lines('lobby').map((l) => l.msgId)).toEqual(['msg1']);
  });

  it('sends no History page to a connection gone while the log read it', () => {
    const sc = new Scene(lobby().state);
    sc.on(received(A, 1, { type: 'history', room: 'lobby', limit: 50 }));
    sc.on(closed(A, 2, 'closed'));
    expect(sc.answer(3)).toEqual([]);
    expect(sc.state.clients.has(A)).toBe(false);
  });
});

describe('reducer + log: a join waits for the room\'s position', () => {
  it('answers the first join to a room the hub does not know when the log has told its Seq and Epoch', () => {
    marbles(({ cold, expectObservable }) => {
      const alice$ = cold('a---', { a: opened(A, 0, { name: 'alice', room: 'rust' }, tk('alice1')) });
      const log$ = cold('--r-', { r: readDone({ room: 'rust', limit: 0 }, { for: 'join', to: A }, readOk({ head: 7, epoch: 'Zx81bQ0c' }), 2) });
      expectObservable(effectsOf(frozenHub$(merge(alice$, log$), initialState()))).toBe('x-y-', {
        x: [
          send(A, M.welcome(A, 'alice', ['rust'], 0, rt(A, 'alice1'))),
          read({ room: 'rust', limit: 0 }, { for: 'join', to: A }),
        ],
        y: [send(A, M.joined(A, 'rust', [mA], 1, 7, 'Zx81bQ0c', 2))],
      });
    });
  });

  it('gives a joiner waiting for the log no live line; its Join reply\'s Seq counts the line', () => {
    // alice's last line in "dev" is with the log when she leaves and the room disappears;
    // bob's join then finds a room the hub does not know.
    const setup = runWithLog([
      opened(A, 0, { name: 'alice', room: 'dev' }, tk('alice1')), opened(B, 0, { name: 'bob' }, tk('bob1')),
    ]);
    const sc = new Scene(setup.state, setup.log);
    sc.on(say(A, 1, 'last words', 'msg1', { room: 'dev' }));
    sc.on(received(A, 2, { type: 'leave', room: 'dev' }));
    expect(sc.state.rooms.has('dev')).toBe(false);
    expect(sc.on(received(B, 3, { type: 'join', room: 'dev', ref: 'j' })))
      .toEqual([read({ room: 'dev', limit: 0 }, { for: 'join', to: B, ref: 'j' })]);
    // A second join while the first waits: the first one's answer will do.
    expect(sc.on(received(B, 3, { type: 'join', room: 'dev', ref: 'j2' }))).toEqual([]);
    const kept = sc.answer(4);
    expect(kept).toContainEqual(send(A, M.ack(A, 'msg1', 4, undefined, { Room: 'dev', Seq: 1, Epoch: EPOCH })));
    expect(inbox(B, kept)).toEqual([]);
    expect(sc.answer(5)).toEqual([send(B, M.joined(B, 'dev', [mB], 1, 1, EPOCH, 5, 'j'))]);
    // From there on, bob is live.
    sc.on(received(A, 6, { type: 'join', room: 'dev' }));
    sc.on(say(A, 7, 'again', 'msg2', { room: 'dev' }));
    sc.settle(8);
    expect(seqs(sc.inbox(B))).toEqual([2]);
  });

  it('makes a second joiner wait too while the room\'s position is still unknown, and answers both from the log', () => {
    const sc = new Scene(undefined, new FakeLog().seed('rust', { head: 7 }));
    sc.on(opened(A, 0, { name: 'alice', room: 'rust' }, tk('alice1')));
    const bob = sc.on(opened(B, 1, { name: 'bob', room: 'rust' }, tk('bob1')));
    // No Join reply with a Seq the hub does not have: bob asks the log too.
    expect(bob.filter((e) => e.kind !== 'broadcast')).toEqual([
      send(B, M.welcome(B, 'bob', ['rust'], 1, rt(B, 'bob1'))),
      read({ room: 'rust', limit: 0 }, { for: 'join', to: B }),
    ]);
    expect(inbox(A, bob)).toEqual([]);
    expect(sc.settle(2)).toEqual([
      send(A, M.joined(A, 'rust', [mA, mB], 2, 7, EPOCH, 2)),
      send(B, M.joined(B, 'rust', [mA, mB], 2, 7, EPOCH, 2)),
    ]);
  });

  it('a member who sends before its Join reply is answered in order: Join first, then its line', () => {
    const sc = new Scene();
    sc.on(opened(A, 0, { name: 'alice', room: 'rust' }, tk('alice1')));
    sc.on(say(A, 1, 'first!', 'msg1', { room: 'rust' }));
    expect(sc.settle(2)).toEqual([
      send(A, M.joined(A, 'rust', [mA], 1, 0, EPOCH, 2)),
      broadcast([A], M.chat(alice, 'rust', 1, EPOCH, 'msg1', 'first!', 1), A),
      send(A, M.ack(A, 'msg1', 2, undefined, { Room: 'rust', Seq: 1, Epoch: EPOCH })),
    ]);
  });

  it('takes a joiner out of the room, with an Error carrying its Ref, when the log cannot be read', () => {
    const sc = new Scene(lobby().state);
    const [ask] = sc.on(received(A, 1, { type: 'join', room: 'rust', ref: 'j' })) as Extract<Effect, { kind: 'read' }>[];
    const r = sc.on(readDone(ask.req, ask.purpose, { ok: false, reason: 'I/O error' }, 2));
    expect(r).toEqual([send(A, code('store_failed', 'j'))]);
    expect(sc.state.clients.get(A)?.rooms).toEqual(['lobby']);
    expect(sc.state.rooms.has('rust')).toBe(false);
  });

  it('answers nothing when the joiner left before the log answered', () => {
    const sc = new Scene(lobby().state);
    sc.on(received(A, 1, { type: 'join', room: 'rust' }));
    sc.on(closed(A, 2, 'closed'));
    const before = sc.state;
    expect(sc.answer(3)).toEqual([]);
    expect(sc.state).toBe(before);
  });
});

/**
 * Each resumed Join reply to `id` in these effects: whether it recovered, its Seq, and
 * the Seq of the last line `id` has once the replay that follows it is over.
 */
function replays(effects: readonly Effect[], id: string): { recovered: unknown; seq: unknown; last: unknown }[] {
  const out: { recovered: unknown; seq: unknown; last: unknown }[] = [];
  let last: unknown = 0;
  let open: { recovered: unknown; seq: unknown; last: unknown } | undefined;
  for (const e of effects) {
    for (const m of inbox(id, [e])) {
      if (m.Type === 6 && 'Recovered' in m) {
        open = { recovered: m.Recovered, seq: m.Seq, last };
        out.push(open);
      } else if (m.Type === 1) {
        last = m.Seq;
        // A replayed line is sent to the member alone; the first broadcast one is live.
        if (open && e.kind === 'send') open.last = last;
        else open = undefined;
      }
    }
  }
  return out;
}

describe('reducer + log: a resume replays, then goes live, with no gap and no duplicate', () => {
  /** alice and bob in the lobby, three lines said and seen by bob, then bob's connection gone. */
  function bobAway() {
    const run = lobby();
    const said = runWithLog([
      say(A, 1, 'one', 'm1'), say(A, 2, 'two', 'm2'), say(A, 3, 'three', 'm3'), closed(B, 10, 'closed'),
    ], run.state, run.log);
    return said;
  }

  it('keeps from bob live the lines the log answers while his position and replay are read; the replay has them', () => {
    const { state } = bobAway();
    const four = req('msg4', 'four', 1001);
    const five = req('msg5', 'five', 1003);
    const six = req('msg6', 'six', 1006);
    const bob2 = opened('bob-2', 1002, { resume: rt(B, 'bob1'), since: 'lobby:3:E1' }, tk('bob2'));
    marbles(({ cold, expectObservable }) => {
      const alice$ = cold('-s-t----v--', { s: say(A, 1001, 'four', 'msg4'), t: say(A, 1003, 'five', 'msg5'), v: say(A, 1006, 'six', 'msg6') });
      const bob$ = cold('--o--------', { o: bob2 });
      const log$ = cold('----kpu--rw', {
        // Asked before the position's read, answered after bob began waiting for it.
        k: appended(four, 4, { at: 1004 }),
        p: readDone({ room: 'lobby', limit: 0 }, { for: 'resume', to: B, since: { seq: 3, epoch: EPOCH } }, readOk({ head: 4 }), 1005),
        // Asked after the position's read, before the replay's.
        u: appended(five, 5, { at: 1006 }),
        r: readDone({ room: 'lobby', after: 3, limit: Limits.maxReplay + 1, maxBytes: Limits.maxReplayBytes }, { for: 'replay', to: B, since: { seq: 3, epoch: EPOCH } },
          readOk({ head: 5, messages: [line('lobby', 4, A, 'alice', 'four', 'msg4', 1001), line('lobby', 5, A, 'alice', 'five', 'msg5', 1003)] }), 1007),
        // Asked after the replay's read.
        w: appended(six, 6, { at: 1008 }),
      });
      expectObservable(effectsOf(frozenHub$(merge(alice$, bob$, log$), state))).toBe('-wxyzpb-cdf', {
        w: [append(four)],
        x: [
          rebind('bob-2', B),
          send(B, M.welcome(B, 'bob', ['lobby'], 1002, rt(B, 'bob2'), true)),
          resumeRead(B, 3),
          broadcast([A], M.connected(mB, 'lobby', 1002)),
        ],
        y: [append(five)],
        z: [
          broadcast([A], M.chat(alice, 'lobby', 4, EPOCH, 'msg4', 'four', 1001), A),
          send(A, M.ack(A, 'msg4', 1004, undefined, { Room: 'lobby', Seq: 4, Epoch: EPOCH })),
        ],
        // Lines were missed and can be replayed: bob waits on, for his replay's read.
        p: [replayRead(B, 3)],
        b: [
          broadcast([A], M.chat(alice, 'lobby', 5, EPOCH, 'msg5', 'five', 1003), A),
          send(A, M.ack(A, 'msg5', 1006, undefined, { Room: 'lobby', Seq: 5, Epoch: EPOCH })),
        ],
        c: [append(six)],
        d: [
          send(B, M.joined(B, 'lobby', [mA, mB], 2, 5, EPOCH, 1007, undefined, true)),
          // Exactly as they were delivered live.
          send(B, M.chat(alice, 'lobby', 4, EPOCH, 'msg4', 'four', 1001)),
          send(B, M.chat(alice, 'lobby', 5, EPOCH, 'msg5', 'five', 1003)),
        ],
        f: [
          broadcast([A, B], M.chat(alice, 'lobby', 6, EPOCH, 'msg6', 'six', 1006), A),
          send(A, M.ack(A, 'msg6', 1008, undefined, { Room: 'lobby', Seq: 6, Epoch: EPOCH })),
        ],
      });
    });
  });

  it('over many interleavings of lines, answers, going away, resuming and takeovers, bob sees every Seq once, in order', () => {
    for (let seed = 1; seed <= 150; seed++) {
      let x = seed;
      const rand = (n: number) => {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        return x % n;
      };
      const setup = runWithLog([
        opened(A, 0, { name: 'alice' }, tk('alice1')), opened(B, 0, { name: 'bob' }, tk('bob0')), opened(C, 0, { name: 'carol' }, tk('carol1')),
      ]);
      const sc = new Scene(setup.state, setup.log);
      let token = rt(B, 'bob0');
      let n = 0;
      const resumeBob = (at: number) => {
        const last = seqs(sc.inbox(B)).pop() ?? 0;
        n++;
        const r = sc.on(opened(`bob-${n}`, at, { resume: token, since: `lobby:${last}:${EPOCH}` }, tk(`bob${n}`)));
        expect(r).toContainEqual(rebind(`bob-${n}`, B));
        token = rt(B, `bob${n}`);
      };
      for (let t = 1; t <= 60; t++) {
        const dice = rand(10);
        if (dice < 4) sc.on(say(dice < 2 ? A : C, t, `line ${t}`, `msg${t}`));
        else if (dice < 8) { if (sc.pending > 0) sc.answer(t); }
        else if (dice === 8) { if (sc.state.clients.has(B)) sc.on(closed(B, t, 'closed')); else resumeBob(t); }
        else resumeBob(t); // live: a takeover; away: a resume
      }
      if (!sc.state.clients.has(B)) resumeBob(61);
      sc.settle(62);
      const head = sc.state.rooms.get('lobby')?.seq as number;
      const got = seqs(sc.inbox(B));
      expect({ seed, got }).toEqual({ seed, got: Array.from({ length: head }, (_, i) => i + 1) });
      // Each resume answered said it replayed, and its replay ends where its Join reply says the room is.
      const answered = replays(sc.seen, B);
      expect(answered.length).toBeGreaterThan(0);
      for (const r of answered) expect({ seed, recovered: r.recovered, seq: r.seq }).toEqual({ seed, recovered: true, seq: r.last });
      expect(sc.state.rooms.get('lobby')?.waiting).toEqual([]);
    }
  });

  describe('says Recovered false, with a Reason and no lines, when it cannot replay', () => {
    /** bob alone in the lobby, whose log is `seeded`; he goes away and comes back with `since`. */
    function comeBack(seed: { head: number; kept?: number }, since?: string) {
      const log = new FakeLog().seed('lobby', seed);
      const gone = runWithLog([opened(B, 0, { name: 'bob' }, tk('bob1')), closed(B, 1, 'closed')], initialState(), log);
      return runWithLog([opened('bob-2', 2, { resume: rt(B, 'bob1'), since }, tk('bob2'))], gone.state, log);
    }
    const joinOf = (effects: readonly Effect[]) => inbox(B, effects).find((m) => m.Type === 6);

    it.each([
      ['more than 1000 lines were missed', { head: 1003 }, 'lobby:2:E1', 'too_many'],
      ['some missed lines are trimmed', { head: 20, kept: 10 }, 'lobby:9:E1', 'trimmed'],
      ['the room\'s epoch changed', { head: 5 }, 'lobby:5:Old0Epoch', 'epoch_changed'],
      ['since is past the room\'s head (lines the log lost, or a made-up Seq)', { head: 5 }, 'lobby:9:E1', 'ahead'],
      ['since does not name the room', { head: 5 }, 'rust:5:E1', 'no_position'],
      ['since has no entry that parses', { head: 5 }, 'lobby:five:E1', 'no_position'],
      ['there is no since', { head: 5 }, undefined, 'no_position'],
    ])('when %s', (_why, seed, since, reason) => {
      const { effects } = comeBack(seed, since);
      expect(joinOf(effects)).toEqual(M.joined(B, 'lobby', [mB], 1, seed.head, EPOCH, 2, undefined, reason as M.NotRecovered));
      expect(lines(inbox(B, effects))).toEqual([]);
    });

    it.each([
      ['exactly 1000 missed lines', { head: 1002 }, 'lobby:2:E1', 3],
      ['the first missed line is the oldest kept', { head: 20, kept: 10 }, 'lobby:10:E1', 11],
      ['nothing was missed', { head: 5 }, 'lobby:5:E1', 6],
    ])('and replays %s', (_why, seed, since, from) => {
      const { effects } = comeBack(seed, since);
      expect(joinOf(effects)).toEqual(M.joined(B, 'lobby', [mB], 1, seed.head, EPOCH, 2, undefined, true));
      expect(seqs(inbox(B, effects))).toEqual(Array.from({ length: seed.head - from + 1 }, (_, i) => from + i));
    });

    it(`replays at most ${Limits.maxReplayBytes} bytes in all: the rooms past that say too_many, in the order answered`, () => {
      const rooms = ['r1', 'r2', 'r3', 'r4', 'r5'];
      const big = 'x'.repeat(Limits.maxContent);
      const log = new FakeLog();
      for (const room of rooms) log.seed(room, { head: 300, content: () => big });
      const perRoom = 300 * wireSize(big, 'seed');
      const fit = Math.floor(Limits.maxReplayBytes / perRoom);
      expect(fit).toBeGreaterThanOrEqual(1);
      expect(fit).toBeLessThan(rooms.length);
      const gone = runWithLog([
        opened(B, 0, { name: 'bob' }, tk('bob1')),
        ...rooms.map((room) => received(B, 0, { type: 'join', room })),
        closed(B, 1, 'closed'),
      ], initialState(), log);
      const since = rooms.map((room) => `${room}:0:E1`).join(',');
      const { effects, state } = runWithLog([opened('bob-2', 2, { resume: rt(B, 'bob1'), since }, tk('bob2'))], gone.state, log);
      const joins = inbox(B, effects).filter((m) => m.Type === 6 && m.Room !== 'lobby');
      expect(joins.map((j) => [j.Room, j.Recovered, j.Reason])).toEqual(
        rooms.map((room, i) => (i < fit ? [room, true, undefined] : [room, false, 'too_many'])));
      expect(lines(inbox(B, effects))).toHaveLength(300 * fit);
      expect(state.clients.get(B)?.reads.replayLeft).toBe(Limits.maxReplayBytes - fit * perRoom);
    });

    /** bob in `rooms`, each with `head` lines he has not seen, gone; his resume is stepped, the log holding its answers. */
    function resumeIn(rooms: readonly string[], head: number, init: HubState = initialState()) {
      const log = new FakeLog();
      for (const room of rooms) log.seed(room, { head });
      const gone = runWithLog([
        opened(B, 0, { name: 'bob' }, tk('bob1')),
        ...rooms.map((room) => received(B, 0, { type: 'join', room })),
        closed(B, 1, 'closed'),
      ], init, log);
      const sc = new Scene(gone.state, log);
      sc.on(opened('bob-2', 2, { resume: rt(B, 'bob1'), since: rooms.map((room) => `${room}:0:E1`).join(',') }, tk('bob2')));
      return sc;
    }
    const replaysAsked = (effects: readonly Effect[]) => effects.filter((e) => e.kind === 'read' && e.purpose.for === 'replay');

    it('reads every room\'s position at once, then the missed lines one room at a time, each when the last is answered', () => {
      const rooms = ['r1', 'r2', 'r3'];
      const sc = resumeIn(rooms, 5);
      // lobby and the three rooms: positions only.
      expect(sc.pending).toBe(4);
      expect(replaysAsked(sc.seen)).toEqual([]);
      const positions: Effect[] = [];
      for (let i = 0; i < 4; i++) positions.push(...sc.answer(3));
      expect(positions.filter((e) => e.kind === 'read')).toEqual([replayRead(B, 0, EPOCH, 'r1')]);
      for (const [i, room] of rooms.entries()) {
        const r = sc.answer(4 + i);
        expect(inbox(B, r).map((m) => [m.Type, m.Room, m.Seq])).toEqual([[6, room, 5], ...[1, 2, 3, 4, 5].map((q) => [1, room, q])]);
        const left = Limits.maxReplayBytes - (i + 1) * 5 * wireSize('line 1', 'seed');
        expect(replaysAsked(r)).toEqual(i + 1 < rooms.length ? [replayRead(B, 0, EPOCH, rooms[i + 1], left)] : []);
        expect(sc.pending).toBe(i + 1 < rooms.length ? 1 : 0);
      }
      for (const room of rooms) expect(sc.state.rooms.get(room)?.waiting).toEqual([]);
    });

    it('answers the rooms left too_many without reading a line once the replay budget cannot hold them', () => {
      const perRoom = 5 * wireSize('line 1', 'seed');
      // Room r1 fits; what is left then holds fewer than r2's 5 lines of the least size.
      const sc = resumeIn(['r1', 'r2', 'r3'], 5, initialState({ maxReplayBytes: perRoom + 4 * wireSize('x') }));
      const all = sc.settle(3);
      expect(replaysAsked(sc.seen)).toEqual([replayRead(B, 0, EPOCH, 'r1', perRoom + 4 * wireSize('x'))]);
      expect(inbox(B, all).filter((m) => m.Type === 6 && m.Room !== 'lobby').map((j) => [j.Room, j.Recovered, j.Reason]))
        .toEqual([['r1', true, undefined], ['r2', false, 'too_many'], ['r3', false, 'too_many']]);
      expect(seqs(inbox(B, all))).toEqual([1, 2, 3, 4, 5]);
    });

    it('answers a History request sent during the resume after the room\'s Join reply and its replay', () => {
      const sc = resumeIn(['r1', 'r2'], 3);
      sc.on(received(B, 2, { type: 'history', room: 'r1', limit: 2, ref: 'h' }));
      const order = inbox(B, sc.settle(3)).map((m) => [m.Type, m.Room]);
      expect(order.findIndex((x) => x[0] === 13)).toBeGreaterThan(order.findIndex((x) => x[0] === 1 && x[1] === 'r1'));
    });

    it('says store_failed when the log cannot read the replay of a room whose position it knows; bob stays in it', () => {
      const sc = new Scene(runWithLog([closed(B, 10, 'closed')], lobby().state).state);
      sc.on(opened('bob-2', 20, { resume: rt(B, 'bob1'), since: 'lobby:0:E1' }, tk('bob2')));
      sc.log.readsFail = 'I/O error';
      expect(sc.answer(21)).toEqual([send(B, M.joined(B, 'lobby', [mA, mB], 2, 0, EPOCH, 21, undefined, 'store_failed'))]);
      sc.log.readsFail = undefined;
      sc.on(say(A, 22, 'still here?', 'msg1'));
      expect(inbox(B, sc.settle(23))).toEqual([M.chat(alice, 'lobby', 1, EPOCH, 'msg1', 'still here?', 22)]);
    });

    it('takes bob out of a room whose position nobody knows when its replay cannot be read, and tells him', () => {
      const sc = new Scene(runWithLog([opened(B, 0, { name: 'bob' }, tk('bob1')), closed(B, 1, 'closed')]).state);
      sc.on(opened('bob-2', 2, { resume: rt(B, 'bob1'), since: 'lobby:0:E1' }, tk('bob2')));
      sc.log.readsFail = 'I/O error';
      expect(sc.answer(3)).toEqual([send(B, code('store_failed'))]);
      expect(sc.state.clients.get(B)?.rooms).toEqual([]);
      expect(sc.state.rooms.has('lobby')).toBe(false);
    });

    it('reads the position first, and lines only where they were missed and can be replayed', () => {
      expect(comeBack({ head: 5 }).asked).toEqual([read({ room: 'lobby', limit: 0 }, { for: 'resume', to: B })]);
      expect(comeBack({ head: 5 }, 'lobby:4:E1').asked).toEqual([resumeRead(B, 4), replayRead(B, 4)]);
      expect(comeBack({ head: 5 }, 'lobby:5:E1').asked).toEqual([resumeRead(B, 5)]);
      expect(comeBack({ head: 1003 }, 'lobby:2:E1').asked).toEqual([resumeRead(B, 2)]);
      expect(comeBack({ head: 20, kept: 10 }, 'lobby:9:E1').asked).toEqual([resumeRead(B, 9)]);
    });
  });
});

describe('reducer + log: sending twice', () => {
  it('answers a repeat while the first is with the log with nothing, and after with the first one\'s Ack, marked Duplicate', () => {
    const sc = new Scene(lobby().state);
    const first = req('msg1', 'once', 1, { key: 'k1' });
    expect(sc.on(say(A, 1, 'once', 'msg1', { key: 'k1', ref: 'r1' }))).toEqual([append(first, 'r1')]);
    const pending = sc.state;
    expect(sc.on(say(A, 2, 'once', 'msg2', { key: 'k1', ref: 'r2' }))).toEqual([]);
    expect(sc.state).toBe(pending);
    expect(sc.answer(3)).toEqual([
      broadcast([A, B], M.chat(alice, 'lobby', 1, EPOCH, 'msg1', 'once', 1), A),
      send(A, M.ack(A, 'msg1', 3, 'r1', { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k1')),
    ]);
    expect(sc.on(say(A, 4, 'once', 'msg3', { key: 'k1', ref: 'r3' }))).toEqual([
      send(A, M.ack(A, 'msg1', 4, 'r3', { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k1', true)),
    ]);
    expect(sc.pending).toBe(0);
    expect(seqs(sc.inbox(B))).toEqual([1]);
  });

  it('acks a line the log already had under the Key as a Duplicate of it, and delivers it to nobody', () => {
    // The hub forgot the Key (a restart); the log remembers it with the line.
    const { state } = lobby();
    const again = req('msg9', 'on my way', 5, { key: 'k_V1' });
    const r = stepFrozen(state, appended(again, 60, { at: 6, epoch: 'Qm7xK2pA', ref: 'm9', duplicateOf: 'kV9' }));
    expect(withoutLogs(r.effects)).toEqual([
      send(A, M.ack(A, 'kV9', 6, 'm9', { Room: 'lobby', Seq: 60, Epoch: 'Qm7xK2pA' }, 'k_V1', true)),
    ]);
    expect(r.state.rooms.get('lobby')?.seq).toBe(0);
    // And the hub now answers a further repeat itself, with the original MsgID.
    expect(withoutLogs(stepFrozen(r.state, say(A, 7, 'on my way', 'msg10', { key: 'k_V1' })).effects)).toEqual([
      send(A, M.ack(A, 'kV9', 7, undefined, { Room: 'lobby', Seq: 60, Epoch: 'Qm7xK2pA' }, 'k_V1', true)),
    ]);
  });

  it('delivers a Direct with a Key once, and acks a repeat with the original MsgID', () => {
    const { state } = lobby();
    const first = stepFrozen(state, dm(A, 1, B, 'psst', 'dm1', { key: 'd1', ref: 'x' }));
    expect(withoutLogs(first.effects)).toEqual([
      send(B, M.direct(alice, B, 'dm1', 'psst', 1)),
      send(A, M.ack(A, 'dm1', 1, 'x', { To: B }, 'd1')),
    ]);
    const again = stepFrozen(first.state, dm(A, 2, B, 'psst', 'dm2', { key: 'd1', ref: 'y' }));
    expect(withoutLogs(again.effects)).toEqual([send(A, M.ack(A, 'dm1', 2, 'y', { To: B }, 'd1', true))]);
  });

  describe('a Key names one message: another message under it is refused with bad_field, and nothing is sent', () => {
    /** alice and bob in the lobby and rust, carol connected; alice has said one line into the lobby under Key k1. */
    function keyed() {
      return runWithLog([
        opened(C, 0, { name: 'carol' }, tk('carol1')),
        received(A, 0, { type: 'join', room: 'rust' }), received(B, 0, { type: 'join', room: 'rust' }),
        say(A, 1, 'hello', 'msg1', { key: 'k1' }),
        dm(A, 1, B, 'psst', 'dm1', { key: 'd1' }),
      ], lobby().state);
    }
    it.each([
      ['a Direct under a Broadcast\'s Key', dm(A, 2, B, 'psst', 'x', { key: 'k1', ref: 'r' })],
      ['a Broadcast into another room under a Broadcast\'s Key', say(A, 2, 'hello', 'x', { room: 'rust', key: 'k1', ref: 'r' })],
      ['a Broadcast under a Direct\'s Key', say(A, 2, 'psst', 'x', { key: 'd1', ref: 'r' })],
      ['a Direct to someone else under a Direct\'s Key', dm(A, 2, C, 'psst', 'x', { key: 'd1', ref: 'r' })],
    ])('%s', (_what, event) => {
      const { state, log } = keyed();
      const r = runWithLog([event], state, log);
      expect(r.effects).toEqual([send(A, code('bad_field', 'r'))]);
      expect(r.asked).toEqual([]);
      expect(r.state).toBe(state);
    });

    it('while the first is still being written too', () => {
      const sc = new Scene(keyed().state);
      sc.on(say(A, 2, 'again', 'msg2', { key: 'k2' }));
      expect(sc.on(say(A, 3, 'again', 'msg3', { room: 'rust', key: 'k2', ref: 'r' }))).toEqual([send(A, code('bad_field', 'r'))]);
      // The same message, into the same room, waits for the first one's Ack.
      expect(sc.on(say(A, 3, 'again', 'msg3', { room: 'lobby', key: 'k2', ref: 'r' }))).toEqual([]);
    });

    it('a repeat of the same message is still acked as a Duplicate: the same room (named or not), the same To', () => {
      const { state, log } = keyed();
      expect(runWithLog([say(A, 2, 'hello', 'x', { room: 'lobby', key: 'k1' })], state, log).effects)
        .toEqual([send(A, M.ack(A, 'msg1', 2, undefined, { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k1', true))]);
      expect(runWithLog([dm(A, 2, B, 'psst', 'x', { key: 'd1' })], state, log).effects)
        .toEqual([send(A, M.ack(A, 'dm1', 2, undefined, { To: B }, 'd1', true))]);
    });
  });

  it('catches a Broadcast retried across a resume: the log finds its Key, and the retry is acked, not sent again', () => {
    const sc = new Scene(lobby().state);
    sc.on(say(A, 1, 'sent before the blip', 'msg1', { key: 'k1' }));
    sc.on(closed(A, 2, 'error'));
    sc.settle(3); // kept while alice was away: bob has it, alice no Ack
    sc.on(opened('alice-2', 4, { resume: rt(A, 'alice1'), since: 'lobby:0:E1' }, tk('alice2')));
    sc.settle(5);
    sc.on(say(A, 6, 'sent before the blip', 'msg2', { key: 'k1', ref: 'retry' }));
    expect(sc.settle(6)).toEqual([send(A, M.ack(A, 'msg1', 6, 'retry', { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k1', true))]);
    expect(seqs(sc.inbox(B))).toEqual([1]);
  });

  it(`keeps for an away identity only its last Directs' Keys, within ${Limits.maxAwayKeyBytes} bytes; a retry of one is acked, not sent again`, () => {
    const long = (i: number) => `${String(i).padStart(4, '0')}${'\u{1F600}'.repeat(30)}`;
    const directs = Array.from({ length: 40 }, (_, i) => dm(A, 1, B, `d${i}`, `dm${i}`, { key: long(i) }));
    const { state } = runWithLog([...directs, say(A, 2, 'a line', 'l1', { key: 'line-key' }), closed(A, 3, 'closed')], lobby().state);
    const kept = state.away.get(A)?.keys ?? [];
    const size = 2 * (long(0).length + 'dm10'.length + B.length) + 64;
    expect(kept.length).toBe(Math.floor(Limits.maxAwayKeyBytes / size));
    // The newest Directs', oldest first; no Broadcast's.
    expect(kept[kept.length - 1]).toEqual([long(39), 'dm39', B]);
    expect(kept.map((k) => k[1])).toEqual(Array.from({ length: kept.length }, (_, i) => `dm${40 - kept.length + i}`));
    const back = runWithLog([opened('alice-2', 4, { resume: rt(A, 'alice1'), since: 'lobby:1:E1' }, tk('alice2'))], state);
    const retry = stepFrozen(back.state, dm(A, 5, B, 'd39', 'again', { key: long(39), ref: 'r' }));
    expect(withoutLogs(retry.effects)).toEqual([send(A, M.ack(A, 'dm39', 5, 'r', { To: B }, long(39), true))]);
  });

  it(`remembers at least the last ${Limits.maxKeysRemembered / 2} Keys of an identity and fewer than ${Limits.maxKeysRemembered}; an older one is the log's to catch`, () => {
    const keyed = Array.from({ length: Limits.maxKeysRemembered + 1 }, (_, i) => say(A, i, `n${i}`, `msg${i}`, { key: `k${i}` }));
    const { state, log } = runWithLog(keyed, lobby().state);
    const kept = state.clients.get(A)?.keys.size ?? 0;
    expect(kept).toBeGreaterThanOrEqual(Limits.maxKeysRemembered / 2);
    expect(kept).toBeLessThan(Limits.maxKeysRemembered);
    // The newest half, each acked again from the hub's memory.
    for (let i = Limits.maxKeysRemembered / 2 + 1; i <= Limits.maxKeysRemembered; i++) {
      const again = stepFrozen(state, say(A, 900, 'again', 'x1', { key: `k${i}` }));
      expect(kinds(again.effects)).toEqual(['send']);
    }
    // k0 is forgotten by the hub: it goes to the log, which finds it.
    const oldest = runWithLog([say(A, 901, 'n0', 'x2', { key: 'k0' })], state, log);
    expect(oldest.asked).toEqual([append(req('x2', 'n0', 901, { key: 'k0' }))]);
    expect(oldest.effects).toEqual([send(A, M.ack(A, 'msg0', 901, undefined, { Room: 'lobby', Seq: 1, Epoch: EPOCH }, 'k0', true))]);
  });
});

describe('reducer + log: resume tokens', () => {
  /** bob away from the lobby since t=10, alice still there. */
  const bobGone = (state: HubState = initialState()) => runWithLog([closed(B, 10, 'closed')], lobby(new FakeLog(), state).state);

  it('gives the identity back: same ID, name and rooms, a new token, the old one spent', () => {
    const { state } = bobGone();
    const back = runWithLog([opened('bob-2', 20, { resume: rt(B, 'bob1'), since: 'lobby:0:E1' }, tk('bob2'))], state);
    expect(back.effects.slice(0, 2)).toEqual([rebind('bob-2', B), send(B, M.welcome(B, 'bob', ['lobby'], 20, rt(B, 'bob2'), true))]);
    expect(back.state.clients.get(B)).toEqual(expect.objectContaining({ name: 'bob', rooms: ['lobby'], token: tk('bob2') }));
    expect(back.state.clients.has('bob-2')).toBe(false);
    expect(back.state.away.has(B)).toBe(false);
    // The old one is spent: it no longer resumes (its ID's secret is the new one's).
    const again = runWithLog([opened('bob-3', 21, { resume: rt(B, 'bob1') }, tk('bob3'))], back.state);
    expect(again.effects[0]).toEqual(send('bob-3', code('resume_failed')));
  });

  it.each([
    ['unknown', rt('nobody', 'nobody')],
    ['forged: an identity\'s ID with a secret it was never given', rt(B, 'nobody')],
    ['another identity\'s ID with this one\'s secret', rt(A, 'bob1')],
    ['the secret alone', tk('bob1')],
    ['malformed', 'bob1'],
    ['malformed: the ID alone, with its dot', `${B}.`],
    ['malformed even though the hub issued it (its secret not 32 characters of base64url)', `${C}.tok-${C}`],
  ])('refuses a token that is %s: resume_failed, then an ordinary new connection', (_what, token) => {
    const { state } = bobGone(runWithLog([opened(C, 0, { name: 'carol' }), closed(C, 1, 'closed')]).state);
    const r = runWithLog([opened('dave-id', 20, { name: 'dave', room: 'rust', resume: token }, tk('dave1'))], state);
    expect(r.effects.slice(0, 3)).toEqual([
      send('dave-id', code('resume_failed')),
      send('dave-id', M.welcome('dave-id', 'dave', ['rust'], 20, rt('dave-id', 'dave1'))),
      send('dave-id', M.joined('dave-id', 'rust', [{ ID: 'dave-id', Name: 'dave' }], 1, 0, EPOCH, 20)),
    ]);
    expect(kinds(r.effects)).not.toContain('rebind');
    expect(r.state.away.has(B)).toBe(true);
    expect(r.state.away.has(C)).toBe(true);
  });

  it('refuses a token the second time: it works once', () => {
    const { state } = bobGone();
    const once = runWithLog([opened('bob-2', 20, { resume: rt(B, 'bob1') }, tk('bob2')), closed(B, 30, 'closed')], state);
    const twice = runWithLog([opened('bob-3', 40, { resume: rt(B, 'bob1') }, tk('bob3'))], once.state);
    expect(twice.effects[0]).toEqual(send('bob-3', code('resume_failed')));
    expect(kinds(twice.effects)).not.toContain('rebind');
    expect(twice.state.clients.get('bob-3')?.name).toBe('guest-bob-');
    // The token the resume gave is the one that works now.
    const thrice = runWithLog([opened('bob-4', 50, { resume: rt(B, 'bob2') }, tk('bob4'))], twice.state);
    expect(thrice.effects[0]).toEqual(rebind('bob-4', B));
  });

  it('forgets an identity when pingDue says its resume window is over, and not a millisecond before', () => {
    const window = 60_000;
    const { state } = bobGone(initialState({ resumeWindowMs: window }));
    const still = stepFrozen(state, pingDue([A], 10 + window - 1));
    expect(still.state).toBe(state);
    expect(still.effects).toEqual([ping([A])]);
    const over = stepFrozen(state, pingDue([A], 10 + window));
    expect(over.state.away.has(B)).toBe(false);
    expect(over.effects).toEqual([ping([A])]);
    const late = runWithLog([opened('bob-2', 10 + window + 1, { resume: rt(B, 'bob1') }, tk('bob2'))], over.state);
    expect(late.effects[0]).toEqual(send('bob-2', code('resume_failed')));
    const early = runWithLog([opened('bob-2', 10 + window - 1, { resume: rt(B, 'bob1') }, tk('bob2'))], still.state);
    expect(early.effects[0]).toEqual(rebind('bob-2', B));
  });

  it('gives an identity that resumed and went again a new window: its first leaving is passed over', () => {
    const window = 60_000;
    const { state } = bobGone(initialState({ resumeWindowMs: window }));
    const again = runWithLog([opened('bob-2', 20, { resume: rt(B, 'bob1') }, tk('bob2')), closed(B, 30, 'closed')], state).state;
    expect(again.leaving.size).toBe(2);
    // At the end of the first window only the first entry goes, and bob stays (resumable) until his second ends.
    const first = stepFrozen(again, pingDue([A], 10 + window)).state;
    expect(first.away.get(B)?.until).toBe(30 + window);
    expect(first.leaving.map((a) => a.client.id).toArray()).toEqual([B]);
    expect(runWithLog([opened('bob-3', 30 + window - 1, { resume: rt(B, 'bob2') }, tk('bob3'))], first).effects[0]).toEqual(rebind('bob-3', B));
    const second = stepFrozen(first, pingDue([A], 30 + window)).state;
    expect([second.away.size, second.leaving.size]).toEqual([0, 0]);
  });

  it('refuses a token whose window is over even before pingDue has swept it', () => {
    const window = 60_000;
    const { state } = bobGone(initialState({ resumeWindowMs: window }));
    const late = runWithLog([opened('bob-2', 10 + window, { resume: rt(B, 'bob1') }, tk('bob2'))], state);
    expect(late.effects[0]).toEqual(send('bob-2', code('resume_failed')));
    expect(late.state.clients.get('bob-2')).toBeDefined();
    expect(late.state.clients.get(B)).toBeUndefined();
  });

  it('lets a live connection\'s token take its identity over: the old socket is cut, and its closing changes nothing', () => {
    const { state } = lobby();
    const r = stepFrozen(state, opened('bob-2', 5, { resume: rt(B, 'bob1'), since: 'lobby:0:E1' }, tk('bob2')));
    expect(withoutLogs(r.effects)).toEqual([
      broadcast([A], M.disconnected(mB, 'lobby', 'closed', 5)),
      // The old socket is now known as bob-2, and is cut; the new one is bob.
      rebind('bob-2', B),
      terminate('bob-2'),
      send(B, M.welcome(B, 'bob', ['lobby'], 5, rt(B, 'bob2'), true)),
      resumeRead(B, 0),
      broadcast([A], M.connected(mB, 'lobby', 5)),
    ]);
    const back = runWithLog([], r.state);
    const cut = stepFrozen(back.state, closed('bob-2', 6, 'error'));
    expect(cut.state).toBe(back.state);
    expect(withoutLogs(cut.effects)).toEqual([forget('bob-2')]);
    expect(cut.state.clients.get(B)?.rooms).toEqual(['lobby']);
    expect(cut.state.rooms.get('lobby')?.members).toEqual([A, B]);
  });

  it('never yields another identity: each token gives back the one it was issued to', () => {
    const { state } = runWithLog([closed(A, 10, 'closed'), closed(B, 11, 'closed')], lobby().state);
    for (const [token, id, name] of [[rt(A, 'alice1'), A, 'alice'], [rt(B, 'bob1'), B, 'bob']]) {
      const r = runWithLog([opened('new-id', 20, { resume: token, name: 'mallory' }, tk('new'))], state);
      expect(r.effects.slice(0, 2)).toEqual([rebind('new-id', id), send(id, M.welcome(id, name, ['lobby'], 20, rt(id, 'new'), true))]);
      expect([...r.state.clients.keys()]).toEqual([id]);
    }
  });

  it('does not resume at all with a resume window of 0: a live token is not taken over', () => {
    const { state } = lobby(new FakeLog(), initialState({ resumeWindowMs: 0 }));
    const r = runWithLog([opened('bob-2', 5, { resume: rt(B, 'bob1') }, tk('bob2'))], state);
    expect(r.effects[0]).toEqual(send('bob-2', code('resume_failed')));
    expect(kinds(r.effects)).not.toContain('terminate');
    expect(r.state.clients.get(B)).toBeDefined();
  });
});

describe('reducer + log: identities kept for resuming are bounded', () => {
  it('forgets the oldest past maxAway, token and all, however young its window', () => {
    const ids = ['c1', 'c2', 'c3'];
    const { state } = runWithLog([
      ...ids.map((id) => opened(id, 0, { name: id }, tk(id))),
      ...ids.map((id, i) => closed(id, 1 + i, 'closed')),
    ], initialState({ maxAway: 2 }));
    expect([...state.away.keys()].sort()).toEqual(['c2', 'c3']);
    expect(state.leaving.map((a) => a.client.id).toArray()).toEqual(['c2', 'c3']);
    const late = runWithLog([opened('c1-again', 10, { resume: rt('c1', 'c1') }, tk('c1b'))], state);
    expect(late.effects[0]).toEqual(send('c1-again', expect.objectContaining({ Code: 'resume_failed' })));
    const ok = runWithLog([opened('c3-again', 10, { resume: rt('c3', 'c3') }, tk('c3b'))], state);
    expect(ok.state.clients.has('c3')).toBe(true);
  });

  it('passes over an identity resumed since: the oldest still away goes', () => {
    const { state } = runWithLog([
      ...['c1', 'c2', 'c3', 'c4'].map((id) => opened(id, 0, { name: id }, tk(id))),
      closed('c1', 1, 'closed'), closed('c2', 2, 'closed'),
      // c1 comes back: its entry in `leaving` is no longer current.
      opened('c1-again', 3, { resume: rt('c1', 'c1') }, tk('c1b')),
      closed('c3', 4, 'closed'), closed('c4', 5, 'closed'),
    ], initialState({ maxAway: 2 }));
    expect(state.clients.has('c1')).toBe(true);
    expect([...state.away.keys()].sort()).toEqual(['c3', 'c4']);
    expect(state.leaving.map((a) => a.client.id).toArray()).toEqual(['c3', 'c4']);
    const late = runWithLog([opened('c2-again', 10, { resume: rt('c2', 'c2') }, tk('c2b'))], state);
    expect(late.effects[0]).toEqual(send('c2-again', expect.objectContaining({ Code: 'resume_failed' })));
  });
});

describe('reducer + log: directs to an identity that is away', () => {
  it('keeps them, acks the sender, and delivers them on resume after the welcome, oldest first', () => {
    const { state } = runWithLog([closed(B, 10, 'closed')], lobby().state);
    const kept = runWithLog([dm(A, 11, B, 'you there?', 'dm1', { ref: 'd1' }), dm(A, 12, B, 'hello?', 'dm2')], state);
    expect(kept.effects).toEqual([send(A, M.ack(A, 'dm2', 12, undefined, { To: B }))]);
    const back = runWithLog([opened('bob-2', 20, { resume: rt(B, 'bob1'), since: 'lobby:0:E1' }, tk('bob2'))], kept.state);
    expect(inbox(B, back.effects).map((m) => m.Type)).toEqual([0, 11, 11, 6]);
    expect(inbox(B, back.effects).slice(1, 3)).toEqual([M.direct(alice, B, 'dm1', 'you there?', 11), M.direct(alice, B, 'dm2', 'hello?', 12)]);
    expect(back.state.away.has(B)).toBe(false);
  });

  it(`keeps at most ${Limits.maxAwayDirects}, and refuses the next with mailbox_full`, () => {
    const { state } = runWithLog([closed(B, 10, 'closed')], lobby().state);
    const full = runWithLog(Array.from({ length: Limits.maxAwayDirects }, (_, i) => dm(A, 11, B, `n${i}`, `dm${i}`)), state);
    const r = stepFrozen(full.state, dm(A, 12, B, 'one more', 'dmX', { ref: 'x', key: 'kx' }));
    expect(withoutLogs(r.effects)).toEqual([send(A, code('mailbox_full', 'x'))]);
    expect(r.state).toBe(full.state);
    expect(full.state.away.get(B)?.directs).toHaveLength(Limits.maxAwayDirects);
  });

  it(`keeps at most ${Limits.maxAwayBytes} bytes for all away identities together, and gives them back as they resume or expire`, () => {
    const big = '\u{1F600}'.repeat(Limits.maxContent); // 4 bytes of UTF-8 each
    const size = wireSize(big, 'alice');
    const fits = Math.floor(Limits.maxAwayBytes / size);
    const owners = Math.ceil((fits + 1) / Limits.maxAwayDirects);
    const ids = Array.from({ length: owners }, (_, i) => `away-${i}`);
    let { state } = runWithLog([
      ...ids.flatMap((id, i) => [opened(id, 0, { name: `a${i}` }, tk(id)), closed(id, 1, 'closed')]),
      opened(A, 2, { name: 'alice' }, tk('alice1')),
    ]);
    let accepted = 0;
    let refused: readonly Effect[] = [];
    for (const id of ids) {
      for (let i = 0; i < Limits.maxAwayDirects && refused.length === 0; i++) {
        const r = step(state, dm(A, 3, id, big, `dm-${id}-${i}`, { ref: 'r' }));
        if (r.state === state) refused = withoutLogs(r.effects);
        else accepted++;
        state = r.state;
      }
    }
    expect(accepted).toBe(fits);
    expect(refused).toEqual([send(A, code('mailbox_full', 'r'))]);
    expect(state.awayBytes).toBe(fits * size);
    // The first one resumes: its directs are delivered, and their room is free for others.
    const back = runWithLog([opened('away-0-again', 4, { resume: rt(ids[0], ids[0]) }, tk('again'))], state);
    expect(inbox(ids[0], back.effects).filter((m) => m.Type === 11)).toHaveLength(Limits.maxAwayDirects);
    expect(back.state.awayBytes).toBe((fits - Limits.maxAwayDirects) * size);
    expect(step(back.state, dm(A, 5, ids[owners - 1], big, 'dm-after')).state.awayBytes).toBe((fits - Limits.maxAwayDirects + 1) * size);
    // The rest expire at the end of their window, and take their bytes with them.
    expect(step(back.state, pingDue([], 1 + DEFAULT_RESUME_WINDOW_MS)).state.awayBytes).toBe(0);
  });

  it('refuses a direct to an identity whose window is over, swept or not', () => {
    const window = DEFAULT_RESUME_WINDOW_MS;
    const { state } = runWithLog([closed(B, 10, 'closed')], lobby().state);
    const r = stepFrozen(state, dm(A, 10 + window, B, 'too late', 'dm1'));
    expect(withoutLogs(r.effects)).toEqual([send(A, code('no_such_client'))]);
    expect(r.state).toBe(state);
  });
});

describe('reducer + log: History', () => {
  it.each([
    ['Before', { before: 42, limit: 2 }],
    ['After', { after: 40, limit: 10 }],
    ['neither', { limit: 50 }],
  ])('asks the log for a page (%s) for a member, to answer it to that member', (_w, page) => {
    const { state } = lobby();
    const r = stepFrozen(state, received(A, 1, { type: 'history', room: 'lobby', ...page, ref: 'h1' }));
    // Nothing changes but the count of the asker's reads in flight.
    expect(r.state.rooms).toBe(state.rooms);
    expect(r.state.clients.get(A)?.reads.reading).toBe(1);
    expect(withoutLogs(r.effects)).toEqual([read({ room: 'lobby', ...page }, { for: 'history', to: A, ref: 'h1' })]);
  });

  it('lets a connection have at most maxHistoryInFlight History reads waiting, and counts one down per answer', () => {
    const { state } = lobby();
    const ask = (ref: string) => received(A, 1, { type: 'history', room: 'lobby', limit: 5, ref });
    let s = state;
    for (let i = 0; i < Limits.maxHistoryInFlight; i++) s = stepFrozen(s, ask(`h${i}`)).state;
    const refused = stepFrozen(s, ask('one too many'));
    expect(withoutLogs(refused.effects)).toEqual([send(A, code('too_many_requests', 'one too many'))]);
    expect(refused.state).toBe(s);
    const answered = stepFrozen(s, {
      kind: 'readDone', at: 2, req: { room: 'lobby', limit: 5 }, purpose: { for: 'history', to: A, ref: 'h0' },
      outcome: { ok: true, epoch: 'E1', head: 0, first: 1, messages: [], more: false },
    });
    expect(answered.state.clients.get(A)?.reads.reading).toBe(Limits.maxHistoryInFlight - 1);
    // The answer lets the next page go to the log; the one asked now waits its turn.
    expect(withoutLogs(answered.effects)[1]).toEqual(read({ room: 'lobby', limit: 5 }, { for: 'history', to: A, ref: 'h1' }));
    const again = stepFrozen(answered.state, ask('again'));
    expect(withoutLogs(again.effects)).toEqual([]);
    expect(again.state.clients.get(A)?.reads.queue).toHaveLength(Limits.maxHistoryInFlight - 1);
  });

  it('reads one page at a time per connection: the next when the last is answered, in the order asked', () => {
    const sc = new Scene(lobby().state);
    const asked: Effect[] = [];
    for (let i = 0; i < 5; i++) asked.push(...sc.on(received(A, 1, { type: 'history', room: 'lobby', limit: 5, ref: `h${i}` })));
    // And bob's own, beside hers.
    asked.push(...sc.on(received(B, 1, { type: 'history', room: 'lobby', limit: 5, ref: 'b' })));
    expect(asked).toEqual([
      read({ room: 'lobby', limit: 5 }, { for: 'history', to: A, ref: 'h0' }),
      read({ room: 'lobby', limit: 5 }, { for: 'history', to: B, ref: 'b' }),
    ]);
    for (let i = 0; i < 5; i++) {
      expect(sc.pending).toBe(i === 0 ? 2 : 1);
      const r = sc.answer(2);
      expect(inbox(A, r).map((m) => m.Ref)).toEqual([`h${i}`]);
      expect(r.filter((x) => x.kind === 'read')).toEqual(i < 4 ? [read({ room: 'lobby', limit: 5 }, { for: 'history', to: A, ref: `h${i + 1}` })] : []);
      if (i === 0) expect(inbox(B, sc.answer(2)).map((m) => m.Ref)).toEqual(['b']);
    }
    expect(sc.state.clients.get(A)).toMatchObject({ reads: { reading: 0, busy: false, queue: [] } });
    // Done reading, both share the record of a connection that reads nothing again (reducer.ts NO_READING).
    expect(sc.state.clients.get(A)?.reads).toBe(sc.state.clients.get(B)?.reads);
  });

  it('refuses a room one is not in with not_member, and asks the log nothing', () => {
    const { state } = lobby();
    const r = stepFrozen(state, received(A, 1, { type: 'history', room: 'rust', limit: 5, ref: 'h' }));
    expect(r.state).toBe(state);
    expect(withoutLogs(r.effects)).toEqual([send(A, code('not_member', 'h'))]);
  });

  it('answers the page the log read as a History frame: oldest first, each line as it was delivered live', () => {
    const { state } = lobby();
    const ask: ReadRequest = { room: 'lobby', before: 42, limit: 2 };
    const page = [line('lobby', 40, B, 'bob', 'hello', 'aa1', 1_764_115_100_000), line('lobby', 41, A, 'alice', 'hi', 'aa2', 1_764_115_101_000)];
    const r = stepFrozen(state, readDone(ask, { for: 'history', to: A, ref: 'h1' },
      readOk({ head: 57, first: 3, messages: page, more: true, epoch: 'Qm7xK2pA' }), 1_764_115_210_000));
    expect(r.state.rooms).toBe(state.rooms);
    expect(withoutLogs(r.effects)).toEqual([send(A, {
      ID: '', Content: '', SentAt: 1_764_115_210, Type: 13, Room: 'lobby', Epoch: 'Qm7xK2pA', Seq: 57, First: 3, More: true, Ref: 'h1',
      Messages: [
        { ID: B, Content: 'hello', SentAt: 1_764_115_100, Type: 1, Name: 'bob', Room: 'lobby', Seq: 40, Epoch: 'Qm7xK2pA', MsgID: 'aa1' },
        { ID: A, Content: 'hi', SentAt: 1_764_115_101, Type: 1, Name: 'alice', Room: 'lobby', Seq: 41, Epoch: 'Qm7xK2pA', MsgID: 'aa2' },
      ],
    })]);
  });

  it('answers a read that failed with store_failed and the Ref', () => {
    const { state } = lobby();
    const r = stepFrozen(state, readDone({ room: 'lobby', limit: 5 }, { for: 'history', to: A, ref: 7 }, { ok: false, reason: 'I/O error' }, 3));
    expect(withoutLogs(r.effects)).toEqual([send(A, code('store_failed', 7))]);
  });

  it('reads back what was said, through the log', () => {
    const said = runWithLog([say(A, 1, 'one', 'm1'), say(A, 2, 'two', 'm2'), say(A, 3, 'three', 'm3')], lobby().state);
    const r = runWithLog([received(B, 4, { type: 'history', room: 'lobby', before: 3, limit: 1, ref: 'h' })], said.state, said.log);
    expect(r.effects).toEqual([send(B, M.history('lobby', EPOCH, 3, 1, [M.chat(alice, 'lobby', 2, EPOCH, 'm2', 'two', 2)], true, 4, 'h'))]);
  });
});
