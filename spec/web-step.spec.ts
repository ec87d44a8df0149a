// The web page's pure core (web/src/step.ts, frames.ts, lines.ts): the client
// library's events and the user's actions in, state and effects (what to ask of the
// library) out. No browser, no socket: the library's events are written out as data.
import type { ClientEvent, Frame, MessageUpdate } from '../src/client';
import { Type } from '../src/core/protocol';
import {
  ChatLine, ChatState, Conversation, Effect, MAX_DMS, MAX_LINES, MAX_MEMBERS_SHOWN, PAGE, PageEvent, emptyDm, initialState,
} from '../web/src/state';
import { counterText } from '../web/src/text';
import { step } from '../web/src/step';

const T = 1_764_115_200;
const E = 'Qm7xK2pA';
const lib = (event: ClientEvent, rooms?: string[]): PageEvent => ({ kind: 'lib', event, at: T * 1000, ...(rooms ? { rooms } : {}) });
const frame = (f: Partial<Frame> & { Type: number }, rooms?: string[]) => lib({ type: 'frame', frame: { ID: '', Content: '', SentAt: T, ...f } }, rooms);
const ready = (id: string, rooms: string[], more: Partial<Extract<ClientEvent, { type: 'ready' }>> = {}) =>
  lib({ type: 'ready', id, name: 'alice', rooms, resumed: false, reconnected: false, ...more });
const joined = (id: string, room: string, members: [string, string][], seq = 0, more: Partial<Frame> = {}) =>
  frame({ Type: Type.Join, ID: id, Room: room, Members: members.map(([ID, Name]) => ({ ID, Name })), Seq: seq, Epoch: E, ...more });
const bobSays = (room: string, seq: number, text = `line ${seq}`, from: [string, string] = ['B1', 'bob']): Frame =>
  ({ ID: from[0], Name: from[1], Content: text, SentAt: T, Type: Type.Broadcast, Room: room, Seq: seq, Epoch: E, MsgID: `m-${room}-${seq}` });
const line = (room: string, seq: number, text?: string, from?: [string, string]) =>
  lib({ type: 'line', room, frame: bobSays(room, seq, text, from), via: 'live' });
const message = (m: Partial<MessageUpdate> & Pick<MessageUpdate, 'key' | 'status'>) => lib({ type: 'message', message: { content: '', ...m } });
const down = (attempt = 1): PageEvent => lib({ type: 'link', link: { state: 'down', attempt, retryAt: 999, code: 1006, reason: '' } });
const page = (room: string, from: number, to: number, more: boolean, before?: number): PageEvent => ({
  kind: 'historyLoaded', room, epoch: E, more, at: T * 1000, ...(before !== undefined ? { before } : {}),
  messages: Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => bobSays(room, from + i)),
});

/** Freezes what the reducer hands out (state, rooms, conversations): a step that mutated them would throw. */
function freeze(s: ChatState): ChatState {
  Object.freeze(s);
  Object.freeze(s.rooms);
  for (const c of s.convs.values()) Object.freeze(Object.freeze(c).members);
  return s;
}

/** Runs events in order; returns the last state and every effect. */
function run(s: ChatState, ...events: PageEvent[]) {
  const effects: Effect[] = [];
  for (const e of events) {
    const r = step(freeze(s), e);
    s = r.state;
    effects.push(...r.effects);
  }
  return { s, effects };
}

const lobbyOf = (s: ChatState) => s.convs.get('#lobby') as Conversation;
const chatLines = (c: Conversation | undefined) => (c?.lines.toArray() ?? []).filter((l): l is ChatLine => l.kind === 'chat');
const textsOf = (c: Conversation | undefined) => c?.lines.map((l) => l.text).toArray();

/** Welcomed into the lobby (bob is there, at Seq 41), its latest page read and empty. */
const inLobby = () => run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['B1', 'bob'], ['A1', 'alice']], 41),
  page('lobby', 1, 0, false)).s;

describe('web page step(): rooms and presence', () => {
  it('is in the room the library is ready in and its Join reply names, looking at it; asks its latest page once', () => {
    const { s, effects } = run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['B1', 'bob'], ['A1', 'alice']], 41));
    expect(s.me).toBe('A1');
    expect(s.link).toEqual({ state: 'open' });
    expect(s.current).toBe('#lobby');
    expect(lobbyOf(s)).toMatchObject({ joined: true, epoch: E, opened: true, loading: true, members: [{ ID: 'B1', Name: 'bob' }, { ID: 'A1', Name: 'alice' }] });
    expect(effects).toEqual([{ kind: 'listRooms' }, { kind: 'history', room: 'lobby', limit: PAGE }]);
    // Once: another Join reply (a rejoin) asks nothing more.
    expect(run(s, joined('A1', 'lobby', [['A1', 'alice']], 41)).effects).toEqual([]);
  });

  it('counts unread lines in rooms not on screen, and clears them on switching; reads a room once it is shown', () => {
    const { s, effects } = run(inLobby(), joined('A1', 'rust', [['A1', 'alice']]), line('rust', 1, 'one'), line('rust', 2, 'two'));
    expect(s.convs.get('#rust')?.unread).toBe(2);
    expect(effects).toEqual([]); // not on screen: not read yet
    const shown = step(s, { kind: 'switched', conv: '#rust' });
    expect(shown.state.convs.get('#rust')).toMatchObject({ unread: 0, loading: true });
    expect(shown.effects).toEqual([{ kind: 'history', room: 'rust', limit: PAGE }]);
  });

  it('keeps the member list live through Connected, Rename and Disconnected', () => {
    const { s } = run(inLobby(),
      frame({ Type: Type.Connected, ID: 'C1', Name: 'carol', Room: 'lobby', Content: 'connected' }),
      frame({ Type: Type.Rename, ID: 'C1', Name: 'caro', OldName: 'carol', Room: 'lobby' }),
      frame({ Type: Type.Disconnected, ID: 'B1', Name: 'bob', Room: 'lobby', Reason: 'left' }));
    const lobby = lobbyOf(s);
    expect(lobby.members).toEqual([{ ID: 'A1', Name: 'alice' }, { ID: 'C1', Name: 'caro' }]);
    expect(lobby.count).toBe(2);
    // Names are marked as user text, for the view to isolate (bidi) from the words around them.
    expect(lobby.lines.find((l) => l.text === 'carol is now caro')).toMatchObject({ parts: [{ user: 'carol' }, ' is now ', { user: 'caro' }] });
    expect(lobby.lines.filter((l) => l.kind === 'notice').map((l) => l.text).toArray()).toEqual(
      ['You joined #lobby', 'carol joined', 'carol is now caro', 'bob left']);
  });

  it('a join the user asked for is put on screen when its reply comes; a refused one is said', () => {
    const asked = run(inLobby(), { kind: 'joinAsked', room: 'rust', at: 5 });
    expect(asked.effects).toEqual([{ kind: 'join', room: 'rust' }]);
    expect(run(asked.s, joined('A1', 'rust', [['A1', 'alice']])).s.current).toBe('#rust');
    // A rejoin by the library (no user asking) leaves the view alone.
    expect(run(inLobby(), joined('A1', 'rust', [['A1', 'alice']])).s.current).toBe('#lobby');
    const refused = run(asked.s, { kind: 'refused', request: 'join', subject: 'rust', code: 'too_many_rooms', reason: 'at most 32 rooms', at: 6 }).s;
    expect(refused.alert?.text).toBe('Could not join #rust: at most 32 rooms');
    expect(refused.joining.has('rust')).toBe(false);
  });

  it('a room the library could not rejoin (an Error to its own request) is let go, and said', () => {
    let s = run(inLobby(), joined('A1', 'rust', [['A1', 'alice']])).s;
    s = run(s, down(), ready('A2', ['lobby', 'rust'], { reconnected: true, previousId: 'A1' }), joined('A2', 'lobby', [['A2', 'alice']], 41)).s;
    const r = run(s, frame({ Type: Type.Error, Code: 'too_many_rooms', Content: 'at most 32 rooms', Ref: 3 }, ['lobby'])).s;
    expect(r.rooms).toEqual(['lobby']);
    expect(r.convs.has('#rust')).toBe(false);
    expect(r.alert?.text).toBe('Could not rejoin #rust: at most 32 rooms');
    // An Error to a request of the user's (its refusal comes apart) forgets nothing.
    expect(run(s, frame({ Type: Type.Error, Code: 'bad_room', Content: 'no', Ref: 4 }, ['lobby', 'rust'])).s).toBe(s);
  });

  it('asks for the rooms list once per (re)connection and when due, never for a join or a leave', () => {
    const s = inLobby();
    const back = run(s, down(), ready('A1', ['lobby'], { resumed: true, reconnected: true }), joined('A1', 'lobby', [['A1', 'alice']], 41, { Recovered: true }));
    expect(back.effects).toEqual([{ kind: 'listRooms' }]);
    const joinLeave = run(back.s, { kind: 'joinAsked', room: 'x', at: 1 }, joined('A1', 'x', [['A1', 'alice']]),
      { kind: 'leaveAsked', room: 'x', at: 2 }, frame({ Type: Type.Leave, ID: 'A1', Room: 'x' }));
    expect(joinLeave.effects.filter((e) => e.kind === 'listRooms')).toEqual([]);
    expect(step(joinLeave.s, { kind: 'roomsDue' }).effects).toEqual([{ kind: 'listRooms' }]);
    expect(step(run(joinLeave.s, down()).s, { kind: 'roomsDue' }).effects).toEqual([]);
  });

  it('a big room: the first 100 members and the count, kept by Join, Rooms and presence alike', () => {
    const many = Array.from({ length: 150 }, (_, i) => [`M${i}`, `m${i}`] as [string, string]);
    let s = step(inLobby(), joined('A1', 'big', many, 0, { Count: 1500 })).state;
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
    expect(lobbyOf(inLobby()).count).toBe(2);
  });

  it('keeps at most MAX_DMS direct conversations, dropping the least recently active, never a room', () => {
    let s = step(inLobby(), joined('A1', 'rust', [['A1', 'alice']])).state;
    s = step(s, { kind: 'dmOpened', peer: 'P0', name: 'p0' }).state; // on screen: kept
    const direct = (i: number | string, id: string) => lib({ type: 'direct', frame: { ID: `P${i}`, Name: `p${i}`, To: 'A1', MsgID: id, Content: 'hi', SentAt: T, Type: Type.Direct } });
    for (let i = 1; i <= 5000; i++) s = step(s, direct(i, `d${i}`)).state;
    // P1 speaks again: it is recent now.
    s = run(s, direct(1, 'again'), direct(5001, 'last')).s;
    const dms = [...s.convs.values()].filter((c) => c.kind === 'dm');
    expect(dms).toHaveLength(MAX_DMS);
    expect(s.convs.has('#lobby') && s.convs.has('#rust')).toBe(true);
    expect(['@P0', '@P1', '@P5001'].every((id) => s.convs.has(id))).toBe(true);
    expect(s.convs.has('@P2')).toBe(false);
  });

  it('stops on a refused name instead of retrying it', () => {
    const s = step(initialState('x', 'lobby'), frame({ Type: Type.Error, Code: 'bad_name', Content: '?name=: a name must not be blank' })).state;
    expect(s.link).toEqual({ state: 'stopped', reason: 'Name refused: ?name=: a name must not be blank' });
    expect(step(s, down()).state).toBe(s);
  });

  it('returns the same state for events it does not use', () => {
    const s = inLobby();
    expect(step(s, frame({ Type: Type.HeartBeat, ID: 'A1' })).state).toBe(s);
    expect(step(s, frame({ Type: 99 })).state).toBe(s);
    expect(step(s, lib({ type: 'catchup', room: 'lobby', state: 'started', reason: 'gap' })).state).toBe(s);
    expect(step(s, lib({ type: 'link', link: { state: 'ready' } })).state).toBe(s);
    expect(step(s, line('nowhere', 1)).state).toBe(s);
    expect(step(s, message({ key: 'unknown', status: 'delivered', room: 'lobby' })).state).toBe(s);
  });
});

describe('web page step(): our own lines', () => {
  it('online: shown at once as sent and handed over with its Key; delivered on the Ack, with its Seq', () => {
    const { s, effects } = run(inLobby(), { kind: 'said', text: 'hi all', key: 'k1', at: 5 });
    expect(effects).toEqual([{ kind: 'send', key: 'k1', room: 'lobby', content: 'hi all' }]);
    expect(chatLines(lobbyOf(s))).toMatchObject([{ key: 'k-k1', mine: true, text: 'hi all', status: 'sent' }]);
    const acked = step(s, message({ key: 'k1', status: 'delivered', room: 'lobby', msgId: 'x42', seq: 42, epoch: E })).state;
    expect(chatLines(lobbyOf(acked))).toMatchObject([{ status: 'delivered', seq: 42, msgId: 'x42' }]);
    expect(lobbyOf(acked).ids.has('x42')).toBe(true);
  });

  it('offline: pending, kept through the drop (never failed by it), delivered once back', () => {
    let s = run(inLobby(), down(), { kind: 'said', text: 'typed offline', key: 'k1', at: 5 }).s;
    expect(chatLines(lobbyOf(s))).toMatchObject([{ text: 'typed offline', status: 'pending' }]);
    s = run(s, message({ key: 'k1', status: 'pending', room: 'lobby' }), ready('A1', ['lobby'], { resumed: true, reconnected: true }),
      message({ key: 'k1', status: 'sent', room: 'lobby' }), message({ key: 'k1', status: 'delivered', room: 'lobby', msgId: 'x42', seq: 42 })).s;
    expect(chatLines(lobbyOf(s))).toMatchObject([{ text: 'typed offline', status: 'delivered' }]);
    expect(textsOf(lobbyOf(s))).toEqual(['You joined #lobby', 'Connection lost', 'Reconnected', 'typed offline']);
  });

  it('stays at the bottom, below lines that come before its Ack (a resume replays what was missed first)', () => {
    const s = run(inLobby(), down(), { kind: 'said', text: 'mine', key: 'k1', at: 5 },
      ready('A1', ['lobby'], { resumed: true, reconnected: true }), line('lobby', 42), line('lobby', 43),
      message({ key: 'k1', status: 'delivered', room: 'lobby', msgId: 'x44', seq: 44 }), line('lobby', 45)).s;
    expect(chatLines(lobbyOf(s)).map((l) => l.text)).toEqual(['line 42', 'line 43', 'mine', 'line 45']);
  });

  it('never doubled: a replayed copy of it (a lost Ack) goes when the Ack names its MsgID, whichever came first', () => {
    const replayed = lib({ type: 'line', room: 'lobby', via: 'live', frame: { ...bobSays('lobby', 42, 'mine', ['A1', 'alice']), MsgID: 'x42' } });
    const delivered = message({ key: 'k1', status: 'delivered', room: 'lobby', msgId: 'x42', seq: 42, duplicate: true });
    const said = run(inLobby(), { kind: 'said', text: 'mine', key: 'k1', at: 5 }).s;
    for (const order of [[replayed, delivered], [delivered, replayed]]) {
      const s = run(said, ...order).s;
      expect(chatLines(lobbyOf(s))).toMatchObject([{ key: 'k-k1', text: 'mine', status: 'delivered', msgId: 'x42' }]);
    }
    // In the room's latest page, read while it was on its way.
    const reading = run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['A1', 'alice']], 41),
      { kind: 'said', text: 'mine', key: 'k1', at: 5 }, delivered).s;
    const s = run(reading, { ...page('lobby', 40, 41, true), messages: [bobSays('lobby', 41), { ...bobSays('lobby', 42, 'mine', ['A1', 'alice']), MsgID: 'x42' }] } as PageEvent).s;
    expect(chatLines(lobbyOf(s)).map((l) => l.text)).toEqual(['line 41', 'mine']);
  });

  it('a refusal shows under the line, with the server words; Retry sends it again with the same Key', () => {
    let s = run(inLobby(), { kind: 'said', text: 'x', key: 'k1', at: 5 }, message({ key: 'k1', status: 'failed', room: 'lobby', code: 'not_member', reason: 'you are not in room "lobby"' })).s;
    expect(chatLines(lobbyOf(s))).toMatchObject([{ status: 'failed', error: 'you are not in room "lobby"' }]);
    const retried = run(s, { kind: 'retried', conv: '#lobby', key: 'k-k1', at: 6 });
    expect(retried.effects).toEqual([{ kind: 'send', key: 'k1', room: 'lobby', content: 'x' }]);
    expect(chatLines(lobbyOf(retried.s))).toMatchObject([{ key: 'k-k1', status: 'sent' }]);
    // Waiting after the server asked (store_busy): pending, saying why.
    s = run(retried.s, message({ key: 'k1', status: 'pending', room: 'lobby', code: 'store_busy', retryAt: 99 })).s;
    expect(chatLines(lobbyOf(s))).toMatchObject([{ status: 'pending', error: 'The server is busy; trying again' }]);
  });

  it('a direct message to someone gone: failed, saying so, and the conversation marked offline', () => {
    const s = run(inLobby(), { kind: 'dmOpened', peer: 'B1', name: 'bob' }, { kind: 'said', text: 'psst', key: 'k1', at: 5 });
    expect(s.effects).toEqual([{ kind: 'send', key: 'k1', to: 'B1', content: 'psst' }]);
    const r = step(s.s, message({ key: 'k1', status: 'failed', to: 'B1', code: 'no_such_client', reason: 'no such client' })).state;
    expect(r.convs.get('@B1')).toMatchObject({ gone: true });
    expect(chatLines(r.convs.get('@B1'))).toMatchObject([{ status: 'failed', error: 'bob is no longer connected' }]);
  });

  it('counts a line in code points, as the server does: 4000 emoji go, 4001 do not', () => {
    const emoji = '\u{1F600}';
    expect(run(inLobby(), { kind: 'said', text: emoji.repeat(4000), key: 'k', at: 5 }).effects).toHaveLength(1);
    const tooLong = run(inLobby(), { kind: 'said', text: emoji.repeat(4001), key: 'k', at: 5 });
    expect(tooLong.effects).toEqual([]);
    expect(tooLong.s.alert?.text).toBe('A message is at most 4000 characters');
    expect(counterText(emoji.repeat(3600))).toBe('· 400 characters left');
    expect(counterText(emoji.repeat(4002))).toBe('· 2 characters too many');
    expect(counterText('short')).toBe('');
  });
});

describe('web page step(): the link', () => {
  it('a drop: out of every room until the library is back in them, said once; resumed, said again', () => {
    let s = run(inLobby(), joined('A1', 'rust', [['A1', 'alice']]), down(1)).s;
    expect(s.link).toEqual({ state: 'reconnecting', attempt: 1, retryAt: 999 });
    expect([...s.convs.values()].every((c) => !c.joined)).toBe(true);
    s = run(s, lib({ type: 'link', link: { state: 'connecting', attempt: 1 } }), down(2)).s;
    expect(textsOf(lobbyOf(s))?.filter((t) => t === 'Connection lost')).toHaveLength(1);
    s = run(s, ready('A1', ['lobby', 'rust'], { resumed: true, reconnected: true })).s;
    expect(s.link).toEqual({ state: 'open' });
    expect(lobbyOf(s).lines.last()).toMatchObject({ kind: 'notice', text: 'Reconnected' });
    // The resume failed: a new ID, said so.
    const fresh = run(inLobby(), down(), ready('A9', ['lobby'], { reconnected: true, previousId: 'A1' })).s;
    expect(fresh.me).toBe('A9');
    expect(lobbyOf(fresh).lines.last()?.text).toBe('Reconnected with a new ID (the session had ended)');
  });

  it('after a policy close the link is held, until the user reconnects; lines wait meanwhile', () => {
    let s = run(inLobby(), lib({ type: 'link', link: { state: 'held', code: 4001, reason: 'server full' } })).s;
    expect(s.link).toEqual({ state: 'held', reason: 'The server closed the connection (4001 server full)' });
    expect(lobbyOf(s).joined).toBe(false);
    s = run(s, { kind: 'said', text: 'later', key: 'k1', at: 6 }).s;
    expect(chatLines(lobbyOf(s))).toMatchObject([{ status: 'pending' }]);
    expect(step(s, lib({ type: 'link', link: { state: 'connecting', attempt: 0 } })).state.link).toEqual({ state: 'connecting', attempt: 0 });
  });
});

describe('web page step(): history', () => {
  it('the latest page goes above the lines already here, skipping those it shares with them', () => {
    const s0 = run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['A1', 'alice']], 41),
      line('lobby', 42), line('lobby', 43)).s;
    const s = run(s0, page('lobby', 1, 42, false)).s;
    expect(textsOf(lobbyOf(s))).toEqual([...Array.from({ length: 41 }, (_, i) => `line ${i + 1}`), 'You joined #lobby', 'line 42', 'line 43']);
    expect(lobbyOf(s)).toMatchObject({ oldest: 1, loaded: true, loading: false, more: false });
    // A page read after a line it has came live: that line is put in its place, and not again when it comes.
    const t = run(s0, page('lobby', 40, 44, true), line('lobby', 44)).s;
    expect(chatLines(lobbyOf(t)).map((l) => l.seq)).toEqual([40, 41, 42, 43, 44]);
  });

  it('scrolling up reads the page Before the oldest line held, until there is no more', () => {
    let r = run(inLobby(), { kind: 'olderWanted', conv: '#lobby' });
    expect(r.effects).toEqual([]); // the latest page said: nothing older
    const s = run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['A1', 'alice']], 120), page('lobby', 71, 120, true)).s;
    r = run(s, { kind: 'olderWanted', conv: '#lobby' });
    expect(r.effects).toEqual([{ kind: 'history', room: 'lobby', before: 71, limit: PAGE }]);
    // Asked once: the reader scrolling on does not ask again while it is on its way.
    expect(run(r.s, { kind: 'olderWanted', conv: '#lobby' }).effects).toEqual([]);
    r = run(r.s, page('lobby', 21, 70, true, 71), { kind: 'olderWanted', conv: '#lobby' });
    expect(r.effects).toEqual([{ kind: 'history', room: 'lobby', before: 21, limit: PAGE }]);
    r = run(r.s, page('lobby', 1, 20, false, 21), { kind: 'olderWanted', conv: '#lobby' });
    expect(r.effects).toEqual([]);
    expect(chatLines(lobbyOf(r.s)).map((l) => l.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    // A page for a read no longer wanted (the room was reset since: another Epoch) changes nothing.
    const stale = run(s, { kind: 'olderWanted', conv: '#lobby' }).s;
    expect(step(stale, { ...page('lobby', 21, 70, true, 71), epoch: 'other' } as PageEvent).state).toBe(stale);
  });

  it('holds at most MAX_LINES: the oldest go as lines come, and scrolling up can read them again', () => {
    let s = run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['A1', 'alice']], 0), page('lobby', 1, 0, false)).s;
    for (let i = 1; i <= MAX_LINES + 10; i++) s = step(s, line('lobby', i)).state;
    const lobby = lobbyOf(s);
    expect(lobby.lines.size).toBe(MAX_LINES);
    expect(lobby.lines.first()?.text).toBe('line 11');
    expect(lobby).toMatchObject({ oldest: 11, more: true });
    expect(lobby.ids.size).toBe(MAX_LINES);
    // Full: scrolling up reads nothing more (the view says so).
    expect(step(s, { kind: 'olderWanted', conv: '#lobby' }).effects).toEqual([]);
  });

  it('a failed read: lost with the link, read again once back; refused, said once', () => {
    const asked = run(initialState('alice', 'lobby'), ready('A1', ['lobby']), joined('A1', 'lobby', [['A1', 'alice']], 41)).s;
    const lost = run(asked, down(), { kind: 'historyFailed', room: 'lobby', code: 'disconnected', reason: 'connection lost', at: 1 }).s;
    expect(lobbyOf(lost)).toMatchObject({ opened: false, loading: false });
    const back = run(lost, ready('A1', ['lobby'], { resumed: true, reconnected: true }), joined('A1', 'lobby', [['A1', 'alice']], 41, { Recovered: true }));
    expect(back.effects).toContainEqual({ kind: 'history', room: 'lobby', limit: PAGE });
    const refused = run(asked, { kind: 'historyFailed', room: 'lobby', code: 'not_member', reason: 'not in #lobby', at: 1 }).s;
    expect(refused.alert?.text).toBe('Could not read the history of #lobby: not in #lobby');
    expect(lobbyOf(refused)).toMatchObject({ opened: true, loading: false });
  });

  it('says where lines are lost (gap) and where the history was reset, in a small line; reads the new history after a reset', () => {
    let r = run(inLobby(), lib({ type: 'gap', room: 'lobby', after: 41, before: 45 }));
    expect(lobbyOf(r.s).lines.last()).toMatchObject({ kind: 'notice', tone: 'warn', text: '3 earlier messages are no longer kept by the server' });
    r = run(r.s, lib({ type: 'reset', room: 'lobby', reason: 'epoch_changed', seq: 3, epoch: 'Zx81bQ0c' }));
    expect(lobbyOf(r.s).lines.last()).toMatchObject({ kind: 'notice', boundary: true, text: expect.stringContaining('history of #lobby was reset (epoch changed)') });
    expect(lobbyOf(r.s)).toMatchObject({ epoch: 'Zx81bQ0c', oldest: undefined });
    // On screen: its latest lines are read again, and go after the reset line, by their new Seqs.
    expect(r.effects).toEqual([{ kind: 'history', room: 'lobby', limit: PAGE }]);
    r = run(r.s, line('lobby', 4, 'new 4'), { ...page('lobby', 1, 3, false), epoch: 'Zx81bQ0c' } as PageEvent);
    expect(textsOf(lobbyOf(r.s))?.slice(-4)).toEqual(['line 1', 'line 2', 'line 3', 'new 4']);
    // no_position is no loss: a room we had no position in.
    const s = inLobby();
    expect(step(s, lib({ type: 'reset', room: 'lobby', reason: 'no_position', seq: 41, epoch: E })).state).toBe(s);
  });

  it('takes a line in time that does not grow with the conversations and lines held', () => {
    const small = inLobby();
    // Far more conversations than MAX_DMS lets in, put in by hand: the cost must not depend on them at all.
    let big = inLobby();
    for (let i = 0; i < MAX_LINES; i++) big = step(big, line('lobby', 42 + i)).state;
    big = { ...big, convs: big.convs.withMutations((m) => { for (let i = 0; i < 20_000; i++) m.set(`@P${i}`, emptyDm(`P${i}`, 'p')); }) };
    /** The fastest of 5 rounds of 1,000 lines into the lobby, in ms. */
    const time = (s0: ChatState) => {
      let best = Infinity;
      for (let round = 0; round < 5; round++) {
        let s = s0;
        const t0 = performance.now();
        for (let i = 0; i < 1000; i++) s = step(s, line('lobby', 1e6 + round * 1000 + i)).state;
        best = Math.min(best, performance.now() - t0);
      }
      return best;
    };
    time(small); time(big); // warm up
    // Copying 20,000 conversations per line would cost about a hundred times this bound.
    expect(time(big)).toBeLessThan(3 * time(small) + 5);
  });
});
