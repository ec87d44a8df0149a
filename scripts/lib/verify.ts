// The bots' --verify (docs/cli.md): every receiver checks, per room, the Seq of each
// line it gets, as the client library reports them in order (its onSeq hook: lines
// from others and the Acks of its own lines). protocol.md "Chatting": a room's Seq
// grows by exactly 1 per line, so each Seq must be one more than the last. A bigger
// step is that many lines missing; one at or below the last is a duplicate (or a line
// out of order). Lines the library reports as no longer kept (a `gap`: trimmed by
// retention) are counted apart, as are resets of a room's history (a new Epoch).
// Bookkeeping only: no socket, no timer; bot.ts and scripts/bot.ts feed it.

export interface VerifySummary {
  /** Receiver × room pairs checked. */
  receivers: number;
  /** Seqs checked (each line once per receiver, the sender's own Ack included). */
  checked: number;
  missing: number;
  duplicates: number;
  /** Lines the server no longer keeps, which a receiver could not be given (retention). */
  trimmed: number;
  /** A room's history reset under a receiver (Epoch changed): counting starts again. */
  resets: number;
}

interface Track {
  readonly seq: number;
  readonly epoch: string;
}

/** Told about each problem as it is found (the first few are printed). */
export type Problem = (receiver: string, what: string) => void;

export class SeqVerifier {
  /** receiver NUL room -> the last Seq it got there, and its Epoch. */
  private readonly tracks = new Map<string, Track>();
  private readonly pairs = new Set<string>();
  private readonly counts = { checked: 0, missing: 0, duplicates: 0, trimmed: 0, resets: 0 };

  constructor(private readonly problem: Problem = () => undefined) {}

  /** Our Join reply: the room's Seq then. Lines after it must follow it; a rejoin keeps the count going. */
  joined(receiver: string, room: string, seq: number, epoch: string): void {
    const k = key(receiver, room);
    this.pairs.add(k);
    if (!this.tracks.has(k)) this.tracks.set(k, { seq, epoch });
  }

  /** We left the room: what it says meanwhile is not ours to miss. */
  left(receiver: string, room: string): void {
    this.tracks.delete(key(receiver, room));
  }

  /** The client library got Seq `seq` in `room` (a line, or the Ack of our own line). */
  seen(receiver: string, room: string, seq: number, epoch: string): void {
    const k = key(receiver, room);
    this.pairs.add(k);
    this.counts.checked++;
    const t = this.tracks.get(k);
    // No Join reply gave a position (a server without positions): count from the first line.
    if (t === undefined || t.epoch !== epoch) {
      if (t !== undefined) this.reset(receiver, room, seq - 1, epoch, 'a new Epoch without notice');
      this.tracks.set(k, { seq, epoch });
      return;
    }
    if (seq <= t.seq) {
      this.counts.duplicates++;
      this.problem(receiver, `${room}: Seq ${seq} again, after ${t.seq}`);
      return;
    }
    if (seq > t.seq + 1) {
      this.counts.missing += seq - t.seq - 1;
      this.problem(receiver, `${room}: Seq ${t.seq + 1}${seq > t.seq + 2 ? `–${seq - 1}` : ''} never arrived`);
    }
    this.tracks.set(k, { seq, epoch });
  }

  /** The library says lines after < Seq < before are no longer kept: not missing, trimmed. */
  gap(receiver: string, room: string, after: number, before: number): void {
    const k = key(receiver, room);
    const t = this.tracks.get(k);
    this.counts.trimmed += Math.max(0, before - after - 1);
    if (t === undefined) return;
    if (t.seq < after) {
      this.counts.missing += after - t.seq;
      this.problem(receiver, `${room}: Seq ${t.seq + 1}–${after} never arrived`);
    }
    if (t.seq < before - 1) this.tracks.set(k, { seq: before - 1, epoch: t.epoch });
  }

  /** The room's history was reset (protocol.md: Epoch): lines now count from seq in epoch. */
  reset(receiver: string, room: string, seq: number, epoch: string, why: string): void {
    this.counts.resets++;
    this.problem(receiver, `${room}: history reset (${why}); counting again from Seq ${seq}`);
    this.tracks.set(key(receiver, room), { seq, epoch });
  }

  /** Where the receiver stands in the room, if it is in it. */
  last(receiver: string, room: string): Track | undefined {
    return this.tracks.get(key(receiver, room));
  }

  /** Receivers still in the room. */
  receiversIn(room: string): string[] {
    const out: string[] = [];
    for (const k of this.tracks.keys()) {
      const [receiver, r] = k.split('\u0000');
      if (r === room) out.push(receiver);
    }
    return out;
  }

  /**
   * After the run: the room's latest Seq is `head`. A receiver short of it never got the
   * last lines, which no later line revealed as a gap.
   */
  tail(receiver: string, room: string, head: number, epoch: string): void {
    const t = this.tracks.get(key(receiver, room));
    if (t === undefined || t.epoch !== epoch || t.seq >= head) return;
    this.counts.missing += head - t.seq;
    this.problem(receiver, `${room}: Seq ${t.seq + 1}${head > t.seq + 1 ? `–${head}` : ''} never arrived (the room is at ${head})`);
    this.tracks.set(key(receiver, room), { seq: head, epoch });
  }

  summary(): VerifySummary {
    return { receivers: this.pairs.size, ...this.counts };
  }
}

const key = (receiver: string, room: string): string => `${receiver}\u0000${room}`;
