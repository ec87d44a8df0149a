// What a reload of the web page keeps (web/src/session.ts): the library's session, the
// rooms, the direct conversations and the messages not yet acked, through the JSON the
// tab's storage holds, and back as a state and the sends that go again with their Keys.
import type { ClientEvent, Frame } from '../src/client';
import { Type } from '../src/core/protocol';
import { SAVED_DM_LINES, parseSaved, restored, snapshot, usable } from '../web/src/session';
import { ChatState, PageEvent, initialState } from '../web/src/state';
import { step } from '../web/src/step';

const T = 1_764_115_200;
const lib = (event: ClientEvent): PageEvent => ({ kind: 'lib', event, at: T * 1000 });
const frame = (f: Partial<Frame> & { Type: number }) => lib({ type: 'frame', frame: { ID: '', Content: '', SentAt: T, ...f } });
const run = (s: ChatState, ...events: PageEvent[]) => events.reduce((x, e) => step(x, e).state, s);
const session = { token: 'tok', id: 'A1', positions: [{ room: 'lobby', seq: 41, epoch: 'E' }, { room: 'rust', seq: 3, epoch: 'F' }] };

/** alice in #lobby and #rust, a direct conversation with bob, one line acked and two on their way. */
function busy(): ChatState {
  return run(initialState('alice', 'lobby'),
    lib({ type: 'ready', id: 'A1', name: 'alice', rooms: ['lobby'], resumed: false, reconnected: false }),
    frame({ Type: Type.Join, ID: 'A1', Room: 'lobby', Members: [], Seq: 41, Epoch: 'E' }),
    frame({ Type: Type.Join, ID: 'A1', Room: 'rust', Members: [], Seq: 3, Epoch: 'F' }),
    lib({ type: 'direct', frame: { ID: 'B1', Name: 'bob', To: 'A1', MsgID: 'd1', Content: 'psst', SentAt: T, Type: Type.Direct } }),
    { kind: 'dmOpened', peer: 'B1', name: 'bob' },
    { kind: 'said', text: 'to bob', key: 'k1', at: 1 },
    lib({ type: 'message', message: { key: 'k1', status: 'delivered', to: 'B1', content: 'to bob', msgId: 'd2' } }),
    { kind: 'said', text: 'still going', key: 'k2', at: 2 },
    { kind: 'switched', conv: '#rust' },
    { kind: 'said', text: 'in rust', key: 'k3', at: 3 });
}

describe('web page session (a reload)', () => {
  it('keeps the session, the rooms, the direct lines and what is not acked, through JSON', () => {
    const saved = parseSaved(JSON.stringify(snapshot(busy(), session)));
    expect(saved).toEqual({
      v: 1, name: 'alice', session, rooms: ['lobby', 'rust'], current: '#rust',
      dms: [{ peer: 'B1', title: 'bob', gone: false, lines: [
        { from: 'B1', name: 'bob', text: 'psst', at: T * 1000, mine: false, msgId: 'd1' },
        { from: 'A1', name: 'alice', text: 'to bob', at: 1, mine: true, msgId: 'd2' },
      ] }],
      outbox: [{ key: 'k2', to: 'B1', text: 'still going', at: 2 }, { key: 'k3', room: 'rust', text: 'in rust', at: 3 }],
    });
  });

  it('comes back as it was: the rooms (read again from the server), the direct lines, the waiting lines sent again with their Keys', () => {
    const saved = parseSaved(JSON.stringify(snapshot(busy(), session)));
    if (!usable(saved, 'alice')) throw new Error('not usable');
    const { state, effects } = restored('alice', 'rust', saved);
    expect(state.rooms).toEqual(['lobby', 'rust']);
    expect(state.current).toBe('#rust');
    expect(state.convs.get('#lobby')).toMatchObject({ joined: false, opened: false });
    expect(state.convs.get('@B1')?.lines.toArray()).toMatchObject([
      { text: 'psst', mine: false }, { text: 'to bob', mine: true, status: 'delivered' }, { text: 'still going', status: 'pending', outKey: 'k2' }]);
    expect(state.convs.get('#rust')?.lines.toArray()).toMatchObject([{ text: 'in rust', status: 'pending', outKey: 'k3' }]);
    expect(effects).toEqual([
      { kind: 'send', key: 'k2', to: 'B1', content: 'still going' },
      { kind: 'send', key: 'k3', room: 'rust', content: 'in rust' },
    ]);
    // The library's word on them finds them by their Keys.
    const after = step(state, lib({ type: 'message', message: { key: 'k3', status: 'delivered', room: 'rust', content: 'in rust', msgId: 'r4', seq: 4 } })).state;
    expect(after.convs.get('#rust')?.lines.last()).toMatchObject({ status: 'delivered', seq: 4 });
    // A link to another room lands there, the rooms kept.
    expect(restored('alice', 'go', saved).state).toMatchObject({ rooms: ['lobby', 'rust', 'go'], current: '#go' });
  });

  it('is bounded: a direct conversation keeps its last lines', () => {
    let s = busy();
    for (let i = 0; i < SAVED_DM_LINES * 2; i++) {
      s = step(s, lib({ type: 'direct', frame: { ID: 'B1', Name: 'bob', To: 'A1', MsgID: `x${i}`, Content: `n${i}`, SentAt: T, Type: Type.Direct } })).state;
    }
    const dm = snapshot(s, session).dms[0];
    expect(dm.lines).toHaveLength(SAVED_DM_LINES);
    expect(dm.lines.at(-1)?.text).toBe(`n${SAVED_DM_LINES * 2 - 1}`);
  });

  it('takes nothing it cannot use: no text, bad JSON, another version, another name, bad fields dropped', () => {
    expect(parseSaved(null)).toBeUndefined();
    expect(parseSaved('{')).toBeUndefined();
    expect(parseSaved('[]')).toBeUndefined();
    expect(parseSaved(JSON.stringify({ v: 2, name: 'alice', session: {} }))).toBeUndefined();
    const odd = parseSaved(JSON.stringify({
      v: 1, name: 'alice', session: { token: 5, positions: [{ room: 'lobby', seq: '1', epoch: 'E' }, { room: 'ok', seq: 1, epoch: 'E' }] },
      rooms: ['lobby', 'no spaces', 7], dms: [{ peer: 'B1' }, null], outbox: [{ key: 'k', text: 'x', at: 1 }],
    }));
    expect(odd).toEqual({ v: 1, name: 'alice', session: { positions: [{ room: 'ok', seq: 1, epoch: 'E' }] }, rooms: ['lobby'], current: '', dms: [], outbox: [] });
    expect(usable(odd, 'bob')).toBe(false);
    expect(usable(undefined, 'alice')).toBe(false);
  });
});
