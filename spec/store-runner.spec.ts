// The store runner: one batch per turn of the event loop, outcomes in the order
// of the effects, failures as events (never a throw into the hub), and a bound.
import { HubEvent, append, read } from '../src/core/events';
import type { AppendRequest } from '../src/core/history';
import type { LogOp, LogOutcome, MessageLog } from '../src/store/log';
import { StoreRunner } from '../src/store/runner';
import type { StoreEffect } from '../src/edge/runner';

const line = (room: string, n: number): AppendRequest =>
  ({ room, msgId: `m${n}`, from: 'a', name: 'alice', content: `line ${n}`, at: n });

/** A log that numbers lines per room and records each batch it is given. */
class CountingLog implements MessageLog {
  batches: LogOp[][] = [];
  heads = new Map<string, number>();
  fail?: Error;
  async?: boolean;
  private release: (() => void)[] = [];

  run(ops: readonly LogOp[]): LogOutcome[] | Promise<LogOutcome[]> {
    this.batches.push([...ops]);
    if (this.fail) throw this.fail;
    const outcomes = ops.map((op): LogOutcome => {
      if (op.op === 'append') {
        const seq = (this.heads.get(op.req.room) ?? 0) + 1;
        this.heads.set(op.req.room, seq);
        return { ok: true, seq, epoch: 'E' };
      }
      const head = this.heads.get(op.req.room) ?? 0;
      return { ok: true, epoch: 'E', head, first: 1, messages: [], more: false };
    });
    if (!this.async) return outcomes;
    return new Promise((resolve) => this.release.push(() => resolve(outcomes)));
  }

  /** Lets the oldest asynchronous batch finish. */
  finishOne(): void {
    this.release.shift()?.();
  }

  trim(): void {}
  close(): void {}
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const quiet = () => undefined;
const effect = (e: ReturnType<typeof append | typeof read>) => e as StoreEffect;

function runnerWith(log: MessageLog, maxPending?: number) {
  const events: HubEvent[] = [];
  const runner = new StoreRunner(log, (es) => events.push(...es), { log: quiet, trimEveryMs: 0, maxPending, now: () => 7 });
  return { runner, events };
}

describe('StoreRunner', () => {
  it('gives the log what one turn asked for as one batch, and answers in that order', async () => {
    const log = new CountingLog();
    const { runner, events } = runnerWith(log);
    runner.submit(effect(append(line('r', 1), 'ref1')));
    runner.submit(effect(read({ room: 'r', limit: 0 }, { for: 'join', to: 'b' })));
    runner.submit(effect(append(line('r', 2))));
    expect(events).toEqual([]); // nothing inside the step that asked
    await turn();
    expect(log.batches).toHaveLength(1);
    expect(log.batches[0].map((o) => o.op)).toEqual(['append', 'read', 'append']);
    expect(events.map((e) => e.kind)).toEqual(['appended', 'readDone', 'appended']);
    expect(events[0]).toMatchObject({ kind: 'appended', seq: 1, epoch: 'E', ref: 'ref1', at: 7 });
    expect(events[1]).toMatchObject({ kind: 'readDone', outcome: { ok: true, head: 1 }, purpose: { for: 'join', to: 'b' } });
    expect(events[2]).toMatchObject({ kind: 'appended', seq: 2 });
  });

  it('turns a failed batch into a failure for each of its effects, and goes on with the next batch', async () => {
    const log = new CountingLog();
    log.fail = new Error('disk I/O error');
    const { runner, events } = runnerWith(log);
    runner.submit(effect(append(line('r', 1), 'x')));
    runner.submit(effect(read({ room: 'r', limit: 5 }, { for: 'history', to: 'a', ref: 'h' })));
    await turn();
    expect(events).toEqual([
      { kind: 'appendFailed', at: 7, req: line('r', 1), ref: 'x', code: 'store_failed', reason: 'disk I/O error' },
      { kind: 'readDone', at: 7, req: { room: 'r', limit: 5 }, purpose: { for: 'history', to: 'a', ref: 'h' }, outcome: { ok: false, reason: 'disk I/O error' } },
    ]);
    log.fail = undefined;
    runner.submit(effect(append(line('r', 2))));
    await turn();
    expect(events[2]).toMatchObject({ kind: 'appended', seq: 1 });
  });

  it('passes an append refused because the log cannot be reached (Redis is away) on as unavailable, not store_failed', async () => {
    const away = 'store: Redis is not connected (reconnecting)';
    const log: MessageLog = {
      run: (ops) => ops.map(() => ({ ok: false, reason: away, unavailable: true })),
      trim: () => undefined,
      close: () => undefined,
    };
    const { runner, events } = runnerWith(log);
    runner.submit(effect(append(line('r', 1), 'x')));
    runner.submit(effect(read({ room: 'r', limit: 5 }, { for: 'history', to: 'a', ref: 'h' })));
    await turn();
    expect(events).toEqual([
      { kind: 'appendFailed', at: 7, req: line('r', 1), ref: 'x', code: 'unavailable', reason: away },
      { kind: 'readDone', at: 7, req: { room: 'r', limit: 5 }, purpose: { for: 'history', to: 'a', ref: 'h' }, outcome: { ok: false, reason: away, unavailable: true } },
    ]);
  });

  it('holds the next batch back while an asynchronous one is under way, so outcomes keep their order', async () => {
    const log = new CountingLog();
    log.async = true;
    const { runner, events } = runnerWith(log);
    runner.submit(effect(append(line('r', 1))));
    await turn();
    runner.submit(effect(append(line('r', 2))));
    await turn();
    expect(log.batches).toHaveLength(1); // the second waits
    log.finishOne();
    await turn();
    await turn();
    expect(log.batches).toHaveLength(2);
    log.finishOne();
    await turn();
    expect(events.map((e) => (e.kind === 'appended' ? e.req.msgId : e.kind))).toEqual(['m1', 'm2']);
  });

  it('refuses appends past its bound with store_busy instead of queueing without end', async () => {
    const log = new CountingLog();
    const { runner, events } = runnerWith(log, 2);
    for (let i = 1; i <= 3; i++) runner.submit(effect(append(line('r', i), i)));
    await turn();
    expect(events.filter((e) => e.kind === 'appendFailed')).toEqual([
      { kind: 'appendFailed', at: 7, req: line('r', 3), ref: 3, code: 'store_busy', reason: expect.stringContaining('behind') },
    ]);
    expect(events.filter((e) => e.kind === 'appended')).toHaveLength(2);
  });
});
