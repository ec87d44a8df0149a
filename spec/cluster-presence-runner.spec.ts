// The presence runner (src/cluster/presence-runner.ts): a turn's presence effects go as one batch,
// outcomes come back as events in the order asked (a leave or rename only if it failed: its log
// line), one batch at a time, and the beat that finds this node swept tells the hub.
import { HubEvent, presence, presenceDone, presenceLost } from '../src/core/events';
import { PresenceLike, PresenceRunner } from '../src/cluster/presence-runner';
import type { PresenceEffect } from '../src/edge/runner';
import type { BeatOutcome, LeaveAllOutcome, PresenceOp, PresenceOutcome, RoomsOutcome, SweepOutcome } from '../src/cluster/presence';

/** A presence effect, as the hub makes it. */
const ask = (...a: Parameters<typeof presence>) => presence(...a) as PresenceEffect;
const turn = () => new Promise((r) => setImmediate(r));

class FakePresence implements PresenceLike {
  readonly batches: PresenceOp[][] = [];
  readonly roomsAsked: number[] = [];
  /** Resolves the batch under way. */
  release: () => void = () => undefined;
  hold = false;
  beatOutcome: BeatOutcome = { ok: true, swept: false };
  down = false;
  link?: PresenceLike['link'];

  async run(ops: readonly PresenceOp[]): Promise<PresenceOutcome[]> {
    this.batches.push([...ops]);
    if (this.hold) await new Promise<void>((r) => { this.release = r; });
    return ops.map((op) => (this.down ? { ok: false, code: 'unavailable', reason: 'Redis is away' }
      : op.op === 'join' ? { ok: true, count: 1, joined: true } : { ok: true, count: 0, left: true }));
  }

  async rooms(limit: number): Promise<RoomsOutcome> {
    this.roomsAsked.push(limit);
    return { ok: true, rooms: [{ room: 'lobby', count: 2 }], total: 1 };
  }

  async beat(): Promise<BeatOutcome> {
    return this.beatOutcome;
  }

  async sweep(): Promise<SweepOutcome> {
    return { ok: true, nodes: [], reconciled: 0 };
  }

  async leaveAll(): Promise<LeaveAllOutcome> {
    return { ok: true, removed: 2, more: false };
  }
}

function setup() {
  const fake = new FakePresence();
  const events: HubEvent[] = [];
  const logs: string[] = [];
  const runner = new PresenceRunner(fake, (e) => events.push(e), { log: (_l, event) => logs.push(event), everyMs: 0, now: () => 7 });
  return { fake, events, logs, runner };
}

const join = { op: 'join', room: 'lobby', id: 'a', name: 'alice', at: 1, list: 100 } as const;
const leave = { op: 'leave', room: 'lobby', id: 'b', reason: 'closed', at: 1 } as const;
const rooms = { op: 'rooms', limit: 1000 } as const;

describe('PresenceRunner', () => {
  it('sends a turn\'s ops as one batch, shares one rooms read, and answers all but the tells, in order', async () => {
    const { fake, events, runner } = setup();
    runner.submit(ask(join, { for: 'join', to: 'a' }));
    runner.submit(ask(leave));
    runner.submit(ask(rooms, { for: 'rooms', to: 'a', ref: 'r1' }));
    runner.submit(ask(rooms, { for: 'rooms', to: 'b' }));
    expect(fake.batches).toEqual([]);
    await turn();
    await turn();
    expect(fake.batches).toEqual([[join, leave]]);
    expect(fake.roomsAsked).toEqual([1000]);
    const listed: RoomsOutcome = { ok: true, rooms: [{ room: 'lobby', count: 2 }], total: 1 };
    expect(events).toEqual([
      presenceDone(join, { for: 'join', to: 'a' }, { ok: true, count: 1, joined: true }, 7),
      presenceDone(rooms, { for: 'rooms', to: 'a', ref: 'r1' }, listed, 7),
      presenceDone(rooms, { for: 'rooms', to: 'b' }, listed, 7),
    ]);
  });

  it('holds the next batch until the one under way is back', async () => {
    const { fake, events, runner } = setup();
    fake.hold = true;
    runner.submit(ask(join, { for: 'join', to: 'a' }));
    await turn();
    runner.submit(ask({ ...join, id: 'c' }, { for: 'join', to: 'c' }));
    await turn();
    expect(fake.batches).toHaveLength(1);
    fake.hold = false;
    fake.release();
    await runner.drain();
    expect(fake.batches).toHaveLength(2);
    expect(events.map((e) => (e.kind === 'presenceDone' ? e.purpose.to : ''))).toEqual(['a', 'c']);
  });

  it('says once that Redis is away and once that it is back, not per op', async () => {
    const { fake, logs, runner } = setup();
    fake.down = true;
    for (let i = 0; i < 3; i++) runner.submit(ask(leave));
    await turn();
    await runner.drain();
    fake.down = false;
    runner.submit(ask(leave));
    await runner.drain();
    expect(logs).toEqual(['presence_down', 'presence_up']);
  });

  it('starts by removing what presence holds of a past life of this node, then beats', async () => {
    const { events, logs, runner } = setup();
    await runner.start();
    expect(logs).toEqual(['presence_past_life']);
    expect(events).toEqual([]);
  });

  it('beats (without sweeping) as soon as presence\'s link is back: a Redis back empty reads as swept, and the hub is told', async () => {
    const fake = new FakePresence();
    let listener: ((down: string | undefined) => void) | undefined;
    let beats = 0;
    let sweeps = 0;
    fake.link = { watch: (l) => { listener = l; return () => { listener = undefined; }; } };
    fake.beat = async () => { beats += 1; return fake.beatOutcome; };
    fake.sweep = async () => { sweeps += 1; return { ok: true, nodes: [], reconciled: 0 }; };
    const events: HubEvent[] = [];
    const runner = new PresenceRunner(fake, (e) => events.push(e), { log: () => undefined, everyMs: 0, now: () => 7 });
    listener?.('lost the connection to Redis');
    await turn();
    expect(beats).toBe(0);
    fake.beatOutcome = { ok: true, swept: true };
    listener?.(undefined);
    await turn();
    expect([beats, sweeps]).toEqual([1, 0]);
    expect(events).toEqual([presenceLost(7)]);
    // Back during a tick: one more beat once the tick is done.
    fake.beatOutcome = { ok: true, swept: false };
    const ticking = runner.tick();
    listener?.(undefined);
    await ticking;
    await turn();
    expect([beats, sweeps]).toEqual([3, 1]);
    await runner.drain();
    expect(listener).toBeUndefined();
  });

  it('tells the hub when a beat finds this node was taken for dead', async () => {
    const { fake, events, runner } = setup();
    await runner.tick();
    expect(events).toEqual([]);
    fake.beatOutcome = { ok: true, swept: true };
    await runner.tick();
    expect(events).toEqual([presenceLost(7)]);
  });
});
