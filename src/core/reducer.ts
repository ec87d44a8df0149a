// The hub's pure core: step(state, event) -> { state, effects }. No sockets, no
// timers, no clock, no random IDs: all of those arrive on the event. Total: every
// event gives an answer, and an event that changes nothing returns the same state.
//
// Cost: the maps of clients and rooms are persistent (immutable's HAMT), so an
// event replaces only the records it touches, O(log n) each; the work per event
// grows with the members of the rooms it touches, never with all connections.
import { Map as IMap } from 'immutable';
import {
  Close, ClientMessage, DEFAULT_ROOM, Limits, Member, ProtocolError, Ref, nameErrorCode, nameProblem, normalizeName,
  roomProblem,
} from './protocol';
import * as M from './messages';
import { Effect, HubEvent, broadcast, close, forget, log, ping, send, terminate } from './events';
import { RoomSizes, biggest, noRooms, resize } from './room-sizes';

export interface Client {
  readonly id: string;
  readonly name: string;
  /** In join order; the first is where a Broadcast without Room goes. */
  readonly rooms: readonly string[];
}

export interface Room {
  readonly name: string;
  /** The Seq of the last Broadcast in this room (0: none yet). */
  readonly seq: number;
  /** Connection IDs in join order. */
  readonly members: readonly string[];
}

export interface HubState {
  readonly clients: IMap<string, Client>;
  readonly rooms: IMap<string, Room>;
  /** The rooms by member count, for the Rooms list (room-sizes.ts). */
  readonly sizes: RoomSizes;
  readonly shuttingDown: boolean;
  /** Rooms with more members than this get no Connected, Disconnected or Rename notices (--presence-max). */
  readonly presenceMax: number;
}

export interface Step {
  readonly state: HubState;
  readonly effects: readonly Effect[];
}

/** As many members as a room may have and still hear each one come, go and rename (--presence-max). */
export const DEFAULT_PRESENCE_MAX = 1000;

export const initialState = (opts: { presenceMax?: number } = {}): HubState => ({
  clients: IMap(),
  rooms: IMap(),
  sizes: noRooms(),
  shuttingDown: false,
  presenceMax: opts.presenceMax ?? DEFAULT_PRESENCE_MAX,
});

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

/** Whether a room of `size` members (the one who comes or goes included) hears about each member. */
const announces = (state: HubState, size: number): boolean => size <= state.presenceMax;

/** Adds a client to a room: the joiner gets the room's first members, the others a Connected. */
function enter(state: HubState, client: Client, roomName: string, at: number, ref?: Ref): Step {
  const before = state.rooms.get(roomName);
  const room: Room = before
    ? { ...before, members: [...before.members, client.id] }
    : { name: roomName, seq: 0, members: [client.id] };
  const size = room.members.length;
  const updated: Client = { ...client, rooms: [...client.rooms, roomName] };
  const next: HubState = {
    ...state,
    clients: state.clients.set(client.id, updated),
    rooms: state.rooms.set(roomName, room),
    sizes: resize(state.sizes, roomName, size - 1, size),
  };
  const me: Member = { ID: client.id, Name: client.name };
  const effects: Effect[] = [send(client.id, M.joined(client.id, roomName, memberPage(next, room), size, room.seq, at, ref))];
  // protocol.md "Large rooms": past --presence-max members, comings and goings are not announced.
  if (before && announces(state, size)) effects.push(broadcast(before.members, M.connected(me, roomName, at)));
  effects.push(log('join', { id: client.id, name: client.name, room: roomName, members: size }));
  return { state: next, effects };
}

/** Removes a client from one room; the rest of the room is told why. Empty rooms disappear. */
function exit(state: HubState, client: Client, roomName: string, reason: M.LeaveReason, at: number, notify: boolean) {
  const room = state.rooms.get(roomName);
  const updated: Client = { ...client, rooms: client.rooms.filter((r) => r !== roomName) };
  if (!room) return { state: { ...state, clients: state.clients.set(client.id, updated) }, effects: NONE };
  const rest = room.members.filter((id) => id !== client.id);
  const next: HubState = {
    ...state,
    clients: state.clients.set(client.id, updated),
    rooms: rest.length === 0 ? state.rooms.delete(roomName) : state.rooms.set(roomName, { ...room, members: rest }),
    sizes: resize(state.sizes, roomName, room.members.length, rest.length),
  };
  const effects: Effect[] = [];
  if (notify && rest.length > 0 && announces(state, room.members.length)) {
    effects.push(broadcast(rest, M.disconnected({ ID: client.id, Name: client.name }, roomName, reason, at)));
  }
  effects.push(log('leave', { id: client.id, name: client.name, room: roomName, reason, members: rest.length }));
  return { state: next, effects };
}

/** Takes a connection out of the hub: out of every room, then forgotten. */
function depart(state: HubState, id: string, reason: M.LeaveReason, at: number, extra: Effect[]): Step {
  const client = state.clients.get(id);
  if (!client) return unchanged(state, extra);
  let s = state;
  const effects: Effect[] = [];
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
  return { state: { ...s, clients: s.clients.delete(id) }, effects };
}

function onOpened(state: HubState, e: Extract<HubEvent, { kind: 'opened' }>): Step {
  if (state.shuttingDown) {
    // protocol.md "Closing": whoever is connected when the server stops, or connects
    // while it stops, gets the same System notice, then 1001.
    return unchanged(state, [
      send(e.id, M.notice('server shutting down', e.at)),
      close(e.id, Close.GoingAway, 'server shutting down'),
    ]);
  }
  const room = e.room === undefined || e.room === '' ? DEFAULT_ROOM : e.room;
  const name = e.name === undefined || e.name === '' ? defaultName(e.id) : normalizeName(e.name);
  const problem = roomProblem(room)
    ? err('bad_room', `?room=: ${roomProblem(room)}`)
    : nameProblem(name) ? err(nameErrorCode(name), `?name=: ${nameProblem(name)}`)
      : undefined;
  if (problem) {
    // protocol.md: a connection with a bad ?name= or ?room= is told why and closed with 1008.
    return unchanged(state, [
      send(e.id, M.error(problem, e.at)),
      close(e.id, Close.PolicyViolation, problem.code),
      log('refused', { id: e.id, code: problem.code }, 'warn'),
    ]);
  }
  const client: Client = { id: e.id, name, rooms: [] };
  const hello = [send(e.id, M.welcome(e.id, name, [room], e.at)), log('connect', { id: e.id, name, room })];
  const r = enter({ ...state, clients: state.clients.set(e.id, client) }, client, room, e.at);
  return { state: r.state, effects: [...hello, ...r.effects] };
}

/** An Error to the sender; nothing changes. */
const refuse = (state: HubState, client: Client, m: ClientMessage, at: number, code: ProtocolError['code'], reason: string): Step =>
  unchanged(state, [send(client.id, M.error(err(code, reason, m.ref), at))]);

/**
 * A chat line: the room's Seq moves on, the others get the line, the sender its Ack.
 * The hot path (every accepted line; docs/benchmarks.md, the step): records are
 * written out field by field rather than spread, which V8 builds faster.
 */
function say(state: HubState, client: Client, m: Extract<ClientMessage, { type: 'broadcast' }>, at: number, msgId: string): Step {
  const roomName = m.room ?? client.rooms[0];
  if (roomName === undefined) return refuse(state, client, m, at, 'not_member', 'you are in no room; join one first');
  const room = state.rooms.get(roomName);
  if (!room || !client.rooms.includes(roomName)) {
    return refuse(state, client, m, at, 'not_member', `you are not in room "${roomName}"`);
  }
  const seq = room.seq + 1;
  const next: HubState = {
    clients: state.clients,
    rooms: state.rooms.set(roomName, { name: room.name, seq, members: room.members }),
    sizes: state.sizes,
    shuttingDown: state.shuttingDown,
    presenceMax: state.presenceMax,
  };
  return {
    state: next,
    effects: [
      broadcast(room.members, M.chat(client, roomName, seq, msgId, m.content, at), client.id),
      send(client.id, M.ack(client.id, msgId, at, m.ref, { Room: roomName, Seq: seq })),
    ],
  };
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
        // Joining again is harmless: answer with the room's members as on a first join.
        const room = state.rooms.get(m.room) as Room;
        return unchanged(state, [
          send(client.id, M.joined(client.id, m.room, memberPage(state, room), room.members.length, room.seq, at, m.ref)),
        ]);
      }
      if (client.rooms.length >= Limits.maxRoomsPerConnection) {
        return fail('too_many_rooms', `a connection may be in at most ${Limits.maxRoomsPerConnection} rooms`);
      }
      return enter(state, client, m.room, at, m.ref);
    }
    case 'leave': {
      if (!client.rooms.includes(m.room)) return fail('not_member', `you are not in room "${m.room}"`);
      const r = exit(state, client, m.room, 'left', at, true);
      return { state: r.state, effects: [send(client.id, M.left(client.id, m.room, at, m.ref)), ...r.effects] };
    }
    case 'rooms':
      // O(rooms listed): the sizes are kept as members come and go (room-sizes.ts).
      return unchanged(state, [
        send(client.id, M.roomList(biggest(state.sizes, Limits.maxRoomsListed), state.rooms.size, at, m.ref)),
      ]);
    case 'members': {
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
    case 'rename': {
      if (m.name === client.name) {
        return unchanged(state, [send(client.id, M.renamed(client.id, m.name, client.name, at, undefined, m.ref))]);
      }
      const next: HubState = { ...state, clients: state.clients.set(client.id, { ...client, name: m.name }) };
      const effects: Effect[] = [send(client.id, M.renamed(client.id, m.name, client.name, at, undefined, m.ref))];
      for (const roomName of client.rooms) {
        const room = state.rooms.get(roomName) as Room;
        if (!announces(state, room.members.length)) continue;
        effects.push(broadcast(room.members, M.renamed(client.id, m.name, client.name, at, roomName), client.id));
      }
      effects.push(log('rename', { id: client.id, from: client.name, to: m.name }));
      return { state: next, effects };
    }
    case 'direct': {
      const target = state.clients.get(m.to);
      if (!target) return fail('no_such_client', `no connection has ID "${m.to}"`);
      return unchanged(state, [
        send(target.id, M.direct(client, target.id, msgId, m.content, at)),
        send(client.id, M.ack(client.id, msgId, at, m.ref, { To: target.id })),
      ]);
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
      return client ? onMessage(state, client, event.message, event.at, event.msgId) : unchanged(state);
    }
    case 'rejected':
      return state.clients.has(event.id)
        ? unchanged(state, [
          send(event.id, M.error(event.error, event.at)),
          log('rejected', { id: event.id, code: event.error.code }, 'debug'),
        ])
        : unchanged(state);
    case 'pingDue': {
      // Only connections the hub knows; the heartbeat may name one refused at the door.
      const live = event.ids.filter((id) => state.clients.has(id));
      return unchanged(state, live.length > 0 ? [ping(live)] : NONE);
    }
    case 'timedOut':
      return depart(state, event.id, 'timeout', event.at, [terminate(event.id)]);
    case 'closed':
      // Whether or not the hub knew it (one refused at the door), the runner lets go of the socket.
      return depart(state, event.id, event.reason, event.at, [forget(event.id)]);
    case 'shutdownRequested': {
      if (state.shuttingDown) return unchanged(state);
      const everyone = state.clients.keySeq().toArray();
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
