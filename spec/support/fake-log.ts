// A message log for reducer specs: it answers the hub's `append` and `read`
// effects at once, in the order they were asked, as the store runner does
// (src/store/runner.ts), so a scenario reads as what the clients do and the log's
// round trips stay out of the way. Seq counts from 1 per room; every room has
// one Epoch ('E1' unless told). Specs that tell *when* the log answers hold its
// answers back (Scene) or build the answering events with the constructors below.
import { OperatorFunction, scan } from 'rxjs';
import { Effect, HubEvent, ReadPurpose, presenceDone, presenceHeard } from '../../src/core/events';
import type { PresenceEvent, PresenceOutcome, RoomsOutcome } from '../../src/cluster/presence';
import { AppendRequest, ReadOutcome, ReadRequest, StoredMessage } from '../../src/core/history';
import { Message, Ref, wireSize } from '../../src/core/protocol';
import { HubState, Step, initialState, step } from '../../src/core/reducer';
import { deepFreeze, stepFrozen, withoutLogs } from './marbles';
import { msg } from './outgoing';

export const EPOCH = 'E1';

export type StoreEffect = Extract<Effect, { kind: 'append' | 'read' }>;
export const isStore = (e: Effect): e is StoreEffect => e.kind === 'append' || e.kind === 'read';

// The log's answers, by hand.
export const appended = (
  req: AppendRequest, seq: number, o: { at?: number; epoch?: string; ref?: Ref; duplicateOf?: string } = {},
): HubEvent => ({ kind: 'appended', at: o.at ?? req.at, req, ref: o.ref, seq, epoch: o.epoch ?? EPOCH, duplicateOf: o.duplicateOf });
export const appendFailed = (
  req: AppendRequest, o: { at?: number; ref?: Ref; code?: 'store_failed' | 'store_busy' | 'unavailable'; reason?: string } = {},
): HubEvent => ({
  kind: 'appendFailed', at: o.at ?? req.at, req, code: o.code ?? 'store_failed', reason: o.reason ?? 'disk full',
  ...(o.ref === undefined ? {} : { ref: o.ref }),
});
export const readDone = (req: ReadRequest, purpose: ReadPurpose, outcome: ReadOutcome, at = 0): HubEvent =>
  ({ kind: 'readDone', at, req, purpose, outcome });
/** A read that went well; `first` defaults to all kept, `messages` to none. */
export const readOk = (o: { head: number; first?: number; messages?: StoredMessage[]; more?: boolean; epoch?: string }): ReadOutcome =>
  ({ ok: true, epoch: o.epoch ?? EPOCH, head: o.head, first: o.first ?? 1, messages: o.messages ?? [], more: o.more ?? false });

/** The line a spec's log holds at `seq` (seeded ones are said by `seed-id`). */
export const line = (room: string, seq: number, from = 'seed-id', name = 'seed', content = `line ${seq}`, msgId = `${room}-${seq}`, at = 0): StoredMessage =>
  ({ room, seq, msgId, from, name, content, at });

interface FakeRoom {
  epoch: string;
  head: number;
  /** The lines still kept, oldest first: Seqs head - kept.length + 1 .. head. */
  kept: StoredMessage[];
}

export type PresenceEffect = Extract<Effect, { kind: 'presence' }>;

/**
 * Presence over every node for reducer specs (several processes): members by room in join order,
 * each with its node. It answers a `presence` effect as RedisPresence would (`presenceDone`, none
 * for a `tell`), and the events the op published are heard back at once (`presenceHeard`), as the
 * node that asked hears its own on the room's channel.
 */
export class FakePresence {
  readonly rooms = new Map<string, Map<string, { name: string; node: string }>>();
  /** When set, every op fails with this code. */
  fails?: 'unavailable' | 'store';

  constructor(readonly node = 'here') {}

  /** A member on another node (or this one), with no event. */
  add(room: string, id: string, name: string, node = 'there'): this {
    this.room(room).set(id, { name, node });
    return this;
  }

  /** The events RedisPresence would have published for these changes, made by another node. */
  join(room: string, id: string, name: string, at: number, node = 'there'): PresenceEvent {
    this.room(room).set(id, { name, node });
    return { kind: 'joined', room, id, name, node, at, count: this.room(room).size };
  }

  leave(room: string, id: string, at: number, reason: 'left' | 'node_down' = 'left'): PresenceEvent {
    const r = this.room(room);
    const m = r.get(id) as { name: string; node: string };
    r.delete(id);
    return { kind: 'left', room, id, name: m.name, node: m.node, at, reason, count: r.size };
  }

  answer(e: PresenceEffect, at: number): HubEvent[] {
    const { ask, purpose } = e;
    const events: PresenceEvent[] = [];
    let outcome: PresenceOutcome | RoomsOutcome;
    if (this.fails) {
      outcome = { ok: false, code: this.fails, reason: this.fails === 'unavailable' ? 'Redis is not connected' : 'store: oops' };
    } else if (ask.op === 'join' && ask.max !== undefined && ask.max > 0 && !this.room(ask.room).has(ask.id) && this.room(ask.room).size >= ask.max) {
      // As the join script: a new member of a room with `max` members is refused, and nobody hears of it.
      outcome = { ok: false, code: 'full', reason: `room ${ask.room} has ${this.room(ask.room).size} members` };
    } else if (ask.op === 'join') {
      const r = this.room(ask.room);
      const joined = !r.has(ask.id);
      r.set(ask.id, { name: ask.name, node: this.node });
      if (joined) events.push({ kind: 'joined', room: ask.room, id: ask.id, name: ask.name, node: this.node, at: ask.at, count: r.size });
      const list = typeof ask.list === 'number' ? this.list(ask.room, 0, ask.list) : undefined;
      outcome = { ok: true, count: r.size, joined, ...(list ? { members: list } : {}) };
    } else if (ask.op === 'leave') {
      const r = this.room(ask.room);
      const m = r.get(ask.id);
      if (m) {
        r.delete(ask.id);
        events.push({ kind: 'left', room: ask.room, id: ask.id, name: m.name, node: m.node, at: ask.at, reason: ask.reason, count: r.size });
      }
      outcome = { ok: true, count: r.size, left: m !== undefined };
    } else if (ask.op === 'rename') {
      const done: string[] = [];
      for (const room of ask.rooms) {
        const r = this.room(room);
        const m = r.get(ask.id);
        if (!m) continue;
        r.set(ask.id, { ...m, name: ask.name });
        done.push(room);
        events.push({ kind: 'renamed', room, id: ask.id, name: ask.name, oldName: m.name, node: m.node, at: ask.at, count: r.size });
      }
      outcome = { ok: true, rooms: done };
    } else if (ask.op === 'members') {
      const ids = [...this.room(ask.room).keys()];
      const start = ask.after === undefined ? 0 : ids.indexOf(ask.after) + 1;
      if (start === 0 && ask.after !== undefined) {
        outcome = { ok: false, code: 'bad_cursor', reason: 'not a member' };
      } else {
        const members = this.list(ask.room, start, ask.limit);
        const more = start + members.length < ids.length;
        outcome = { ok: true, count: ids.length, members, ...(more ? { next: members[members.length - 1].id } : {}) };
      }
    } else {
      const all = [...this.rooms].filter(([, r]) => r.size > 0).map(([room, r]) => ({ room, count: r.size }))
        .sort((a, b) => b.count - a.count || (a.room < b.room ? 1 : -1));
      outcome = { ok: true, rooms: all.slice(0, ask.limit), total: all.length };
    }
    const out: HubEvent[] = purpose.for === 'tell' ? [] : [presenceDone(ask, purpose, outcome, at)];
    for (const ev of events) out.push(presenceHeard(ev, at));
    return out;
  }

  private list(room: string, start: number, limit: number) {
    return [...this.room(room)].slice(start, start + limit).map(([id, m]) => ({ id, name: m.name, node: m.node, at: 0 }));
  }

  private room(name: string): Map<string, { name: string; node: string }> {
    let r = this.rooms.get(name);
    if (!r) this.rooms.set(name, (r = new Map()));
    return r;
  }
}

export class FakeLog {
  /** Several processes: presence over every node, answered as the log is. */
  readonly presence = new FakePresence();
  private readonly rooms = new Map<string, FakeRoom>();
  /** When set, every append fails with this reason (store_failed). */
  appendsFail?: string;
  /** When set, every read fails with this reason. */
  readsFail?: string;

  constructor(readonly epoch = EPOCH) {}

  /** Gives a room a past: `head` lines of which the last `kept` are still kept, in `epoch`. */
  seed(room: string, o: { head: number; kept?: number; epoch?: string; content?: (seq: number) => string }): this {
    const kept = o.kept ?? o.head;
    const lines: StoredMessage[] = [];
    for (let seq = o.head - kept + 1; seq <= o.head; seq++) lines.push(line(room, seq, undefined, undefined, o.content?.(seq)));
    this.rooms.set(room, { epoch: o.epoch ?? this.epoch, head: o.head, kept: lines });
    return this;
  }

  lines(room: string): readonly StoredMessage[] {
    return this.rooms.get(room)?.kept ?? [];
  }

  /** The event the store runner would hand back for this effect; the log changes as a real one would. */
  answer(e: StoreEffect, at: number): HubEvent {
    const r = this.room(e.req.room);
    if (e.kind === 'read') {
      return readDone(e.req, e.purpose, this.readsFail === undefined ? this.read(r, e.req) : { ok: false, reason: this.readsFail }, at);
    }
    const { req } = e;
    if (this.appendsFail !== undefined) return appendFailed(req, { at, ref: e.ref, reason: this.appendsFail });
    const original = req.key === undefined ? undefined : r.kept.find((m) => m.key === req.key && m.from === req.from);
    if (original) return appended(req, original.seq, { at, epoch: r.epoch, ref: e.ref, duplicateOf: original.msgId });
    const m: StoredMessage = { ...req, seq: r.head + 1 };
    if (m.key === undefined) delete m.key;
    r.head = m.seq;
    r.kept.push(m);
    return appended(req, m.seq, { at, epoch: r.epoch, ref: e.ref });
  }

  private room(name: string): FakeRoom {
    let r = this.rooms.get(name);
    if (!r) this.rooms.set(name, (r = { epoch: this.epoch, head: 0, kept: [] }));
    return r;
  }

  /** history.ts ReadRequest: after → the first `limit` above it; before or neither → the last `limit` below. */
  private read(r: FakeRoom, req: ReadRequest): ReadOutcome {
    const first = r.head - r.kept.length + 1;
    let page: StoredMessage[];
    let more: boolean;
    if (req.after !== undefined) {
      const newer = r.kept.filter((m) => m.seq > (req.after as number));
      page = newer.slice(0, req.limit);
      more = newer.length > page.length;
      // maxBytes: the page stops at the line that passes it.
      let bytes = 0;
      const cut = req.maxBytes === undefined ? -1 : page.findIndex((m) => (bytes += wireSize(m.content, m.name)) > (req.maxBytes as number));
      if (cut >= 0) {
        more = more || cut + 1 < page.length;
        page = page.slice(0, cut + 1);
      }
    } else {
      const older = r.kept.filter((m) => req.before === undefined || m.seq < req.before);
      page = req.limit === 0 ? [] : older.slice(-req.limit);
      more = older.length > page.length;
    }
    return { ok: true, epoch: r.epoch, head: r.head, first, messages: page, more };
  }
}

export interface Cascade {
  state: HubState;
  /** Everything the event caused, the log's answers included, in the order it happened. */
  all: Effect[];
}

/** Steps one event, then every event the log answers with, until nothing more is asked. Every state is frozen. */
export function cascade(from: HubState, event: HubEvent, log: FakeLog): Cascade {
  let state = from;
  const all: Effect[] = [];
  const queue: HubEvent[] = [event];
  for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
    const r = step(state, e);
    state = deepFreeze(r.state);
    for (const effect of r.effects) {
      all.push(effect);
      // The log answers in the order it was asked: each answer is made now, stepped in turn.
      if (isStore(effect)) queue.push(log.answer(effect, e.at));
      if (effect.kind === 'presence') queue.push(...log.presence.answer(effect, e.at));
    }
  }
  return { state, all };
}

/** What reaches sockets: no log lines, no traffic with the message log. */
export const delivered = (effects: readonly Effect[]): Effect[] => withoutLogs(effects).filter((e) => !isStore(e) && e.kind !== 'presence');

export interface Run {
  state: HubState;
  /** What the last event caused in the end (its log round trips included), without logs or the log's traffic. */
  effects: Effect[];
  /** The `append` and `read` effects the last event caused. */
  asked: StoreEffect[];
  /** The `presence` effects it caused (several processes). */
  askedPresence: PresenceEffect[];
  log: FakeLog;
}

/** Runs events through the hub with a log that answers at once; every state is frozen, so mutation throws. */
export function runWithLog(events: readonly HubEvent[], from: HubState = initialState(), log = new FakeLog()): Run {
  let state = deepFreeze(from);
  let all: Effect[] = [];
  for (const e of events) ({ state, all } = cascade(state, e, log));
  return { state, effects: delivered(all), asked: all.filter(isStore), askedPresence: all.filter((x): x is PresenceEffect => x.kind === 'presence'), log };
}

/** The hub as a marble spec sees it with a log that answers at once: one Step per event, the log's traffic left out. */
export const throughLog = (log = new FakeLog(), init: HubState = initialState()): OperatorFunction<HubEvent, Step> =>
  scan((last: Step, e: HubEvent): Step => {
    const r = cascade(last.state, e, log);
    return { state: r.state, effects: r.all.filter((x) => !isStore(x) && x.kind !== 'presence') };
  }, { state: deepFreeze(init), effects: [] });

/**
 * A hub whose log answers only when the spec says so, still in the order it was
 * asked: for what happens between an `append` or `read` and its answer. The
 * answer is made when it is given, which for a log that answers in order is the
 * same as when it was asked.
 */
export class Scene {
  /** Every effect so far, logs included. */
  readonly seen: Effect[] = [];
  private readonly asked: StoreEffect[] = [];
  private readonly askedPresence: PresenceEffect[] = [];

  constructor(public state: HubState = initialState(), readonly log = new FakeLog()) {}

  /** The log's effects not yet answered. */
  get pending(): number {
    return this.asked.length;
  }

  /** Steps an event; the `append` and `read` effects it causes wait for `answer`. Its effects, logs left out. */
  on(e: HubEvent): Effect[] {
    const r = stepFrozen(this.state, e);
    this.state = r.state;
    this.seen.push(...r.effects);
    for (const x of r.effects) {
      if (isStore(x)) this.asked.push(x);
      if (x.kind === 'presence') this.askedPresence.push(x);
    }
    return withoutLogs(r.effects);
  }

  /** The log answers the oldest effect it was asked; what that answer causes. */
  answer(at = 0): Effect[] {
    const next = this.asked.shift();
    if (!next) throw new Error('the log was asked nothing');
    return this.on(this.log.answer(next, at));
  }

  /** The log answers the oldest effect it was asked, a read, with `outcome` (whatever it holds); what that causes. */
  answerRead(outcome: ReadOutcome, at = 0): Effect[] {
    const next = this.asked.shift();
    if (!next || next.kind !== 'read') throw new Error('the oldest effect asked is not a read');
    return this.on(readDone(next.req, next.purpose, outcome, at));
  }

  /** Presence's effects not yet answered (several processes). */
  get pendingPresence(): number {
    return this.askedPresence.length;
  }

  /** Presence answers the oldest op it was asked, and its events are heard; what that causes. */
  answerPresence(at = 0): Effect[] {
    const next = this.askedPresence.shift();
    if (!next) throw new Error('presence was asked nothing');
    return this.log.presence.answer(next, at).flatMap((e) => this.on(e));
  }

  /** The log and presence answer everything, what their answers ask included. */
  settle(at = 0): Effect[] {
    const out: Effect[] = [];
    while (this.asked.length > 0 || this.askedPresence.length > 0) {
      out.push(...(this.asked.length > 0 ? this.answer(at) : this.answerPresence(at)));
    }
    return out;
  }

  /** What connection `id` was given, in order: sends to it, and broadcasts that name it and do not except it. */
  inbox(id: string, effects: readonly Effect[] = this.seen): Message[] {
    return inbox(id, effects);
  }
}

/** What connection `id` is given by these effects, in order. */
export function inbox(id: string, effects: readonly Effect[]): Message[] {
  const out: Message[] = [];
  for (const e of effects) {
    if (e.kind === 'send' && e.to === id) out.push(msg(e.message));
    if (e.kind === 'broadcast' && e.except !== id && e.to.includes(id)) out.push(msg(e.message));
  }
  return out;
}
