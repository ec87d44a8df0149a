// The session runner (several processes): carries out the hub's `session`
// effects on the identities kept in Redis (sessions.ts) and hands back, as
// events, the outcomes the hub waits for: a resume's `take` (sessionTaken) and
// a client's Direct to a user or identity not here (directSent). The other ops
// (claim, update, park, release, holdUser, dropUser, a Direct handed back, and
// the rest of a Direct to a user with connections here) wait for nobody: their
// failures are logged here. It also beats, so that Redis knows this node and
// the identities it holds are alive, and beats again as soon as its link to
// Redis is back: a beat puts back in Redis what this node is the source of and
// Redis lacks (the identities live here, the parks that failed while Redis was
// away; sessions.ts, "What a node puts back").
//
// Each op is sent to Redis when its effect comes, on one connection, so Redis
// runs them in the order the hub asked (a claim before the park of a
// connection that ended at once). Every op answers, never rejects (sessions.ts).
import { Subscription, exhaustMap, interval } from 'rxjs';
import { Effect, HubEvent, SendResult, TakeResult, directSent, sessionTaken } from '../core/events';
import type { Logger } from '../ops/logger';
import type { BeatOutcome, RedisSessions } from './sessions';

export type SessionEffect = Extract<Effect, { kind: 'session' }>;

/** What the runner uses of RedisSessions; specs pass a fake. */
export type Sessions = Pick<RedisSessions, 'claim' | 'update' | 'park' | 'release' | 'take' | 'send' | 'beat' | 'holdUser' | 'dropUser'> & {
  /** Its link's down and up (RedisSessions.link): the runner beats when it is back. */
  link?: { watch(listener: (down: string | undefined) => void): () => void };
};

export interface SessionRunnerOptions {
  log: Logger;
  /** How often to beat (ms; sessions.ts: liveTtlMs / 3 or so). 0: never (specs). */
  beatMs: number;
  now?: () => number;
}

/** How many MsgIDs of Directs handed back are remembered, to hand each back once at most. */
const REDIRECTS_REMEMBERED = 1024;

export class SessionRunner {
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private readonly now: () => number;
  private readonly beats?: Subscription;
  private readonly unwatch?: () => void;
  private beating = true;
  /**
   * Directs handed back to Redis (a node heard one for an identity gone from
   * it), by MsgID: one that comes back a second time is dropped, so a record
   * that names a node wrongly cannot make a Direct go round for ever.
   */
  private readonly redirected = new Set<string>();

  constructor(private readonly sessions: Sessions, private readonly emit: (e: HubEvent) => void, private readonly opts: SessionRunnerOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.beatMs > 0) {
      this.beats = interval(opts.beatMs).pipe(exhaustMap(() => sessions.beat())).subscribe((d) => this.beaten(d));
    }
    // The link is back: put back at once what Redis lacks (it may have come back empty), not at the next beat.
    this.unwatch = sessions.link?.watch((down) => {
      if (down === undefined) void this.beat();
    });
  }

  /** Beats once now (the link is back; specs). */
  async beat(): Promise<void> {
    this.beaten(await this.sessions.beat().catch((e: unknown): BeatOutcome => ({ ok: false, code: 'unavailable', reason: String(e) })));
  }

  private beaten(d: BeatOutcome): void {
    // Said once when it stops and once when it is back, not at every beat.
    if (d.ok !== this.beating) this.opts.log(d.ok ? 'info' : 'warn', d.ok ? 'sessions_beat_back' : 'sessions_beat_failed', d.ok ? {} : { reason: d.reason });
    this.beating = d.ok;
    if (d.ok && (d.reclaimed > 0 || d.parked > 0)) this.opts.log('info', 'sessions_restored', { reclaimed: d.reclaimed, parked: d.parked });
  }

  /** Ops sent and not answered yet. */
  get pending(): number {
    return this.inFlight;
  }

  submit(effect: SessionEffect): void {
    const { op } = effect;
    switch (op.op) {
      case 'claim':
        return this.track('claim', this.sessions.claim(op.id, op.token, op.record));
      case 'update':
        return this.track('update', this.sessions.update(op.id, op.token, op.record));
      case 'park':
        return this.track('park', this.sessions.park(op.token, op.record, op.ttlMs));
      case 'release':
        return this.track('release', this.sessions.release(op.id));
      case 'take':
        return this.track('take', this.sessions.take(op.token), (o) => this.emit(sessionTaken(op, takeResult(o), this.now())));
      case 'send': {
        const { purpose } = op;
        if (purpose.for === 'redirect') {
          const msgId = String(op.message.MsgID ?? '');
          if (this.redirected.has(msgId)) {
            this.opts.log('warn', 'direct_dropped', { to: op.to, msgId, reason: 'handed back twice: no node holds its recipient' });
            return;
          }
          this.redirected.add(msgId);
          if (this.redirected.size > REDIRECTS_REMEMBERED) this.redirected.delete(this.redirected.values().next().value as string);
          return this.track('redirect', this.sessions.send(op.to, JSON.stringify(op.message), 'id'));
        }
        // The rest of a Direct to a user whose connections here have it and whose sender is acked: nobody waits.
        if (purpose.for === 'user') return this.track('user direct', this.sessions.send(op.to, JSON.stringify(op.message), 'user'));
        return this.track('send', this.sessions.send(op.to, JSON.stringify(op.message)), (o) => this.emit(directSent(op, sendResult(o, this.opts.log), this.now())));
      }
      case 'holdUser':
        return this.track('holdUser', this.sessions.holdUser(op.user));
      case 'dropUser':
        return this.track('dropUser', this.sessions.dropUser(op.user));
      default: {
        const never: never = op;
        throw new Error(`unknown session op ${JSON.stringify(never)}`);
      }
    }
  }

  /** Resolves once every op sent so far is answered (bounded by sessions.ts's own deadline per op). */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Stops beating. */
  stop(): void {
    this.beats?.unsubscribe();
    this.unwatch?.();
  }

  private track<T extends { ok: boolean }>(what: string, p: Promise<T>, then?: (o: T) => void): void {
    this.inFlight++;
    p.catch((e: unknown): T => ({ ok: false, code: 'unavailable', reason: String((e as Error)?.message ?? e) }) as unknown as T)
      .then((o) => {
        if (!o.ok && !then) this.opts.log('warn', 'session_op_failed', { op: what, ...(o as unknown as Record<string, unknown>) });
        try {
          then?.(o);
        } catch (e) {
          this.opts.log('error', 'session_outcome_failed', { op: what, error: String(e) });
        }
      })
      .finally(() => {
        if (--this.inFlight === 0) for (const r of this.idle.splice(0)) r();
      });
  }
}

/** sessions.ts's TakeOutcome as the hub hears it. */
function takeResult(o: Awaited<ReturnType<Sessions['take']>>): TakeResult {
  if (!o.ok) return { found: false, why: 'unavailable', reason: o.reason };
  if (!o.found) return { found: false, why: o.why };
  return o.liveOn === undefined
    ? { found: true, record: o.record, directs: o.directs }
    : { found: true, record: o.record, directs: o.directs, liveOn: o.liveOn };
}

/**
 * sessions.ts's SendOutcome as the hub hears it: to a user, handed to the nodes holding it is live. A
 * bad_request is a bug here, not the sender's: unavailable, and logged.
 */
function sendResult(o: Awaited<ReturnType<Sessions['send']>>, log: Logger): SendResult {
  if (o.ok) return { ok: true, delivered: o.delivered === 'kept' ? 'kept' : 'live' };
  if (o.code === 'bad_request') {
    log('error', 'direct_refused', { reason: o.reason });
    return { ok: false, code: 'unavailable', reason: o.reason };
  }
  return { ok: false, code: o.code, reason: o.reason };
}
