// Who the chat client knows about, learnt only from frames (protocol.md: Join and
// Members lists, Connected, Disconnected, Rename, and the senders of lines), so
// that /msg can take a name. Pure: a frame in, the next directory out; a frame
// that tells nothing new returns the same directory.
import { Message, Type } from '../../src/protocol';

export interface Peer {
  readonly id: string;
  readonly name: string;
  /** Rooms we share with this peer, as far as we know. */
  readonly rooms: ReadonlySet<string>;
}

export type Presence = ReadonlyMap<string, Peer>;

export const emptyPresence: Presence = new Map();

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function put(p: Map<string, Peer>, id: string, name: string | undefined, room: string | undefined): void {
  const was = p.get(id);
  const rooms = new Set(was?.rooms);
  if (room !== undefined) rooms.add(room);
  p.set(id, { id, name: name ?? was?.name ?? id, rooms });
}

function drop(p: Map<string, Peer>, id: string, room: string | undefined): void {
  const was = p.get(id);
  if (!was) return;
  const rooms = new Set(was.rooms);
  if (room !== undefined) rooms.delete(room);
  // Once we share no room we can no longer tell whether they are still connected.
  if (room === undefined || rooms.size === 0) p.delete(id);
  else p.set(id, { ...was, rooms });
}

/** A full member list for a room replaces what we knew about that room. */
function refreshRoom(p: Map<string, Peer>, room: string, members: unknown, selfId: string): void {
  for (const peer of [...p.values()]) if (peer.rooms.has(room)) drop(p, peer.id, room);
  if (!Array.isArray(members)) return;
  for (const m of members as { ID?: unknown; Name?: unknown }[]) {
    const id = str(m?.ID);
    if (id !== undefined && id !== selfId) put(p, id, str(m.Name), room);
  }
}

export function applyFrame(presence: Presence, f: Message, selfId: string): Presence {
  const room = str(f.Room);
  const name = str(f.Name);
  const next = new Map(presence);
  switch (f.Type) {
    case Type.Join:
    case Type.Members:
      if (room === undefined) return presence;
      refreshRoom(next, room, f.Members, selfId);
      return next;
    case Type.Leave:
      if (room === undefined || f.ID !== selfId) return presence;
      refreshRoom(next, room, [], selfId);
      return next;
    case Type.Connected:
    case Type.Broadcast:
    case Type.Direct:
    case Type.Rename:
      if (f.ID === '' || f.ID === selfId) return presence;
      put(next, f.ID, name, room);
      return next;
    case Type.Disconnected:
      // Reason "left" is one room; any other reason means the connection is gone.
      drop(next, f.ID, f.Reason === 'left' ? room : undefined);
      return next;
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
