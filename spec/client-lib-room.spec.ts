// One room's lines in order and once (src/client/room.ts): pure, so every path is
// shown with plain records. Lines are named by their Seq; E is the room's Epoch.
import { Held, RoomOut, RoomState, arrived, fetchFailed, joinReplied, linkLost, newRoom, pageArrived } from '../src/client/room';
import type { Frame } from '../src/client/wire';

const E = 'Qm7xK2pA';
const ctx = { ref: 7, heldMax: 1000 };
const line = (seq: number, epoch = E): Frame =>
  ({ ID: 'B1', Content: `line ${seq}`, SentAt: 1, Type: 1, Name: 'bob', Room: 'lobby', Seq: seq, Epoch: epoch, MsgID: `m${seq}` });
const live = (seq: number): Held => ({ seq, frame: line(seq) });
const join = (seq: number, more: Partial<Frame> = {}): Frame =>
  ({ ID: 'A1', Content: '', SentAt: 1, Type: 6, Room: 'lobby', Seq: seq, Epoch: E, ...more });
const page = (seqs: number[], more: boolean, latest: number, epoch = E): Frame =>
  ({ ID: '', Content: '', SentAt: 1, Type: 13, Room: 'lobby', Messages: seqs.map((s) => line(s, epoch)), More: more, Seq: latest, First: 1, Epoch: epoch, Ref: 7 });
const at = (seq: number, more: Partial<RoomState> = {}): RoomState => ({ ...newRoom('lobby', seq, E), joined: true, ...more });
/** The Seqs of the lines an output lets through, in order. */
const lines = (out: readonly RoomOut[]): (number | string | undefined)[] =>
  out.flatMap((o): (number | string | undefined)[] => (o.kind === 'own' ? [`own${o.seq}`] : o.kind === 'line' ? [o.frame.Seq] : []));
const History = (after: number, ref = 7) => ({ kind: 'fetch', ref, frame: { Type: 13, Room: 'lobby', After: after, Limit: 100, Ref: ref } });

describe('client room: live lines', () => {
  it('delivers the next line and moves on', () => {
    const r = arrived(at(41), live(42), E, ctx);
    expect(lines(r.out)).toEqual([42]);
    expect(r.room.seq).toBe(42);
  });

  it('drops a line it already has, returning the same record', () => {
    const r0 = at(42);
    const r = arrived(r0, live(42), E, ctx);
    expect(r.out).toEqual([]);
    expect(r.room).toBe(r0);
    expect(arrived(r0, live(3), E, ctx).room).toBe(r0);
  });

  it('holds a line that comes ahead of a gap and reads the gap from History', () => {
    const r = arrived(at(41), live(44), E, ctx);
    expect(lines(r.out)).toEqual([]);
    expect(r.out).toEqual([{ kind: 'catchingUp', reason: 'gap' }, History(41)]);
    expect(r.room).toMatchObject({ seq: 41, fetching: 7, held: [{ seq: 44 }] });
  });

  it('while a read is in flight holds every line, in Seq order, each once', () => {
    let r = at(41, { fetching: 7 });
    for (const s of [45, 43, 45, 44]) r = arrived(r, live(s), E, ctx).room;
    expect(r.held.map((h) => h.seq)).toEqual([43, 44, 45]);
    expect(r.seq).toBe(41);
  });

  it('counts our own acked line (no frame) in the position without showing it as a line', () => {
    const r = arrived(at(41), { seq: 42 }, E, ctx);
    expect(r.out).toEqual([{ kind: 'own', seq: 42 }]);
    expect(r.room.seq).toBe(42);
  });

  it('is bounded: past heldMax the newest line is dropped and the read goes once more; own Acks stay', () => {
    let r = at(10, { fetching: 7 });
    const small = { ref: 7, heldMax: 2 };
    r = arrived(r, live(12), E, small).room;
    r = arrived(r, { seq: 13 }, E, small).room;
    r = arrived(r, live(14), E, small).room;
    expect(r.held.map((h) => h.seq)).toEqual([12, 13]);
    expect(r.overflow).toBe(true);
    // The page that answers says no More, but 14 was dropped after it was asked: read again.
    const p = pageArrived(r, 7, page([11, 12, 13], false, 13), { ref: 8, heldMax: 2 });
    expect(lines(p.out)).toEqual([11, 12, 'own13']);
    expect(p.out[p.out.length - 1]).toEqual(History(13, 8));
  });

  it('on a line from another Epoch, says the history was reset and starts from it', () => {
    const r = arrived(at(41, { held: [live(50)] }), { seq: 3, frame: line(3, 'NEW') }, 'NEW', ctx);
    expect(r.out).toEqual([{ kind: 'reset', reason: 'epoch_changed', seq: 2, epoch: 'NEW' }, { kind: 'line', frame: line(3, 'NEW'), via: 'live' }]);
    expect(r.room).toMatchObject({ seq: 3, epoch: 'NEW', held: [] });
  });

  it('with no position yet (no Join reply), starts at the first line it sees', () => {
    const r = arrived(newRoom('lobby'), live(9), E, ctx);
    expect(lines(r.out)).toEqual([9]);
    expect(r.room).toMatchObject({ seq: 9, epoch: E });
  });
});

describe('client room: Join replies', () => {
  it('takes its first position from the Join reply, silently', () => {
    const r = joinReplied(newRoom('lobby'), join(41), ctx);
    expect(r.out).toEqual([]);
    expect(r.room).toMatchObject({ joined: true, seq: 41, epoch: E });
  });

  it('Recovered: true on a resume: the replayed lines follow, nothing to read', () => {
    const r = joinReplied(at(57, { joined: false }), join(59, { Recovered: true }), ctx);
    expect(r.out).toEqual([]);
    expect(r.room).toMatchObject({ joined: true, seq: 57 });
  });

  it.each(['too_many', 'trimmed', 'no_position'])('Recovered: false, %s, same Epoch: reads History After its Seq', (reason) => {
    const r = joinReplied(at(57, { joined: false }), join(1500, { Recovered: false, Reason: reason }), ctx);
    expect(r.out).toEqual([{ kind: 'catchingUp', reason }, History(57)]);
    expect(r.room).toMatchObject({ joined: true, seq: 57, fetching: 7 });
  });

  it('a plain Join reply (a fresh session after resume_failed) ahead of us: reads History too', () => {
    expect(joinReplied(at(57), join(70), ctx).out).toEqual([{ kind: 'catchingUp', reason: 'rejoined' }, History(57)]);
    expect(joinReplied(at(70), join(70), ctx).out).toEqual([]);
  });

  it('another Epoch: the history was reset; carries on from the new position, reads nothing', () => {
    const r = joinReplied(at(57), join(4, { Epoch: 'NEW', Recovered: false, Reason: 'epoch_changed' }), ctx);
    expect(r.out).toEqual([{ kind: 'reset', reason: 'epoch_changed', seq: 4, epoch: 'NEW' }]);
    expect(r.room).toMatchObject({ seq: 4, epoch: 'NEW' });
  });

  it('no_position for a room we had no position in: reported, adopted', () => {
    const r = joinReplied(newRoom('lobby'), join(12, { Recovered: false, Reason: 'no_position' }), ctx);
    expect(r.out).toEqual([{ kind: 'reset', reason: 'no_position', seq: 12, epoch: E }]);
    expect(r.room.seq).toBe(12);
  });

  it('a Seq behind ours in the same Epoch cannot be: treated as a reset', () => {
    expect(joinReplied(at(57), join(50), ctx).out).toEqual([{ kind: 'reset', reason: 'seq_rewound', seq: 50, epoch: E }]);
  });

  it('does not start a second read while one is in flight', () => {
    const r = joinReplied(at(57, { fetching: 3 }), join(90), ctx);
    expect(r.out).toEqual([]);
    expect(r.room.fetching).toBe(3);
  });

  it('a server without positions: joined, nothing else', () => {
    const r = joinReplied(newRoom('lobby'), { ID: 'A1', Content: '', SentAt: 1, Type: 6, Room: 'lobby' }, ctx);
    expect(r.out).toEqual([]);
    expect(r.room).toMatchObject({ joined: true, seq: 0, epoch: '' });
  });
});

describe('client room: History pages', () => {
  it('ignores a page that is not the read in flight', () => {
    const r0 = at(57, { fetching: 9 });
    expect(pageArrived(r0, 7, page([58], false, 58), ctx).room).toBe(r0);
  });

  it('pages on while More, then lets the held live lines through, in order, once', () => {
    let r = at(57, { fetching: 7, held: [live(160), live(161)] });
    const p1 = pageArrived(r, 7, page([58, 59, 60], true, 161), { ref: 8, heldMax: 9 });
    expect(lines(p1.out)).toEqual([58, 59, 60]);
    expect(p1.out[p1.out.length - 1]).toEqual(History(60, 8));
    r = p1.room;
    const p2 = pageArrived(r, 8, page([61, 160], false, 161), ctx);
    // 61..159 missing with no More cannot happen unless trimmed meanwhile: a gap, reported.
    expect(lines(p2.out)).toEqual([61, 160, 161]);
    expect(p2.out.filter((o) => o.kind === 'gap')).toEqual([{ kind: 'gap', after: 61, before: 160 }]);
    expect(p2.out[p2.out.length - 1]).toEqual({ kind: 'caughtUp', complete: true });
    expect(p2.room).toMatchObject({ seq: 161, held: [], fetching: undefined });
  });

  it('trimmed: the page starts past our Seq; the lost lines are reported as a gap', () => {
    const p = pageArrived(at(57, { fetching: 7 }), 7, page([80, 81], false, 81), ctx);
    expect(p.out[0]).toEqual({ kind: 'gap', after: 57, before: 80 });
    expect(lines(p.out)).toEqual([80, 81]);
  });

  it('a held copy stands for the page\'s line: our own line is not shown back to us', () => {
    const p = pageArrived(at(57, { fetching: 7, held: [{ seq: 59 }] }), 7, page([58, 59, 60], false, 60), ctx);
    expect(lines(p.out)).toEqual([58, 'own59', 60]);
  });

  it('a page with More that moves nothing ends the read (no loop on a bad reply)', () => {
    const p = pageArrived(at(57, { fetching: 7 }), 7, page([], true, 57), ctx);
    expect(p.out).toEqual([{ kind: 'caughtUp', complete: true }]);
  });

  it('everything after our Seq trimmed: caught up, the position kept until a line shows the gap', () => {
    const p = pageArrived(at(57, { fetching: 7 }), 7, page([], false, 70), ctx);
    expect(p.out).toEqual([{ kind: 'caughtUp', complete: true }]);
    expect(p.room.seq).toBe(57);
    // The next live line is ahead of a gap: read again; History still has nothing: the gap is told, the line let through.
    const a = arrived(p.room, live(71), E, { ref: 8, heldMax: 9 });
    expect(a.out).toEqual([{ kind: 'catchingUp', reason: 'gap' }, History(57, 8)]);
    const b = pageArrived(a.room, 8, page([71], false, 71), ctx);
    expect(b.out).toEqual([{ kind: 'gap', after: 57, before: 71 }, { kind: 'line', frame: line(71), via: 'live' }, { kind: 'caughtUp', complete: true }]);
  });

  it('a page in another Epoch: the history was reset under the read', () => {
    const p = pageArrived(at(57, { fetching: 7, held: [live(90)] }), 7, page([1, 2], false, 2, 'NEW'), ctx);
    expect(p.out).toEqual([{ kind: 'reset', reason: 'epoch_changed', seq: 2, epoch: 'NEW' }, { kind: 'caughtUp', complete: false }]);
    expect(p.room).toMatchObject({ seq: 2, epoch: 'NEW', held: [], fetching: undefined });
  });

  it('a failed read lets through what was held, saying what is missing', () => {
    const f = fetchFailed(at(57, { fetching: 7, held: [live(60), live(61)] }), 7);
    expect(f.out).toEqual([
      { kind: 'gap', after: 57, before: 60 },
      { kind: 'line', frame: line(60), via: 'live' },
      { kind: 'line', frame: line(61), via: 'live' },
      { kind: 'caughtUp', complete: false },
    ]);
    expect(fetchFailed(at(57, { fetching: 3 }), 7).out).toEqual([]);
  });
});

describe('client room: the link lost', () => {
  it('forgets membership, the read and what was held; keeps the position to resume from', () => {
    expect(linkLost(at(57, { fetching: 7, held: [live(60)] }))).toEqual({ ...newRoom('lobby', 57, E) });
    const idle = newRoom('x', 3, E);
    expect(linkLost(idle)).toBe(idle);
  });
});
