// The store runner: carries out the hub's `append` and `read` effects on the
// message log and hands the outcomes back to the hub as events, in the order the
// effects came. What one turn of the event loop asks for goes to the log as one
// batch: one transaction, one commit, however many lines (docs/storage.md), and
// its outcomes go back to the hub together, to be stepped in order in one trip
// through the hub's stream (src/edge/hub.ts). A
// batch under way (an asynchronous log) holds the next one back, so the order
// of outcomes is always the order of effects, and that order is what keeps a
// resume's replay and live lines apart (src/core/reducer.ts).
//
// Bounded: past maxPending effects waiting, an append is refused at once with
// store_busy and a read fails, rather than the queue growing without end.
import type { HubEvent } from '../core/events';
import type { StoreEffect } from '../edge/runner';
import type { Logger } from '../ops/logger';
import { nowMs } from '../ops/clock';
import type { LogOp, LogOutcome, MessageLog, ReadOutcome } from './log';

export interface StoreRunnerOptions {
  /** Effects that may wait for the log before new ones are refused. */
  maxPending?: number;
  /** How often retention runs (ms; 0: never). */
  trimEveryMs?: number;
  now?: () => number;
  log: Logger;
  /** Metrics (src/ops/metrics.ts): each batch's time, in ms, from its first op being asked to its outcomes. */
  onBatch?: (ms: number) => void;
}

export const DEFAULT_MAX_PENDING = 50_000;
const TRIM_EVERY_MS = 60_000;

export class StoreRunner {
  private queue: StoreEffect[] = [];
  private scheduled = false;
  private running = false;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly trimTimer?: NodeJS.Timeout;
  // When the first op of the batch being gathered was asked (nowMs(), src/ops/clock.ts), for onBatch.
  private firstAsked = 0;

  constructor(
    private readonly messages: MessageLog,
    /** Outcomes, in the order of their effects: a batch's all at once. */
    private readonly emit: (events: readonly HubEvent[]) => void,
    private readonly opts: StoreRunnerOptions,
  ) {
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    this.now = opts.now ?? Date.now;
    const every = opts.trimEveryMs ?? TRIM_EVERY_MS;
    if (every > 0) {
      this.trimTimer = setInterval(() => this.trim(), every);
      this.trimTimer.unref();
    }
  }

  /** Effects waiting for the log or being carried out. */
  get pending(): number {
    return this.queue.length;
  }

  submit(effect: StoreEffect): void {
    if (this.queue.length >= this.maxPending) {
      // Answered on a later tick, like every outcome: never inside the step that asked.
      const at = this.now();
      queueMicrotask(() => this.emit([this.failure(effect, 'store_busy', 'the message log is too far behind; try again shortly', at)]));
      return;
    }
    if (this.queue.length === 0 && this.opts.onBatch) this.firstAsked = nowMs();
    this.queue.push(effect);
    this.schedule();
  }

  /** Stops the trim timer and waits for what is under way. The log itself is closed by its owner. */
  async drain(): Promise<void> {
    if (this.trimTimer) clearInterval(this.trimTimer);
    for (let i = 0; i < 1000 && (this.queue.length > 0 || this.running || this.scheduled); i++) {
      await new Promise((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // After the poll phase: every frame this turn read has had its say in the batch.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    this.running = true;
    const asked = this.firstAsked;
    const ops: LogOp[] = batch.map((e) => (e.kind === 'append' ? { op: 'append', req: e.req } : { op: 'read', req: e.req }));
    let result: LogOutcome[] | Promise<LogOutcome[]>;
    try {
      result = this.messages.run(ops);
    } catch (e) {
      return this.done(batch, asked, undefined, e);
    }
    if (Array.isArray(result)) this.done(batch, asked, result);
    else result.then((outcomes) => this.done(batch, asked, outcomes), (e) => this.done(batch, asked, undefined, e));
  };

  private done(batch: StoreEffect[], asked: number, outcomes: LogOutcome[] | undefined, error?: unknown): void {
    this.running = false;
    this.opts.onBatch?.(nowMs() - asked);
    const at = this.now();
    if (!outcomes || outcomes.length !== batch.length) {
      const reason = error ? String((error as Error).message ?? error) : 'the log gave a wrong number of outcomes';
      this.opts.log('error', 'store_failed', { batch: batch.length, error: reason });
      this.emit(batch.map((e) => this.failure(e, 'store_failed', reason, at)));
    } else {
      const events = new Array<HubEvent>(batch.length);
      for (let i = 0; i < batch.length; i++) events[i] = this.outcome(batch[i], outcomes[i], at);
      this.emit(events);
    }
    if (this.queue.length > 0) this.schedule();
  }

  private outcome(e: StoreEffect, o: LogOutcome, at: number): HubEvent {
    // The log answers each op with its kind of outcome (log.ts); a stray one is a failure, not a crash.
    if (e.kind === 'read') {
      const outcome: ReadOutcome = !o.ok || 'head' in o ? o as ReadOutcome : { ok: false, reason: 'not a read outcome' };
      return { kind: 'readDone', at, req: e.req, purpose: e.purpose, outcome };
    }
    // unavailable (Redis is away): the client keeps the line and tries again later (protocol.md "Errors").
    if (!o.ok) return this.failure(e, 'unavailable' in o && o.unavailable ? 'unavailable' : 'store_failed', o.reason, at);
    if (!('seq' in o)) return this.failure(e, 'store_failed', 'not an append outcome', at);
    // One shape for every line (absent fields undefined): the hub reads these on the hot path.
    return { kind: 'appended', at, req: e.req, ref: e.ref, seq: o.seq, epoch: o.epoch, duplicateOf: o.duplicate?.msgId };
  }

  private failure(e: StoreEffect, code: 'store_failed' | 'store_busy' | 'unavailable', reason: string, at: number): HubEvent {
    if (e.kind === 'read') return { kind: 'readDone', at, req: e.req, purpose: e.purpose, outcome: { ok: false, reason } };
    return { kind: 'appendFailed', at, req: e.req, code, reason, ...(e.ref === undefined ? {} : { ref: e.ref }) };
  }

  private trim(): void {
    try {
      const r = this.messages.trim(this.now());
      if (r instanceof Promise) r.catch((e) => this.opts.log('warn', 'trim_failed', { error: String(e) }));
    } catch (e) {
      this.opts.log('warn', 'trim_failed', { error: String(e) });
    }
  }
}
