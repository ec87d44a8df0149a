// One room's lines in Seq order, gap-free or resync (issue 8 item 5;
// docs/scaling.md "Lines: one order per room"). With several processes, a
// node hears a room's lines on Redis pub/sub, which can lose one (a reconnect,
// a failover) and never says so. This is the pure rule a node applies to each
// line it hears, to the log's answer when it reads a gap, and to a check of the
// room's head (a lost tail shows no gap until the next line): what to deliver
// now, in order, what to read from the log, and when to give up on a gap and
// tell the room's members to resync (read History from their own Seq).
//
// No I/O and no clock: the hub keeps one Sequence per room it has members in,
// carries out `read` as an effect and hands the answer back (reducer.ts onHeard,
// sequenced).
import type { ReadOutcome, StoredMessage } from './history';

/**
 * A line as heard: the stored line and its room's epoch (read from the log), or, as the append
 * published it (src/cluster/bus.ts), what the sequence and the hub need of it and its frame's JSON,
 * whole (`wire`: messages.ts `lineAround`), which the hub hands on without parsing it.
 */
export type Heard = StoredLine | WireLine;

export interface StoredLine extends StoredMessage {
  epoch: string;
  wire?: undefined;
}

export interface WireLine {
  room: string;
  seq: number;
  epoch: string;
  /** The sender's ID: it is not sent its own line (it had the Ack). */
  from: string;
  wire: string;
}

export interface Sequence {
  /** The Seq of the last line delivered (the room's head when it was joined). */
  readonly seq: number;
  /** The room's epoch ('' until known). */
  readonly epoch: string;
  /** Lines heard past a gap, ascending by Seq, each once: delivered when the gap is filled. */
  readonly held: readonly Heard[];
  /** The read of a gap that is with the log (null: none); no second one is asked meanwhile. */
  readonly reading: GapRead | null;
}

/** Read the lines after `after`, at most `limit` (the log's `after` read). */
export interface GapRead {
  after: number;
  limit: number;
}

/**
 * What the members get, in order: lines, and where a gap was given up, a
 * resync (lines between their Seq and `seq` may be missing here, or with a new
 * epoch the room's history was reset: they read History).
 */
export type Out = { kind: 'line'; line: Heard } | { kind: 'resync'; seq: number; epoch: string };

export interface SequenceStep {
  readonly state: Sequence;
  readonly out: readonly Out[];
  readonly read?: GapRead;
}

/** Lines held past a gap at most; past it, the room resyncs rather than hold more. */
export const MAX_HELD = 1000;
/** The widest gap read from the log; a wider one resyncs (as a resume past 1000 missed lines does). */
export const MAX_GAP = 1000;

export const sequence = (seq: number, epoch: string): Sequence => ({ seq, epoch, held: [], reading: null });

/** A line heard live. */
export function hear(s: Sequence, line: Heard): SequenceStep {
  if (s.epoch !== '' && line.epoch !== s.epoch) {
    // The room's history was reset (Redis came back empty): its Seqs start again under the new epoch.
    const out: Out[] = [{ kind: 'resync', seq: 0, epoch: line.epoch }];
    return settle(sequence(0, line.epoch), out, [line]);
  }
  const known = s.epoch === '' ? { ...s, epoch: line.epoch } : s;
  if (line.seq <= known.seq) return { state: known, out: [] };
  if (known.reading === null && known.held.length === 0 && line.seq === known.seq + 1) {
    return { state: { ...known, seq: line.seq }, out: [{ kind: 'line', line }] };
  }
  return settle(known, [], [line]);
}

/** The log's answer to a GapRead. */
export function gapRead(s: Sequence, outcome: ReadOutcome): SequenceStep {
  const asked = s.reading;
  const after: Sequence = { ...s, reading: null };
  const out: Out[] = [];
  // Lines heard meanwhile may have closed the gap asked about.
  const open = asked !== null && after.seq < asked.after + asked.limit;
  // The gap cannot be read: the members read it from History, and the room goes on from what is held.
  if (!outcome.ok) return open ? skip(after, out) : settle(after, out, []);
  if (s.epoch !== '' && outcome.epoch !== s.epoch) {
    out.push({ kind: 'resync', seq: 0, epoch: outcome.epoch });
    return settle(sequence(0, outcome.epoch), out, s.held.filter((l) => l.epoch === outcome.epoch));
  }
  let seq = after.seq;
  if (outcome.first > seq + 1) {
    // Trimmed from the log meanwhile: nobody can read that part again.
    seq = outcome.first - 1;
    out.push({ kind: 'resync', seq, epoch: outcome.epoch });
  }
  for (const m of outcome.messages) {
    if (m.seq <= seq) continue;
    if (m.seq !== seq + 1) break;
    out.push({ kind: 'line', line: { ...m, epoch: outcome.epoch } });
    seq = m.seq;
  }
  const state: Sequence = { ...after, epoch: outcome.epoch, seq };
  // No step forward while the gap asked about is still open: the log does not have it, and reading
  // again would answer the same, so resync past it.
  if (seq === after.seq && open) return skip(state, out);
  return settle(state, out, []);
}

/** The room's head as the log has it now (a periodic check, or the bus's link back): a lost tail is read. */
export function head(s: Sequence, headSeq: number, epoch: string): SequenceStep {
  if (s.epoch !== '' && epoch !== s.epoch) {
    const out: Out[] = [{ kind: 'resync', seq: 0, epoch }];
    const fresh = sequence(0, epoch);
    return headSeq > 0 ? ask(fresh, out, headSeq) : { state: fresh, out };
  }
  const known = s.epoch === '' ? { ...s, epoch } : s;
  if (known.reading !== null || headSeq <= known.seq || known.held.length > 0) return { state: known, out: [] };
  return ask(known, [], headSeq);
}

/**
 * Takes `heard` into what is held, delivers what is contiguous, and asks for
 * the next gap if one is left (or resyncs past it, when it is too wide or too
 * much is held).
 */
function settle(s: Sequence, out: Out[], heard: readonly Heard[]): SequenceStep {
  let held = s.held;
  for (const line of heard) held = insert(held, line);
  let seq = s.seq;
  // One slice at the end, not one per line: a filled gap can release up to MAX_HELD lines at once.
  let i = 0;
  for (; i < held.length && held[i].seq <= seq + 1; i++) {
    if (held[i].seq === seq + 1) {
      out.push({ kind: 'line', line: held[i] });
      seq = held[i].seq;
    }
  }
  if (i > 0) held = held.slice(i);
  const next: Sequence = { ...s, seq, held };
  if (held.length > MAX_HELD) return skip(next, out);
  if (held.length === 0 || next.reading !== null) return { state: next, out };
  return ask(next, out, held[0].seq - 1);
}

/** Reads seq+1..upTo, or, past MAX_GAP, gives that gap up. */
function ask(s: Sequence, out: Out[], upTo: number): SequenceStep {
  const width = upTo - s.seq;
  if (width > MAX_GAP) return skip(s, out, upTo);
  const read = { after: s.seq, limit: width };
  return { state: { ...s, reading: read }, out, read };
}

/**
 * Gives up the gap before the first held line (or up to `upTo`): the members
 * are told to resync from there, and what follows is delivered. With too much
 * held, the oldest held lines are delivered past their gaps too.
 */
function skip(s: Sequence, out: Out[], upTo?: number): SequenceStep {
  const to = Math.max(s.seq, upTo ?? (s.held.length > 0 ? s.held[0].seq - 1 : s.seq));
  if (to > s.seq || s.held.length === 0) out.push({ kind: 'resync', seq: to, epoch: s.epoch });
  return settle({ ...s, seq: to }, out, []);
}

/** `held` with `line` in its place by Seq, once. */
function insert(held: readonly Heard[], line: Heard): readonly Heard[] {
  let i = held.length;
  while (i > 0 && held[i - 1].seq > line.seq) i--;
  if (i > 0 && held[i - 1].seq === line.seq) return held;
  return [...held.slice(0, i), line, ...held.slice(i)];
}
