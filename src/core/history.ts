// What the hub and the message log say to each other: plain data, no I/O. The
// log's backends live in src/store/ (log.ts is their interface); the hub only
// ever sees these records, on `append`/`read` effects and the events that answer
// them, so the pure core depends on no backend.

/** A chat line as the log keeps it. */
export interface StoredMessage {
  room: string;
  /** Grows by exactly 1 per message in a room; never reused, never renumbered. */
  seq: number;
  /** The 21-character message ID minted at the edge. */
  msgId: string;
  /** The sender's connection ID and its display name when it spoke. */
  from: string;
  name: string;
  content: string;
  /** Milliseconds since the epoch, when the hub accepted it. */
  at: number;
  /** The client's idempotency key (protocol.md "Sending twice"), when it gave one. */
  key?: string;
}

/** A line to append: everything but the Seq, which the log assigns. */
export type AppendRequest = Omit<StoredMessage, 'seq'>;

export type AppendOutcome =
  /** Committed (or, with `duplicate`, found already committed under the same room, sender and key: nothing was added). */
  | { ok: true; seq: number; epoch: string; duplicate?: { msgId: string } }
  /** `unavailable`: the log cannot be reached just now (Redis is away); nothing was kept. */
  | { ok: false; reason: string; unavailable?: true };

/**
 * A page of a room, oldest first. With `after`: the first `limit` messages with
 * Seq > after. With `before`: the last `limit` messages with Seq < before. With
 * neither: the last `limit` messages. `limit` 0 reads only the room's position.
 */
export interface ReadRequest {
  room: string;
  after?: number;
  before?: number;
  limit: number;
  /**
   * With `after` (a resume's replay): the page stops at the first line that takes
   * the page's wireSize past this (that line included, `more` true), so a replay
   * that cannot fit what the resume may still send costs about that much to find
   * out, not up to 1001 of the largest lines.
   */
  maxBytes?: number;
}

export type ReadOutcome =
  | {
    ok: true;
    /** The room's epoch: random, made when the log first hears of the room, changed only if its history is lost. */
    epoch: string;
    /** The Seq of the room's last message (0: none yet). */
    head: number;
    /** The lowest Seq still kept (head + 1 when none is kept): below it, history was trimmed. */
    first: number;
    messages: StoredMessage[];
    /** Whether more messages lie beyond the page in the direction read (newer for `after`, older otherwise). */
    more: boolean;
  }
  | { ok: false; reason: string };

export type LogOp = { op: 'append'; req: AppendRequest } | { op: 'read'; req: ReadRequest };
export type LogOutcome = AppendOutcome | ReadOutcome;
