// One room's lines, in order and once (protocol.md "History", "Resuming after a
// reconnect"). Pure: a room's record in, a new record and what to do out. Every line
// (live, replayed, from a History page) and every Ack of our own line has a Seq; the
// room keeps the Seq of the last one the app has (`seq`), delivers the next one, drops
// what it already has, and when a line comes ahead of a gap it holds it and reads the
// gap from History (After `seq`, 100 a page) before letting it through.
import { CATCH_UP_PAGE, Frame, T, epochOf, seqOf } from './wire';

/** A line that came ahead of a gap (frame), or our own line: an Ack (no frame, the app has it). */
export interface Held {
  readonly seq: number;
  readonly frame?: Frame;
}

export interface RoomState {
  readonly name: string;
  /** The server confirmed us in it on this connection (a Join reply). */
  readonly joined: boolean;
  /** The Seq of the last line the app has here, its own acked lines counted; 0 before any. */
  readonly seq: number;
  /** The Epoch `seq` counts in; '' before the first Join reply. */
  readonly epoch: string;
  /** The Ref of the History read in flight to fill a gap. */
  readonly fetching?: number;
  /** A held line was dropped (held was full) since that read was asked: read once more after it. */
  readonly overflow: boolean;
  /** Ahead of a gap, by Seq ascending. */
  readonly held: readonly Held[];
}

export type RoomOut =
  | { kind: 'line'; frame: Frame; via: 'live' | 'history' }
  | { kind: 'own'; seq: number }
  | { kind: 'gap'; after: number; before: number }
  | { kind: 'reset'; reason: string; seq: number; epoch: string }
  | { kind: 'fetch'; ref: number; frame: { Type: number; Room: string; After: number; Limit: number; Ref: number } }
  | { kind: 'catchingUp'; reason: string }
  | { kind: 'caughtUp'; complete: boolean };

export interface RoomStep {
  readonly room: RoomState;
  readonly out: readonly RoomOut[];
}

/** What a step may need: the Ref for a History read, if it asks one; how much it may hold. */
export interface RoomCtx {
  readonly ref: number;
  readonly heldMax: number;
}

export const newRoom = (name: string, seq = 0, epoch = ''): RoomState =>
  ({ name, joined: false, seq, epoch, overflow: false, held: [] });

const same = (room: RoomState): RoomStep => ({ room, out: [] });

function fetch(r: RoomState, ctx: RoomCtx, out: RoomOut[]): RoomState {
  const frame = { Type: T.History, Room: r.name, After: r.seq, Limit: CATCH_UP_PAGE, Ref: ctx.ref };
  out.push({ kind: 'fetch', ref: ctx.ref, frame });
  return { ...r, fetching: ctx.ref, overflow: false };
}

function deliver(r: RoomState, h: Held, via: 'live' | 'history', out: RoomOut[]): RoomState {
  out.push(h.frame ? { kind: 'line', frame: h.frame, via } : { kind: 'own', seq: h.seq });
  return { ...r, seq: h.seq };
}

/** Lets through what is held and now next in line. */
function drain(r: RoomState, out: RoomOut[]): RoomState {
  let i = 0;
  while (i < r.held.length && r.held[i].seq <= r.seq + 1) {
    if (r.held[i].seq > r.seq) r = deliver(r, r.held[i], 'live', out);
    i++;
  }
  return i === 0 ? r : { ...r, held: r.held.slice(i) };
}

/** Lets through everything held, saying where lines are missing: History has nothing more to give. */
function release(r: RoomState, out: RoomOut[]): RoomState {
  while (r.held.length > 0) {
    const next = r.held[0];
    if (next.seq > r.seq + 1) out.push({ kind: 'gap', after: r.seq, before: next.seq });
    r = drain(next.seq > r.seq + 1 ? { ...r, seq: next.seq - 1 } : r, out);
  }
  return r;
}

/**
 * Holds h in Seq order. Bounded: when full, the newest line is dropped (it is in the
 * log, and `overflow` makes the catch-up read once more); our own Acks are never dropped.
 */
function hold(r: RoomState, h: Held, max: number): RoomState {
  if (r.held.some((x) => x.seq === h.seq)) return r;
  const held = [...r.held];
  let i = held.length;
  while (i > 0 && held[i - 1].seq > h.seq) i--;
  held.splice(i, 0, h);
  let overflow = r.overflow;
  while (held.length > max) {
    const j = findLastFrame(held);
    if (j < 0) break;
    held.splice(j, 1);
    overflow = true;
  }
  return { ...r, held, overflow };
}

function findLastFrame(held: Held[]): number {
  for (let j = held.length - 1; j >= 0; j--) if (held[j].frame) return j;
  return -1;
}

function reset(r: RoomState, reason: string, seq: number, epoch: string, out: RoomOut[]): RoomState {
  out.push({ kind: 'reset', reason, seq, epoch });
  if (r.fetching !== undefined) out.push({ kind: 'caughtUp', complete: false });
  return { ...r, seq, epoch, held: [], fetching: undefined, overflow: false };
}

/**
 * A live line (frame) or the Ack of our own line (no frame) with this Seq. Replayed
 * lines after a `Recovered: true` Join come this way too: they are next in line.
 */
export function arrived(r: RoomState, h: Held, epoch: string | undefined, ctx: RoomCtx): RoomStep {
  const out: RoomOut[] = [];
  if (epoch !== undefined && epoch !== r.epoch) {
    // No Join reply yet gave a position (an old server, a line racing a Join): start here.
    // Otherwise the room's history was reset under us (protocol.md "History": Epoch).
    r = r.epoch === '' ? { ...r, seq: h.seq - 1, epoch } : reset(r, 'epoch_changed', h.seq - 1, epoch, out);
  }
  if (h.seq <= r.seq) return { room: r, out };
  if (r.fetching !== undefined) return { room: hold(r, h, ctx.heldMax), out };
  if (h.seq === r.seq + 1) return { room: drain(deliver(r, h, 'live', out), out), out };
  // protocol.md "Chatting": a gap means a missed line; History fills it.
  out.push({ kind: 'catchingUp', reason: 'gap' });
  return { room: fetch(hold(r, h, ctx.heldMax), ctx, out), out };
}

/**
 * A Join reply: we are in the room, and it says where the room is (Seq, Epoch) and,
 * on a resume, whether the server replays what we missed (Recovered) or why not (Reason).
 */
export function joinReplied(r0: RoomState, f: Frame, ctx: RoomCtx): RoomStep {
  const r: RoomState = r0.joined ? r0 : { ...r0, joined: true };
  const seq = seqOf(f);
  const epoch = epochOf(f);
  if (seq === undefined || epoch === undefined) return same(r); // a server without positions
  const out: RoomOut[] = [];
  if (r.epoch === '') {
    // Our first position here. A resume that named no position for it says no_position: nothing was lost to us.
    if (f.Recovered === false) out.push({ kind: 'reset', reason: f.Reason ?? 'no_position', seq, epoch });
    return { room: { ...r, seq, epoch }, out };
  }
  if (epoch !== r.epoch) return { room: reset(r, f.Reason ?? 'epoch_changed', seq, epoch, out), out };
  // Same epoch: our Seq still means what we saw. Recovered: the missed lines follow this reply.
  if (f.Recovered === true || seq === r.seq) return { room: r, out };
  if (seq < r.seq) return { room: reset(r, 'seq_rewound', seq, epoch, out), out };
  if (r.fetching !== undefined) return { room: r, out }; // the read in flight goes on while More says so
  // too_many, trimmed, no_position, or a fresh session after resume_failed: read from our Seq.
  out.push({ kind: 'catchingUp', reason: f.Reason ?? 'rejoined' });
  return { room: fetch(r, ctx, out), out };
}

/** A History page answering our catch-up read `ref`. */
export function pageArrived(r0: RoomState, ref: number, f: Frame, ctx: RoomCtx): RoomStep {
  if (r0.fetching !== ref) return same(r0);
  const out: RoomOut[] = [];
  let r: RoomState = { ...r0, fetching: undefined };
  const epoch = epochOf(f);
  if (epoch !== undefined && epoch !== r.epoch) return { room: reset(r0, 'epoch_changed', seqOf(f) ?? 0, epoch, out), out };
  const before = r.seq;
  for (const m of Array.isArray(f.Messages) ? f.Messages : []) {
    const seq = seqOf(m);
    if (seq === undefined || m.Type !== T.Broadcast || seq <= r.seq) continue;
    if (seq > r.seq + 1) out.push({ kind: 'gap', after: r.seq, before: seq });
    // A held copy stands for it: the same line live, or our own line, which the app already has.
    const i = r.held.findIndex((h) => h.seq === seq);
    const held = i >= 0 ? r.held[i] : undefined;
    if (held) r = { ...r, held: r.held.filter((_, j) => j !== i) };
    r = drain(deliver(r, held ?? { seq, frame: m }, held ? 'live' : 'history', out), out);
  }
  // More: newer lines wait beyond this page. A page that moved nothing ends the read (no loop on a bad reply).
  if ((f.More === true && r.seq > before) || r.overflow) return { room: fetch(r, ctx, out), out };
  // History has all it keeps up to here: what is still missing below a held line is gone.
  // The position is not moved up to the page's latest Seq without a line there: should that
  // Seq be newer than the page (read apart), its line, arriving live, would be dropped as
  // old. A line that comes later shows the gap and reads once more instead.
  r = release(r, out);
  out.push({ kind: 'caughtUp', complete: true });
  return { room: r, out };
}

/** The catch-up read `ref` failed (an Error, no answer in time): let through what is held. */
export function fetchFailed(r: RoomState, ref: number): RoomStep {
  if (r.fetching !== ref) return same(r);
  const out: RoomOut[] = [];
  const room = release({ ...r, fetching: undefined, overflow: false }, out);
  out.push({ kind: 'caughtUp', complete: false });
  return { room, out };
}

/**
 * The link is gone: the server forgets our membership, the read in flight dies, and
 * what was held will be replayed or read again from `seq`, the position we resume from.
 */
export const linkLost = (r: RoomState): RoomState =>
  (r.joined || r.fetching !== undefined || r.held.length > 0
    ? { ...r, joined: false, fetching: undefined, overflow: false, held: [] }
    : r);
