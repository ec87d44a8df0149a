// The hub with several processes (issue 8; docs/scaling.md): a room is listened
// to while it has members here; a line is acked when the log has it and
// delivered when it is heard, in Seq order, a gap read from the log; a resumed
// member reads what the room's live members had while its replay was read.
import * as M from '../src/core/messages';
import {
  broadcast, closed, heard, linkUp, opened, pingDue, presence, presenceHeard, presenceLost, read, received, send,
  session, sessionTaken, shutdownRequested, subscribe, unsubscribe,
} from '../src/core/events';
import type { StoredLine, WireLine } from '../src/core/sequence';
import { initialState } from '../src/core/reducer';
import { withoutLogs } from './support/marbles';
import { EPOCH, FakeLog, Scene, line, readOk, runWithLog } from './support/fake-log';
import { msg } from './support/outgoing';

const A = 'alice-id';
const B = 'bob-id';
const cluster = () => initialState({ cluster: true });
const tk = (name: string) => name.padEnd(32, '_');
const heardLine = (seq: number, from = 'zed-id', epoch = EPOCH): StoredLine => ({ ...line('lobby', seq, from, 'zed'), epoch });

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
    const mine: StoredLine = { ...log.lines('lobby')[0], epoch: EPOCH };
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
    expect(gap.effects.map((e) => (e.kind === 'broadcast' ? msg(e.message).Seq : e.kind))).toEqual([5, 6, 7]);
  });

  it('hands on a line heard as published, its frame unparsed, in Seq order with lines read from the log', () => {
    const { state, log } = lobby(3);
    const wire = (seq: number, from = 'zed-id'): WireLine => ({
      room: 'lobby', seq, epoch: EPOCH, from, wire: JSON.stringify(M.stored(heardLine(seq, from), EPOCH)),
    });
    const first = runWithLog([heard(wire(4), 1)], state, log);
    expect(first.effects).toEqual([broadcast([A, B], { wire: wire(4).wire }, 'zed-id')]);
    // Its sender here had the Ack: it is not sent its own line.
    expect(runWithLog([heard(wire(5, A), 1)], first.state, log).effects).toEqual([broadcast([A, B], { wire: wire(5, A).wire }, A)]);
    // A gap: 5 and 6 are read from the log (built here), then 7 goes as it came.
    log.seed('lobby', { head: 7 });
    const gap = runWithLog([heard(wire(7), 2)], first.state, log);
    expect(gap.asked).toEqual([read({ room: 'lobby', after: 4, limit: 2 }, { for: 'gap' })]);
    expect(gap.effects).toEqual([
      broadcast([A, B], M.stored(log.lines('lobby')[4], EPOCH), 'seed-id'),
      broadcast([A, B], M.stored(log.lines('lobby')[5], EPOCH), 'seed-id'),
      broadcast([A, B], { wire: wire(7).wire }, 'zed-id'),
    ]);
    expect(runWithLog([heard(wire(7), 3)], gap.state, log).effects).toEqual([]);
  });

  it('looks for a lost last line at each heartbeat and when the link comes back', () => {
    const { state, log } = lobby(3);
    log.seed('lobby', { head: 5 });
    for (const e of [pingDue([], 10), linkUp(10)]) {
      const r = runWithLog([e], state, log);
      expect(r.asked).toContainEqual(read({ room: 'lobby', limit: 0 }, { for: 'head' }));
      expect(r.effects.filter((x) => x.kind === 'broadcast').map((x) => (x.kind === 'broadcast' ? msg(x.message).Seq : 0))).toEqual([4, 5]);
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
    // Presence takes bob back in; then the room's position is read.
    sc.answerPresence(2);
    // Lines 3 and 4 reach the log, and are heard here, before the replay's read is answered (head 2 then).
    log.seed('lobby', { head: 4 });
    expect(sc.on(heard(heardLine(3), 3))).toEqual([broadcast([A], M.stored(heardLine(3), EPOCH), 'zed-id')]);
    sc.on(heard(heardLine(4), 3));
    // The replay's read ran before lines 3 and 4: it answers head 2, nothing missed.
    const effects = sc.answerRead(readOk({ head: 2 }), 4);
    const toBob = withoutLogs(effects).filter((e) => e.kind === 'send' && e.to === B).map((e) => (e.kind === 'send' ? msg(e.message).Type : 0));
    expect(toBob).toEqual([6]);
    const catchUp = sc.answer(4);
    expect(withoutLogs(catchUp).map((e) => (e.kind === 'send' ? [e.to, msg(e.message).Seq] : e.kind))).toEqual([[B, 3], [B, 4]]);
    expect(sc.on(heard(heardLine(5), 5))).toEqual([broadcast([A, B], M.stored(heardLine(5), EPOCH), 'zed-id')]);
  });
});

describe('hub, several processes: a resumed room\'s Join reply', () => {
  // Found in the README's two-node demo: node A restarted, alice resumed on it at once, and her Join
  // reply said "1 here" while bob was in the lobby on node B (the log's read came back before presence).
  function resumedAlone() {
    const log = new FakeLog().seed('lobby', { head: 2 });
    log.presence.add('lobby', B, 'bob');
    const sc = new Scene(cluster(), log);
    sc.on(opened('alice-2', 1, { resume: tk('a'), since: `lobby:2:${EPOCH}` }, tk('a2')));
    sc.on(sessionTaken({ op: 'take', conn: 'alice-2', token: tk('a') }, { found: true, record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] }, directs: [] }, 2));
    return sc;
  }

  it('reads the room\'s position only once presence has answered, and lists the members over every node', () => {
    const sc = resumedAlone();
    expect(sc.pending).toBe(0);
    expect(sc.pendingPresence).toBe(1);
    sc.answerPresence(3);
    expect(sc.pending).toBe(1);
    sc.settle(4);
    const reply = sc.inbox(A).find((m) => m.Type === 6);
    expect(reply).toMatchObject({ Room: 'lobby', Count: 2, Seq: 2, Recovered: true });
    expect(((reply?.Members ?? []) as Array<{ Name: string }>).map((m) => m.Name).sort()).toEqual(['alice', 'bob']);
  });

  it('still answers, with the members here, when presence cannot be reached', () => {
    const sc = resumedAlone();
    sc.log.presence.fails = 'unavailable';
    sc.answerPresence(3);
    sc.log.presence.fails = undefined;
    sc.settle(4);
    expect(sc.inbox(A).find((m) => m.Type === 6)).toMatchObject({ Room: 'lobby', Count: 1, Members: [{ ID: A, Name: 'alice' }], Recovered: true });
  });
});

describe('hub, several processes: a resume, around lines not heard here yet (found by reducer-props.spec.ts)', () => {
  /** alice resumes on a node where nobody is in the lobby yet, from Seq `since`; the log is at `head`. */
  function resumed(since: number, head: number) {
    const log = new FakeLog().seed('lobby', { head });
    const sc = new Scene(cluster(), log);
    sc.on(opened('alice-2', 1, { resume: tk('a'), since: `lobby:${since}:${EPOCH}` }, tk('a2')));
    sc.on(sessionTaken({ op: 'take', conn: 'alice-2', token: tk('a') }, { found: true, record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] }, directs: [] }, 2));
    sc.answerPresence(2);
    return sc;
  }
  const seqsTo = (sc: Scene, id: string) => sc.inbox(id).filter((m) => m.Type === 1).map((m) => m.Seq);

  it('replays only up to the room\'s live position: a line the log kept after it comes live, once', () => {
    const sc = resumed(0, 1);
    sc.answer(3); // the room's position: Seq 1, one line to replay
    // Another node's line reaches the log before the replay is read, and is not heard here yet.
    sc.log.answer({ kind: 'append', req: { room: 'lobby', msgId: 'far-2', from: 'zed-id', name: 'zed', content: 'late', at: 4 } }, 4);
    sc.settle(5);
    expect(sc.inbox(A).find((m) => m.Type === 6)).toMatchObject({ Seq: 1, Recovered: true });
    expect(seqsTo(sc, A)).toEqual([1]);
    sc.on(heard({ ...sc.log.lines('lobby')[1], epoch: EPOCH }, 6));
    expect(seqsTo(sc, A)).toEqual([1, 2]);
  });

  // The client says it has Seq 2 (heard on the node that died), this node has heard only up to 1:
  // Recovered true from Seq 2, and line 2, heard here later, is not sent again (protocol.md: "no gap
  // and no duplicate"); it goes live after it.
  /** bob here in the lobby, heard up to Seq 1; lines 2..`head` from another node are in the log, not heard here yet. */
  function aheadOfHere(head: number, since: number) {
    const log = new FakeLog().seed('lobby', { head: 1 });
    const sc = new Scene(runWithLog([opened(B, 0, { name: 'bob' }, tk('b'))], cluster(), log).state, log);
    for (let seq = 2; seq <= head; seq++) {
      log.answer({ kind: 'append', req: { room: 'lobby', msgId: `far-${seq}`, from: 'zed-id', name: 'zed', content: 'seen', at: 2 } }, 2);
    }
    sc.on(opened('alice-2', 3, { resume: tk('a'), since: `lobby:${since}:${EPOCH}` }, tk('a2')));
    sc.on(sessionTaken({ op: 'take', conn: 'alice-2', token: tk('a') }, { found: true, record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] }, directs: [] }, 3));
    sc.settle(4);
    const hear = (seq: number) => sc.on(heard({ ...log.lines('lobby')[seq - 1], epoch: EPOCH }, 5));
    return { sc, log, hear };
  }

  it('gives a resumed member no line it said it had, when this node has not heard it yet', () => {
    // Line 2, from another node: alice saw it on the node that died; it is not heard here yet.
    const { sc, hear } = aheadOfHere(2, 2);
    // Its reply says where it is, not where this node is.
    expect(sc.inbox(A).find((m) => m.Type === 6)).toMatchObject({ Recovered: true, Seq: 2 });
    hear(2);
    expect(seqsTo(sc, B)).toEqual([2]);
    expect(seqsTo(sc, A)).toEqual([]);
    sc.log.answer({ kind: 'append', req: { room: 'lobby', msgId: 'far-3', from: 'zed-id', name: 'zed', content: 'new', at: 6 } }, 6);
    hear(3);
    expect(seqsTo(sc, A)).toEqual([3]);
  });

  it('the same after a replay: lines it had and this node has not heard are neither replayed nor sent live', () => {
    // The log is at 4, alice had 3, this node has heard 1: nothing to replay here, 4 comes live after 2 and 3.
    const { sc, hear } = aheadOfHere(4, 3);
    expect(sc.inbox(A).filter((m) => m.Type === 6 || m.Type === 1)).toEqual([expect.objectContaining({ Type: 6, Recovered: true, Seq: 3 })]);
    for (const seq of [2, 3, 4]) hear(seq);
    expect(seqsTo(sc, B)).toEqual([2, 3, 4]);
    expect(seqsTo(sc, A)).toEqual([4]);
  });

  it('hears of comings and goings while it waits for the lines it had, and a Join again says where it is', () => {
    const { sc, log } = aheadOfHere(2, 2);
    const came = sc.on(presenceHeard(log.presence.join('lobby', 'zed-id', 'zed', 6), 6));
    expect(came).toContainEqual(broadcast([B, A], M.connected({ ID: 'zed-id', Name: 'zed' }, 'lobby', 6), 'zed-id'));
    sc.on(received(A, 7, { type: 'join', room: 'lobby', ref: 'j' }));
    sc.settle(8);
    expect(sc.inbox(A).filter((m) => m.Type === 6).map((m) => [m.Seq, m.Ref])).toEqual([[2, undefined], [2, 'j']]);
  });

  it('gives a resumed member its own line it never had the Ack of, when this node hears it after the resume', () => {
    // alice's line 2 reached the log, and her socket died before its Ack (on the node that died).
    const log = new FakeLog().seed('lobby', { head: 1 });
    const sc = new Scene(runWithLog([opened(B, 0, { name: 'bob' }, tk('b'))], cluster(), log).state, log);
    log.answer({ kind: 'append', req: { room: 'lobby', msgId: 'mine-2', from: A, name: 'alice', content: 'mine', at: 2 } }, 2);
    sc.on(opened('alice-2', 3, { resume: tk('a'), since: `lobby:1:${EPOCH}` }, tk('a2')));
    sc.on(sessionTaken({ op: 'take', conn: 'alice-2', token: tk('a') }, { found: true, record: { id: A, name: 'alice', rooms: ['lobby'], keys: [] }, directs: [] }, 3));
    sc.settle(4);
    expect(sc.inbox(A).find((m) => m.Type === 6)).toMatchObject({ Recovered: true, Seq: 1 });
    sc.on(heard({ ...log.lines('lobby')[1], epoch: EPOCH }, 5));
    expect(seqsTo(sc, B)).toEqual([2]);
    expect(seqsTo(sc, A)).toEqual([2]);
    // Live after it: its own lines from now on are acked, not sent back.
    log.answer({ kind: 'append', req: { room: 'lobby', msgId: 'mine-3', from: A, name: 'alice', content: 'again', at: 6 } }, 6);
    sc.on(heard({ ...log.lines('lobby')[2], epoch: EPOCH }, 6));
    expect(seqsTo(sc, A)).toEqual([2]);
    expect(seqsTo(sc, B)).toEqual([2, 3]);
  });

  it('goes live with a resync when this node gives up a gap past what it had', () => {
    const { sc, hear } = aheadOfHere(3, 2);
    // Line 2 is lost on the bus and the log cannot give it back: the room resyncs past it, alice too.
    sc.log.readsFail = 'I/O error';
    const lost = hear(3);
    expect(lost.filter((e) => e.kind === 'read')).toHaveLength(1);
    sc.settle(6);
    sc.log.readsFail = undefined;
    const resyncs = (id: string) => sc.inbox(id).filter((m) => m.Type === 14).map((m) => m.Seq);
    expect(resyncs(B)).toEqual([2]);
    expect(resyncs(A)).toEqual([2]);
    expect(seqsTo(sc, B)).toEqual([3]);
    expect(seqsTo(sc, A)).toEqual([3]);
  });
});

describe('hub, several processes: presence across nodes', () => {
  const Z = 'zed-id';
  const member = (ID: string, Name: string) => ({ ID, Name });

  it('answers a Join when both the room\'s position and its members over every node are back, with the Seq of then', () => {
    const log = new FakeLog().seed('lobby', { head: 2 });
    log.presence.add('lobby', Z, 'zed');
    const sc = new Scene(cluster(), log);
    const asked = sc.on(opened(A, 0, { name: 'alice' }, tk('a')));
    expect(asked).toContainEqual(presence({ op: 'join', room: 'lobby', id: A, name: 'alice', at: 0, list: 100, max: 10_000 }, { for: 'join', to: A, ref: undefined }));
    // Presence first: the position is still out, so no reply yet.
    expect(sc.answerPresence(1).filter((e) => e.kind === 'send')).toEqual([]);
    expect(sc.answer(2)).toEqual([send(A, M.joined(A, 'lobby', [member(Z, 'zed'), member(A, 'alice')], 2, 2, EPOCH, 2))]);

    // bob joins a room whose position is known: no read, only presence; a line heard meanwhile is
    // not his (he is not live yet), and his reply's Seq says he has it to read.
    const bob = sc.on(opened(B, 3, { name: 'bob' }, tk('b')));
    expect(bob.filter((e) => e.kind === 'read')).toEqual([]);
    log.seed('lobby', { head: 3 });
    expect(sc.on(heard(heardLine(3), 4))).toEqual([broadcast([A], M.stored(heardLine(3), EPOCH), Z)]);
    const reply = sc.answerPresence(5);
    expect(reply).toContainEqual(send(B, M.joined(B, 'lobby', [member(Z, 'zed'), member(A, 'alice'), member(B, 'bob')], 3, 3, EPOCH, 5)));
    // bob's own joined event, heard back here: alice is told, bob is not.
    expect(reply).toContainEqual(broadcast([A, B], M.connected(member(B, 'bob'), 'lobby', 3), B));
    expect(sc.on(heard(heardLine(4), 6))).toEqual([broadcast([A, B], M.stored(heardLine(4), EPOCH), Z)]);
  });

  it('tells the members here of comings, goings and renames on any node, judged by the count over every node', () => {
    const log = new FakeLog();
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }, tk('a'))], initialState({ cluster: true, presenceMax: 3 }), log);
    const came = log.presence.join('lobby', Z, 'zed', 1);
    expect(runWithLog([presenceHeard(came, 1)], state, log).effects).toEqual([broadcast([A], M.connected(member(Z, 'zed'), 'lobby', 1), Z)]);
    const renamed = { kind: 'renamed', room: 'lobby', id: Z, name: 'zedd', oldName: 'zed', node: 'there', at: 2, count: 2 } as const;
    expect(runWithLog([presenceHeard(renamed, 2)], state, log).effects).toEqual([broadcast([A], M.renamed(Z, 'zedd', 'zed', 2, 'lobby'), Z)]);
    const died = log.presence.leave('lobby', Z, 3, 'node_down');
    expect(runWithLog([presenceHeard(died, 3)], state, log).effects)
      .toEqual([broadcast([A], M.disconnected(member(Z, 'zed'), 'lobby', 'node_down', 3), Z)]);
    // Past --presence-max over every node (3 here), whatever this node holds: nothing.
    for (const id of ['y1', 'y2']) log.presence.join('lobby', id, id, 4);
    expect(runWithLog([presenceHeard(log.presence.join('lobby', 'y3', 'y3', 4), 4)], state, log).effects).toEqual([]);
    expect(runWithLog([presenceHeard(log.presence.leave('lobby', 'y3', 5), 5)], state, log).effects).toEqual([]);
    // A room with nobody here: nothing.
    expect(runWithLog([presenceHeard({ ...came, room: 'elsewhere' }, 6)], state, log).effects).toEqual([]);
  });

  it('leaves and renames through presence, and the room hears it from the event', () => {
    const log = new FakeLog();
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }, tk('a')), opened(B, 0, { name: 'bob' }, tk('b'))], cluster(), log);
    const renamed = runWithLog([received(A, 1, { type: 'rename', name: 'ali' })], state, log);
    expect(renamed.askedPresence).toEqual([presence({ op: 'rename', id: A, name: 'ali', rooms: ['lobby'], at: 1 })]);
    expect(renamed.effects).toEqual([
      send(A, M.renamed(A, 'ali', 'alice', 1)),
      // Its record in Redis has the new name (spec/reducer-sessions.spec.ts).
      session({ op: 'update', id: A, token: tk('a'), record: { id: A, name: 'ali', rooms: ['lobby'], keys: [] } }),
      broadcast([A, B], M.renamed(A, 'ali', 'alice', 1, 'lobby'), A),
    ]);
    const gone = runWithLog([closed(A, 2, 'closed')], renamed.state, log);
    expect(gone.askedPresence).toEqual([presence({ op: 'leave', room: 'lobby', id: A, reason: 'closed', at: 2 })]);
    expect(gone.effects).toContainEqual(broadcast([B], M.disconnected(member(A, 'ali'), 'lobby', 'closed', 2), A));
    expect(log.presence.rooms.get('lobby')?.has(A)).toBe(false);
  });

  it('answers Members and Rooms from presence, and unavailable while it cannot', () => {
    const log = new FakeLog();
    log.presence.add('lobby', Z, 'zed').add('rust', Z, 'zed').add('rust', 'y', 'yan');
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }, tk('a'))], cluster(), log);
    const list = runWithLog([received(A, 1, { type: 'members', room: 'lobby', ref: 'm' })], state, log);
    expect(list.askedPresence).toEqual([presence({ op: 'members', room: 'lobby', limit: 100 }, { for: 'members', to: A, ref: 'm' })]);
    expect(list.effects).toEqual([send(A, M.members('lobby', [member(Z, 'zed'), member(A, 'alice')], 2, 1, 'm'))]);
    const bad = runWithLog([received(A, 1, { type: 'members', room: 'lobby', after: 'nobody' })], state, log);
    expect(bad.effects.map((e) => e.kind === 'send' && msg(e.message).Code)).toEqual(['bad_cursor']);
    const rooms = runWithLog([received(A, 2, { type: 'rooms', ref: 'r' })], state, log);
    expect(rooms.effects).toEqual([send(A, M.roomList([{ Room: 'rust', Count: 2 }, { Room: 'lobby', Count: 2 }], 2, 2, 'r'))]);
    const again = runWithLog([received(A, 3, { type: 'join', room: 'lobby', ref: 'j' })], state, log);
    expect(again.effects).toEqual([send(A, M.joined(A, 'lobby', [member(Z, 'zed'), member(A, 'alice')], 2, 0, EPOCH, 3, 'j'))]);
    log.presence.fails = 'unavailable';
    for (const m of [{ type: 'members', room: 'lobby' }, { type: 'rooms' }] as const) {
      const r = runWithLog([received(A, 4, m)], state, log);
      expect(r.effects.map((e) => e.kind === 'send' && msg(e.message).Code)).toEqual(['unavailable']);
    }
  });

  it('takes a joiner out of the room with an Error when presence cannot take it', () => {
    const log = new FakeLog();
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }, tk('a'))], cluster(), log);
    log.presence.fails = 'unavailable';
    const r = runWithLog([received(A, 1, { type: 'join', room: 'rust', ref: 'j' })], state, log);
    expect(r.effects.filter((e) => e.kind === 'send').map((e) => e.kind === 'send' && [msg(e.message).Code, msg(e.message).Ref])).toEqual([['unavailable', 'j']]);
    // Listened to while it was being joined, and no more; its record in Redis has the room, then not.
    const record = (rooms: string[]) => session({ op: 'update', id: A, token: tk('a'), record: { id: A, name: 'alice', rooms, keys: [] } });
    expect(r.effects.filter((e) => e.kind !== 'send')).toEqual([subscribe('rust'), record(['lobby', 'rust']), unsubscribe('rust'), record(['lobby'])]);
    expect(r.state.clients.get(A)?.rooms).toEqual(['lobby']);
    expect(r.state.rooms.has('rust')).toBe(false);
  });

  it('joins every member here again when presence says this node was taken for dead, and leaves nothing on shutdown', () => {
    const log = new FakeLog();
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }, tk('a')), received(A, 0, { type: 'join', room: 'rust' })], cluster(), log);
    const back = runWithLog([presenceLost(5)], state, log);
    expect(back.askedPresence).toEqual([
      presence({ op: 'join', room: 'lobby', id: A, name: 'alice', at: 5 }), presence({ op: 'join', room: 'rust', id: A, name: 'alice', at: 5 }),
    ]);
    const stop = runWithLog([shutdownRequested(6), closed(A, 7, 'closed')], state, log);
    expect(stop.askedPresence).toEqual([]);
    // Taken for dead while it stops, its sockets still closing: not joined again (they resume elsewhere).
    const late = runWithLog([shutdownRequested(6), presenceLost(7)], state, log);
    expect(late.askedPresence).toEqual([]);
  });
});
