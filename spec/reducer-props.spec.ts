// Properties of the hub's reducer (issue 9, 7): over random sequences of events
// from many connections, answered honestly by a fake log in the order it was
// asked, every state and every step keeps the hub's invariants:
//  - every room member is a live client that lists the room, and vice versa;
//  - what each member receives of a room's lines has Seq going up by exactly 1
//    from its Join reply (a replay from where it said it was, a Resync resets);
//  - a line goes only to members of its room;
//  - no effect is addressed to a connection the hub does not know, but for the
//    refusal of a connection at the door and the letting go of a closed socket;
//  - a frame that is refused (an Error reply) leaves the state as it was.
// docs/security.md "Fuzzing and properties"; seeds: spec/support/props.ts.
import fc from 'fast-check';
import { Message, TOKEN_PATTERN, parseSince } from '../src/core/protocol';
import {
  Effect, HubEvent, IdentityRecord, closed, cutHeard, directHeard, directSent, heard, linkUp, opened, pingDue, presenceHeard, rejected,
  sessionTaken, shutdownRequested, timedOut,
} from '../src/core/events';
import * as M from '../src/core/messages';
import { HubState, initialState } from '../src/core/reducer';
import type { Heard } from '../src/core/sequence';
import type { User } from '../src/core/claims';
import { frameEvent } from '../src/edge/connection';
import { stepFrozen } from './support/marbles';
import { FakeLog, PresenceEffect, StoreEffect, isStore } from './support/fake-log';
import { checkState, documentedCodes, fail, props } from './support/props';
import { msg } from './support/outgoing';

const DOCUMENTED = documentedCodes();
const ROOMS = ['lobby', 'dev', 'x.y'];
const WINDOW_MS = 20_000;

// ---- What the clients and the edge do, as data fast-check can shrink ----

type Action =
  | { k: 'open'; name?: string; room?: string; resume?: number | string; since?: string; user?: User }
  | { k: 'frame'; sock: number; f: FrameSpec }
  | { k: 'raw'; sock: number; text: string }
  | { k: 'binary'; sock: number }
  | { k: 'close'; sock: number; reason: 'closed' | 'error' }
  | { k: 'timeout'; sock: number }
  | { k: 'ping'; dt: number }
  | { k: 'answer'; n: number; fail?: 'append' | 'read' }
  | { k: 'shutdown' }
  /** Several processes: the bus delivers (or loses) the oldest line published, or Redis's link comes back. */
  | { k: 'hear'; n: number; lose: boolean }
  | { k: 'linkUp' }
  /** Several processes: another node's member says a line in a room. */
  | { k: 'remote'; room: string }
  /** Several processes: another node's member joins a room, or leaves one it joined. */
  | { k: 'far'; room: string; leave: boolean }
  /** Several processes: another node took over the identity a socket here speaks for (a cut). */
  | { k: 'cut'; sock: number }
  /** Several processes: another node sends a Direct to an ID (live here or not). */
  | { k: 'dmHeard'; target: number }
  /** Several processes, auth on: another node sent a Direct to a user Redis lists this node as holding. */
  | { k: 'userDmHeard'; user: string };

interface FrameSpec {
  Type: number;
  room?: string;
  content: string;
  key?: string;
  ref?: string | number;
  /** To (Direct) or After (Members): an ID seen so far by index, or one nobody has. */
  target: number;
  name: string;
  limit?: number;
  cursor?: { Before: number } | { After: number };
}

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
/** Mostly `good`, now and then `bad`: enough valid traffic to reach deep states, enough invalid to probe. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });

const frameSpec: fc.Arbitrary<FrameSpec> = fc.record({
  Type: mostly(fc.constantFrom(1, 1, 1, 1, 1, 2, 6, 6, 6, 7, 7, 8, 9, 10, 11, 11, 13, 13), fc.constantFrom(0, 3, 5, 14, 42)),
  room: opt(mostly(fc.constantFrom(...ROOMS), fc.constant('bad room'))),
  content: mostly(fc.constantFrom('hi', 'hello there', '🙂'), fc.constantFrom('', '\ud800', 'x'.repeat(4001))),
  key: opt(fc.constantFrom('k1', 'k2', 'k3')),
  ref: opt(fc.oneof(fc.constantFrom('r1', 'r2'), fc.nat(3))),
  target: fc.nat(12),
  name: mostly(fc.constantFrom('alice', 'bob', 'Bob'), fc.constantFrom('\u202eevil', 'x'.repeat(40), '', ' ')),
  limit: opt(mostly(fc.constantFrom(1, 2, 50), fc.constantFrom(0, 101))),
  cursor: opt(fc.oneof(fc.record({ Before: fc.nat(8) }), fc.record({ After: fc.nat(8) }))),
}, { requiredKeys: ['Type', 'content', 'target', 'name'] });

/** A socket opens: mostly a plain one, now and then with a bad name or room, or resuming (a token seen, or a made-up one). */
const open = fc.record({
  k: fc.constant('open' as const),
  name: opt(mostly(fc.constantFrom('alice', 'bob'), fc.constantFrom('', ' ', 'x'.repeat(40), '\u0007'))),
  room: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, mostly(fc.constantFrom(...ROOMS), fc.constantFrom('', 'bad room'))),
  resume: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.nat(8) }, { weight: 1, arbitrary: fc.constantFrom('short', 'Z'.repeat(32), `s0.${'Z'.repeat(32)}`) }),
  since: opt(fc.array(fc.tuple(fc.constantFrom(...ROOMS), fc.nat(6), mostly(fc.constant('E1'), fc.constant('E2'))), { maxLength: 3 })
    .map((es) => es.map(([r, s, e]) => `${r}:${s}:${e}`).join(','))),
  // With auth on: a token's user, now and then one whose token expires soon, or that allows some rooms only.
  user: opt(fc.constantFrom<User>({ sub: 'u0' }, { sub: 'u1', exp: 20_000 }, { sub: 'u0', rooms: [ROOMS[0]], exp: 40_000 })),
}, { requiredKeys: ['k'] });

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: open },
  { weight: 10, arbitrary: fc.record({ k: fc.constant('frame' as const), sock: fc.nat(7), f: frameSpec }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('raw' as const), sock: fc.nat(7), text: fc.string({ maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('binary' as const), sock: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('close' as const), sock: fc.nat(7), reason: fc.constantFrom('closed' as const, 'error' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('timeout' as const), sock: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('ping' as const), dt: fc.constantFrom(0, 1000, 15_000, 30_000) }) },
  {
    weight: 8,
    arbitrary: fc.record({ k: fc.constant('answer' as const), n: fc.integer({ min: 1, max: 4 }), fail: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('append' as const, 'read' as const) }) }, { requiredKeys: ['k', 'n'] }),
  },
);

/** Several processes: the same, and the bus, Redis's link and other nodes' lines. */
const clusterAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 10, arbitrary: action },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('hear' as const), n: fc.integer({ min: 1, max: 3 }), lose: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('remote' as const), room: fc.constantFrom(...ROOMS) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'linkUp' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('far' as const), room: fc.constantFrom(...ROOMS), leave: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cut' as const), sock: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dmHeard' as const), target: fc.nat(12) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('userDmHeard' as const), user: fc.constantFrom('u0', 'u1', 'u9') }) },
);

/**
 * A run: up to `max` actions, often near that many (fast-check's default size would keep them short),
 * and in one run of four the server stops somewhere among them.
 */
const actions = (max: number, one: fc.Arbitrary<Action> = action): fc.Arbitrary<Action[]> => fc.tuple(
  fc.array(one, { maxLength: max, size: 'max' }),
  fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(max) }),
).map(([list, stop]) => (stop === undefined ? list : [...list.slice(0, stop), { k: 'shutdown' as const }, ...list.slice(stop)]));

// ---- The world around the hub: sockets as the runner knows them, the log ----

type SessionEffect = Extract<Effect, { kind: 'session' }>;

interface Sock {
  /** The ID events from this socket carry (a resume renames it: rebind). */
  id: string;
  /** The server has closed or terminated it: it sends nothing more, and its `closed` comes. */
  ending: boolean;
}

const isLine = (m: Message) => m.Type === 1 && typeof m.Seq === 'number';

/** The addresses of an effect, for connections. */
function addressees(e: Effect): string[] {
  switch (e.kind) {
    case 'send': case 'close': case 'terminate': case 'forget': return [e.to];
    case 'broadcast': return e.to.filter((id) => id !== e.except);
    case 'ping': return [...e.to];
    default: return [];
  }
}

class World {
  state: HubState;
  readonly log = new FakeLog();
  readonly socks: Sock[] = [];
  /** The log's and Redis's work (presence, sessions), in the order it was asked. */
  readonly pending: (StoreEffect | PresenceEffect | SessionEffect)[] = [];
  /** Several processes: lines the log published and the bus has yet to deliver, oldest first. */
  readonly bus: Heard[] = [];
  /** Several processes: identities Redis keeps by token (sessions.ts, as far as the hub can tell). */
  private readonly sessions = new Map<string, { record: IdentityRecord; directs: Message[] }>();
  /** The ?since= each socket opened with, for the identity a resume rebinds it to. */
  private readonly sinceOf = new Map<string, string | undefined>();
  /** Events the edge has yet to step (a socket the server ended closes). */
  private readonly edge: HubEvent[] = [];
  /** Every ID seen, in order: Directs and Members cursors pick from them. */
  readonly ids: string[] = [];
  /** Resume tokens handed out (each welcome's Token), in order. */
  readonly tokens: string[] = [];
  /** Per receiving ID and room, the Seq of the last line it has (from a Join reply, a line, a Resync). */
  readonly seen = new Map<string, Map<string, number>>();
  /** Per ID and room, the Seqs of its own lines acked and not yet passed (several processes: lines come as heard). */
  private readonly own = new Map<string, Set<number>>();
  /** Per ID that resumed, the positions its resume said it had. */
  private readonly since = new Map<string, Map<string, { seq: number }>>();
  at = 1000;
  private n = 0;
  private opened = 0;
  /** Codes of the Error frames sent, to check against the contract. */
  readonly codes = new Set<string>();
  /** Several processes, auth on: the users Redis is told this node holds (holdUser, dropUser), in the order told. */
  private readonly held = new Set<string>();

  constructor(state: HubState) {
    this.state = state;
  }

  private newId = (): string => `m${this.n++}`;

  live(i: number): Sock | undefined {
    const open = this.socks.filter((s) => !s.ending);
    return open.length === 0 ? undefined : open[i % open.length];
  }

  idOf(target: number): string {
    if (target < this.ids.length) return this.ids[target];
    // Now and then a user's sub (auth on: a Direct To a user), else an ID nobody has.
    return target === 12 ? 'u0' : target === 11 ? 'u1' : `nobody-${target}`;
  }

  do(a: Action): void {
    this.at += 1;
    switch (a.k) {
      case 'open': {
        const id = `s${this.opened++}`;
        // The connection's secret, as the edge mints it; the welcome's Token names it (reducer.ts resumeToken).
        const token = `T${this.opened}`.padEnd(32, '_');
        this.socks.push({ id, ending: false });
        this.ids.push(id);
        this.sinceOf.set(id, a.since);
        const resume = typeof a.resume === 'number' ? this.tokens[a.resume % this.tokens.length] : a.resume;
        const q = { name: a.name, room: a.room, resume, since: a.since, user: a.user };
        for (const k of Object.keys(q) as (keyof typeof q)[]) if (q[k] === undefined) delete q[k];
        return this.step(opened(id, this.at, q, token));
      }
      case 'frame': {
        const s = this.live(a.sock);
        if (s) this.step(frameEvent(s.id, this.at, JSON.stringify(this.frame(a.f)), this.newId));
        return;
      }
      case 'raw': {
        const s = this.live(a.sock);
        if (s) this.step(frameEvent(s.id, this.at, a.text, this.newId));
        return;
      }
      case 'binary': {
        const s = this.live(a.sock);
        if (s) this.step(rejected(s.id, this.at, { code: 'binary_frame', reason: 'binary' }));
        return;
      }
      case 'close': {
        const s = this.live(a.sock);
        if (s) this.closeSock(s, a.reason);
        return;
      }
      case 'timeout': {
        const s = this.live(a.sock);
        if (s) this.step(timedOut(s.id, this.at));
        return;
      }
      case 'ping':
        this.at += a.dt;
        return this.step(pingDue(this.socks.filter((s) => !s.ending).map((s) => s.id), this.at));
      case 'answer':
        for (let i = 0; i < a.n; i++) this.answer(a.fail);
        return;
      case 'shutdown':
        return this.step(shutdownRequested(this.at));
      case 'hear':
        for (let i = 0; i < a.n; i++) this.hear(a.lose);
        return;
      case 'linkUp':
        return this.step(linkUp(this.at));
      case 'far': {
        const there = [...(this.log.presence.rooms.get(a.room) ?? new Map<string, { node: string }>())].filter(([, m]) => m.node === 'there');
        if (a.leave && there.length > 0) return this.step(presenceHeard(this.log.presence.leave(a.room, there[0][0], this.at), this.at));
        if (a.leave) return;
        return this.step(presenceHeard(this.log.presence.join(a.room, `far-${this.opened++}`, 'far', this.at), this.at));
      }
      case 'cut': {
        const s = this.live(a.sock);
        const client = s && this.state.clients.get(s.id);
        if (!client) return;
        // Redis's record is the taker's now.
        for (const [t, k] of this.sessions) if (k.record.id === client.id) this.sessions.delete(t);
        return this.step(cutHeard(client.id, client.token, 'there', this.at));
      }
      case 'dmHeard': {
        const to = this.idOf(a.target);
        return this.step(directHeard(to, M.direct({ id: 'far-id', name: 'far' }, to, this.newId(), 'psst', this.at), this.at));
      }
      case 'userDmHeard':
        return this.step(directHeard(a.user, M.direct({ id: 'far-id', name: 'far' }, a.user, this.newId(), 'psst', this.at), this.at, true));
      case 'remote': {
        // Another node's member: the log keeps its line and publishes it; this hub only hears it.
        const req = { room: a.room, msgId: this.newId(), from: 'far-id', name: 'far', content: 'from afar', at: this.at };
        this.published(this.log.answer({ kind: 'append', req }, this.at));
        return;
      }
    }
  }

  /** The bus delivers the oldest line published, or loses it (Redis pub/sub can, and never says). */
  hear(lose = false): void {
    const line = this.bus.shift();
    if (line && !lose) this.step(heard(line, this.at));
  }

  /** Several processes: a line the log kept is published on its room's channel. */
  private published(answer: HubEvent): void {
    if (!this.state.cluster || answer.kind !== 'appended' || answer.duplicateOf !== undefined) return;
    const kept = this.log.lines(answer.req.room).find((l) => l.seq === answer.seq);
    if (kept) this.bus.push({ ...kept, epoch: answer.epoch });
  }

  /** Redis's answer to a session op, honest as far as one node can see (sessions.ts). */
  private session(op: SessionEffect['op']): HubEvent | undefined {
    switch (op.op) {
      case 'claim':
      case 'update':
        for (const [t, k] of this.sessions) if (k.record.id === op.id && t !== op.token) this.sessions.delete(t);
        if (op.op === 'claim' || this.sessions.has(op.token)) this.sessions.set(op.token, { record: op.record, directs: [] });
        return undefined;
      case 'park':
        this.sessions.set(op.token, { record: op.record, directs: this.sessions.get(op.token)?.directs ?? [] });
        return undefined;
      case 'release':
        for (const [t, k] of this.sessions) if (k.record.id === op.id) this.sessions.delete(t);
        return undefined;
      case 'take': {
        if (!TOKEN_PATTERN.test(op.token)) return sessionTaken(op, { found: false, why: 'malformed' }, this.at);
        const k = this.sessions.get(op.token);
        if (!k) return sessionTaken(op, { found: false, why: 'unknown' }, this.at);
        this.sessions.delete(op.token);
        return sessionTaken(op, { found: true, record: k.record, directs: k.directs }, this.at);
      }
      case 'send': {
        if (op.purpose.for !== 'direct') return undefined;
        const k = [...this.sessions.values()].find((x) => x.record.id === op.to);
        if (!k) return directSent(op, { ok: false, code: 'no_such_client', reason: 'no such identity' }, this.at);
        k.directs.push(op.message);
        return directSent(op, { ok: true, delivered: 'kept' }, this.at);
      }
    }
  }

  /** The log (or Redis) answers the oldest thing it was asked, honestly (or fails it, as a log may). */
  answer(failing?: 'append' | 'read'): void {
    const e = this.pending.shift();
    if (!e) return;
    if (e.kind === 'presence') {
      for (const x of this.log.presence.answer(e, this.at)) this.step(x);
      return;
    }
    if (e.kind === 'session') {
      const x = this.session(e.op);
      if (x) this.step(x);
      return;
    }
    if (failing === 'append') this.log.appendsFail = 'disk full';
    if (failing === 'read') this.log.readsFail = 'I/O error';
    const answer = this.log.answer(e, this.at);
    this.log.appendsFail = undefined;
    this.log.readsFail = undefined;
    this.published(answer);
    this.step(answer);
  }

  /** Every socket closes and the log answers everything: the hub must end empty. */
  drain(): void {
    const settle = () => {
      while (this.pending.length > 0 || this.bus.length > 0) {
        if (this.pending.length > 0) this.answer();
        else this.hear();
      }
    };
    settle();
    for (const s of [...this.socks]) if (!s.ending) this.closeSock(s, 'closed');
    settle();
  }

  private closeSock(s: Sock, reason: 'closed' | 'error'): void {
    s.ending = true;
    this.step(closed(s.id, this.at, reason));
    this.socks.splice(this.socks.indexOf(s), 1);
  }

  private frame(f: FrameSpec): Record<string, unknown> {
    const o: Record<string, unknown> = { Type: f.Type, Content: f.content, Name: f.name };
    if (f.room !== undefined) o.Room = f.room;
    if (f.key !== undefined) o.Key = f.key;
    if (f.ref !== undefined) o.Ref = f.ref;
    if (f.Type === 11) o.To = this.idOf(f.target);
    if (f.Type === 13) Object.assign(o, f.cursor, f.limit === undefined ? {} : { Limit: f.limit });
    if (f.Type === 9 && f.cursor) o.After = this.idOf(f.target);
    return o;
  }

  /** Steps one event (then what the edge does about its effects), checking every invariant. */
  step(first: HubEvent): void {
    this.edge.push(first);
    for (let e = this.edge.shift(); e !== undefined; e = this.edge.shift()) this.one(e);
  }

  private one(e: HubEvent): void {
    const before = this.state;
    const r = stepFrozen(before, e);
    this.state = r.state;
    checkState(r.state);
    this.checkAddresses(before, e, r.effects);
    checkRefusal(before, e, r);
    this.checkHeld(r.effects);
    for (const x of r.effects) this.carryOut(e, x, before);
    // Out of a room (left, taken out with an Error, gone): its next Join reply starts afresh.
    for (const [id, rooms] of this.seen) {
      for (const room of rooms.keys()) if (!this.state.rooms.get(room)?.members.includes(id)) rooms.delete(room);
    }
  }

  /**
   * Several processes, auth on: Redis is told of a user's first connection here and of its last going, so
   * what it is told this node holds is, after every step, the hub's users (a Direct to a user relies on it).
   */
  private checkHeld(effects: readonly Effect[]): void {
    for (const x of effects) {
      if (x.kind !== 'session') continue;
      if (x.op.op === 'holdUser') {
        if (this.held.has(x.op.user)) fail('Redis told twice that a user is held here', x.op);
        this.held.add(x.op.user);
      } else if (x.op.op === 'dropUser') {
        this.held.delete(x.op.user);
      }
    }
    const users = [...this.state.users.keys()].sort();
    const told = this.state.cluster ? [...this.held].sort() : users;
    if (told.join('\n') !== users.join('\n')) fail('Redis is told other users than the hub holds', { told, users });
  }

  /** What the runners do: the log's work is queued; a rebind renames sockets; an ended socket closes. */
  private carryOut(e: HubEvent, x: Effect, before: HubState): void {
    if (isStore(x) || x.kind === 'presence' || x.kind === 'session') {
      this.pending.push(x);
      return;
    }
    switch (x.kind) {
      case 'rebind': {
        const from = this.socks.find((s) => s.id === x.from);
        const to = this.socks.find((s) => s.id === x.to);
        if (from) from.id = x.to;
        if (to) to.id = x.from;
        if (!this.ids.includes(x.to)) this.ids.push(x.to);
        if (this.sinceOf.has(x.from)) this.since.set(x.to, parseSince(this.sinceOf.get(x.from)));
        return;
      }
      case 'close':
      case 'terminate': {
        const s = this.socks.find((k) => k.id === x.to && !k.ending);
        if (s) {
          s.ending = true;
          // The socket's 'close' follows; the connection stream ends with `closed`.
          this.edge.push(closed(s.id, this.at, 'closed'));
          this.socks.splice(this.socks.indexOf(s), 1);
        }
        return;
      }
      case 'send': {
        const m = msg(x.message);
        if (m.Type === 0 && typeof m.Token === 'string') this.tokens.push(m.Token);
        return this.receive(x.to, m, before, false);
      }
      case 'broadcast':
        for (const id of x.to) if (id !== x.except) this.receive(id, msg(x.message), before, true);
        return;
      default:
    }
  }

  /** One frame reaches `id`: its lines must follow on, room by room (live ones, its own passed over). */
  private receive(id: string, m: Message, before: HubState, live: boolean): void {
    if (m.Type === 5) {
      this.codes.add(m.Code as string);
      if (!DOCUMENTED.has(m.Code as string)) fail('an Error code protocol.md does not document', m);
    }
    const room = m.Room as string;
    let rooms = this.seen.get(id);
    if (!rooms) this.seen.set(id, (rooms = new Map()));
    if (m.Type === 6 && m.ID === id) {
      // A Join reply: lines go on after its Seq, or, when a resume replays, after where it said it was
      // (its own lines included: those it acked up to the reply's Seq are no longer passed over).
      if (m.Recovered !== undefined) this.prune(id, room, m.Seq as number);
      if (m.Recovered === true) {
        // From where it said it was, even where that is past what this node has heard yet (several
        // processes: it had those lines on another node), and they do not come again.
        const since = this.since.get(id)?.get(room)?.seq ?? (m.Seq as number);
        rooms.set(room, since);
      } else {
        // Joined again: where it was (several processes: or past its own lines acked, the room's
        // live position not being there yet).
        const had = rooms.get(room);
        const seq = m.Seq as number;
        if (m.Recovered === undefined && had !== undefined && (seq < had || seq > (this.past(id, room, had) as number))) {
          fail(`${id} joined "${room}" again at another Seq than it had`, { had, m });
        }
        rooms.set(room, m.Seq as number);
      }
    } else if (m.Type === 7 && m.ID === id && m.Room !== undefined) {
      rooms.delete(room);
    } else if (m.Type === 14) {
      rooms.set(room, m.Seq as number);
      this.prune(id, room, m.Seq as number);
    } else if (m.Type === 12 && m.Room !== undefined && m.Duplicate === undefined && this.state.cluster) {
      // Several processes: the Ack comes when the log has the line, which comes when heard, in
      // Seq order with the others' (and not back to its sender): it is passed over then.
      const key = `${id}\n${room}`;
      this.own.set(key, (this.own.get(key) ?? new Set()).add(m.Seq as number));
    } else if (m.Type === 12 && m.Room !== undefined && m.Duplicate === undefined) {
      // The Ack of its own line (which it does not get back): the line's Seq, next in the room,
      // if it is still in the room (it may have left while the log wrote it) and not waiting for
      // its Join reply (a resumed member that spoke before its replay: the replay has the line too).
      const last = before.rooms.get(room)?.waiting.some((w) => w.id === id) ? undefined : rooms.get(room);
      if (last !== undefined && m.Seq !== last + 1) fail(`${id} got the Ack of Seq ${m.Seq} in "${room}" after ${last}`, m);
      if (last !== undefined) rooms.set(room, m.Seq as number);
    } else if (isLine(m)) {
      // Live lines pass over its own; a replay or catch-up (sent to it alone) has them too.
      const last = live ? this.past(id, room, rooms.get(room)) : rooms.get(room);
      if (last === undefined) fail(`${id} got a line of "${room}" before its Join reply`, m);
      if (m.Seq !== last + 1) fail(`${id} got Seq ${m.Seq} in "${room}" after ${last}`, m);
      rooms.set(room, m.Seq as number);
      const inRoom = (s: HubState) => s.rooms.get(room)?.members.includes(id) ?? false;
      if (!inRoom(before) && !inRoom(this.state)) fail(`${id} got a line of "${room}", a room it is not in`, m);
    }
  }

  /**
   * `last`, past the member's own lines that follow it: a line is not sent back to its sender (acked
   * to it, or, its socket gone before the Ack, in the log under its ID: several processes, a line
   * heard after its sender resumed).
   */
  private past(id: string, room: string, last: number | undefined): number | undefined {
    if (last === undefined) return last;
    const mine = this.own.get(`${id}\n${room}`);
    const lines = this.log.lines(room);
    const ownLine = (seq: number) => mine?.has(seq) || lines.find((l) => l.seq === seq)?.from === id;
    let at = last;
    while (ownLine(at + 1)) at++;
    return at;
  }

  private prune(id: string, room: string, upTo: number): void {
    const mine = this.own.get(`${id}\n${room}`);
    if (mine) for (const seq of mine) if (seq <= upTo) mine.delete(seq);
  }

  /** Every connection an effect names is one the hub knows (before or after the step), but for the exceptions. */
  private checkAddresses(before: HubState, e: HubEvent, effects: readonly Effect[]): void {
    const renamed = new Set(effects.flatMap((x) => (x.kind === 'rebind' ? [x.from] : [])));
    // Several processes: a connection whose resume Redis looks up is known too, by its own ID.
    const knows = (id: string) => before.clients.has(id) || this.state.clients.has(id) || renamed.has(id)
      || before.resuming.has(id) || this.state.resuming.has(id);
    for (const x of effects) {
      for (const id of addressees(x)) {
        if (knows(id)) continue;
        // The door: a connection refused as it opens is told why and closed, and never known.
        if (e.kind === 'opened' && id === e.id && (x.kind === 'send' || x.kind === 'close')) continue;
        // A closed socket is let go of, whether or not the hub knew it.
        if (e.kind === 'closed' && id === e.id && x.kind === 'forget') continue;
        fail(`a ${x.kind} to ${id}, whom the hub does not know, on ${e.kind}`, { e, x });
      }
    }
  }
}

/** A frame refused with an Error (to its sender) leaves the state as it was. */
function checkRefusal(before: HubState, e: HubEvent, r: { state: HubState; effects: readonly Effect[] }): void {
  if (e.kind !== 'received' && e.kind !== 'rejected') return;
  const refused = r.effects.some((x) => x.kind === 'send' && x.to === e.id && msg(x.message).Type === 5);
  if (refused && r.state !== before) fail('a refused frame changed the state', e);
}

function run(actions: readonly Action[], state: HubState): World {
  const w = new World(state);
  for (const a of actions) w.do(a);
  w.drain();
  if (w.state.clients.size !== 0 || w.state.rooms.size !== 0) fail('clients or rooms left after every socket closed', [...w.state.clients.keys()]);
  return w;
}

describe('the hub, over random sequences of events (properties)', () => {
  it('keeps its invariants with one process', () => {
    fc.assert(fc.property(actions(80), (actions) => {
      run(actions, initialState({ resumeWindowMs: WINDOW_MS }));
    }), props(300));
  });

  it('keeps them with several processes (a bus that may lose lines, presence and sessions in Redis)', () => {
    fc.assert(fc.property(actions(80, clusterAction), (actions) => {
      run(actions, initialState({ resumeWindowMs: WINDOW_MS, cluster: true }));
    }), props(300));
  });

  it('keeps them with the resume window off, and a small room-presence bound', () => {
    fc.assert(fc.property(actions(60), (actions) => {
      run(actions, initialState({ resumeWindowMs: 0, presenceMax: 2 }));
    }), props(100));
  });
});
