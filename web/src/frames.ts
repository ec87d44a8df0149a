// What the server says besides chat lines, as the client library hands it on
// (docs/protocol.md): Join and Leave replies, presence, renames, the rooms list,
// member pages, notices and Errors that are not about one of our messages. Pure: the
// frame and the time arrive as arguments.
import type { Frame } from '../../src/client';
import { Type } from './protocol';
import type { Member } from './protocol';
import { ChatState, Conversation, MAX_MEMBERS_SHOWN, dmId, emptyRoom, roomId } from './state';
import { alert, append, forget, notice, tell, user, withConv } from './edit';

const LEFT: Record<string, string> = {
  left: 'left', closed: 'went offline', timeout: 'timed out', error: 'lost connection', slow: 'was disconnected (too slow)',
};

/** protocol.md: Members is a page (the first 100 in join order), never assumed to be the whole room. */
const members = (v: unknown): Member[] =>
  (Array.isArray(v) ? v.slice(0, MAX_MEMBERS_SHOWN).filter((m): m is Member => typeof m?.ID === 'string' && typeof m?.Name === 'string') : []);

/** The room's size: the frame's Count, or (a server before Count) the length of its complete list. */
const countOf = (f: Frame): number =>
  (typeof f.Count === 'number' && f.Count >= 0 ? f.Count : Array.isArray(f.Members) ? f.Members.length : 0);

/**
 * rooms: for an Error, the rooms the library is in after it. An Error answering a
 * request of the library's own (a Ref that is a number) that the user did not make is
 * a room it could not rejoin after a new session (too_many_rooms, …): the library has
 * let it go, and so does the page. The user's own requests fail through `refused`.
 */
export function onFrame(s0: ChatState, f: Frame, at: number, rooms?: readonly string[]): ChatState {
  const room = typeof f.Room === 'string' ? f.Room : undefined;
  const conv = room === undefined ? undefined : s0.convs.get(roomId(room));
  const when = f.SentAt > 0 ? f.SentAt * 1000 : at;
  switch (f.Type) {
    case Type.System:
      // The welcome is the library's (a `ready` event); other notices (shutdown) are shown.
      return f.Content ? tell(s0, s0.current, f.Content, when, 'warn') : s0;
    case Type.Join: {
      if (room === undefined) return s0;
      const before = conv ?? emptyRoom(room);
      let c: Conversation = {
        ...before, members: members(f.Members), count: countOf(f), joined: true,
        ...(typeof f.Epoch === 'string' ? { epoch: f.Epoch } : {}),
      };
      let s: ChatState = { ...s0, rooms: s0.rooms.includes(room) ? s0.rooms : [...s0.rooms, room] };
      if (!conv) {
        c = append(c, notice(s, `You joined #${room}`, at));
        s = { ...s, serial: s.serial + 1 };
      }
      s = withConv(s, c);
      // The user's own join shows the room; rejoins after a reconnection leave the view alone.
      if (s.joining.has(room) || s.current === '' || !s.convs.has(s.current)) s = { ...s, current: c.id, joining: s.joining.remove(room) };
      if (s.current === c.id && c.unread !== 0) s = withConv(s, { ...c, unread: 0 });
      // No Rooms request here: 32 rejoins must not make 32 (issue 11); main.ts asks on a slow timer.
      return s;
    }
    case Type.Leave:
      return room === undefined ? s0 : forget(s0, room);
    case Type.Connected: {
      if (!conv?.joined || conv.members.some((m) => m.ID === f.ID)) return s0;
      const name = f.Name ?? f.ID;
      const listed = conv.members.length < MAX_MEMBERS_SHOWN ? [...conv.members, { ID: f.ID, Name: name }] : conv.members;
      const s = withConv(s0, { ...conv, members: listed, count: conv.count + 1 });
      return tell(s, conv.id, [user(name), ' joined'], when);
    }
    case Type.Disconnected: {
      if (!conv?.joined) return s0;
      const name = f.Name ?? f.ID;
      let s = withConv(s0, { ...conv, members: conv.members.filter((m) => m.ID !== f.ID), count: Math.max(0, conv.count - 1) });
      s = tell(s, conv.id, [user(name), ` ${LEFT[f.Reason ?? 'left'] ?? 'left'}`], when);
      const dm = s.convs.get(dmId(f.ID));
      if (dm && f.Reason !== 'left') s = withConv(s, { ...dm, gone: true });
      return s;
    }
    case Type.Rename:
      return renamed(s0, f, conv, when);
    case Type.Error: {
      const why = f.Content || f.Code || 'refused';
      if (typeof f.Ref === 'number') {
        let s = s0;
        for (const r of s0.rooms) {
          if (rooms && !rooms.includes(r) && !s.convs.get(roomId(r))?.joined) s = alert(forget(s, r), `Could not rejoin #${r}: ${why}`, at);
        }
        return s;
      }
      if (s0.me === '' && (f.Code === 'bad_name' || f.Code === 'too_long')) {
        // protocol.md: a bad ?name= is refused and closed with 1008; retrying the same name is pointless.
        return { ...s0, link: { state: 'stopped', reason: `Name refused: ${why}` } };
      }
      return alert(s0, why, at);
    }
    case Type.Rooms: {
      const list = Array.isArray(f.Rooms)
        ? f.Rooms.filter((r): r is { Room: string; Count: number } => typeof r?.Room === 'string' && typeof r?.Count === 'number')
        : [];
      let s: ChatState = { ...s0, directory: { rooms: list, total: typeof f.Total === 'number' ? f.Total : list.length } };
      // The sizes of our own rooms, too: big rooms send no Connected/Disconnected to keep them.
      for (const r of list) {
        const c = s.convs.get(roomId(r.Room));
        if (c?.joined && c.count !== r.Count) s = withConv(s, { ...c, count: r.Count });
      }
      return s;
    }
    case Type.Members:
      return conv?.joined ? withConv(s0, { ...conv, members: members(f.Members), count: countOf(f) }) : s0;
    default:
      // Types this page does not use (protocol.md: ignore them).
      return s0;
  }
}

/** Someone (maybe us) took a new name: to us alone without Room, to each shared room with it. */
function renamed(s0: ChatState, f: Frame, conv: Conversation | undefined, when: number): ChatState {
  const name = f.Name;
  if (typeof name !== 'string') return s0;
  const rename = (ms: readonly Member[]) => ms.map((m) => (m.ID === f.ID ? { ID: m.ID, Name: name } : m));
  if (f.Room === undefined) {
    // Our own rename, confirmed: the server's word is the name we use from now on.
    if (f.ID !== s0.me && s0.me !== '') return s0;
    let s: ChatState = { ...s0, name };
    for (const c of s.convs.values()) if (c.kind === 'room') s = withConv(s, { ...c, members: rename(c.members) });
    return name === s0.name ? s : tell(s, s.current, ['You are now ', user(name)], when);
  }
  if (!conv?.joined) return s0;
  let s = withConv(s0, { ...conv, members: rename(conv.members) });
  s = tell(s, conv.id, [f.OldName === undefined ? 'someone' : user(f.OldName), ' is now ', user(name)], when);
  const dm = s.convs.get(dmId(f.ID));
  if (dm) s = withConv(s, { ...dm, title: name });
  return s;
}
