// Who the chat client knows about, learnt only from frames (protocol.md: Join and
// Members lists, Connected, Disconnected, Rename, and the senders of lines), so
// that /msg can take a name. Pure: a frame in, the next directory out; a frame
// that tells nothing new returns the same directory.
//
// Member lists are pages (at most 100, with the room's Count), and rooms above the
// server's --presence-max send no Connected/Disconnected/Rename notices at all. So a
// list replaces what we knew about a room only when it is the whole room; otherwise
// it only adds, and someone who left a big room stays known (a /msg then gets the
// server's no_such_client). The directory is capped so a big room cannot grow it forever.
import { Message, Type } from '../../src/core/protocol';

export interface Peer {
  readonly id: string;
  readonly name: string;
  /** Rooms we share with this peer, as far as we know. */
  readonly rooms: ReadonlySet<string>;
}

export type Presence = ReadonlyMap<string, Peer>;

export const emptyPresence: Presence = new Map();

/** Peers remembered at most; past it the longest-known are forgotten first. */
export const MAX_PEERS = 5000;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function put(p: Map<string, Peer>, id: string, name: string | undefined, room: string | undefined): void {
  const was = p.get(id);
  const rooms = new Set(was?.rooms);
  if (room !== undefined) rooms.add(room);
  p.set(id, { id, name: name ?? was?.name ?? id, rooms });
  if (!was && p.size > MAX_PEERS) p.delete(p.keys().next().value as string);
}

/** Whether a frame about this peer would tell us nothing new. */
const known = (p: Presence, id: string, name: string | undefined, room: string | undefined): boolean => {
  const was = p.get(id);
  return was !== undefined && (name === undefined || was.name === name) && (room === undefined || was.rooms.has(room));
};

function drop(p: Map<string, Peer>, id: string, room: string | undefined): void {
  const was = p.get(id);
  if (!was) return;
  const rooms = new Set(was.rooms);
  if (room !== undefined) rooms.delete(room);
  // Once we share no room we can no longer tell whether they are still connected.
  if (room === undefined || rooms.size === 0) p.delete(id);
  else p.set(id, { ...was, rooms });
}

/** A member list for a room: the whole room (complete) replaces what we knew about it, a page adds. */
function refreshRoom(p: Map<string, Peer>, room: string, members: unknown, selfId: string, complete = true): void {
  if (complete) for (const peer of [...p.values()]) if (peer.rooms.has(room)) drop(p, peer.id, room);
  if (!Array.isArray(members)) return;
  for (const m of members as { ID?: unknown; Name?: unknown }[]) {
    const id = str(m?.ID);
    if (id !== undefined && id !== selfId) put(p, id, str(m.Name), room);
  }
}

export function applyFrame(presence: Presence, f: Message, selfId: string): Presence {
  const room = str(f.Room);
  const name = str(f.Name);
  // Copied only for a frame that tells something (a copy is O(peers)).
  const edited = (edit: (p: Map<string, Peer>) => void): Presence => {
    const next = new Map(presence);
    edit(next);
    return next;
  };
  switch (f.Type) {
    case Type.Join:
    case Type.Members: {
      if (room === undefined) return presence;
      // protocol.md: Count is the room's size; Next (and After) mean a page of a bigger list.
      const listed = Array.isArray(f.Members) ? f.Members.length : 0;
      const complete = f.Next === undefined && (typeof f.Count !== 'number' || f.Count <= listed);
      return edited((p) => refreshRoom(p, room, f.Members, selfId, complete));
    }
    case Type.Leave:
      if (room === undefined || f.ID !== selfId) return presence;
      return edited((p) => refreshRoom(p, room, [], selfId));
    case Type.Connected:
    case Type.Broadcast:
    case Type.Direct:
    case Type.Rename:
      if (f.ID === '' || f.ID === selfId || known(presence, f.ID, name, room)) return presence;
      return edited((p) => put(p, f.ID, name, room));
    case Type.Disconnected:
      // Reason "left" is one room; any other reason means the connection is gone.
      if (!presence.has(f.ID)) return presence;
      return edited((p) => drop(p, f.ID, f.Reason === 'left' ? room : undefined));
    default:
      return presence;
  }
}

export type Resolved = { ok: true; id: string } | { ok: false; reason: string };

const LOOKS_LIKE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** A name or an ID to one ID: an exact ID, then an exact name, then a name ignoring case. */
export function resolvePeer(presence: Presence, target: string): Resolved {
  if (presence.has(target)) return { ok: true, id: target };
  const peers = [...presence.values()];
  for (const same of [
    peers.filter((p) => p.name === target),
    peers.filter((p) => p.name.toLowerCase() === target.toLowerCase()),
  ]) {
    if (same.length === 1) return { ok: true, id: same[0].id };
    if (same.length > 1) {
      return { ok: false, reason: `"${target}" is ambiguous: ${same.map((p) => `${p.name} (${p.id})`).join(', ')}; use the ID` };
    }
  }
  // Not someone we have seen, but shaped like an ID: let the server decide.
  if (LOOKS_LIKE_ID.test(target)) return { ok: true, id: target };
  return { ok: false, reason: `nobody called "${target}" in your rooms (try /who)` };
}

export const nameOf = (presence: Presence, id: string): string => presence.get(id)?.name ?? id;
