// The web client's pure core (web/src/step.ts): frames and user actions in,
// state and frames to send out. No browser needed.
import { Type } from '../src/core/protocol';
import type { Frame } from '../web/src/protocol';
import { ChatState, ClientEvent, MAX_DMS, MAX_LINES, MAX_MEMBERS_SHOWN, emptyDm, initialState } from '../web/src/state';
import { counterText } from '../web/src/text';
import { step } from '../web/src/step';

const T = 1_764_115_200;
const frame = (f: Partial<Frame> & { Type: number }): ClientEvent =>
  ({ kind: 'frame', at: T * 1000, frame: { ID: '', Content: '', SentAt: T, ...f } });
const welcome = (id: string, name: string, room: string) => frame({ Type: Type.System, ID: id, Content: 'welcome', Name: name, Rooms: [room] });
const joined = (id: string, room: string, members: [string, string][], seq = 0, ref?: string) =>
  frame({ Type: Type.Join, ID: id, Room: room, Members: members.map(([ID, Name]) => ({ ID, Name })), Seq: seq, ...(ref ? { Ref: ref } : {}) });

/** Runs events in order; returns the last state and every effect. */
function run(s: ChatState, ...events: ClientEvent[]) {
  const effects: unknown[] = [];
  for (const e of events) {
    const r = step(s, e);
    s = r.state;
    effects.push(...r.effects);
  }
  return { s, effects };
}

const inLobby = () => run(initialState('alice', 'lobby'), welcome('A1', 'alice', 'lobby'), joined('A1', 'lobby', [['B1', 'bob'], ['A1', 'alice']], 41)).s;

describe('web client step()', () => {
  it('is in the room the welcome and Join frames name, looking at it', () => {
    const s = inLobby();
    expect(s.me).toBe('A1');
    expect(s.link).toEqual({ state: 'open' });
    expect(s.current).toBe('#lobby');
    expect(s.convs.get('#lobby')).toMatchObject({ joined: true, seq: 41, members: [{ ID: 'B1', Name: 'bob' }, { ID: 'A1', Name: 'alice' }] });
  });

  it('sends a line as pending, marks it delivered on the Ack with its Ref', () => {
    const { s, effects } = run(inLobby(), { kind: 'said', text: 'hi all', at: 5 });
    expect(effects).toEqual([{ kind: 'send', frame: { Type: Type.Broadcast, Room: 'lobby', Content: 'hi all', Ref: expect.any(String) } }]);
    const ref = (effects[0] as { frame: { Ref: string } }).frame.Ref;
    expect(s.convs.get('#lobby')?.lines.last()).toMatchObject({ mine: true, text: 'hi all', status: 'pending' });
    const acked = step(s, frame({ Type: Type.Ack, ID: 'A1', MsgID: 'm1', Room: 'lobby', Seq: 42, Ref: ref })).state;
    expect(acked.convs.get('#lobby')).toMatchObject({ seq: 42 });
    expect(acked.convs.get('#lobby')?.lines.last()).toMatchObject({ status: 'delivered' });
  });

  it('shows the server error on the line an Error with its Ref refused', () => {
    const { s, effects } = run(inLobby(), { kind: 'said', text: 'x', at: 5 });
    const ref = (effects[0] as { frame: { Ref: string } }).frame.Ref;
    const r = step(s, frame({ Type: Type.Error, Content: 'you are not in room "lobby"', Code: 'not_member', Ref: ref })).state;
    expect(r.convs.get('#lobby')?.lines.last()).toMatchObject({ status: 'failed', error: 'you are not in room "lobby"' });
  });

  it('counts unread lines in rooms not on screen, and clears them on switching', () => {
    const { s } = run(inLobby(), joined('A1', 'rust', [['A1', 'alice']], 0, undefined),
      { kind: 'switched', conv: '#lobby' },
      frame({ Type: Type.Broadcast, ID: 'B1', Name: 'bob', Room: 'rust', Seq: 1, MsgID: 'x1', Content: 'one' }),
      frame({ Type: Type.Broadcast, ID: 'B1', Name: 'bob', Room: 'rust', Seq: 2, MsgID: 'x2', Content: 'two' }));
    expect(s.convs.get('#rust')?.unread).toBe(2);
    expect(step(s, { kind: 'switched', conv: '#rust' }).state.convs.get('#rust')?.unread).toBe(0);
  });

  it('keeps the member list live through Connected, Rename and Disconnected', () => {
    const { s } = run(inLobby(),
      frame({ Type: Type.Connected, ID: 'C1', Name: 'carol', Room: 'lobby', Content: 'connected' }),
      frame({ Type: Type.Rename, ID: 'C1', Name: 'caro', OldName: 'carol', Room: 'lobby' }),
      frame({ Type: Type.Disconnected, ID: 'B1', Name: 'bob', Room: 'lobby', Reason: 'left' }));
    const lobby = s.convs.get('#lobby');
    expect(lobby?.members).toEqual([{ ID: 'A1', Name: 'alice' }, { ID: 'C1', Name: 'caro' }]);
    expect(lobby?.count).toBe(2);
    // Names are marked as user text, for the view to isolate (bidi) from the words around them.
    expect(lobby?.lines.find((l) => l.text === 'carol is now caro')).toMatchObject({ parts: [{ user: 'carol' }, ' is now ', { user: 'caro' }] });
    expect(lobby?.lines.filter((l) => l.kind === 'notice').map((l) => l.text).toArray()).toEqual(
      ['You joined #lobby', 'carol joined', 'carol is now caro', 'bob left']);
  });

  it('on a drop fails what was in flight; on the next welcome rejoins every other room', () => {
    let s = run(inLobby(), joined('A1', 'rust', [['A1', 'alice']]), { kind: 'said', text: 'lost', at: 5 }).s;
    s = step(s, { kind: 'dropped', attempt: 1, retryAt: 999, at: 6 }).state;
    expect(s.link).toEqual({ state: 'reconnecting', attempt: 1, retryAt: 999 });
    const lobby = s.convs.get('#lobby');
    expect(lobby?.lines.find((l) => l.kind === 'chat')).toMatchObject({ text: 'lost', status: 'failed', error: 'Not sent: connection lost' });
    expect(lobby?.lines.last()).toMatchObject({ kind: 'notice', text: 'Connection lost' });
    expect([...s.convs.values()].every((c) => !c.joined)).toBe(true);
    const { s: back, effects } = run(s, welcome('A2', 'alice', 'lobby'));
    expect(back.me).toBe('A2');
    expect(effects).toEqual([
      { kind: 'send', frame: { Type: Type.Join, Room: 'rust', Ref: expect.any(String) } },
      { kind: 'send', frame: { Type: Type.Rooms } },
    ]);
  });

  it('says how many lines were missed when a rejoined room went on without us', () => {
    let s = step(inLobby(), { kind: 'dropped', attempt: 1, retryAt: 0, at: 6 }).state;
    s = run(s, welcome('A2', 'alice', 'lobby'), joined('A2', 'lobby', [['B1', 'bob'], ['A2', 'alice']], 44)).s;
    expect(s.convs.get('#lobby')?.lines.map((l) => l.kind === 'notice' && l.text).toArray()).toContain('3 messages sent while you were away');
    // A room that emptied (a restarted server) starts its Seq again: nothing to say.
    let t = step(inLobby(), { kind: 'dropped', attempt: 1, retryAt: 0, at: 6 }).state;
    t = run(t, welcome('A2', 'alice', 'lobby'), joined('A2', 'lobby', [['A2', 'alice']], 0)).s;
    expect(t.convs.get('#lobby')?.lines.some((l) => l.kind === 'notice' && l.text.includes('away'))).toBe(false);
  });

  it('opens a direct conversation for a Direct frame, apart from the rooms', () => {
    const s = step(inLobby(), frame({ Type: Type.Direct, ID: 'B1', Name: 'bob', To: 'A1', MsgID: 'p1', Content: 'psst' })).state;
    expect(s.convs.get('@B1')).toMatchObject({ kind: 'dm', title: 'bob', unread: 1 });
    expect(s.convs.get('@B1')?.lines.toArray()).toMatchObject([{ text: 'psst', from: 'B1' }]);
    expect(s.convs.get('#lobby')?.lines.some((l) => l.kind === 'chat')).toBe(false);
  });

  it('stops on a refused name instead of retrying it', () => {
    const s = step(initialState('x', 'lobby'), frame({ Type: Type.Error, Code: 'bad_name', Content: '?name=: a name must not be blank' })).state;
    expect(s.link).toEqual({ state: 'stopped', reason: 'Name refused: ?name=: a name must not be blank' });
    expect(step(s, { kind: 'dropped', attempt: 1, retryAt: 0, at: 0 }).state).toBe(s);
  });

  it('returns the same state for frames it does not use', () => {
    const s = inLobby();
    expect(step(s, frame({ Type: Type.HeartBeat, ID: 'A1' })).state).toBe(s);
    expect(step(s, frame({ Type: 99 })).state).toBe(s);
  });

  it('asks for the rooms list once over a reconnect with 32 rooms, and never for a join or a leave', () => {
    const rooms = Array.from({ length: 31 }, (_, i) => `r${i}`);
    let s = run(inLobby(), ...rooms.map((r) => joined('A1', r, [['A1', 'alice']]))).s;
    const roomsAsked = (effects: unknown[]) => effects.filter((e) => (e as { frame: { Type: number } }).frame.Type === Type.Rooms).length;
    s = step(s, { kind: 'dropped', attempt: 1, retryAt: 0, at: 6 }).state;
    const back = run(s, welcome('A2', 'alice', 'lobby'));
    expect(back.effects).toHaveLength(32); // 31 Joins, 1 Rooms
    const replies = (back.effects as { frame: { Type: number; Room?: string; Ref?: string } }[])
      .filter((e) => e.frame.Type === Type.Join).map((e) => joined('A2', e.frame.Room as string, [['A2', 'alice']], 0, e.frame.Ref));
    const all = run(back.s, joined('A2', 'lobby', [['A2', 'alice']]), ...replies);
    expect(roomsAsked(back.effects) + roomsAsked(all.effects)).toBe(1);
    // The user's own join and leave ask for nothing more than the Join and the Leave.
    const left = run(all.s, { kind: 'leaveAsked', room: 'r0', at: 7 }, frame({ Type: Type.Leave, ID: 'A2', Room: 'r0' }));
    const mine = run(left.s, { kind: 'joinAsked', room: 'extra', at: 8 });
    expect(mine.effects).toEqual([{ kind: 'send', frame: { Type: Type.Join, Room: 'extra', Ref: expect.any(String) } }]);
    const ref = (mine.effects[0] as { frame: { Ref: string } }).frame.Ref;
    const back2 = run(mine.s, joined('A2', 'extra', [['A2', 'alice']], 0, ref));
    expect(roomsAsked([...left.effects, ...mine.effects, ...back2.effects])).toBe(0);
    expect(step(back2.s, { kind: 'roomsDue' }).effects).toEqual([{ kind: 'send', frame: { Type: Type.Rooms } }]);
  });

  it('a big room: the first 100 members and the count, kept by Join, Rooms and presence alike', () => {
    const many = Array.from({ length: 150 }, (_, i) => [`M${i}`, `m${i}`] as [string, string]);
    let s = step(inLobby(), frame({ Type: Type.Join, ID: 'A1', Room: 'big', Members: many.map(([ID, Name]) => ({ ID, Name })), Count: 1500, Seq: 0 })).state;
    let big = s.convs.get('#big');
    expect(big?.members).toHaveLength(MAX_MEMBERS_SHOWN);
    expect(big?.count).toBe(1500);
    // No presence notices come from rooms above --presence-max: the Rooms list keeps the count.
    s = step(s, frame({ Type: Type.Rooms, Rooms: [{ Room: 'big', Count: 1700 }, { Room: 'lobby', Count: 2 }], Total: 2 })).state;
    expect(s.convs.get('#big')?.count).toBe(1700);
    // Where notices do come, the count moves with them; the list only holds what fits.
    s = run(s, frame({ Type: Type.Connected, ID: 'N1', Name: 'new', Room: 'big' }),
      frame({ Type: Type.Disconnected, ID: 'M0', Name: 'm0', Room: 'big', Reason: 'left' })).s;
    big = s.convs.get('#big');
    expect(big?.count).toBe(1700);
    expect(big?.members).toHaveLength(MAX_MEMBERS_SHOWN - 1);
    expect(big?.members.some((m) => m.ID === 'N1')).toBe(false);
    // A Join from a server without Count: its list is the whole room.
    expect(inLobby().convs.get('#lobby')?.count).toBe(2);
  });

  it('counts a line in code points, as the server does: 4000 emoji go, 4001 do not', () => {
    const emoji = '\u{1F600}';
    const ok = run(inLobby(), { kind: 'said', text: emoji.repeat(4000), at: 5 });
    expect(ok.effects).toHaveLength(1);
    const tooLong = run(inLobby(), { kind: 'said', text: emoji.repeat(4001), at: 5 });
    expect(tooLong.effects).toEqual([]);
    expect(tooLong.s.alert?.text).toBe('A message is at most 4000 characters');
    expect(counterText(emoji.repeat(3600))).toBe('· 400 characters left');
    expect(counterText(emoji.repeat(4002))).toBe('· 2 characters too many');
    expect(counterText('short')).toBe('');
  });

  it('keeps at most MAX_DMS direct conversations, dropping the least recently active, never a room', () => {
    let s = step(inLobby(), joined('A1', 'rust', [['A1', 'alice']])).state;
    s = step(s, { kind: 'dmOpened', peer: 'P0', name: 'p0' }).state; // on screen: kept
    for (let i = 1; i <= 5000; i++) {
      s = step(s, frame({ Type: Type.Direct, ID: `P${i}`, Name: `p${i}`, To: 'A1', MsgID: `d${i}`, Content: 'hi' })).state;
    }
    // P1 speaks again: it is recent now.
    s = step(s, frame({ Type: Type.Direct, ID: 'P1', Name: 'p1', To: 'A1', MsgID: 'again', Content: 'me again' })).state;
    s = step(s, frame({ Type: Type.Direct, ID: 'P5001', Name: 'p5001', To: 'A1', MsgID: 'last', Content: 'hi' })).state;
    const dms = [...s.convs.values()].filter((c) => c.kind === 'dm');
    expect(dms).toHaveLength(MAX_DMS);
    expect(s.convs.has('#lobby') && s.convs.has('#rust')).toBe(true);
    expect(s.convs.has('@P0')).toBe(true);
    expect(s.convs.has('@P1')).toBe(true);
    expect(s.convs.has('@P5001')).toBe(true);
    expect(s.convs.has('@P2')).toBe(false);
  });

  it('takes a frame in time that does not grow with the conversations and lines held', () => {
    const small = inLobby();
    // Far more conversations than MAX_DMS lets in, put in by hand: the cost must not depend on them at all.
    let big = inLobby();
    for (let i = 0; i < MAX_LINES; i++) big = step(big, frame({ Type: Type.Broadcast, ID: 'B1', Name: 'bob', Room: 'lobby', Seq: 42 + i, MsgID: `f${i}`, Content: 'x' })).state;
    big = { ...big, convs: big.convs.withMutations((m) => { for (let i = 0; i < 20_000; i++) m.set(`@P${i}`, emptyDm(`P${i}`, 'p')); }) };
    /** The fastest of 5 rounds of 1,000 lines into the lobby, in ms. */
    const time = (s0: ChatState) => {
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        let s = s0;
        const t0 = performance.now();
        for (let i = 0; i < 1000; i++) s = step(s, frame({ Type: Type.Broadcast, ID: 'B1', Name: 'bob', Room: 'lobby', Seq: 1e6 + i, MsgID: `t${round}-${i}`, Content: 'x' })).state;
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    time(small); time(big); // warm up
    // Copying 20,000 conversations per frame would cost about a hundred times this bound.
    expect(time(big)).toBeLessThan(3 * time(small) + 5);
  });

  it('after a policy close the link is held, until the user reconnects', () => {
    let s = run(inLobby(), { kind: 'said', text: 'lost', at: 5 }).s;
    s = step(s, { kind: 'held', code: 4001, reason: 'server full', at: 6 }).state;
    expect(s.link).toEqual({ state: 'held', reason: 'The server closed the connection (4001 server full)' });
    expect(s.convs.get('#lobby')?.joined).toBe(false);
    expect(s.convs.get('#lobby')?.lines.find((l) => l.kind === 'chat')).toMatchObject({ status: 'failed' });
    expect(step(s, { kind: 'connecting', attempt: 0 }).state.link).toEqual({ state: 'connecting', attempt: 0 });
  });
});
