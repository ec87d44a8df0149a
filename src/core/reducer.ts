// The hub's pure core: step(state, event) -> { state, effects }. No sockets, no
// timers, no clock, no random IDs: all of those arrive on the event. Total: every
// event gives an answer, and an event that changes nothing returns the same state.
//
// Cost: the maps of clients and rooms are persistent (a hash trie, str-map.ts), so an
// event replaces only the records it touches, O(log n) each; the work per event
// grows with the members of the rooms it touches, never with all connections.
//
// The message log (issue 7) sits behind effects and events: a chat line becomes an
// `append` effect, and only the log's answer (`appended`, with the Seq and Epoch
// it minted) delivers the line and acks the sender, so an Ack means committed.
// Joins and resumes that need the log's position read it the same way. The log
// answers in the order it was asked, and that order is what keeps replay and live
// lines from crossing: a member waiting for a read gets no live lines of that
// room, because the read, done after every append asked before it, includes them.
// Reads that return lines for one connection (a resume's replays, History pages)
// wait in its queue and go to the log one at a time (pump), so what one turn
// reads and sends for a connection is at most one page or one room's replay.
//
// Several processes (docs/scaling.md): presence across nodes sits behind effects
// and events the same way. Joins, leaves and renames are `presence` effects; the
// rooms hear of them from presence's events (`presenceHeard`, from every node,
// this one too), and Members, Rooms and Join replies are answered from presence's
// outcomes (`presenceDone`). The hub keeps only its own members, to deliver to.
import { List } from 'immutable';
import {
  Close, ClientMessage, DEFAULT_ROOM, Limits, Member, Message, Position, ProtocolError, Ref, TOKEN_PATTERN,
  nameErrorCode, nameProblem, normalizeName, parseSince, roomProblem, wireSize,
} from './protocol';
import * as M from './messages';
import {
  Effect, HubEvent, IdentityRecord, PresencePurpose, ReadPurpose, SettledKey, append, broadcast, close, forget, log, ping,
  presence, read, rebind, send, session, subscribe, terminate, unsubscribe,
} from './events';
import { RoomSizes, biggest, noRooms, resize } from './room-sizes';
import type { ReadOutcome, ReadRequest } from './history';
import { Heard, Sequence, SequenceStep, gapRead, head, hear, sequence } from './sequence';
import { REFRESH_GRACE_MS, User, roomAllowed } from './claims';
import type { JoinOutcome, MembersOutcome, PresenceFailure, RoomsOutcome } from './presence';
import { RecentMap } from './recent-map';
import { StrMap } from './str-map';

/** What a client's idempotency Key became: a line still being written (to `room`), or the line or direct it was. */
export type KeyRecord =
  | { readonly pending: true; readonly room: string }
  /** Several processes: a Direct handed to Redis, its outcome not back yet. */
  | { readonly pending: true; readonly to: string }
  | { readonly msgId: string; readonly room: string; readonly seq: number; readonly epoch: string }
  | { readonly msgId: string; readonly to: string };

export interface Client {
  readonly id: string;
  readonly name: string;
  /** With auth on: the user it speaks for (the token's `sub`), and the rooms its token allows (none: any). */
  readonly user?: string;
  readonly allowed?: readonly string[];
  /** With auth on: when its token expires (ms), and once told so, until when a Refresh is awaited. */
  readonly expires?: number;
  readonly graceUntil?: number;
  /** In join order; the first is where a Broadcast without Room goes. */
  readonly rooms: readonly string[];
  /**
   * This connection's resume secret, minted at the edge (`opened`'s token). The client holds it in
   * its resume token (resumeToken): with one process `ID.SECRET`, with several the secret alone.
   */
  readonly token: string;
  /** What its last Keys became (at least the last Limits.maxKeysRemembered / 2: recent-map.ts), oldest first. */
  readonly keys: RecentMap<KeyRecord>;
  /**
   * Its reads of the log. A connection that reads none (most, most of the time) shares NO_READING:
   * four fields fewer on every record (issue 9, the heap an idle connection costs).
   */
  readonly reads: Reads;
}

/** What a connection reads of the log, and may still replay. */
export interface Reads {
  /** History reads asked and not yet answered (at most Limits.maxHistoryInFlight). */
  readonly reading: number;
  /**
   * Its reads of the log that wait for their turn, oldest first: a resume's
   * replays, one room each, and History pages. One at a time goes to the log
   * (`busy`), the next when its answer is handled, so one turn answers one of
   * them: a resume of 32 rooms never has 32 rooms' lines in memory at once, and
   * 36 pipelined History requests are not all read and answered in one turn
   * (hostile testing, H1, H2).
   */
  readonly queue: readonly QueuedRead[];
  /** Whether one of its queued reads is with the log. */
  readonly busy: boolean;
  /** Bytes its resume may still replay (Limits.maxReplayBytes at a resume, 0 otherwise). */
  readonly replayLeft: number;
}

/** A connection reading nothing: one object for all of them. */
const NO_READING: Reads = { reading: 0, queue: [], busy: false, replayLeft: 0 };

/** `r`, or NO_READING when it is nothing (so that a connection done reading lets its own go). */
const reads = (r: Reads): Reads =>
  (r.reading === 0 && !r.busy && r.queue.length === 0 && r.replayLeft === 0 ? NO_READING : r);

/** A read waiting in a connection's queue: the replay of a resumed room (read once its position said so), or a History page. */
export type QueuedRead =
  | { readonly replay: string }
  | { readonly req: ReadRequest; readonly purpose: Extract<ReadPurpose, { for: 'history' }> };

export interface Room {
  readonly name: string;
  /** The Seq of the last line delivered in this room; -1 until the log has told it. */
  readonly seq: number;
  /** The room's Epoch, from the log ('' until it has told it). */
  readonly epoch: string;
  /** Connection IDs in join order. */
  readonly members: readonly string[];
  /** Members waiting for a read of the log (a Join reply, a resume's replay): no live lines for them yet. */
  readonly waiting: readonly Waiting[];
  /**
   * Several processes: the room's lines as heard on its channel, put in Seq
   * order (sequence.ts); null until the room's position is known, and always
   * with one process, where the log's answers come in order by themselves.
   */
  readonly live: Sequence | null;
  /**
   * `[name]`: the rooms of every member in this room alone (most connections are in one room), one
   * array for all of them rather than one each (Client.rooms; never changed, as no state is).
   */
  readonly alone: readonly string[];
}

/**
 * A member waiting for a read, and which read: one who left and came back meanwhile
 * has an earlier read still coming, whose answer (another `since`, another Ref) is not
 * the one it waits for.
 */
export interface Waiting {
  readonly id: string;
  readonly purpose: ReadPurpose | Ahead;
  /**
   * Several processes: the room's first members over every node and their count, for the
   * Join reply (presence's answer to the member's join); null until presence has answered.
   */
  readonly roster?: Roster | null;
  /** Several processes, a join: its read of the room's position has yet to come back. */
  readonly reading?: boolean;
}

/**
 * Several processes: a resumed member whose Join reply is sent, and whose room here has not heard
 * yet lines the log had when it resumed: ones it had (on the node it left) up to `seq`, and ones it
 * missed up to `until`, which come to it alone as they are heard, its own too (a line of its own
 * there is one whose Ack it never got: protocol.md, the replay has them). It goes live after the
 * line of `until` (sequenced), and so gets each line once.
 */
export interface Ahead {
  readonly for: 'ahead';
  readonly to: string;
  readonly seq: number;
  readonly until: number;
  readonly epoch: string;
}

const isAhead = (w: Waiting): boolean => w.purpose.for === 'ahead';

/** Waiting for a read of the log, its Join reply to come (one ahead of the room has had it). */
const isPending = (room: Room, id: string): boolean => room.waiting.some((w) => w.id === id && !isAhead(w));

/** Where a member stands in a room: the room's Seq and Epoch, or its own when it is ahead of them. */
function positionIn(room: Room, id: string): Position {
  const w = room.waiting.length === 0 ? undefined : room.waiting.find((x) => x.id === id && isAhead(x));
  return w?.purpose.for === 'ahead' ? { seq: w.purpose.seq, epoch: w.purpose.epoch } : { seq: room.seq, epoch: room.epoch };
}

/** A room's first members (Limits.maxMembersListed) over every node, and how many it has in all. */
export interface Roster {
  readonly members: readonly Member[];
  readonly count: number;
}

const isWaiting = (room: Room, id: string): boolean => room.waiting.some((w) => w.id === id);

/** Whether a read's answer is the one a waiting member waits for (an equal read asked earlier answers as well). */
const answers = (p: ReadPurpose, w: Waiting['purpose']): boolean => {
  if (p.for === 'resume' && w.for === 'resume') return p.since?.seq === w.since?.seq && p.since?.epoch === w.since?.epoch;
  if (p.for === 'replay' && w.for === 'replay') return p.since.seq === w.since.seq && p.since.epoch === w.since.epoch;
  if (p.for === 'join' && w.for === 'join') return p.ref === w.ref;
  return p.for === 'catchup' && w.for === 'catchup';
};

/** A Direct's Key kept for an away identity, compactly: the Key, the MsgID it became, and To. */
export type AwayKey = readonly [key: string, msgId: string, to: string];

/** An identity whose connection ended, kept for its resume window. */
export interface Away {
  /** As it was: its name, rooms and token (its Keys are `keys`). */
  readonly client: Client;
  /**
   * The Keys a retry after the resume still needs the hub for, oldest first: its
   * last Directs', within Limits.maxAwayKeyBytes. A Broadcast's repeat is caught
   * by the log, which keeps each sender's Key with the line (hostile testing, M2:
   * 256 records of 64-emoji Keys kept ~260 KB per away identity).
   */
  readonly keys: readonly AwayKey[];
  readonly until: number;
  /** Direct messages sent to it meanwhile, oldest first. */
  readonly directs: readonly Message[];
  /** Their wireSize, counted in HubState.awayBytes. */
  readonly bytes: number;
}

export interface HubState {
  readonly clients: StrMap<Client>;
  /** With auth on: each user's live connections here, in the order they came (a Direct to the user reaches each). */
  readonly users: StrMap<readonly string[]>;
  /** With auth on: how long a connection whose token expired has to send a Refresh (REFRESH_GRACE_MS; specs shorten it). */
  readonly refreshGraceMs: number;
  readonly rooms: StrMap<Room>;
  /** The rooms by member count, for the Rooms list (room-sizes.ts). */
  readonly sizes: RoomSizes;
  readonly shuttingDown: boolean;
  /** Rooms with more members than this get no Connected, Disconnected or Rename notices (--presence-max). */
  readonly presenceMax: number;
  /** Identities within their resume window, by ID. */
  readonly away: StrMap<Away>;
  /**
   * The same in the order they left, which is the order they expire (expire; past maxAway the oldest
   * goes). An entry is current while `away` has it (its `client`); one resumed since, or gone again (its
   * later entry is the current one), is passed over when it comes first. A Map and a List, not an
   * OrderedMap, which keeps an [ID, Away] pair per entry besides: ~80 B less per away identity (issue 9:
   * ~30,000 of them in the soak's resume window).
   */
  readonly leaving: List<Away>;
  /** How long an identity is kept after its connection ends (--resume-window; 0: no resuming). */
  readonly resumeWindowMs: number;
  /** How many identities are kept for resuming at most (MAX_AWAY). */
  readonly maxAway: number;
  /** The wireSize of every direct kept for an away identity (at most Limits.maxAwayBytes). */
  readonly awayBytes: number;
  /** Bytes one resume replays at most over all its rooms (Limits.maxReplayBytes, less with a small --max-buffered). */
  readonly maxReplayBytes: number;
  /**
   * Several processes share the log and hear each other's lines (docs/scaling.md):
   * lines are delivered as heard, in Seq order, and a room is listened to while it has members here.
   */
  readonly cluster: boolean;
  /**
   * Several processes: connections whose resume token is being looked up in
   * Redis (a `take`), with the frames they sent meanwhile (at most
   * MAX_EARLY_FRAMES), handled once they know who they are. Empty with one process.
   */
  readonly resuming: StrMap<Resuming>;
  /**
   * A Join of a room with this many members is refused, room_full (--max-room-members; 0: no limit).
   * Several processes: counted over every node, by presence (its join refuses past it).
   */
  readonly maxRoomMembers: number;
}

/** A connection waiting for its resume's `take` (several processes). */
export interface Resuming {
  readonly opened: Extract<HubEvent, { kind: 'opened' }>;
  /** Its frames so far, oldest first (`received` and `rejected`), stepped again once it has its identity. */
  readonly frames: readonly Extract<HubEvent, { kind: 'received' | 'rejected' }>[];
}

/** Frames a resuming connection may send before its welcome; one more is refused (too_many_requests). */
export const MAX_EARLY_FRAMES = 64;

export interface Step {
  readonly state: HubState;
  readonly effects: readonly Effect[];
}

/** As many members as a room may have and still hear each one come, go and rename (--presence-max). */
export const DEFAULT_PRESENCE_MAX = 1000;
/** How long an identity can be resumed after its connection ends (--resume-window). */
export const DEFAULT_RESUME_WINDOW_MS = 5 * 60_000;
/**
 * Identities kept for resuming at most: past this the oldest goes first, so a
 * flood of connections that come and go cannot grow the hub without bound
 * within one window.
 */
export const MAX_AWAY = 100_000;
/** Members one room may have (--max-room-members). */
export const DEFAULT_MAX_ROOM_MEMBERS = 10_000;

export const initialState = (
  opts: { presenceMax?: number; resumeWindowMs?: number; maxAway?: number; maxReplayBytes?: number; cluster?: boolean; maxRoomMembers?: number; refreshGraceMs?: number } = {},
): HubState => ({
  clients: StrMap.empty(),
  users: StrMap.empty(),
  refreshGraceMs: opts.refreshGraceMs ?? REFRESH_GRACE_MS,
  rooms: StrMap.empty(),
  sizes: noRooms(),
  shuttingDown: false,
  presenceMax: opts.presenceMax ?? DEFAULT_PRESENCE_MAX,
  away: StrMap.empty(),
  leaving: List(),
  resumeWindowMs: opts.resumeWindowMs ?? DEFAULT_RESUME_WINDOW_MS,
  maxAway: opts.maxAway ?? MAX_AWAY,
  awayBytes: 0,
  maxReplayBytes: opts.maxReplayBytes ?? Limits.maxReplayBytes,
  cluster: opts.cluster ?? false,
  resuming: StrMap.empty(),
  maxRoomMembers: opts.maxRoomMembers ?? DEFAULT_MAX_ROOM_MEMBERS,
});

const NO_KEYS: RecentMap<KeyRecord> = RecentMap.empty();
const NO_ROOMS: readonly string[] = [];
// An away identity's Keys and Directs while it has none (most of them): one array each for all.
const NO_AWAY_KEYS: readonly AwayKey[] = [];
const NO_DIRECTS: readonly Message[] = [];

/**
 * `xs` with `x` after them, in an array of just that length: kept in the state (a room's members, a
 * client's rooms), where `[...xs, x]` would keep room for 16 more (V8 grows an array as it pushes).
 */
const plus = <T>(xs: readonly T[], x: T): readonly T[] => xs.concat([x]);

/** `xs` without `x` (in them once at most), in an array of just that length (`filter` keeps room to spare). */
function minus<T>(xs: readonly T[], x: T): readonly T[] {
  const i = xs.indexOf(x);
  return i < 0 ? xs : xs.slice(0, i).concat(xs.slice(i + 1));
}

const NONE: readonly Effect[] = [];
const unchanged = (state: HubState, effects: readonly Effect[] = NONE): Step => ({ state, effects });

const err = (code: ProtocolError['code'], reason: string, ref?: Ref): ProtocolError =>
  (ref === undefined ? { code, reason } : { code, reason, ref });

const defaultName = (id: string) => `guest-${id.slice(0, 4)}`;

/** Up to a page of a room's members from `start` (join order): O(page), whatever the room's size. */
const memberPage = (state: HubState, room: Room | undefined, start = 0): Member[] =>
  (room
    ? room.members.slice(start, start + Limits.maxMembersListed)
      .map((id) => ({ ID: id, Name: state.clients.get(id)?.name ?? '' }))
    : []);

/** Whether `room` has --max-room-members here already (several processes: presence counts every node's too). */
const full = (state: HubState, room: string): boolean =>
  state.maxRoomMembers > 0 && (state.rooms.get(room)?.members.length ?? 0) >= state.maxRoomMembers;

const roomFull = (state: HubState, room: string, ref?: Ref): ProtocolError =>
  err('room_full', `room "${room}" has ${state.maxRoomMembers} members, as many as a room may have`, ref);

/** Whether a room of `size` members (the one who comes or goes included) hears about each member. */
const announces = (state: HubState, size: number): boolean => size <= state.presenceMax;

/** The members who get live lines: all of them unless some wait for a read of the log. */
const live = (room: Room): readonly string[] =>
  (room.waiting.length === 0 ? room.members : without(room.members, new Set(room.waiting.map((w) => w.id))));

/** O(members + waiting), not their product: many resume at once after a network blip. */
const without = (members: readonly string[], out: ReadonlySet<string>): readonly string[] => members.filter((id) => !out.has(id));

/**
 * How a client enters a room: `join` answers at once when the hub knows the
 * room's position and reads the log first when it does not; `resume` always
 * reads the room's position (limit 0: no lines), and from it decides whether
 * the lines the client missed can be replayed (onPosition).
 */
type Entry = { mode: 'join'; ref?: Ref } | { mode: 'resume'; since?: Position };

/**
 * `room` with other members. Written out, not spread, as where a read positions a room (onReadDone):
 * there a spread of a Room gave an object with four fields in it and three in a properties array
 * beside (96 B a room, not 80), and joins, leaves and reads are what leave the rooms an idle hub keeps.
 */
const withMembers = (room: Room, members: readonly string[], waiting: readonly Waiting[]): Room =>
  ({ name: room.name, seq: room.seq, epoch: room.epoch, members, waiting, live: room.live, alone: room.alone });

/** Adds a client to a room: the joiner gets the room's first members and position, the others a Connected. */
function enter(state: HubState, client: Client, roomName: string, at: number, entry: Entry): Step {
  const before = state.rooms.get(roomName);
  const reads = entry.mode === 'resume' || before === undefined || before.seq < 0;
  // Several processes: a Join reply waits for the room's members over every node too (presence), and is
  // sent when both have come back, with the room's position as it is then (onRoster).
  const wait = reads || state.cluster;
  const since = entry.mode === 'resume' ? entry.since : undefined;
  const purpose: ReadPurpose = entry.mode === 'join'
    ? { for: 'join', to: client.id, ref: entry.ref }
    : since ? { for: 'resume', to: client.id, since } : { for: 'resume', to: client.id };
  const waits: Waiting = !state.cluster ? { id: client.id, purpose }
    : entry.mode === 'join' ? { id: client.id, purpose, roster: null, reading: reads } : { id: client.id, purpose, roster: null };
  const waiter: Waiting[] = wait ? [waits] : [];
  const room: Room = before
    ? withMembers(before, plus(before.members, client.id), wait ? [...before.waiting, ...waiter] : before.waiting)
    : { name: roomName, seq: -1, epoch: '', members: [client.id], waiting: waiter, live: null, alone: [roomName] };
  const size = room.members.length;
  const updated: Client = { ...client, rooms: client.rooms.length === 0 ? room.alone : plus(client.rooms, roomName) };
  const next: HubState = {
    ...state,
    clients: state.clients.set(client.id, updated),
    rooms: state.rooms.set(roomName, room),
    sizes: resize(state.sizes, roomName, size - 1, size),
  };
  const me: Member = { ID: client.id, Name: client.name };
  const effects: Effect[] = [];
  if (!before && state.cluster) effects.push(subscribe(roomName));
  if (!wait) {
    const ref = entry.mode === 'join' ? entry.ref : undefined;
    effects.push(send(client.id, M.joined(client.id, roomName, memberPage(next, room), size, room.seq, room.epoch, at, ref)));
  } else if (reads && !(state.cluster && entry.mode === 'resume')) {
    // Several processes: a resumed room reads its position once presence has answered (onRoster), so
    // that its Join reply lists the members over every node, not only those here.
    effects.push(read({ room: roomName, limit: 0 }, purpose));
  }
  if (state.cluster) {
    // The room hears of it from presence's event, on every node (onPresenceHeard).
    const asked: PresencePurpose = entry.mode === 'join' ? { for: 'join', to: client.id, ref: entry.ref } : { for: 'resume', to: client.id };
    // A join (not a resume: it had its place) is refused by presence past --max-room-members over every node.
    const max = entry.mode === 'join' && state.maxRoomMembers > 0 ? { max: state.maxRoomMembers } : {};
    effects.push(presence({ op: 'join', room: roomName, id: client.id, name: client.name, at, list: Limits.maxMembersListed, ...max }, asked));
  } else if (before && announces(state, size)) {
    // protocol.md "Large rooms": past --presence-max members, comings and goings are not announced.
    effects.push(broadcast(live(before), M.connected(me, roomName, at)));
  }
  effects.push(log('join', { id: client.id, name: client.name, room: roomName, members: size }));
  return { state: next, effects };
}

/** Removes a client from one room; the rest of the room is told why. Empty rooms disappear. */
function exit(state: HubState, client: Client, roomName: string, reason: M.LeaveReason, at: number, notify: boolean) {
  const room = state.rooms.get(roomName);
  const left = minus(client.rooms, roomName);
  // In one room, or none, now: the arrays every client in that case shares (Room.alone, NO_ROOMS).
  const rooms = left.length === 0 ? NO_ROOMS : left.length === 1 ? state.rooms.get(left[0])?.alone ?? left : left;
  const updated: Client = { ...client, rooms };
  if (!room) return { state: { ...state, clients: state.clients.set(client.id, updated) }, effects: NONE };
  const rest = minus(room.members, client.id);
  const waiting = isWaiting(room, client.id) ? room.waiting.filter((w) => w.id !== client.id) : room.waiting;
  const next: HubState = {
    ...state,
    clients: state.clients.set(client.id, updated),
    rooms: rest.length === 0 ? state.rooms.delete(roomName) : state.rooms.set(roomName, withMembers(room, rest, waiting)),
    sizes: resize(state.sizes, roomName, room.members.length, rest.length),
  };
  const effects: Effect[] = [];
  if (rest.length === 0 && state.cluster) effects.push(unsubscribe(roomName));
  if (state.cluster) {
    // The room hears of it from presence's event, on every node; a stopping server leaves all at once (leaveAll).
    if (notify) effects.push(presence({ op: 'leave', room: roomName, id: client.id, reason, at }));
  } else if (notify && rest.length > 0 && announces(state, room.members.length)) {
    effects.push(broadcast(rest, M.disconnected({ ID: client.id, Name: client.name }, roomName, reason, at)));
  }
  effects.push(log('leave', { id: client.id, name: client.name, room: roomName, reason, members: rest.length }));
  return { state: next, effects };
}

/**
 * Takes a connection out of the hub: out of every room, then forgotten. Its
 * identity is kept for the resume window (protocol.md "Resuming after a
 * reconnect"), unless the server is stopping; with several processes it is
 * parked in Redis (`park` false: not at all, it was taken over).
 */
/** With auth on: the user's connections here, `id` among them (O(connections of that user), a few). */
function withUser(users: HubState['users'], user: string | undefined, id: string): HubState['users'] {
  if (user === undefined) return users;
  const ids = users.get(user) ?? [];
  return ids.includes(id) ? users : users.set(user, plus(ids, id));
}

/**
 * Several processes, auth on: Redis keeps which nodes hold each user's connections (sessions.ts, `user:{SUB}`),
 * so a Direct to the user reaches them all. It is told when a user's first connection comes here...
 */
function holdUser(state: HubState, user: string | undefined, effects: Effect[]): void {
  if (state.cluster && user !== undefined && !state.users.has(user)) effects.push(session({ op: 'holdUser', user }));
}

/** With auth on: `id` no longer among the user's connections (the user forgotten with its last). */
function withoutUser(users: HubState['users'], user: string | undefined, id: string): HubState['users'] {
  if (user === undefined) return users;
  const ids = minus(users.get(user) ?? [], id);
  return ids.length === 0 ? users.delete(user) : users.set(user, ids);
}

function depart(state: HubState, id: string, reason: M.LeaveReason, at: number, extra: Effect[], park = true): Step {
  const client = state.clients.get(id);
  if (!client) {
    // Several processes: a connection that ends while its resume is looked up (sessionTaken puts the identity back).
    return state.resuming.has(id) ? { state: { ...state, resuming: state.resuming.delete(id) }, effects: extra } : unchanged(state, extra);
  }
  let s: HubState = client.user === undefined ? state : { ...state, users: withoutUser(state.users, client.user, id) };
  const effects: Effect[] = [];
  // ...and when its last goes (holdUser).
  if (s.cluster && client.user !== undefined && !s.users.has(client.user)) effects.push(session({ op: 'dropUser', user: client.user }));
  // protocol.md: during shutdown nobody is told about each other's leaving, and
  // whatever ends a socket then, the shutdown is why it went.
  const notify = !state.shuttingDown;
  const why: M.LeaveReason = state.shuttingDown ? 'shutdown' : reason;
  for (const room of client.rooms) {
    const r = exit(s, s.clients.get(id) as Client, room, why, at, notify);
    s = r.state;
    effects.push(...r.effects);
  }
  effects.push(...extra, log('disconnect', { id, name: client.name, reason: why }));
  if (s.cluster) {
    // Several processes: the identity is kept in Redis, where any node can resume it (src/cluster/sessions.ts),
    // during a shutdown too: its clients reconnect to another node. `park` false: it was taken over (a cut,
    // a resume), and its record is the taker's now.
    if (park) effects.push(session(s.resumeWindowMs > 0 ? { op: 'park', token: client.token, record: recordOf(client), ttlMs: s.resumeWindowMs } : { op: 'release', id }));
    return { state: { ...s, clients: s.clients.delete(id) }, effects };
  }
  const keep = s.resumeWindowMs > 0 && !s.shuttingDown;
  let away = s.away;
  let leaving = s.leaving;
  let awayBytes = s.awayBytes;
  if (keep) {
    if (away.size >= s.maxAway) {
      // The oldest still away goes (and the entries before it, resumed since, with it).
      let n = 0;
      for (const a of leaving) {
        n++;
        const oldest = current(away, a);
        if (oldest === undefined) continue;
        away = away.delete(oldest.client.id);
        awayBytes -= oldest.bytes;
        break;
      }
      leaving = leaving.slice(n);
    }
    // As it was, without what only a live connection has: most have none of it, and are kept as they are.
    const idle = client.keys === NO_KEYS && client.reads === NO_READING;
    const kept: Away = {
      client: idle ? client : { ...client, keys: NO_KEYS, reads: NO_READING },
      keys: awayKeys(client.keys), until: at + s.resumeWindowMs, directs: NO_DIRECTS, bytes: 0,
    };
    away = away.set(id, kept);
    leaving = leaving.push(kept);
  }
  return { state: { ...s, clients: s.clients.delete(id), away, leaving, awayBytes }, effects };
}

/** About what an away Key takes in memory: its three strings (two bytes a unit) and the array holding them. */
const awayKeyBytes = (key: string, msgId: string, to: string): number => 2 * (key.length + msgId.length + to.length) + 64;

/** The Keys an identity going away keeps (Away.keys): its Directs', the newest first in, within the byte bound. */
function awayKeys(keys: RecentMap<KeyRecord>): readonly AwayKey[] {
  if (keys.size === 0) return NO_AWAY_KEYS;
  const out: AwayKey[] = [];
  let bytes = 0;
  for (const [key, rec] of keys.newestFirst()) {
    if (!('to' in rec) || 'pending' in rec) continue;
    bytes += awayKeyBytes(key, rec.msgId, rec.to);
    if (bytes > Limits.maxAwayKeyBytes) break;
    out.push([key, rec.msgId, rec.to]);
  }
  return out.length === 0 ? NO_AWAY_KEYS : out.reverse();
}

/** The away identity a `leaving` entry is of, if that entry is still its current one (HubState.leaving). */
function current(away: HubState['away'], entry: Away): Away | undefined {
  const a = away.get(entry.client.id);
  // Each departure keeps a Client of its own (a Direct meanwhile replaces the Away, not its client).
  return a !== undefined && a.client === entry.client ? a : undefined;
}

/** Forgets the identities whose resume window is over: the oldest first, so this stops at the first still kept. */
function expire(state: HubState, at: number): HubState {
  // One pass from the oldest (entries resumed since passed over), then the deletes in one batch and the
  // list cut once. Not a delete per identity from an OrderedMap, as it was: it keeps the slots of deleted
  // entries until it compacts, and `first()` walks past them, so that loop was quadratic: 2,500 identities
  // expiring at one beat among 30,000 stalled the hub 1-2 s (the soak's p99, docs/benchmarks.md).
  let n = 0;
  const gone: Away[] = [];
  for (const entry of state.leaving) {
    const a = current(state.away, entry);
    if (a !== undefined && a.until > at) break;
    if (a !== undefined) gone.push(a);
    n++;
  }
  if (n === 0) return state;
  let awayBytes = state.awayBytes;
  for (const a of gone) awayBytes -= a.bytes;
  const away = gone.length === 0 ? state.away : state.away.deleteAll(gone.map((a) => a.client.id));
  return { ...state, away, leaving: state.leaving.slice(n), awayBytes };
}

/**
 * The resume token a client is given (protocol.md "Resuming after a reconnect": opaque to it). With one
 * process, its identity's ID and the connection's secret, `ID.SECRET`: a resume finds the identity by the
 * ID and takes it only with the secret it holds, so the hub keeps no map of tokens (one entry less per
 * identity, live or away: issue 9). Several processes: the secret alone, looked up in Redis (sessions.ts).
 * Built for the welcome only, and not kept.
 */
const resumeToken = (state: HubState, id: string, secret: string): string => (state.cluster ? secret : `${id}.${secret}`);

/** The length of a secret (TOKEN_PATTERN), and of the `.` before it in a token of one process. */
const SECRET_LENGTH = 32;

/** The identity ID a one-process resume token names, if it has the form `ID.SECRET` (undefined: malformed). */
function idOfToken(token: string): string | undefined {
  const dot = token.length - SECRET_LENGTH - 1;
  if (dot < 1 || token.charCodeAt(dot) !== 0x2e || !TOKEN_PATTERN.test(token.slice(dot + 1))) return undefined;
  return token.slice(0, dot);
}

/**
 * Whether a well-formed token (idOfToken) carries `secret`. Every character is compared, whatever the
 * first that differs: how long a wrong guess takes says nothing of how much of it was right.
 */
function holdsSecret(token: string, secret: string): boolean {
  if (secret.length !== SECRET_LENGTH) return false;
  const from = token.length - SECRET_LENGTH;
  let diff = 0;
  for (let i = 0; i < SECRET_LENGTH; i++) diff |= token.charCodeAt(from + i) ^ secret.charCodeAt(i);
  return diff === 0;
}

/**
 * The identity `id` if it is away and its resume window is still open at `at`:
 * pingDue forgets the others only at its next beat, and till then they are gone all the same.
 */
function awayAt(state: HubState, id: string, at: number): Away | undefined {
  const away = state.away.get(id);
  return away !== undefined && away.until > at ? away : undefined;
}

/** A new connection: a fresh identity, or, with a good resume token, the one it had. */
/** A Client's user fields from an opened event's (none with auth off). */
const userOf = (user: User | undefined): Pick<Client, 'user' | 'allowed' | 'expires'> =>
  user === undefined ? {} : { user: user.sub, ...(user.rooms === undefined ? {} : { allowed: user.rooms }), ...(user.exp === undefined ? {} : { expires: user.exp }) };

/**
 * With auth on, at each heartbeat tick (pingDue): a connection whose token has expired is told so once,
 * and one still without a fresh token REFRESH_GRACE_MS later is closed with 4001 (docs/protocol.md "Auth").
 * O(connections) per tick, like the ping itself, and nothing with auth off (no users).
 */
function expiries(state: HubState, at: number): Step {
  if (state.users.size === 0) return unchanged(state);
  let clients = state.clients;
  const effects: Effect[] = [];
  for (const c of state.clients.values()) {
    if (c.expires === undefined || c.expires > at) continue;
    if (c.graceUntil === undefined) {
      clients = clients.set(c.id, { ...c, graceUntil: at + state.refreshGraceMs });
      effects.push(send(c.id, M.notice(`token expired: send a Refresh (Type 15) with a new token within ${state.refreshGraceMs / 1000} s, or be closed with ${Close.TokenExpired}`, at)));
    } else if (at >= c.graceUntil) {
      effects.push(close(c.id, Close.TokenExpired, 'token_expired'), log('token_expired', { id: c.id, user: c.user }, 'info'));
    }
  }
  return effects.length === 0 ? unchanged(state) : { state: { ...state, clients }, effects };
}

/** With auth on: a Refresh's token, verified at the edge, taken if it is the same user's. */
function onRefreshed(state: HubState, e: Extract<HubEvent, { kind: 'refreshed' }>): Step {
  const client = state.clients.get(e.id);
  if (!client) return unchanged(state);
  if (e.user === undefined || client.user === undefined || e.user.sub !== client.user) {
    const why = client.user === undefined ? 'auth is off: there is no token to refresh'
      : e.user === undefined ? 'the token is bad or expired: your old one still holds until it expires'
        : 'the token is another user\'s: a Refresh keeps the same sub';
    return unchanged(state, [send(e.id, M.error(err(client.user === undefined ? 'forbidden' : 'bad_token', why, e.ref), e.at))]);
  }
  const { graceUntil: _, ...rest } = client;
  const updated: Client = { ...rest, ...userOf(e.user), ...(e.user.rooms === undefined ? { allowed: undefined } : {}) };
  return {
    state: { ...state, clients: state.clients.set(e.id, updated) },
    effects: [send(e.id, M.refreshedFrame(e.id, e.at, e.user.exp, e.ref)), log('refreshed', { id: e.id, user: client.user }, 'debug')],
  };
}

const forbiddenRoom = (room: string): ProtocolError => err('forbidden', `your token does not allow room "${room}"`);

function onOpened(state: HubState, e: Extract<HubEvent, { kind: 'opened' }>): Step {
  if (state.shuttingDown) {
    // protocol.md "Closing": whoever is connected when the server stops, or connects
    // while it stops, gets the same System notice, then 1001.
    return unchanged(state, [
      send(e.id, M.notice('server shutting down', e.at)),
      close(e.id, Close.GoingAway, 'server shutting down'),
    ]);
  }
  const effects: Effect[] = [];
  if (e.resume !== undefined && state.cluster && state.resumeWindowMs > 0) {
    // Several processes: the token is looked up in Redis, wherever the identity was (one path for this node
    // and another); the connection waits, its frames held, until sessionTaken says who it is.
    return {
      state: { ...state, resuming: state.resuming.set(e.id, { opened: e, frames: [] }) },
      effects: [session({ op: 'take', conn: e.id, token: e.resume }), log('resume_asked', { id: e.id }, 'debug')],
    };
  }
  if (e.resume !== undefined) {
    const id = idOfToken(e.resume);
    const was = id === undefined ? undefined : state.clients.get(id) ?? awayAt(state, id, e.at)?.client;
    // The identity's own secret, the one it was last given (each works once: a resume gives a new one).
    // With auth on, an identity is resumed only by a token of the same user (docs/security.md "Identity").
    const kept = was !== undefined && holdsSecret(e.resume, was.token) && was.user === e.user?.sub;
    // The ID the hub keeps, not the one sliced from the token (which would keep the token's string alive).
    if (kept && state.resumeWindowMs > 0) return resume(state, e, was.id);
    // protocol.md: a token that is unknown, malformed, used or expired buys nothing:
    // say so, then this is an ordinary new connection.
    effects.push(...resumeFailed(e.id, e.at));
  }
  return fresh(state, e, effects);
}

/** protocol.md: a token that is unknown, malformed, used or expired buys nothing: say so (then a new connection). */
const resumeFailed = (id: string, at: number): Effect[] => [
  send(id, M.error(err('resume_failed', 'the resume token is unknown, used or expired: this is a new session'), at)),
  log('resume_failed', { id }, 'info'),
];

/** A new identity for the connection, in its ?room= under its ?name=; `effects` go first. */
function fresh(state: HubState, e: Extract<HubEvent, { kind: 'opened' }>, effects: Effect[]): Step {
  const room = e.room === undefined || e.room === '' ? DEFAULT_ROOM : e.room;
  const name = e.name === undefined || e.name === '' ? defaultName(e.id) : normalizeName(e.name);
  const problem = roomProblem(room)
    ? err('bad_room', `?room=: ${roomProblem(room)}`)
    : nameProblem(name) ? err(nameErrorCode(name), `?name=: ${nameProblem(name)}`)
      : undefined;
  if (problem) {
    // protocol.md: a connection with a bad ?name= or ?room= is told why and closed with 1008.
    return unchanged(state, [
      ...effects,
      send(e.id, M.error(problem, e.at)),
      close(e.id, Close.PolicyViolation, problem.code),
      log('refused', { id: e.id, code: problem.code }, 'warn'),
    ]);
  }
  const guest: Client = { id: e.id, name, rooms: NO_ROOMS, token: e.token, keys: NO_KEYS, reads: NO_READING };
  // With auth off, a Client has the same shape as before auth existed (no spread: the hidden class stays one).
  const client: Client = e.user === undefined ? guest : { ...guest, ...userOf(e.user) };
  const users = withUser(state.users, e.user?.sub, e.id);
  const user = e.user === undefined ? {} : { user: e.user.sub };
  // With auth on the edge refuses a first room the token does not allow (403); this holds whatever the edge does.
  const blocked = !roomAllowed(e.user?.rooms, room) ? forbiddenRoom(room) : full(state, room) ? roomFull(state, room) : undefined;
  if (blocked) {
    // protocol.md "Rooms": connected, in no room, and told why; it may join another.
    effects.push(send(e.id, M.welcome(e.id, name, [], e.at, resumeToken(state, e.id, e.token))), send(e.id, M.error(blocked, e.at)),
      log('connect', { id: e.id, name, room: null, [blocked.code === 'forbidden' ? 'forbidden' : 'full']: room }));
    if (state.cluster) effects.push(session({ op: 'claim', id: e.id, token: e.token, record: { id: e.id, name, rooms: [], keys: [], ...user } }));
    holdUser(state, e.user?.sub, effects);
    return { state: { ...state, clients: state.clients.set(e.id, client), users }, effects };
  }
  effects.push(send(e.id, M.welcome(e.id, name, [room], e.at, resumeToken(state, e.id, e.token))), log('connect', { id: e.id, name, room }));
  // Several processes: the identity and its token are kept in Redis, not here.
  if (state.cluster) effects.push(session({ op: 'claim', id: e.id, token: e.token, record: { id: e.id, name, rooms: [room], keys: [], ...user } }));
  holdUser(state, e.user?.sub, effects);
  const r = enter({ ...state, clients: state.clients.set(e.id, client), users }, client, room, e.at, { mode: 'join' });
  return { state: r.state, effects: [...effects, ...r.effects] };
}

/**
 * Gives a connection the identity its token names: the same ID, name and rooms,
 * the directs kept for it, and in each room a replay from where it says it was.
 * A token whose connection still looks alive (half-open after a network change)
 * takes it over: that socket is cut.
 */
function resume(state: HubState, e: Extract<HubEvent, { kind: 'opened' }>, id: string): Step {
  const effects: Effect[] = [];
  let s = state;
  if (s.clients.has(id)) {
    // The old socket becomes e.id (rebind swaps), and is cut; its closing then names e.id, which the hub never knew.
    const gone = depart(s, id, 'closed', e.at, []);
    s = gone.state;
    effects.push(...gone.effects, rebind(e.id, id), terminate(e.id));
  } else {
    effects.push(rebind(e.id, id));
  }
  const away = s.away.get(id) as Away;
  s = { ...s, away: s.away.delete(id), awayBytes: s.awayBytes - away.bytes };
  const keys = RecentMap.of<KeyRecord>(away.keys.map(([k, msgId, to]) => [k, { msgId, to }]), Limits.maxKeysRemembered);
  return restore(s, e, { id, name: away.client.name, rooms: away.client.rooms, keys }, away.directs, effects);
}

/**
 * The identity back on the connection `e` opened: the welcome (Resumed), the
 * directs kept for it, and in each of its rooms a replay from where `e.since`
 * says it was, each waiting its turn in the connection's queue (pump).
 */
function restore(
  state: HubState, e: Extract<HubEvent, { kind: 'opened' }>,
  who: { id: string; name: string; rooms: readonly string[]; keys: RecentMap<KeyRecord> },
  directs: readonly Message[], effects: Effect[],
): Step {
  const { id } = who;
  // With auth on: the user and rooms of the token it comes back with (the same user: onOpened, onTaken);
  // rooms that token no longer allows are not rejoined.
  const rooms = who.rooms.filter((room) => roomAllowed(e.user?.rooms, room));
  who = { ...who, rooms };
  const back: Client = {
    id, name: who.name, rooms: NO_ROOMS, token: e.token, keys: who.keys,
    reads: reads({ reading: 0, queue: who.rooms.map((room) => ({ replay: room })), busy: false, replayLeft: state.maxReplayBytes }),
  };
  const client: Client = e.user === undefined ? back : { ...back, ...userOf(e.user) };
  holdUser(state, e.user?.sub, effects);
  let s: HubState = { ...state, clients: state.clients.set(id, client), users: withUser(state.users, e.user?.sub, id) };
  effects.push(
    send(id, M.welcome(id, client.name, who.rooms, e.at, resumeToken(state, id, e.token), true)),
    log('resume', { id, name: client.name, rooms: who.rooms.length, directs: directs.length }),
  );
  for (const d of directs) effects.push(send(id, d));
  const since = parseSince(e.since);
  for (const room of who.rooms) {
    const r = enter(s, s.clients.get(id) as Client, room, e.at, { mode: 'resume', since: since.get(room) });
    s = r.state;
    effects.push(...r.effects);
  }
  return { state: s, effects };
}

/** Several processes: what Redis keeps of a live identity (its settled Keys: a pending one is not kept). */
function recordOf(client: Client): IdentityRecord {
  const keys: [string, SettledKey][] = [];
  for (const [k, rec] of client.keys) if (!('pending' in rec)) keys.push([k, rec]);
  return { id: client.id, name: client.name, rooms: [...client.rooms], keys, ...(client.user === undefined ? {} : { user: client.user }) };
}

/**
 * Several processes: a step that changed a client's rooms, name or Keys, and the
 * record Redis keeps of it updated, so that a resume after this node dies gets
 * them back. With one process, the step as it is.
 */
function touched(r: Step, id: string): Step {
  if (!r.state.cluster) return r;
  const client = r.state.clients.get(id);
  if (!client) return r;
  return { state: r.state, effects: [...r.effects, session({ op: 'update', id, token: client.token, record: recordOf(client) })] };
}

/**
 * A frame from a connection whose resume is being looked up (several
 * processes): held, and handled under the identity it gets (onTaken); past
 * MAX_EARLY_FRAMES, refused.
 */
function holdFrame(state: HubState, e: Extract<HubEvent, { kind: 'received' | 'rejected' }>): Step {
  const r = state.resuming.get(e.id);
  if (!r) return unchanged(state);
  if (r.frames.length >= MAX_EARLY_FRAMES) {
    const ref = e.kind === 'received' ? (e.message as { ref?: Ref }).ref : e.error.ref;
    return unchanged(state, [send(e.id, M.error(err('too_many_requests', `this connection is still resuming: at most ${MAX_EARLY_FRAMES} frames wait for its welcome`, ref), e.at))]);
  }
  return { state: { ...state, resuming: state.resuming.set(e.id, { ...r, frames: [...r.frames, e] }) }, effects: NONE };
}

/** The frames a connection sent while it resumed, handled in order as its identity's, after what `r` did. */
function heldFrames(r: Step, frames: Resuming['frames'], id: string): Step {
  if (frames.length === 0) return r;
  let s = r.state;
  const effects = [...r.effects];
  for (const f of frames) {
    const x = step(s, { ...f, id });
    s = x.state;
    effects.push(...x.effects);
  }
  return { state: s, effects };
}

/**
 * Several processes: the answer to a resume's `take`. Found: the connection
 * becomes the identity (claimed here with its new token), as on one node; a
 * socket of it still here is cut (another node's got a `cut` from Redis). Not
 * found: resume_failed and a new identity. Redis away: the token may well be
 * good, so the client is told to come back with it (1013).
 */
function onTaken(state: HubState, e: Extract<HubEvent, { kind: 'sessionTaken' }>): Step {
  const { conn, token } = e.op;
  const waiting = state.resuming.get(conn);
  const s: HubState = waiting ? { ...state, resuming: state.resuming.delete(conn) } : state;
  const o = e.outcome;
  if (!o.found) {
    if (!waiting) return unchanged(s);
    if (o.why === 'unavailable') {
      return unchanged(s, [
        send(conn, M.error(err('unavailable', `your session could not be looked up just now (${o.reason ?? 'Redis is away'}): reconnect with the same token shortly`), e.at)),
        close(conn, Close.TryAgainLater, 'unavailable'),
        log('resume_unavailable', { id: conn, reason: o.reason }, 'warn'),
      ]);
    }
    return heldFrames(fresh(s, { ...waiting.opened, at: e.at }, resumeFailed(conn, e.at)), waiting.frames, conn);
  }
  const { record } = o;
  if (waiting && !s.shuttingDown && record.user !== waiting.opened.user?.sub) {
    // With auth on: another user's identity is not resumed; it is put back, as it was, and this is a new session.
    return heldFrames(fresh(s, { ...waiting.opened, at: e.at }, [
      session({ op: 'claim', id: record.id, token, record }),
      session({ op: 'park', token, record, ttlMs: s.resumeWindowMs }),
      ...o.directs.map((d) => session({ op: 'send', to: record.id, message: d, purpose: { for: 'redirect' } })),
      ...resumeFailed(conn, e.at),
    ]), waiting.frames, conn);
  }
  if (!waiting || s.shuttingDown) {
    // Gone before it knew who it was (or the server stops): the identity is put back, under the token
    // the client still holds, with its directs, to be resumed anywhere.
    const effects: Effect[] = [
      session({ op: 'claim', id: record.id, token, record }),
      session({ op: 'park', token, record, ttlMs: s.resumeWindowMs }),
    ];
    for (const d of o.directs) effects.push(session({ op: 'send', to: record.id, message: d, purpose: { for: 'redirect' } }));
    effects.push(log('resume_put_back', { id: record.id, directs: o.directs.length }));
    return unchanged(s, effects);
  }
  const { id } = record;
  const effects: Effect[] = [session({ op: 'claim', id, token: waiting.opened.token, record })];
  let t = s;
  if (t.clients.has(id)) {
    // Still live here (a half-open socket): cut as on one node, and not parked: Redis has the new token.
    const gone = depart(t, id, 'closed', e.at, [], false);
    t = gone.state;
    effects.push(...gone.effects, rebind(conn, id), terminate(conn));
  } else {
    effects.push(rebind(conn, id));
  }
  const keys = RecentMap.of<KeyRecord>(record.keys, Limits.maxKeysRemembered);
  const r = restore(t, { ...waiting.opened, at: e.at }, { id, name: record.name, rooms: record.rooms, keys }, o.directs, effects);
  return heldFrames(r, waiting.frames, id);
}

/** Several processes: a Direct to an identity not here, handed to Redis (its outcome comes back as directSent). */
function across(state: HubState, client: Client, m: Extract<ClientMessage, { type: 'direct' }>, at: number, msgId: string): Step {
  // Pending until the outcome: a repeat meanwhile is answered by the first one's Ack.
  const next = m.key === undefined ? state : noteKey(state, client.id, m.key, { pending: true, to: m.to });
  const message = M.direct(client, m.to, msgId, m.content, at);
  return { state: next, effects: [session({ op: 'send', to: m.to, message, purpose: { for: 'direct', from: client.id, msgId, key: m.key, ref: m.ref } })] };
}

/** A Direct's outcome from Redis: handed over or kept is an Ack (and its Key recorded); anything else its Error. */
function onSent(state: HubState, e: Extract<HubEvent, { kind: 'directSent' }>): Step {
  const { to, purpose } = e.op;
  if (purpose.for !== 'direct') return unchanged(state);
  const { from, msgId, key, ref } = purpose;
  const o = e.outcome;
  let next = state;
  if (key !== undefined) {
    const rec = state.clients.get(from)?.keys.get(key);
    if (rec && 'pending' in rec && 'to' in rec) next = noteKey(state, from, key, o.ok ? { msgId, to } : undefined);
  }
  // Its sender gone meanwhile: no socket would take the Ack or Error (reducer-props.spec.ts).
  const here = state.clients.has(from);
  if (!o.ok) {
    const failed = log('direct_failed', { id: from, to, code: o.code }, 'debug');
    return unchanged(next, here ? [send(from, M.error(err(o.code, o.reason, ref), e.at)), failed] : [failed]);
  }
  if (!here) return unchanged(next);
  const r: Step = { state: next, effects: [send(from, M.ack(from, msgId, e.at, ref, { To: to }, key))] };
  return key === undefined ? r : touched(r, from);
}

/**
 * Several processes: a Direct another node sent to an identity Redis says is
 * live here. One that has left since (parked now, or resumed elsewhere) is
 * handed back to Redis, which keeps it for it or sends it on.
 *
 * With auth on, one to a user Redis says has connections here: each of them
 * gets it. None left (its last went as the Direct was published): a user has no
 * mailbox (as on one node), and Redis is told again that this node does not
 * hold it, in case the first telling was lost.
 */
function onDirectHeard(state: HubState, e: Extract<HubEvent, { kind: 'directHeard' }>): Step {
  if (e.user) {
    const conns = state.users.get(e.to);
    if (conns !== undefined) return unchanged(state, conns.map((c) => send(c, e.message)));
    return unchanged(state, [session({ op: 'dropUser', user: e.to }), log('direct_unheld', { to: e.to }, 'debug')]);
  }
  if (state.clients.has(e.to)) return unchanged(state, [send(e.to, e.message)]);
  return unchanged(state, [
    session({ op: 'send', to: e.to, message: e.message, purpose: { for: 'redirect' } }),
    log('direct_redirected', { to: e.to }, 'debug'),
  ]);
}

/**
 * Several processes: node `by` resumed identity `id` with `token`. Its socket
 * here, if it still holds that token, is cut, without parking (the record is
 * the taker's now); it is named apart first, so that its closing never names
 * the identity, which may come back here.
 */
function onCut(state: HubState, e: Extract<HubEvent, { kind: 'cutHeard' }>): Step {
  const client = state.clients.get(e.id);
  if (!client || client.token !== e.token) return unchanged(state);
  // Never a connection ID (nanoid: A-Z a-z 0-9 _ -), and not the token, which is a secret.
  const apart = `${e.id}~cut`;
  return depart(state, e.id, 'closed', e.at, [rebind(apart, e.id), terminate(apart), log('cut', { id: e.id, by: e.by })], false);
}

const KEY_TAKEN = 'Key already used for another message: a Key names one message (a repeat goes to the same Room or To)';

/** An Error to the sender; nothing changes. */
const refuse = (state: HubState, client: Client, m: ClientMessage, at: number, code: ProtocolError['code'], reason: string): Step =>
  unchanged(state, [send(client.id, M.error(err(code, reason, m.ref), at))]);

/**
 * Updates a Key's record for a live identity. An away one keeps only its Directs'
 * Keys (Away.keys), and a Broadcast's (the only kind answered after its sender
 * went) is the log's to catch: a retry after the resume is appended again, and
 * the log finds the line under the sender's Key (a Duplicate Ack).
 */
function noteKey(state: HubState, id: string, key: string, rec: KeyRecord | undefined): HubState {
  const client = state.clients.get(id);
  if (!client) return state;
  const keys = rec === undefined ? client.keys.delete(key) : client.keys.set(key, rec, Limits.maxKeysRemembered);
  return withMaps(state, state.clients.set(id, { ...client, keys }), state.rooms);
}

/**
 * `state` with other clients and rooms, for the steps of every chat line (say, onAppended, noteKey):
 * its fields written out, where a spread (`{ ...state, clients }`) of this many fields is a slow copy
 * once V8 has seen the state in a few shapes.
 */
function withMaps(state: HubState, clients: StrMap<Client>, rooms: StrMap<Room>): HubState {
  return {
    clients,
    users: state.users,
    refreshGraceMs: state.refreshGraceMs,
    rooms,
    sizes: state.sizes,
    shuttingDown: state.shuttingDown,
    presenceMax: state.presenceMax,
    away: state.away,
    leaving: state.leaving,
    resumeWindowMs: state.resumeWindowMs,
    maxAway: state.maxAway,
    awayBytes: state.awayBytes,
    maxReplayBytes: state.maxReplayBytes,
    cluster: state.cluster,
    resuming: state.resuming,
    maxRoomMembers: state.maxRoomMembers,
  };
}

/**
 * A repeat of a Key already taken (protocol.md "Sending twice"): acked again with
 * what the first became, or, while the first is still being written, no answer
 * of its own (the first one's Ack answers both).
 */
function repeat(state: HubState, client: Client, rec: KeyRecord, key: string, at: number, ref: Ref | undefined): Step {
  if ('pending' in rec) return unchanged(state);
  const where = 'to' in rec ? { To: rec.to } : { Room: rec.room, Seq: rec.seq, Epoch: rec.epoch };
  return unchanged(state, [send(client.id, M.ack(client.id, rec.msgId, at, ref, where, key, true))]);
}

/**
 * A chat line: checked, then given to the log. It is delivered and acked when
 * the log answers (`appended`). The hot path (every accepted line;
 * docs/benchmarks.md, the step): no state changes unless it carries a Key.
 */
function say(state: HubState, client: Client, m: Extract<ClientMessage, { type: 'broadcast' }>, at: number, msgId: string): Step {
  const roomName = m.room ?? client.rooms[0];
  if (roomName === undefined) return refuse(state, client, m, at, 'not_member', 'you are in no room; join one first');
  if (!client.rooms.includes(roomName)) {
    return refuse(state, client, m, at, 'not_member', `you are not in room "${roomName}"`);
  }
  let next = state;
  if (m.key !== undefined) {
    const rec = client.keys.get(m.key);
    if (rec) {
      // protocol.md "Sending twice": a Key names one message; a repeat is the same Broadcast, into the same room.
      if ('to' in rec || rec.room !== roomName) return refuse(state, client, m, at, 'bad_field', KEY_TAKEN);
      return repeat(state, client, rec, m.key, at, m.ref);
    }
    next = noteKey(state, client.id, m.key, { pending: true, room: roomName });
  }
  return {
    state: next,
    effects: [append({ room: roomName, msgId, from: client.id, name: client.name, content: m.content, at, key: m.key }, m.ref)],
  };
}

/** The log kept a line: the room's live members get it, the sender its Ack. */
function onAppended(state: HubState, e: Extract<HubEvent, { kind: 'appended' }>): Step {
  const { req } = e;
  let next = state;
  // Several processes: the log publishes the line to every process, this one included, and it is
  // delivered when heard (onHeard), in Seq order; here it is only acked.
  const room = e.duplicateOf === undefined && !state.cluster ? state.rooms.get(req.room) : undefined;
  // To the identity, not the socket that sent it: after a resume the new socket gets it. A sender
  // gone (away, or forgotten) gets none: no socket would take it, and no effect names a connection
  // the hub does not know (reducer-props.spec.ts); a retry after its resume is acked from the log.
  const acked: Effect[] = !state.clients.has(req.from) ? [] : [
    send(req.from, M.lineAck(req.from, e.duplicateOf ?? req.msgId, e.at, e.ref, req.room, e.seq, e.epoch, req.key, e.duplicateOf !== undefined)),
  ];
  let effects: Effect[];
  if (room) {
    // A room whose position a read has yet to tell keeps waiting for it: that read includes this line.
    if (room.seq >= 0) {
      const rooms = state.rooms.set(req.room, { name: room.name, seq: e.seq, epoch: e.epoch, members: room.members, waiting: room.waiting, live: room.live, alone: room.alone });
      next = withMaps(state, state.clients, rooms);
    }
    effects = [broadcast(live(room), M.line(req.from, req.name, req.room, e.seq, e.epoch, req.msgId, req.content, req.at), req.from), ...acked];
  } else {
    effects = acked;
  }
  if (req.key !== undefined) {
    next = noteKey(next, req.from, req.key, { msgId: e.duplicateOf ?? req.msgId, room: req.room, seq: e.seq, epoch: e.epoch });
  }
  return { state: next, effects };
}

/**
 * Several processes: a line heard on its room's channel, from this process or
 * another, delivered to the room's live members in Seq order (sequence.ts).
 * A room whose position is not known yet ignores it: the read that will tell
 * the position, or the gap the next line shows, or the next head check covers it.
 */
function onHeard(state: HubState, e: Extract<HubEvent, { kind: 'heard' }>): Step {
  const room = state.rooms.get(e.line.room);
  if (!room || room.live === null) return unchanged(state);
  return sequenced(state, room, hear(room.live, e.line), e.at);
}

/**
 * What a Sequence step says, carried out: lines and resyncs to the live members, a gap read. A
 * member ahead of the room here goes live after the line of its Seq, or with a resync that may
 * have lost lines it has not (past its Seq, or another epoch).
 */
function sequenced(state: HubState, room: Room, r: SequenceStep, at: number): Step {
  const effects: Effect[] = [];
  let waiting = room.waiting;
  let members = live(room);
  // O(waiting) a line while one is ahead (for moments: until this node hears what it had), else nothing.
  let ahead = waiting.length > 0 && waiting.some(isAhead);
  const release = (done: (w: Ahead) => boolean): void => {
    const rest = waiting.filter((w) => w.purpose.for !== 'ahead' || !done(w.purpose));
    if (rest.length === waiting.length) return;
    waiting = rest;
    members = live({ ...room, waiting });
    ahead = waiting.some(isAhead);
  };
  for (const o of r.out) {
    if (o.kind === 'line') {
      // A line heard as published comes with its frame made (sequence.ts WireLine): handed on as it is.
      const message = o.line.wire === undefined ? M.stored(o.line, o.line.epoch) : { wire: o.line.wire };
      effects.push(broadcast(members, message, o.line.from));
      if (!ahead) continue;
      const { seq, epoch } = o.line;
      for (const w of waiting) {
        const a = w.purpose;
        if (a.for === 'ahead' && a.epoch === epoch && seq > a.seq && seq <= a.until) effects.push(send(w.id, message));
      }
      release((w) => epoch === w.epoch && seq >= w.until);
    } else {
      if (ahead) release((w) => o.epoch !== w.epoch || o.seq >= w.seq);
      effects.push(broadcast(members, M.resync(room.name, o.seq, o.epoch, at)));
    }
  }
  if (r.read) effects.push(read({ room: room.name, after: r.read.after, limit: r.read.limit }, { for: 'gap' }));
  // Written out, as in onAppended: every line heard comes here, and spreads of the room and the state were most of its cost.
  const next: Room = { name: room.name, seq: r.state.seq, epoch: r.state.epoch, members: room.members, waiting, live: r.state, alone: room.alone };
  return { state: withMaps(state, state.clients, state.rooms.set(room.name, next)), effects };
}

/** Several processes: asks each room's head, to find lines lost at the end (nothing after them shows a gap). */
function checkHeads(state: HubState): Effect[] {
  const effects: Effect[] = [];
  for (const room of state.rooms.values()) {
    if (room.live !== null && room.live.reading === null) effects.push(read({ room: room.name, limit: 0 }, { for: 'head' }));
  }
  return effects;
}

/** The answer to a gap read or a head check. */
function onSequenceRead(state: HubState, e: Extract<HubEvent, { kind: 'readDone' }>): Step {
  const room = state.rooms.get(e.req.room);
  if (!room || room.live === null) return unchanged(state);
  if (e.purpose.for === 'gap') return sequenced(state, room, gapRead(room.live, e.outcome), e.at);
  if (!e.outcome.ok) return unchanged(state); // the next check asks again
  return sequenced(state, room, head(room.live, e.outcome.head, e.outcome.epoch), e.at);
}

/** The log could not keep a line: the sender is told, and may send it again with the same Key. */
function onAppendFailed(state: HubState, e: Extract<HubEvent, { kind: 'appendFailed' }>): Step {
  const { req } = e;
  const next = req.key !== undefined ? noteKey(state, req.from, req.key, undefined) : state;
  // unavailable: the log's link said so once (store_down, server.ts); one warning per line would flood it.
  const level = e.code === 'unavailable' ? 'debug' : 'warn';
  const effects: Effect[] = [log('append_failed', { id: req.from, room: req.room, code: e.code, reason: e.reason }, level)];
  if (state.clients.has(req.from)) effects.unshift(send(req.from, M.error(err(e.code, `your line was not kept: ${e.reason}`, e.ref), e.at)));
  return { state: next, effects };
}

/**
 * What a resumed room's position says (protocol.md "Resuming after a reconnect"),
 * before any line is read: why it cannot be replayed, `true` when nothing was
 * missed, or `replay` when the lines after `since` are to be read and replayed.
 */
function fromPosition(since: Position | undefined, o: Extract<ReadOutcome, { ok: true }>): true | 'replay' | M.NotRecovered {
  if (since === undefined) return 'no_position';
  if (since.epoch !== o.epoch) return 'epoch_changed';
  // A Seq the log has not reached: lines it lost (a power failure after the client saw them) or a made-up position.
  if (since.seq > o.head) return 'ahead';
  if (since.seq < o.first - 1) return 'trimmed';
  if (o.head - since.seq > Limits.maxReplay) return 'too_many';
  return o.head === since.seq ? true : 'replay';
}

/**
 * Why the lines read for a replay cannot be replayed, or true when they can;
 * `left` is what the resume may still replay, in bytes. The read, one more line
 * than a replay holds, tells "exactly the most" from "too many".
 */
function recoverable(since: Position, o: Extract<ReadOutcome, { ok: true }>, bytes: number, left: number): true | M.NotRecovered {
  // The position's own checks first (the log may have moved since it was read); the count is the lines read.
  const p = fromPosition(since, o);
  if (p === 'epoch_changed' || p === 'ahead' || p === 'trimmed') return p;
  if (o.messages.length > Limits.maxReplay || bytes > left) return 'too_many';
  return true;
}

/** The wireSize of a replay. */
function replayBytes(messages: readonly { content: string; name: string }[]): number {
  let n = 0;
  for (const m of messages) n += wireSize(m.content, m.name);
  return n;
}

/** The least wireSize a line has (one character, no name): a replay of n lines takes n times this at least. */
const MIN_LINE_BYTES = wireSize('x');

/** A resumed member's Join reply: it stops waiting in `room` and gets the room's first members and position. */
function rejoined(
  state: HubState, room: Room, waiter: Waiting, at: number, recovered: true | M.NotRecovered, effects: Effect[], since?: Position,
): Step {
  const ready: Room = { ...room, waiting: room.waiting.filter((w) => w !== waiter) };
  const next: HubState = { ...state, rooms: state.rooms.set(room.name, ready) };
  const to = waiter.id;
  // Several processes: the members over every node if presence has answered by now, else those here.
  const roster = waiter.roster ?? { members: memberPage(next, ready), count: ready.members.length };
  const { seq, epoch } = since ?? ready;
  effects.push(send(to, M.joined(to, room.name, roster.members, roster.count, seq, epoch, at, undefined, recovered)));
  return { state: next, effects };
}

/**
 * Several processes: a resumed member recovered up to `since`, where the log was at `until`, past
 * the room's live position here (lines this node has yet to hear): its Join reply says `since`, and
 * it waits (no live lines) until the room's lines here reach `until`, getting those after `since`
 * alone, its own too (sequenced), rather than some twice and its own never.
 */
function rejoinedAhead(state: HubState, room: Room, waiter: Waiting, at: number, since: Position, until: number, effects: Effect[]): Step {
  const to = waiter.id;
  const r = rejoined(state, room, waiter, at, true, effects, since);
  const ready = r.state.rooms.get(room.name) as Room;
  const w: Waiting = { id: to, purpose: { for: 'ahead', to, seq: since.seq, until: Math.max(since.seq, until), epoch: since.epoch } };
  return { state: { ...r.state, rooms: r.state.rooms.set(room.name, { ...ready, waiting: [...ready.waiting, w] }) }, effects: r.effects };
}

/**
 * Sends a connection's next queued read to the log when none of its queued
 * reads is there: one at a time, the next when an answer is handled. A replay
 * waits until its room's position is known (its member still waits with purpose
 * `resume`), and is answered too_many without reading a line when it cannot fit
 * what the resume may still replay (over maxReplay lines since the position was
 * read, or more lines than bytes left at MIN_LINE_BYTES each).
 */
function pump(state: HubState, id: string, at: number, done: readonly Effect[]): Step {
  const effects = [...done];
  let s = state;
  for (;;) {
    const client = s.clients.get(id);
    if (!client || client.reads.busy || client.reads.queue.length === 0) return { state: s, effects };
    const next = client.reads.queue[0];
    const queue = client.reads.queue.slice(1);
    if (!('replay' in next)) {
      s = { ...s, clients: s.clients.set(id, { ...client, reads: { ...client.reads, queue, busy: true } }) };
      effects.push(read(next.req, next.purpose));
      return { state: s, effects };
    }
    const room = s.rooms.get(next.replay);
    const waiter = room?.waiting.find((w) => w.id === id);
    // Its position is still being read: the replays after it wait too, so they go in the order of the rooms.
    if (room && waiter?.purpose.for === 'resume') return { state: s, effects };
    s = { ...s, clients: s.clients.set(id, { ...client, reads: reads({ ...client.reads, queue }) }) };
    // Left, answered from its position, or gone: nothing to read.
    if (!room || !waiter || waiter.purpose.for !== 'replay') continue;
    const { since } = waiter.purpose;
    const missed = room.seq - since.seq;
    if (missed > Limits.maxReplay || missed * MIN_LINE_BYTES > client.reads.replayLeft) {
      s = rejoined(s, room, waiter, at, 'too_many', effects).state;
      continue;
    }
    s = { ...s, clients: s.clients.set(id, { ...client, reads: { ...client.reads, queue, busy: true } }) };
    // At most what may still be replayed (and the line past it, to know): a room that will not fit costs no more to find out.
    effects.push(read({ room: room.name, after: since.seq, limit: Limits.maxReplay + 1, maxBytes: client.reads.replayLeft }, waiter.purpose));
    return { state: s, effects };
  }
}

/** A read of the log is back: a History page, a waiting member's Join reply, a resumed room's position or replay. */
function onReadDone(state: HubState, e: Extract<HubEvent, { kind: 'readDone' }>): Step {
  const { purpose, outcome } = e;
  if (purpose.for === 'gap' || purpose.for === 'head') return onSequenceRead(state, e);
  const to = purpose.to;
  if (purpose.for === 'history') {
    // The connection's queued read is back: the next may go.
    const asker = state.clients.get(to);
    // Gone meanwhile (away, or forgotten): no socket would take the page (reducer-props.spec.ts).
    if (!asker) return unchanged(state);
    const done = reads({ ...asker.reads, reading: Math.max(0, asker.reads.reading - 1), busy: false });
    const next = { ...state, clients: state.clients.set(to, { ...asker, reads: done }) };
    if (!outcome.ok) return pump(next, to, e.at, [send(to, M.error(err('store_failed', `history could not be read: ${outcome.reason}`, purpose.ref), e.at))]);
    const lines = outcome.messages.map((m) => M.stored(m, outcome.epoch));
    return pump(next, to, e.at, [send(to, M.history(e.req.room, outcome.epoch, outcome.head, outcome.first, lines, outcome.more, e.at, purpose.ref))]);
  }
  if (purpose.for === 'replay') {
    // The connection's queued read is back, whatever becomes of it: the next may go.
    const asker = state.clients.get(to);
    const freed = asker?.reads.busy ? { ...state, clients: state.clients.set(to, { ...asker, reads: reads({ ...asker.reads, busy: false }) }) } : state;
    const r = onReplay(freed, e, purpose);
    return pump(r.state, to, e.at, r.effects);
  }
  const room = state.rooms.get(e.req.room);
  const client = state.clients.get(to);
  // Left, or gone, while the log was read (or left and came back, and waits for another read): nothing to answer.
  const waiter = room?.waiting.find((w) => w.id === to);
  if (!room || !client || !waiter || !answers(purpose, waiter.purpose)) return unchanged(state);
  if (purpose.for === 'catchup') return catchUp(state, room, waiter, e);
  if (!outcome.ok && purpose.for === 'resume' && room.seq >= 0) {
    // protocol.md "Resuming after a reconnect": a position the log could not read is Recovered false,
    // store_failed; the room's position is known, so the member stays and reads History from its Seq.
    const r = rejoined(state, room, waiter, e.at, 'store_failed', []);
    return pump(r.state, to, e.at, r.effects);
  }
  if (!outcome.ok) {
    // Without the room's position the member cannot be told where it stands: it is taken out, and told why
    // (several processes: Redis's record of it too, which has the room since its Join or its claim).
    const r = exit(state, client, room.name, 'error', e.at, true);
    const ref = purpose.for === 'join' ? purpose.ref : undefined;
    const effects = [send(to, M.error(err('store_failed', `room "${room.name}" could not be read: ${outcome.reason}`, ref), e.at)), ...r.effects];
    return touched(purpose.for === 'resume' ? pump(r.state, to, e.at, effects) : { state: r.state, effects }, to);
  }
  // Several processes: positioned already (a read asked earlier, by one who left and came back, answered): nothing new.
  if (purpose.for === 'join' && waiter.reading === false) return unchanged(state);
  const known = room.seq >= 0;
  const ready: Room = {
    name: room.name,
    seq: known ? room.seq : outcome.head,
    epoch: known ? room.epoch : outcome.epoch,
    members: room.members,
    waiting: room.waiting.filter((w) => w !== waiter),
    live: known || !state.cluster ? room.live : sequence(outcome.head, outcome.epoch),
    alone: room.alone,
  };
  const next: HubState = { ...state, rooms: state.rooms.set(room.name, ready) };
  if (purpose.for === 'join' && waiter.roster === null) {
    // Several processes: positioned, and still waiting for presence's members (onRoster sends the reply).
    const positioned: Room = { ...ready, waiting: room.waiting.map((w) => (w === waiter ? { ...w, reading: false } : w)) };
    return unchanged({ ...state, rooms: state.rooms.set(room.name, positioned) });
  }
  if (purpose.for === 'join') {
    const roster = waiter.roster ?? { members: memberPage(next, ready), count: ready.members.length };
    return unchanged(next, [send(to, M.joined(to, room.name, roster.members, roster.count, ready.seq, ready.epoch, e.at, purpose.ref))]);
  }
  // A resumed room's position: decided from it when it can be, without reading a line.
  const decided = fromPosition(purpose.since, outcome);
  if (decided === 'replay') {
    // Still waiting, now for its replay, which its turn in the connection's queue reads (pump).
    const replay: Waiting = { id: to, purpose: { for: 'replay', to, since: purpose.since as Position }, ...rosterOf(waiter) };
    const waits: Room = { ...ready, waiting: [...ready.waiting, replay] };
    return pump({ ...state, rooms: state.rooms.set(room.name, waits) }, to, e.at, []);
  }
  if (decided === true && state.cluster && (purpose.since as Position).seq > ready.seq) {
    const since = purpose.since as Position;
    const a = rejoinedAhead(state, { ...ready, waiting: room.waiting }, waiter, e.at, since, since.seq, []);
    return pump(a.state, to, e.at, a.effects);
  }
  const r = rejoined(state, { ...ready, waiting: room.waiting }, waiter, e.at, decided, []);
  // Several processes: lines heard while the position was read went live to the others; this
  // member reads them too before it goes live.
  if (decided === true && state.cluster && outcome.head < ready.seq) {
    const b = behind(r.state, r.state.rooms.get(room.name) as Room, to, outcome.head, [...r.effects]);
    return pump(b.state, to, e.at, b.effects);
  }
  return pump(r.state, to, e.at, r.effects);
}

/** A resumed room's missed lines are back: its Join reply, then the lines, within what the resume may still replay. */
function onReplay(state: HubState, e: Extract<HubEvent, { kind: 'readDone' }>, purpose: Extract<ReadPurpose, { for: 'replay' }>): Step {
  const { outcome } = e;
  const to = purpose.to;
  const room = state.rooms.get(e.req.room);
  const client = state.clients.get(to);
  const waiter = room?.waiting.find((w) => w.id === to);
  if (!room || !client || !waiter || !answers(purpose, waiter.purpose)) return unchanged(state);
  if (!outcome.ok) return rejoined(state, room, waiter, e.at, 'store_failed', []);
  // Several processes: lines the log kept past the room's live position (not heard here yet) come
  // when heard (rejoinedAhead); replayed too, they came twice (reducer-props.spec.ts).
  const messages = state.cluster ? outcome.messages.filter((m) => m.seq <= room.seq) : outcome.messages;
  const bytes = replayBytes(messages);
  const recovered = recoverable(purpose.since, outcome, bytes, client.reads.replayLeft);
  // Several processes: the lines the log has past the room's position here come to it as they are heard.
  const ahead = recovered === true && state.cluster && outcome.head > room.seq;
  const had: Position = { seq: Math.max(purpose.since.seq, room.seq), epoch: purpose.since.epoch };
  const r = ahead ? rejoinedAhead(state, room, waiter, e.at, had, outcome.head, []) : rejoined(state, room, waiter, e.at, recovered, []);
  if (recovered !== true) return r;
  const effects = [...r.effects];
  for (const m of messages) effects.push(send(to, M.stored(m, outcome.epoch)));
  const spent: HubState = { ...r.state, clients: r.state.clients.set(to, { ...client, reads: reads({ ...client.reads, replayLeft: client.reads.replayLeft - bytes }) }) };
  // Several processes: lines heard while the replay was read went live to the others; this member
  // reads them too before it goes live (with one process the log answers in order, and none can be).
  const ready = spent.rooms.get(room.name) as Room;
  if (state.cluster && outcome.head < ready.seq) return behind(spent, ready, to, outcome.head, effects);
  return { state: spent, effects };
}

/** Keeps `to` waiting in `room` while it reads the lines after `from` that the room's live members have had. */
function behind(state: HubState, room: Room, to: string, from: number, effects: Effect[]): Step {
  const purpose: ReadPurpose = { for: 'catchup', to };
  const waiting = [...room.waiting.filter((w) => w.id !== to), { id: to, purpose }];
  effects.push(read({ room: room.name, after: from, limit: room.seq - from }, purpose));
  return { state: { ...state, rooms: state.rooms.set(room.name, { ...room, waiting }) }, effects };
}

/** The lines a resumed member was behind the room's live members: sent, and it goes live once level. */
function catchUp(state: HubState, room: Room, waiter: Waiting, e: Extract<HubEvent, { kind: 'readDone' }>): Step {
  const to = waiter.id;
  const { outcome } = e;
  const done = (effects: Effect[]): Step => {
    const ready: Room = { ...room, waiting: room.waiting.filter((w) => w !== waiter) };
    return { state: { ...state, rooms: state.rooms.set(room.name, ready) }, effects };
  };
  if (!outcome.ok || outcome.epoch !== room.epoch) return done([send(to, M.resync(room.name, room.seq, room.epoch, e.at))]);
  const effects: Effect[] = [];
  let last = e.req.after ?? 0;
  for (const m of outcome.messages) {
    if (m.seq !== last + 1 || m.seq > room.seq) break;
    effects.push(send(to, M.stored(m, outcome.epoch)));
    last = m.seq;
  }
  if (last >= room.seq) return done(effects);
  // Trimmed meanwhile, or more came: what the log has no more is a resync; more is read again.
  if (last === (e.req.after ?? 0)) return done([...effects, send(to, M.resync(room.name, room.seq, room.epoch, e.at))]);
  return behind(state, room, to, last, effects);
}

/** A waiter's roster, kept when it waits on for something else (a resumed room's replay). */
const rosterOf = (w: Waiting): { roster?: Roster | null } => (w.roster === undefined ? {} : { roster: w.roster });

/** The Error a request presence could not answer gets: `unavailable` while Redis is away (protocol.md "Errors"). */
function presenceError(f: PresenceFailure, what: string, ref?: Ref): ProtocolError {
  if (f.code === 'unavailable') return err('unavailable', `${what}: the servers' shared store is away; try again shortly`, ref);
  return err('store_failed', `${what}: ${f.reason}`, ref);
}

const asMembers = (list: readonly { id: string; name: string }[]): Member[] => list.map((x) => ({ ID: x.id, Name: x.name }));

/**
 * Several processes: presence answered. A Join's members go to its reply (onRoster); a Members,
 * Rooms or repeated Join request is answered from the outcome; a leave or a rename only says
 * when it failed (the rooms hear of it from its event).
 */
function onPresenceDone(state: HubState, e: Extract<HubEvent, { kind: 'presenceDone' }>): Step {
  const { ask, purpose, outcome } = e;
  if (purpose.for === 'tell') {
    return outcome.ok ? unchanged(state) : unchanged(state, [log('presence_failed', { op: ask.op, code: outcome.code, reason: outcome.reason }, 'warn')]);
  }
  if (purpose.for === 'join' || purpose.for === 'resume') return onRoster(state, e, purpose.to);
  const to = purpose.to;
  const client = state.clients.get(to);
  if (!client) return unchanged(state);
  if (purpose.for === 'rooms') {
    if (!outcome.ok) return unchanged(state, [send(to, M.error(presenceError(outcome, 'the rooms could not be listed', purpose.ref), e.at))]);
    const o = outcome as Extract<RoomsOutcome, { ok: true }>;
    return unchanged(state, [send(to, M.roomList(o.rooms.map((r) => ({ Room: r.room, Count: r.count })), o.total, e.at, purpose.ref))]);
  }
  if (ask.op !== 'members') return unchanged(state);
  if (!outcome.ok) {
    // protocol.md: a cursor that is not a member (any more) is bad_cursor, as with one process.
    const error = outcome.code === 'bad_cursor'
      ? err('bad_cursor', `"${ask.after}" is not in room "${ask.room}" (any more): list it again from the start`, purpose.ref)
      : presenceError(outcome, `the members of "${ask.room}" could not be listed`, purpose.ref);
    return unchanged(state, [send(to, M.error(error, e.at))]);
  }
  const o = outcome as Extract<MembersOutcome, { ok: true }>;
  if (purpose.for === 'members') return unchanged(state, [send(to, M.members(ask.room, asMembers(o.members), o.count, e.at, purpose.ref, o.next))]);
  // A repeated Join: answered as a first join is, with the room's position now, if the client is (still) in it.
  const room = state.rooms.get(ask.room);
  if (!room || !client.rooms.includes(ask.room) || isPending(room, to)) return unchanged(state);
  const { seq, epoch } = positionIn(room, to);
  return unchanged(state, [send(to, M.joined(to, ask.room, asMembers(o.members), o.count, seq, epoch, e.at, purpose.ref))]);
}

/**
 * Several processes: the room's members over every node, for a member's Join reply. A join that has
 * its position too is answered now, with the room's Seq and Epoch as they are now (it had no live
 * line till now, and every line after this Seq it gets live); one whose position read is still out is
 * answered by that read's answer. A resumed room keeps them for its reply (rejoined), and reads its
 * position only now (enter), so that the reply has them.
 */
function onRoster(state: HubState, e: Extract<HubEvent, { kind: 'presenceDone' }>, to: string): Step {
  const { ask, purpose, outcome } = e;
  if (ask.op !== 'join') return unchanged(state);
  const room = state.rooms.get(ask.room);
  const waiter = room?.waiting.find((w) => w.id === to && w.roster === null);
  const client = state.clients.get(to);
  if (!room || !waiter || !client) return unchanged(state);
  const keep = (w: Waiting): HubState => ({ ...state, rooms: state.rooms.set(room.name, { ...room, waiting: room.waiting.map((x) => (x === waiter ? w : x)) }) });
  if (!outcome.ok) {
    // Redis away is logged once by the presence runner (presence_down), not once per join.
    const failed = log('presence_failed', { op: 'join', id: to, room: room.name, code: outcome.code, reason: outcome.reason },
      outcome.code === 'unavailable' ? 'debug' : 'warn');
    if (purpose.for === 'resume') {
      // Its reply says what this node knows; the room still hears of it if a later op succeeds.
      const { roster: _, ...w } = waiter;
      return unchanged(keep(w), [failed, ...positionOf(room.name, waiter)]);
    }
    // A member the other nodes cannot see is not in the room: taken out, and told why.
    // Redis keeps its record without the room too, as it was told it in at the Join (touched).
    const ref = purpose.for === 'join' ? purpose.ref : undefined;
    const r = exit(state, client, room.name, 'error', e.at, true);
    // Full over every node: presence did not add it, and the others were told nothing.
    const error = outcome.code === 'full' ? roomFull(state, room.name, ref) : presenceError(outcome, `room "${room.name}" could not be joined`, ref);
    return touched({ state: r.state, effects: [send(to, M.error(error, e.at)), ...(outcome.code === 'full' ? [] : [failed]), ...r.effects] }, to);
  }
  const o = outcome as Extract<JoinOutcome, { ok: true }>;
  const roster: Roster = { members: asMembers(o.members ?? []), count: o.count };
  if (purpose.for === 'resume') return unchanged(keep({ ...waiter, roster }), positionOf(room.name, waiter));
  if (waiter.purpose.for !== 'join' || waiter.reading !== false) return unchanged(keep({ ...waiter, roster }));
  const ready: Room = { ...room, waiting: room.waiting.filter((w) => w !== waiter) };
  return unchanged({ ...state, rooms: state.rooms.set(room.name, ready) }, [
    send(to, M.joined(to, room.name, roster.members, roster.count, room.seq, room.epoch, e.at, waiter.purpose.ref)),
  ]);
}

/** Several processes: a resumed room's position read, asked once presence has answered its join (enter). */
const positionOf = (room: string, waiter: Waiting): Effect[] =>
  (waiter.purpose.for === 'resume' ? [read({ room, limit: 0 }, waiter.purpose)] : []);

/**
 * Several processes: a member of a room with members here joined, left or was renamed, on any node,
 * this one too (one code path): the room's live members here are told, but not the member itself, and
 * only in a room of at most --presence-max members over every node (the count the event carries).
 */
function onPresenceHeard(state: HubState, e: Extract<HubEvent, { kind: 'presenceHeard' }>): Step {
  const ev = e.event;
  const room = state.rooms.get(ev.room);
  if (!state.cluster || !room) return unchanged(state);
  // protocol.md "Large rooms": the size with the member who comes or goes.
  if (!announces(state, ev.kind === 'left' ? ev.count + 1 : ev.count)) return unchanged(state);
  // A member ahead of the room's lines here has had its Join reply: it hears of comings and goings.
  const to = room.waiting.some(isAhead) ? without(room.members, new Set(room.waiting.filter((w) => !isAhead(w)).map((w) => w.id))) : live(room);
  if (to.length === 0 || (to.length === 1 && to[0] === ev.id)) return unchanged(state);
  const who: Member = { ID: ev.id, Name: ev.name };
  const message = ev.kind === 'joined' ? M.connected(who, room.name, ev.at)
    : ev.kind === 'left' ? M.disconnected(who, room.name, ev.reason, ev.at)
      : M.renamed(ev.id, ev.name, ev.oldName, ev.at, room.name);
  return unchanged(state, [broadcast(to, message, ev.id)]);
}

/**
 * Several processes: the other nodes took this one for dead (a long pause, a partition) and removed
 * its members from presence. They join again, with their names now: the rooms hear them come back.
 */
function onPresenceLost(state: HubState, at: number): Step {
  const effects: Effect[] = [log('presence_lost', { connections: state.clients.size }, 'warn')];
  // Stopping: its members are on their way to other nodes (a resume joins them there); joined again here, the
  // rooms would see them come back only to leave with leaveAll's `shutdown`.
  if (state.shuttingDown) return unchanged(state, effects);
  for (const client of state.clients.values()) {
    for (const room of client.rooms) effects.push(presence({ op: 'join', room, id: client.id, name: client.name, at }));
  }
  return unchanged(state, effects);
}

function onMessage(state: HubState, client: Client, m: ClientMessage, at: number, msgId: string): Step {
  const fail = (code: ProtocolError['code'], reason: string) => refuse(state, client, m, at, code, reason);

  switch (m.type) {
    case 'broadcast':
      return say(state, client, m, at, msgId);
    case 'heartbeat':
      return unchanged(state, [send(client.id, M.heartbeat(client.id, at, m.ref))]);
    case 'join': {
      if (client.rooms.includes(m.room)) {
        const room = state.rooms.get(m.room) as Room;
        // Joining again is harmless: answer with the room's members as on a first join
        // (or, while its first answer waits for the log, let that answer do).
        if (isPending(room, client.id)) return unchanged(state);
        if (state.cluster) {
          return unchanged(state, [presence({ op: 'members', room: m.room, limit: Limits.maxMembersListed }, { for: 'again', to: client.id, ref: m.ref })]);
        }
        return unchanged(state, [
          send(client.id, M.joined(client.id, m.room, memberPage(state, room), room.members.length, room.seq, room.epoch, at, m.ref)),
        ]);
      }
      if (!roomAllowed(client.allowed, m.room)) return fail('forbidden', forbiddenRoom(m.room).reason);
      if (client.rooms.length >= Limits.maxRoomsPerConnection) {
        return fail('too_many_rooms', `a connection may be in at most ${Limits.maxRoomsPerConnection} rooms`);
      }
      if (full(state, m.room)) return fail('room_full', roomFull(state, m.room).reason);
      return touched(enter(state, client, m.room, at, { mode: 'join', ref: m.ref }), client.id);
    }
    case 'leave': {
      if (!client.rooms.includes(m.room)) return fail('not_member', `you are not in room "${m.room}"`);
      const r = exit(state, client, m.room, 'left', at, true);
      return touched({ state: r.state, effects: [send(client.id, M.left(client.id, m.room, at, m.ref)), ...r.effects] }, client.id);
    }
    case 'rooms':
      // Several processes: the rooms over every node, from presence's index of room sizes.
      if (state.cluster) return unchanged(state, [presence({ op: 'rooms', limit: Limits.maxRoomsListed }, { for: 'rooms', to: client.id, ref: m.ref })]);
      // O(rooms listed): the sizes are kept as members come and go (room-sizes.ts).
      return unchanged(state, [
        send(client.id, M.roomList(biggest(state.sizes, Limits.maxRoomsListed), state.rooms.size, at, m.ref)),
      ]);
    case 'members': {
      if (state.cluster) {
        const ask = { op: 'members', room: m.room, limit: Limits.maxMembersListed, ...(m.after === undefined ? {} : { after: m.after }) } as const;
        return unchanged(state, [presence(ask, { for: 'members', to: client.id, ref: m.ref })]);
      }
      const room = state.rooms.get(m.room);
      let start = 0;
      if (m.after !== undefined) {
        const i = room ? room.members.indexOf(m.after) : -1;
        if (i < 0) return fail('bad_cursor', `"${m.after}" is not in room "${m.room}" (any more): list it again from the start`);
        start = i + 1;
      }
      const page = memberPage(state, room, start);
      const count = room ? room.members.length : 0;
      const next = start + page.length < count ? page[page.length - 1].ID : undefined;
      return unchanged(state, [send(client.id, M.members(m.room, page, count, at, m.ref, next))]);
    }
    case 'refresh':
      // With auth on the edge verifies a Refresh and hands the hub `refreshed`; a Refresh reaches here with auth off.
      return fail('forbidden', 'auth is off: there is no token to refresh');
    case 'rename': {
      // With auth on the name is the token's (docs/protocol.md "Auth"): a new one comes with a new token.
      if (client.user !== undefined) return fail('forbidden', 'with auth on, your name is your token\'s: it cannot be changed here');
      if (m.name === client.name) {
        return unchanged(state, [send(client.id, M.renamed(client.id, m.name, client.name, at, undefined, m.ref))]);
      }
      const next: HubState = { ...state, clients: state.clients.set(client.id, { ...client, name: m.name }) };
      const effects: Effect[] = [send(client.id, M.renamed(client.id, m.name, client.name, at, undefined, m.ref))];
      if (state.cluster) {
        // Several processes: each room hears of it from presence's event, on every node.
        if (client.rooms.length > 0) effects.push(presence({ op: 'rename', id: client.id, name: m.name, rooms: client.rooms, at }));
      } else {
        for (const roomName of client.rooms) {
          const room = state.rooms.get(roomName) as Room;
          if (!announces(state, room.members.length)) continue;
          effects.push(broadcast(room.members, M.renamed(client.id, m.name, client.name, at, roomName), client.id));
        }
      }
      effects.push(log('rename', { id: client.id, from: client.name, to: m.name }));
      return touched({ state: next, effects }, client.id);
    }
    case 'direct': {
      if (m.key !== undefined) {
        const rec = client.keys.get(m.key);
        // protocol.md "Sending twice": a repeat is the same Direct, to the same To.
        if (rec && (!('to' in rec) || rec.to !== m.to)) return fail('bad_field', KEY_TAKEN);
        if (rec) return repeat(state, client, rec, m.key, at, m.ref);
      }
      // With auth on: To names a user (a token's sub) with connections here: each of them gets it (two tabs),
      // and the sender its Ack at once. Several processes: Redis sends it on to the other nodes holding the user.
      // (A user with connections elsewhere only goes `across`: Redis finds the user before any identity.)
      const conns = state.users.get(m.to);
      if (conns !== undefined) {
        const dm = M.direct(client, m.to, msgId, m.content, at);
        const next = m.key === undefined ? state : noteKey(state, client.id, m.key, { msgId, to: m.to });
        const effects: Effect[] = conns.map((c) => send(c, dm));
        effects.push(send(client.id, M.ack(client.id, msgId, at, m.ref, { To: m.to }, m.key)));
        if (state.cluster) effects.push(session({ op: 'send', to: m.to, message: dm, purpose: { for: 'user' } }));
        return m.key === undefined ? { state: next, effects } : touched({ state: next, effects }, client.id);
      }
      const target = state.clients.get(m.to);
      // Several processes: an ID not here may be live on another node, or away (kept in Redis).
      if (!target && state.cluster) return across(state, client, m, at, msgId);
      const away = target ? undefined : awayAt(state, m.to, at);
      if (!target && !away) return fail('no_such_client', `no connection has ID "${m.to}"`);
      const dm = M.direct(client, m.to, msgId, m.content, at);
      let next = state;
      if (away) {
        // protocol.md: kept for an identity within its resume window, delivered when it resumes.
        if (away.directs.length >= Limits.maxAwayDirects) {
          return fail('mailbox_full', `"${m.to}" is away and has ${Limits.maxAwayDirects} messages waiting already`);
        }
        const size = wireSize(m.content, client.name);
        if (state.awayBytes + size > Limits.maxAwayBytes) {
          return fail('mailbox_full', `"${m.to}" is away, and the server holds all the messages for away users it can`);
        }
        next = {
          ...state,
          away: state.away.set(m.to, { ...away, directs: plus(away.directs, dm), bytes: away.bytes + size }),
          awayBytes: state.awayBytes + size,
        };
      }
      if (m.key !== undefined) next = noteKey(next, client.id, m.key, { msgId, to: m.to });
      const effects: Effect[] = [];
      if (target) effects.push(send(target.id, dm));
      effects.push(send(client.id, M.ack(client.id, msgId, at, m.ref, { To: m.to }, m.key)));
      return m.key === undefined ? { state: next, effects } : touched({ state: next, effects }, client.id);
    }
    case 'history': {
      if (!client.rooms.includes(m.room)) return fail('not_member', `you are not in room "${m.room}": only its members read its history`);
      // A client that pipelines History faster than it reads would have one turn of the
      // event loop answer them all at once, past any send buffer bound (hostile testing).
      if (client.reads.reading >= Limits.maxHistoryInFlight) {
        return fail('too_many_requests', `at most ${Limits.maxHistoryInFlight} History requests may wait for an answer; wait for one`);
      }
      const req = m.before !== undefined
        ? { room: m.room, before: m.before, limit: m.limit }
        : m.after !== undefined ? { room: m.room, after: m.after, limit: m.limit } : { room: m.room, limit: m.limit };
      const purpose = { for: 'history', to: client.id, ref: m.ref } as const;
      // Queued behind the connection's other reads (a resume's replays, earlier pages), and read
      // when its turn comes: one page per turn per connection (hostile testing, H2).
      const waits: Client = { ...client, reads: { ...client.reads, reading: client.reads.reading + 1, queue: plus(client.reads.queue, { req, purpose }) } };
      return pump({ ...state, clients: state.clients.set(client.id, waits) }, client.id, at, []);
    }
  }
}

/** One step of the hub. */
export function step(state: HubState, event: HubEvent): Step {
  switch (event.kind) {
    case 'opened':
      return onOpened(state, event);
    case 'received': {
      const client = state.clients.get(event.id);
      if (!client) return holdFrame(state, event);
      // A chat line, the most common event, goes straight to say (onMessage makes a closure first).
      const m = event.message;
      return m.type === 'broadcast' ? say(state, client, m, event.at, event.msgId) : onMessage(state, client, m, event.at, event.msgId);
    }
    case 'appended':
      return onAppended(state, event);
    case 'appendFailed':
      return onAppendFailed(state, event);
    case 'heard':
      return onHeard(state, event);
    case 'linkUp':
      return unchanged(state, checkHeads(state));
    case 'readDone':
      return onReadDone(state, event);
    case 'presenceDone':
      return onPresenceDone(state, event);
    case 'presenceHeard':
      return onPresenceHeard(state, event);
    case 'presenceLost':
      return onPresenceLost(state, event.at);
    case 'rejected':
      return state.clients.has(event.id)
        ? unchanged(state, [
          send(event.id, M.error(event.error, event.at)),
          log('rejected', { id: event.id, code: event.error.code }, 'debug'),
        ])
        : holdFrame(state, event);
    case 'sessionTaken':
      return onTaken(state, event);
    case 'directSent':
      return onSent(state, event);
    case 'directHeard':
      return onDirectHeard(state, event);
    case 'cutHeard':
      return onCut(state, event);
    case 'refreshed':
      return onRefreshed(state, event);
    case 'flooded':
      // protocol.md "Message rate": it kept sending while told to wait for 10 s; those frames were refused at the edge.
      return unchanged(state, [
        close(event.id, Close.RateLimited, 'rate_limited: kept sending while told to wait'),
        log('flooded', { id: event.id }, 'warn'),
      ]);
    case 'pingDue': {
      // Only connections the hub knows; the heartbeat may name one refused at the door.
      // The same cadence ends the resume windows that are over.
      const next = expire(state, event.at);
      const alive = event.ids.filter((id) => next.clients.has(id));
      // With auth on, the same cadence finds the tokens that expired (no timer per connection).
      const checked = expiries(next, event.at);
      const effects: Effect[] = alive.length > 0 ? [ping(alive), ...checked.effects] : [...checked.effects];
      // Several processes: the same cadence looks for lines lost at the end of each room.
      if (state.cluster) effects.push(...checkHeads(checked.state));
      return unchanged(checked.state, effects.length > 0 ? effects : NONE);
    }
    case 'timedOut':
      return depart(state, event.id, 'timeout', event.at, [terminate(event.id)]);
    case 'closed':
      // Whether or not the hub knew it (one refused at the door), the runner lets go of the socket.
      return depart(state, event.id, event.reason, event.at, [forget(event.id)]);
    case 'shutdownRequested': {
      if (state.shuttingDown) return unchanged(state);
      // Several processes: connections still resuming too.
      const everyone = [...state.clients.keys(), ...state.resuming.keys()];
      const effects: Effect[] = [log('shutdown', { connections: everyone.length })];
      if (everyone.length > 0) effects.push(broadcast(everyone, M.notice('server shutting down', event.at)));
      for (const id of everyone) effects.push(close(id, Close.GoingAway, 'server shutting down'));
      return { state: { ...state, shuttingDown: true }, effects };
    }
    default: {
      const never: never = event;
      return unchanged(state, [log('unknown_event', { event: never }, 'error')]);
    }
  }
}
