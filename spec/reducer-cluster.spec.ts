// The hub with several processes (issue 8; docs/scaling.md): a room is listened
// to while it has members here; a line is acked when the log has it and
// delivered when it is heard, in Seq order, a gap read from the log; a resumed
// member reads what the room's live members had while its replay was read.
import * as M from '../src/core/messages';
import {
  broadcast, closed, heard, linkUp, opened, pingDue, read, received, send, sessionTaken, subscribe, unsubscribe,
} from '../src/core/events';
import type { Heard } from '../src/core/sequence';
import { initialState } from '../src/core/reducer';
import { withoutLogs } from './support/marbles';
import { EPOCH, FakeLog, Scene, line, readOk, runWithLog } from './support/fake-log';

const A = 'alice-id';
const B = 'bob-id';
const cluster = () => initialState({ cluster: true });
const tk = (name: string) => name.padEnd(32, '_');
const heardLine = (seq: number, from = 'zed-id', epoch = EPOCH): Heard => ({ ...line('lobby', seq, from, 'zed'), epoch });

describe('hub, several processes: listening to rooms', () => {
  it('listens to a room from its first member here, and stops after its last', () => {
    const sc = new Scene(cluster());
    expect(sc.on(opened(A, 0, { name: 'alice' }, tk('a')))).toContainEqual(subscribe('lobby'));
    sc.answer(1);
    expect(sc.on(opened(B, 2, { name: 'bob' }, tk('b')))).not.toContainEqual(subscribe('lobby'));
    expect(sc.on(closed(A, 3, 'closed'))).not.toContainEqual(unsubscribe('lobby'));
    expect(sc.on(closed(B, 4, 'closed'))).toContainEqual(unsubscribe('lobby'));
  });

  it('with one process, listens to nothing', () => {
    const sc = new Scene(initialState());
    const effects = [...sc.on(opened(A, 0, { name: 'alice' }, tk('a'))), ...sc.answer(1), ...sc.on(closed(A, 2, 'closed'))];
    expect(effects.some((e) => e.kind === 'subscribe' || e.kind === 'unsubscribe')).toBe(false);
  });
});

describe('hub, several processes: lines', () => {
  /** alice and bob here, in the lobby whose log is at Seq `head`. */
  function lobby(head = 0) {
    const log = new FakeLog().seed('lobby', { head });
    return runWithLog([opened(A, 0, { name: 'alice' }, tk('a')), opened(B, 0, { name: 'bob' }, tk('b'))], cluster(), log);
  }

  it('acks a line when the log has it, and delivers it only when heard, to everyone here but its sender', () => {
    const { state, log } = lobby();
    const said = runWithLog([received(A, 1, { type: 'broadcast', content: 'hi', room: 'lobby' }, 'msg1')], state, log);
    expect(said.effects).toEqual([send(A, M.lineAck(A, 'msg1', 1, undefined, 'lobby', 1, EPOCH, undefined, false))]);
    const mine: Heard = { ...log.lines('lobby')[0], epoch: EPOCH };
    const back = runWithLog([heard(mine, 2)], said.state, log);
    expect(back.effects).toEqual([broadcast([A, B], M.stored(mine, EPOCH), A)]);
    expect(back.state.rooms.get('lobby')?.seq).toBe(1);
  });

  it('drops a line heard twice, and reads a gap from the log before what comes after it', () => {
    const { state, log } = lobby(3);
    const first = runWithLog([heard(heardLine(4), 1)], state, log);
    expect(first.effects).toEqual([broadcast([A, B], M.stored(heardLine(4), EPOCH), 'zed-id')]);
    const one = runWithLog([heard(heardLine(4), 1)], first.state, log);
    expect(one.effects).toEqual([]);
    log.seed('lobby', { head: 7 });
    const gap = runWithLog([heard(heardLine(7), 2)], one.state, log);
    expect(gap.asked).toEqual([read({ room: 'lobby', after: 4, limit: 2 }, { for: 'gap' })]);
    expect(gap.effects.map((e) => (e.kind === 'broadcast' ? e.message.Seq : e.kind))).toEqual([5, 6, 7]);
  });

  it('looks for a lost last line at each heartbeat and when the link comes back', () => {
    const { state, log } = lobby(3);
    log.seed('lobby', { head: 5 });
    for (const e of [pingDue([], 10), linkUp(10)]) {
      const r = runWithLog([e], state, log);
      expect(r.asked).toContainEqual(read({ room: 'lobby', limit: 0 }, { for: 'head' }));
      expect(r.effects.filter((x) => x.kind === 'broadcast').map((x) => (x.kind === 'broadcast' ? x.message.Seq : 0))).toEqual([4, 5]);
    }
  });
});

describe('hub, several processes: a resume', () => {
  it('gives a resumed member the lines the room had live while its replay was read, before it goes live', () => {
    const log = new FakeLog().seed('lobby', { head: 2 });
    const sc = new Scene(runWithLog([
      opened(A, 0, { name: 'alice' }, tk('a')), opened(B, 0, { name: 'bob' }, tk('b')), closed(B, 1, 'closed'),
    ], cluster(), log).state, log);
    sc.on(opened('bob-2', 2, { resume: tk('b'), since: `lobby:2:${EPOCH}` }, tk('b2')));
    // Redis gives the identity back (spec/reducer-sessions.spec.ts).
    sc.on(sessionTaken({ op: 'take', conn: 'bob-2', token: tk('b') }, { found: true, record: { id: B, name: 'bob', rooms: ['lobby'], keys: [] }, directs: [] }, 2));
    // Lines 3 and 4 reach the log, and are heard here, before the replay's read is answered (head 2 then).
    log.seed('lobby', { head: 4 });
    expect(sc.on(heard(heardLine(3), 3))).toEqual([broadcast([A], M.stored(heardLine(3), EPOCH), 'zed-id')]);
    sc.on(heard(heardLine(4), 3));
    // The replay's read ran before lines 3 and 4: it answers head 2, nothing missed.
    const effects = sc.answerRead(readOk({ head: 2 }), 4);
    const toBob = withoutLogs(effects).filter((e) => e.kind === 'send' && e.to === B).map((e) => (e.kind === 'send' ? e.message.Type : 0));
    expect(toBob).toEqual([6]);
    const catchUp = sc.answer(4);
    expect(withoutLogs(catchUp).map((e) => (e.kind === 'send' ? [e.to, e.message.Seq] : e.kind))).toEqual([[B, 3], [B, 4]]);
    expect(sc.on(heard(heardLine(5), 5))).toEqual([broadcast([A, B], M.stored(heardLine(5), EPOCH), 'zed-id')]);
  });
});
