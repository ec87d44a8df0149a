// The presence runner (several processes; docs/scaling.md "Presence across
// nodes"): carries out the hub's `presence` effects on RedisPresence and hands
// the outcomes back as `presenceDone` events, and keeps this node alive in
// presence, beating and sweeping every few seconds, from the edge: the reducer
// never sees a timer. Like the store runner, what one turn of the event loop
// asks goes as one batch (one pipeline; the Rooms requests of a turn share one
// read), and a batch under way holds the next back, so outcomes come back in the
// order the effects came, and Redis runs a member's join before its leave.
// When presence's link to Redis is back it beats at once: a Redis that came back
// empty reads as this node swept, and the hub joins its members again.
import type { HubEvent, PresenceAsk, PresencePurpose } from '../core/events';
import { presenceDone, presenceLost } from '../core/events';
import type { PresenceEffect } from '../edge/runner';
import type { Logger } from '../ops/logger';
import type { BeatOutcome, LeaveAllOutcome, LeaveReason, PresenceOp, PresenceOutcome, RoomsOutcome, SweepOutcome } from './presence';

/** What the runner needs of RedisPresence (specs give it a fake). */
export interface PresenceLike {
  run(ops: readonly PresenceOp[]): Promise<PresenceOutcome[]>;
  rooms(limit: number): Promise<RoomsOutcome>;
  beat(now: number): Promise<BeatOutcome>;
  sweep(now: number): Promise<SweepOutcome>;
  leaveAll(reason?: LeaveReason): Promise<LeaveAllOutcome>;
  /** Its link's down and up (RedisPresence.link): the runner beats when it is back. */
  link?: { watch(listener: (down: string | undefined) => void): () => void };
}

export interface PresenceRunnerOptions {
  log: Logger;
  /** How often this node beats and sweeps (ms; 0: never). Default EVERY_MS. */
  everyMs?: number;
  /** Effects that may wait before new ones are failed at once (`unavailable`). */
  maxPending?: number;
  now?: () => number;
}

/**
 * Beat and sweep every 5 s: with RedisPresence's default TTL of 15 s, a dead node's members leave
 * presence about 20 s after it died, under issue 8's 30 s (presence.ts, LIVENESS).
 */
export const EVERY_MS = 5_000;
const MAX_PENDING = 50_000;

export class PresenceRunner {
  private queue: PresenceEffect[] = [];
  private scheduled = false;
  private running = false;
  private ticking = false;
  /** The link came back during a tick: beat again once it is done (its beat may have gone before). */
  private again = false;
  private readonly unwatch?: () => void;
  private stopped = false;
  /** Whether the last thing presence did failed for want of Redis: said once in the log, not per op. */
  private down = false;
  private readonly timer?: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly maxPending: number;

  constructor(private readonly presence: PresenceLike, private readonly emit: (e: HubEvent) => void, private readonly opts: PresenceRunnerOptions) {
    this.now = opts.now ?? Date.now;
    this.maxPending = opts.maxPending ?? MAX_PENDING;
    const every = opts.everyMs ?? EVERY_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.tick(), every);
      this.timer.unref();
    }
    this.unwatch = presence.link?.watch((down) => {
      if (down === undefined) this.linkUp();
    });
  }

  /** Presence's link is back: beat now (no sweep: the other nodes have not had their chance to beat yet). */
  linkUp(): void {
    if (this.ticking) this.again = true;
    else void this.tick(false);
  }

  /** Effects waiting or being carried out. */
  get pending(): number {
    return this.queue.length;
  }

  submit(effect: PresenceEffect): void {
    if (this.queue.length >= this.maxPending) {
      const at = this.now();
      queueMicrotask(() => this.answer(effect.ask, effect.purpose, { ok: false, code: 'unavailable', reason: 'presence is too far behind' }, at));
      return;
    }
    this.queue.push(effect);
    this.schedule();
  }

  /**
   * Before the first member: what presence still holds under this node's ID is a past life's (a process
   * with the same --node-id that died and was restarted before anyone swept it), and leaves, reason
   * node_down, or it would stay forever, refreshed by this life's beats. Then the first beat, so this node
   * is in the nodes index, and swept if it dies, from the start.
   */
  async start(): Promise<void> {
    const past = await this.presence.leaveAll('node_down');
    if (past.ok && past.removed > 0) this.opts.log('warn', 'presence_past_life', { removed: past.removed });
    await this.tick();
  }

  /** Beats, then sweeps (the interval's work, callable by specs). A beat that finds this node swept says so to the hub. */
  async tick(sweeping = true): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const now = this.now();
      const beat = await this.presence.beat(now);
      this.health(beat, 'beat');
      if (beat.ok && beat.swept) this.emit(presenceLost(this.now()));
      if (sweeping) {
        const sweep = await this.presence.sweep(now);
        this.health(sweep, 'sweep');
        if (sweep.ok && sweep.nodes.length > 0) this.opts.log('warn', 'nodes_swept', { nodes: sweep.nodes });
      }
    } catch (e) {
      this.opts.log('error', 'presence_tick_failed', { error: String(e) });
    } finally {
      this.ticking = false;
      if (this.again) {
        this.again = false;
        void this.tick(false);
      }
    }
  }

  /** Stops beating and waits (bounded) for what is under way. Presence itself is closed by its owner. */
  async drain(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unwatch?.();
    for (let i = 0; i < 1000 && (this.queue.length > 0 || this.running || this.scheduled || this.ticking); i++) {
      await new Promise((r) => setTimeout(r, i < 100 ? 0 : 5));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // After the poll phase: every event this turn stepped has had its say in the batch.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.running = true;
    this.carryOut(batch)
      .catch((e) => this.opts.log('error', 'presence_batch_failed', { error: String(e) }))
      .finally(() => {
        this.running = false;
        if (this.queue.length > 0) this.schedule();
      });
  };

  private async carryOut(batch: readonly PresenceEffect[]): Promise<void> {
    const ops: PresenceEffect[] = [];
    const lists: PresenceEffect[] = [];
    for (const e of batch) (e.ask.op === 'rooms' ? lists : ops).push(e);
    let outcomes: PresenceOutcome[];
    let rooms: RoomsOutcome | undefined;
    try {
      [outcomes, rooms] = await Promise.all([
        ops.length > 0 ? this.presence.run(ops.map((e) => e.ask as PresenceOp)) : Promise.resolve([]),
        lists.length > 0 ? this.presence.rooms(Math.max(...lists.map((e) => (e.ask as { limit: number }).limit))) : Promise.resolve(undefined),
      ]);
    } catch (e) {
      // RedisPresence never throws; were it to, every request still gets its answer (a joiner waits for one).
      const f = { ok: false, code: 'store', reason: `presence failed: ${String(e)}` } as const;
      outcomes = ops.map(() => f);
      rooms = f;
    }
    const at = this.now();
    ops.forEach((e, i) => this.answer(e.ask, e.purpose, outcomes[i], at));
    for (const e of lists) this.answer(e.ask, e.purpose, rooms as RoomsOutcome, at);
  }

  private answer(ask: PresenceAsk, purpose: PresencePurpose, outcome: PresenceOutcome | RoomsOutcome, at: number): void {
    this.health(outcome, ask.op);
    // A leave or a rename: the rooms hear of it from its event; its failure is the log's.
    if (purpose.for === 'tell') {
      if (!outcome.ok && outcome.code !== 'unavailable') this.opts.log('warn', 'presence_failed', { op: ask.op, code: outcome.code, reason: outcome.reason });
      return;
    }
    this.emit(presenceDone(ask, purpose, outcome, at));
  }

  /** Says once that presence lost Redis, and once that it has it back. */
  private health(o: { ok: boolean; code?: string; reason?: string }, what: string): void {
    const away = !o.ok && o.code === 'unavailable';
    if (away === this.down) return;
    if (!o.ok && !away) return;
    this.down = away;
    this.opts.log(away ? 'warn' : 'info', away ? 'presence_down' : 'presence_up', away ? { op: what, reason: o.reason } : { op: what });
  }
}
