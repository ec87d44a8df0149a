// One room's lines in Seq order on a node that hears them on pub/sub
// (src/core/sequence.ts): in order as heard when nothing is lost; a gap read
// from the log, with what comes meanwhile held; a gap the log cannot fill, or
// too wide, given up with a resync; a reset history (a new epoch) resynced.
import type { ReadOutcome } from '../src/core/history';
import { GapRead, Heard, MAX_GAP, MAX_HELD, Out, Sequence, SequenceStep, StoredLine, gapRead, head, hear, sequence } from '../src/core/sequence';

const E = 'EpochOne';
const line = (seq: number, epoch = E): StoredLine =>
  ({ room: 'lobby', seq, epoch, msgId: `m${seq}`, from: 'alice-id', name: 'alice', content: `line ${seq}`, at: 0 });
/** What the log answers to `r` when it keeps lines first..headSeq. */
const logRead = (r: GapRead, headSeq: number, first = 1, epoch = E): ReadOutcome => {
  const messages = [];
  for (let s = Math.max(r.after + 1, first); s <= Math.min(headSeq, r.after + r.limit); s++) {
    const { epoch: _e, ...m } = line(s, epoch);
    messages.push(m);
  }
  return { ok: true, epoch, head: headSeq, first, messages, more: r.after + r.limit < headSeq };
};
/** Lines as Seqs, and a resync as "resync@SEQ" (with its epoch when not E). */
const show = (out: readonly Out[]) =>
  out.map((o) => (o.kind === 'line' ? o.line.seq : `resync@${o.seq}${o.epoch === E ? '' : `:${o.epoch}`}`));

/** Steps through `lines` from `s`, collecting what is delivered and asked. */
function run(s: Sequence, lines: Heard[]): { state: Sequence; out: Out[]; reads: GapRead[] } {
  const out: Out[] = [];
  const reads: GapRead[] = [];
  let state = s;
  for (const l of lines) {
    const r: SequenceStep = hear(state, l);
    state = r.state;
    out.push(...r.out);
    if (r.read) reads.push(r.read);
  }
  return { state, out, reads };
}

describe('sequence: lines heard in order', () => {
  it('delivers each at once, and drops a repeat or one from before the room was joined', () => {
    const r = run(sequence(3, E), [line(3), line(4), line(5), line(5), line(2), line(6)]);
    expect(show(r.out)).toEqual([4, 5, 6]);
    expect(r.reads).toEqual([]);
    expect(r.state).toEqual({ seq: 6, epoch: E, held: [], reading: null });
  });

  it('takes the epoch of the first line when it joined before the room had one', () => {
    expect(hear(sequence(0, ''), line(1)).state.epoch).toBe(E);
  });
});

describe('sequence: a gap', () => {
  it('holds what comes past it, reads the gap once, and delivers the gap then what it held, in order', () => {
    const r = run(sequence(2, E), [line(5), line(7), line(6), line(7)]);
    expect(show(r.out)).toEqual([]);
    expect(r.reads).toEqual([{ after: 2, limit: 2 }]);
    expect(r.state.held.map((l) => l.seq)).toEqual([5, 6, 7]);
    const filled = gapRead(r.state, logRead(r.reads[0], 7));
    expect(show(filled.out)).toEqual([3, 4, 5, 6, 7]);
    expect(filled.state).toEqual({ seq: 7, epoch: E, held: [], reading: null });
    expect(filled.read).toBeUndefined();
  });

  it('delivers the gap as soon as it is heard late, and the read that comes back after adds nothing', () => {
    const r = run(sequence(2, E), [line(4), line(3)]);
    expect(r.reads).toEqual([{ after: 2, limit: 1 }]);
    expect(show(r.out)).toEqual([3, 4]);
    for (const answer of [logRead(r.reads[0], 4), { ok: false as const, reason: 'store: gone' }]) {
      const late = gapRead(r.state, answer);
      expect(late.out).toEqual([]);
      expect(late.state).toEqual({ seq: 4, epoch: E, held: [], reading: null });
    }
  });

  it('reads the next gap when the first is filled and another is left', () => {
    const r = run(sequence(0, E), [line(2), line(5)]);
    const first = gapRead(r.state, logRead(r.reads[0], 5));
    expect(show(first.out)).toEqual([1, 2]);
    expect(first.read).toEqual({ after: 2, limit: 2 });
    expect(show(gapRead(first.state, logRead(first.read!, 5)).out)).toEqual([3, 4, 5]);
  });

  it('resyncs past a gap the log cannot read, then delivers what it held', () => {
    const r = run(sequence(2, E), [line(5), line(6)]);
    const failed = gapRead(r.state, { ok: false, reason: 'store: Redis is not connected' });
    expect(show(failed.out)).toEqual(['resync@4', 5, 6]);
    expect(failed.state).toEqual({ seq: 6, epoch: E, held: [], reading: null });
  });

  it('resyncs from the oldest line the log still keeps when the gap was trimmed meanwhile', () => {
    const r = run(sequence(2, E), [line(9)]);
    const trimmed = gapRead(r.state, logRead(r.reads[0], 9, 6));
    expect(show(trimmed.out)).toEqual(['resync@5', 6, 7, 8, 9]);
  });

  it(`resyncs without reading a gap wider than ${MAX_GAP} lines`, () => {
    const r = run(sequence(1, E), [line(MAX_GAP + 3)]);
    expect(r.reads).toEqual([]);
    expect(show(r.out)).toEqual([`resync@${MAX_GAP + 2}`, MAX_GAP + 3]);
  });

  it(`holds at most ${MAX_HELD} lines: past that it resyncs rather than hold more`, () => {
    const lines = Array.from({ length: MAX_HELD + 1 }, (_, i) => line(i + 3));
    const r = run(sequence(1, E), lines);
    expect(r.reads).toEqual([{ after: 1, limit: 1 }]);
    const last = r.out.filter((o) => o.kind === 'resync');
    expect(show(last)).toEqual(['resync@2']);
    expect(r.state.held.length).toBeLessThanOrEqual(MAX_HELD);
    expect(show(r.out.filter((o) => o.kind === 'line'))).toEqual(lines.map((l) => l.seq));
  });
});

describe('sequence: the room\'s head', () => {
  it('reads a lost tail, and does nothing when up to date', () => {
    const s = sequence(4, E);
    expect(head(s, 4, E)).toEqual({ state: s, out: [] });
    const tail = head(s, 6, E);
    expect(tail.read).toEqual({ after: 4, limit: 2 });
    expect(show(gapRead(tail.state, logRead(tail.read!, 6)).out)).toEqual([5, 6]);
  });
});

describe('sequence: a new epoch', () => {
  it('resyncs to Seq 0 of the new epoch and goes on from there, reading what it missed of it', () => {
    const r = run(sequence(40, E), [line(41), line(3, 'EpochTwo')]);
    expect(show(r.out)).toEqual([41, 'resync@0:EpochTwo']);
    expect(r.reads).toEqual([{ after: 0, limit: 2 }]);
    expect(r.state.epoch).toBe('EpochTwo');
    const filled = gapRead(r.state, logRead(r.reads[0], 3, 1, 'EpochTwo'));
    expect(show(filled.out)).toEqual([1, 2, 3]);
  });

  it('says so when the head check finds it first', () => {
    expect(show(head(sequence(40, E), 0, 'EpochTwo').out)).toEqual(['resync@0:EpochTwo']);
  });
});

describe('sequence: whatever pub/sub loses or reorders', () => {
  // A seeded generator, so a failure can be replayed.
  function random(seed: number): () => number {
    let x = seed >>> 0 || 1;
    return () => {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      return x / 2 ** 32;
    };
  }

  it('delivers every Seq once, in order, with the log answering each read at a random later moment', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = random(seed);
      const total = 30 + Math.floor(rnd() * 50);
      let s = sequence(0, E);
      const delivered: number[] = [];
      const pending: GapRead[] = [];
      const take = (r: SequenceStep) => {
        s = r.state;
        for (const o of r.out) if (o.kind === 'line') delivered.push(o.line.seq);
        expect(r.out.some((o) => o.kind === 'resync')).toBe(false);
        if (r.read) pending.push(r.read);
      };
      for (let seq = 1; seq <= total; seq++) {
        if (rnd() > 0.25) take(hear(s, line(seq))); // a quarter are lost on the way
        if (rnd() < 0.1 && seq > 1) take(hear(s, line(seq - 1))); // a late repeat
        if (pending.length > 0 && rnd() < 0.3) take(gapRead(s, logRead(pending.shift()!, seq)));
      }
      while (pending.length > 0) take(gapRead(s, logRead(pending.shift()!, total)));
      take(head(s, total, E)); // the periodic check finds a lost tail
      while (pending.length > 0) take(gapRead(s, logRead(pending.shift()!, total)));
      expect({ seed, delivered }).toEqual({ seed, delivered: Array.from({ length: total }, (_, i) => i + 1) });
    }
  });
});
