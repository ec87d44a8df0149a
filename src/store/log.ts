// The message log: where accepted chat lines are kept, and what gives each room
// its Seq and Epoch. One narrow interface with one implementation per backend
// (memory.ts, sqlite.ts, redis.ts), run against the same contract specs
// (spec/store.contract.spec.ts), so the hub has one code path for all of them.
//
// The hub never calls this: it emits `append` and `read` effects and hears back
// `appended` and `read` events (src/core/events.ts). The store runner
// (src/store/runner.ts) hands the effects of one event-loop turn to `run` as
// one batch and feeds the outcomes back in the same order.

import type {
  AppendOutcome, AppendRequest, LogOp, LogOutcome, ReadOutcome, ReadRequest, StoredMessage,
} from '../core/history';

export type { AppendOutcome, AppendRequest, LogOp, LogOutcome, ReadOutcome, ReadRequest, StoredMessage };

export interface Retention {
  /** Messages kept per room (--history-max). */
  maxPerRoom: number;
  /** Days a message is kept (--history-days). */
  maxDays: number;
}

/**
 * The state of a log's link to where it keeps lines, for a log across a network
 * (the Redis log): `/healthz` and the server's log say when it is down, once.
 */
export interface LogLink {
  /** Why the log cannot be reached now, or undefined while it can. */
  readonly down: string | undefined;
  /** Called on each change: the reason when the link goes down, undefined when it is back. Returns the unsubscribe. */
  watch(listener: (down: string | undefined) => void): () => void;
}

export interface MessageLog {
  /**
   * Carries out a batch in order, one outcome per op, in the same order. Every
   * append that succeeds is committed (durable, for a disk log; accepted by
   * Redis, for the Redis log) before `run` returns or its promise resolves; a
   * read sees the appends before it in the batch. A failure is an outcome, not a
   * throw or a rejection.
   *
   * An append that fails keeps nothing and uses up no Seq. How far one failure
   * reaches is the backend's: the memory and SQLite logs commit a batch in one
   * transaction, so if the commit fails every op of the batch fails and nothing
   * of the batch is kept; the Redis log runs each op on its own (one atomic
   * script each), so an op Redis refuses fails alone and the others stand. (For
   * a log across a network, an append whose answer was lost, the connection
   * breaking or timing out after Redis ran it, fails although it was kept: a
   * retry with the same client key finds it.)
   */
  run(ops: readonly LogOp[]): LogOutcome[] | Promise<LogOutcome[]>;
  /** Drops what retention no longer keeps (never renumbers). */
  trim(now: number): void | Promise<void>;
  close(): void | Promise<void>;
  /** A log across a network: whether it can be reached now. Absent: it always can (memory, SQLite). */
  readonly link?: LogLink;
}
