// The web client's pure core (web/src/step.ts): frames and user actions in,
// state and frames to send out. No browser needed.
import { Type } from '../src/protocol';
import type { Frame } from '../web/src/protocol';
import { ChatState, ClientEvent, initialState } from '../web/src/state';
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
    expect(s.convs.get('#lobby')?.lines.at(-1)).toMatchObject({ mine: true, text: 'hi all', status: 'pending' });
    const acked = step(s, frame({ Type: Type.Ack, ID: 'A1', MsgID: 'm1', Room: 'lobby', Seq: 42, Ref: ref })).state;
    expect(acked.convs.get('#lobby')).toMatchObject({ seq: 42 });
    expect(acked.convs.get('#lobby')?.lines.at(-1)).toMatchObject({ status: 'delivered' });
  });

  it('shows the server error on the line an Error with its Ref refused', () => {
    const { s, effects } = run(inLobby(), { kind: 'said', text: 'x', at: 5 });
    const ref = (effects[0] as { frame: { Ref: string } }).frame.Ref;
    const r = step(s, frame({ Type: Type.Error, Content: 'you are not in room "lobby"', Code: 'not_member', Ref: ref })).state;
    expect(r.convs.get('#lobby')?.lines.at(-1)).toMatchObject({ status: 'failed', error: 'you are not in room "lobby"' });
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
    expect(lobby?.lines.filter((l) => l.kind === 'notice').map((l) => l.text)).toEqual(
      ['You joined #lobby', 'carol joined', 'carol is now caro', 'bob left']);
  });

  it('on a drop fails what was in flight; on the next welcome rejoins every other room', () => {
    let s = run(inLobby(), joined('A1', 'rust', [['A1', 'alice']]), { kind: 'said', text: 'lost', at: 5 }).s;
    s = step(s, { kind: 'dropped', attempt: 1, retryAt: 999, at: 6 }).state;
    expect(s.link).toEqual({ state: 'reconnecting', attempt: 1, retryAt: 999 });
    const lobby = s.convs.get('#lobby');
    expect(lobby?.lines.find((l) => l.kind === 'chat')).toMatchObject({ text: 'lost', status: 'failed', error: 'Not sent: connection lost' });
    expect(lobby?.lines.at(-1)).toMatchObject({ kind: 'notice', text: 'Connection lost' });
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
    expect(s.convs.get('#lobby')?.lines.map((l) => l.kind === 'notice' && l.text)).toContain('3 messages sent while you were away');
    // A room that emptied (a restarted server) starts its Seq again: nothing to say.
    let t = step(inLobby(), { kind: 'dropped', attempt: 1, retryAt: 0, at: 6 }).state;
    t = run(t, welcome('A2', 'alice', 'lobby'), joined('A2', 'lobby', [['A2', 'alice']], 0)).s;
    expect(t.convs.get('#lobby')?.lines.some((l) => l.kind === 'notice' && l.text.includes('away'))).toBe(false);
  });

  it('opens a direct conversation for a Direct frame, apart from the rooms', () => {
    const s = step(inLobby(), frame({ Type: Type.Direct, ID: 'B1', Name: 'bob', To: 'A1', MsgID: 'p1', Content: 'psst' })).state;
    expect(s.convs.get('@B1')).toMatchObject({ kind: 'dm', title: 'bob', unread: 1, lines: [{ text: 'psst', from: 'B1' }] });
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
});
