// What the server says, applied to the client state (docs/protocol.md, Types 0–12).
// Pure: the frame and the time arrive as arguments; frames to send come back as effects.
import { DEFAULT_ROOM, Frame, Member, Type } from './protocol';
import { ChatLine, ChatState, Conversation, Effect, MAX_MEMBERS_SHOWN, Step, dmId, emptyDm, emptyRoom, roomId } from './state';
import { NONE, alert, answered, append, ask, forget, notice, same, send, settle, tell, user, withConv } from './edit';

const LEFT: Record<string, string> = {
  left: 'left', closed: 'went offline', timeout: 'timed out', error: 'lost connection', slow: 'was disconnected (too slow)',
};

/** protocol.md: Members is a page (the first 100 in join order), never assumed to be the whole room. */
const members = (v: unknown): Member[] =>
  (Array.isArray(v) ? v.slice(0, MAX_MEMBERS_SHOWN).filter((m): m is Member => typeof m?.ID === 'string' && typeof m?.Name === 'string') : []);

/** The room's size: the frame's Count, or (a server before Count) the length of its complete list. */
const countOf = (f: Frame): number =>
  (typeof f.Count === 'number' && f.Count >= 0 ? f.Count : Array.isArray(f.Members) ? f.Members.length : 0);

export function onFrame(s0: ChatState, f: Frame, at: number): Step {
  const room = typeof f.Room === 'string' ? f.Room : undefined;
  const conv = room === undefined ? undefined : s0.convs.get(roomId(room));
  const when = f.SentAt > 0 ? f.SentAt * 1000 : at;
  switch (f.Type) {
    case Type.System: {
      if (f.Content !== 'welcome' || !f.ID) return { state: tell(s0, s0.current, f.Content, when, 'warn'), effects: NONE };
      // protocol.md: the first frame names our (new) ID; the Join for the first room follows.
      const first = Array.isArray(f.Rooms) && typeof f.Rooms[0] === 'string' ? f.Rooms[0] : s0.rooms[0];
      let s: ChatState = {
        ...s0, me: f.ID, name: typeof f.Name === 'string' ? f.Name : s0.name, link: { state: 'open' }, welcomed: true,
        rooms: s0.rooms.includes(first) ? s0.rooms : [first, ...s0.rooms],
      };
      if (s0.welcomed) s = tell(s, s.current, 'Reconnected', at);
      const effects: Effect[] = [];
      for (const r of s.rooms.filter((x) => x !== first)) {
        const [next, ref] = ask(s, { kind: 'join', room: r, focus: false });
        s = next;
        effects.push(send({ Type: Type.Join, Room: r, Ref: ref }));
      }
      effects.push(send({ Type: Type.Rooms }));
      return { state: s, effects };
    }
    case Type.Join: {
      if (room === undefined) return same(s0);
      const [s1, req] = answered(s0, f.Ref);
      const before = conv ?? emptyRoom(room);
      const seq = typeof f.Seq === 'number' ? f.Seq : 0;
      let c: Conversation = { ...before, members: members(f.Members), count: countOf(f), joined: true, seq };
      let s: ChatState = { ...s1, rooms: s1.rooms.includes(room) ? s1.rooms : [...s1.rooms, room] };
      if (!conv) {
        c = append(c, notice(s, `You joined #${room}`, at));
        s = { ...s, serial: s.serial + 1 };
      } else if (!before.joined && seq > before.seq && before.seq > 0) {
        // No history on the wire: say what was missed rather than pretend nothing was.
        const n = seq - before.seq;
        c = append(c, notice(s, `${n} message${n === 1 ? '' : 's'} sent while you were away`, at, 'warn'));
        s = { ...s, serial: s.serial + 1 };
      }
      s = withConv(s, c);
      // The user's own join shows the room; rejoins after a reconnection leave the view alone.
      if ((req?.kind === 'join' && req.focus) || s.current === '' || !s.convs.has(s.current)) s = { ...s, current: c.id };
      if (s.current === c.id) s = withConv(s, { ...c, unread: 0 });
      // No Rooms request here: 32 rejoins must not make 32 (issue 11); main.ts asks on a slow timer.
      return same(s);
    }
    case Type.Leave: {
      if (room === undefined) return same(s0);
      return same(forget(answered(s0, f.Ref)[0], room));
    }
    case Type.Connected: {
      if (!conv?.joined || conv.members.some((m) => m.ID === f.ID)) return same(s0);
      const name = f.Name ?? f.ID;
      const listed = conv.members.length < MAX_MEMBERS_SHOWN ? [...conv.members, { ID: f.ID, Name: name }] : conv.members;
      const s = withConv(s0, { ...conv, members: listed, count: conv.count + 1 });
      return same(tell(s, conv.id, [user(name), ' joined'], when));
    }
    case Type.Disconnected: {
      if (!conv?.joined) return same(s0);
      const name = f.Name ?? f.ID;
      let s = withConv(s0, { ...conv, members: conv.members.filter((m) => m.ID !== f.ID), count: Math.max(0, conv.count - 1) });
      s = tell(s, conv.id, [user(name), ` ${LEFT[f.Reason ?? 'left'] ?? 'left'}`], when);
      const dm = s.convs.get(dmId(f.ID));
      if (dm && f.Reason !== 'left') s = withConv(s, { ...dm, gone: true });
      return same(s);
    }
    case Type.Rename: {
      const name = f.Name;
      if (typeof name !== 'string') return same(s0);
      const rename = (ms: readonly Member[]) => ms.map((m) => (m.ID === f.ID ? { ID: m.ID, Name: name } : m));
      if (room === undefined) {
        // Our own rename, confirmed: the server's word is the name we use from now on.
        const [s1] = answered(s0, f.Ref);
        if (f.ID !== s1.me && s1.me !== '') return same(s1);
        let s: ChatState = { ...s1, name };
        for (const c of s.convs.values()) if (c.kind === 'room') s = withConv(s, { ...c, members: rename(c.members) });
        return same(name === s0.name ? s : tell(s, s.current, ['You are now ', user(name)], when));
      }
      if (!conv?.joined) return same(s0);
      let s = withConv(s0, { ...conv, members: rename(conv.members) });
      s = tell(s, conv.id, [f.OldName === undefined ? 'someone' : user(f.OldName), ' is now ', user(name)], when);
      const dm = s.convs.get(dmId(f.ID));
      if (dm) s = withConv(s, { ...dm, title: name });
      return same(s);
    }
    case Type.Broadcast: {
      if (!conv?.joined || typeof f.MsgID !== 'string') return same(s0);
      let s = s0;
      let c = conv;
      const seq = typeof f.Seq === 'number' ? f.Seq : c.seq;
      if (c.seq > 0 && seq > c.seq + 1) {
        const n = seq - c.seq - 1;
        c = append(c, notice(s, `${n} message${n === 1 ? '' : 's'} missed`, at, 'warn'));
        s = { ...s, serial: s.serial + 1 };
      }
      const line: ChatLine = { kind: 'chat', key: f.MsgID, from: f.ID, name: f.Name ?? f.ID, text: f.Content, at: when, mine: false };
      c = { ...append(c, line), seq, unread: s.current === c.id ? 0 : c.unread + 1 };
      return same(withConv(s, c));
    }
    case Type.Direct: {
      if (typeof f.MsgID !== 'string' || !f.ID) return same(s0);
      const name = f.Name ?? f.ID;
      const before = s0.convs.get(dmId(f.ID)) ?? emptyDm(f.ID, name);
      const line: ChatLine = { kind: 'chat', key: f.MsgID, from: f.ID, name, text: f.Content, at: when, mine: false };
      const c = { ...append(before, line), title: name, gone: false, unread: s0.current === before.id ? 0 : before.unread + 1 };
      return same(withConv(s0, c));
    }
    case Type.Ack: {
      const [s1, req] = answered(s0, f.Ref);
      if (req?.kind !== 'line') return same(s0);
      let s = settle(s1, req.conv, req.key, 'delivered');
      const c = s.convs.get(req.conv);
      if (c && typeof f.Seq === 'number' && f.Seq > c.seq) s = withConv(s, { ...c, seq: f.Seq });
      return same(s);
    }
    case Type.Error: {
      const [s1, req] = answered(s0, f.Ref);
      const why = f.Content || f.Code || 'refused';
      switch (req?.kind) {
        case 'line': {
          const c = s1.convs.get(req.conv);
          const text = f.Code === 'no_such_client' && c?.kind === 'dm' ? `${c.title} is no longer connected` : why;
          let s = settle(s1, req.conv, req.key, 'failed', text);
          if (f.Code === 'no_such_client' && c) s = withConv(s, { ...(s.convs.get(req.conv) as Conversation), gone: true });
          return same(s);
        }
        case 'join': {
          // A room we could not (re)join is no longer one of ours.
          const s = s1.convs.get(roomId(req.room))?.joined ? s1 : forget(s1, req.room);
          return same(alert(s, `Could not join #${req.room}: ${why}`, at));
        }
        case 'leave':
          return same(alert(s1, `Could not leave #${req.room}: ${why}`, at));
        case 'rename':
          return same(alert(s1, `Could not rename to "${req.name}": ${why}`, at));
        default:
          if (s1.me === '' && (f.Code === 'bad_name' || f.Code === 'too_long')) {
            // protocol.md: a bad ?name= is refused and closed with 1008; retrying the same name is pointless.
            return same({ ...s1, link: { state: 'stopped', reason: `Name refused: ${why}` } });
          }
          if (s1.me === '' && f.Code === 'bad_room') return same(alert({ ...s1, rooms: [DEFAULT_ROOM] }, why, at));
          return same(alert(s1, why, at));
      }
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
      return same(s);
    }
    case Type.Members: {
      if (!conv?.joined) return same(s0);
      return same(withConv(s0, { ...conv, members: members(f.Members), count: countOf(f) }));
    }
    default:
      // HeartBeat answers, and Types this client does not know (protocol.md: ignore them).
      return same(s0);
  }
}
