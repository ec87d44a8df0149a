// Frames to display lines: "HH:MM [room] name: text". Pure: the view (who we
// are, whether to colour, who is who) arrives as an argument, so does the clock.
import { Message, Type } from '../../src/core/protocol';
import { Presence, nameOf } from './presence';

export interface View {
  selfId: string;
  /** ANSI colours: only for a TTY without NO_COLOR (decided by the caller). */
  color: boolean;
  presence: Presence;
}

const Ansi = { Dim: '2', Red: '31', Green: '32', Yellow: '33', Magenta: '35', Cyan: '36' } as const;

const paint = (v: { color: boolean }, code: string, s: string): string => (v.color ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Local HH:MM of a unix-seconds SentAt (or of now). */
export function hhmm(sentAtSeconds: number): string {
  const d = new Date(sentAtSeconds * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

// Other people's text must not drive our terminal: no escapes, no carriage
// returns; a newline stays a line break, indented under the message.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;
export const safe = (text: string): string => text.replace(CONTROL, '\uFFFD').replace(/\n/g, '\n      ');

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const tag = (room: unknown): string => (typeof room === 'string' ? `[${room}] ` : '');

const notice = (v: View, at: number, room: unknown, text: string): string =>
  `${hhmm(at)} ${tag(room)}${paint(v, Ansi.Yellow, `* ${safe(text)}`)}`;

function memberNames(v: View, members: unknown): string {
  if (!Array.isArray(members)) return '';
  const list = members as { ID?: unknown; Name?: unknown }[];
  const names = list.map((m) => str(m?.Name, '?'));
  const dup = (n: string) => names.filter((x) => x === n).length > 1;
  return list.map((m, i) => {
    const label = m?.ID === v.selfId ? `${names[i]} (you)` : names[i];
    return dup(names[i]) ? `${label} [${str(m?.ID)}]` : label;
  }).join(', ');
}

/** The line to show for a frame from the server, or undefined for frames not shown (Ack, HeartBeat). */
export function formatFrame(f: Message, v: View): string | undefined {
  const at = f.SentAt;
  const name = safe(str(f.Name, nameOf(v.presence, f.ID)));
  switch (f.Type) {
    case Type.Broadcast:
      return `${hhmm(at)} ${tag(f.Room)}${paint(v, Ansi.Cyan, name)}: ${safe(f.Content)}`;
    case Type.Direct:
      return paint(v, Ansi.Magenta, `${hhmm(at)} [dm] ${name} → you: ${safe(f.Content)}`);
    case Type.System:
      // The welcome never gets here: the client library takes it and says `ready` (formatNotice).
      return notice(v, at, undefined, `server: ${f.Content}`);
    case Type.Connected:
      return notice(v, at, f.Room, `${name} joined`);
    case Type.Disconnected:
      return notice(v, at, f.Room, f.Reason === 'left' ? `${name} left` : `${name} disconnected (${str(f.Reason, 'gone')})`);
    case Type.Error:
      return `${hhmm(at)} ${paint(v, Ansi.Red, `! ${str(f.Code, 'error')}: ${safe(f.Content)}`)}`;
    case Type.Join: {
      // protocol.md: Members is the first page (at most 100) of the room; Count is its size.
      const n = Array.isArray(f.Members) ? f.Members.length : 0;
      const count = typeof f.Count === 'number' ? f.Count : n;
      const more = count > n ? `, and ${count - n} more` : '';
      return notice(v, at, f.Room, `you are in ${str(f.Room)}: ${count} here (${memberNames(v, f.Members)}${more})`);
    }
    case Type.Leave:
      return notice(v, at, f.Room, `you left ${str(f.Room)}`);
    case Type.Rooms: {
      const rooms = Array.isArray(f.Rooms) ? (f.Rooms as { Room?: unknown; Count?: unknown }[]) : [];
      const list = rooms.map((r) => `${str(r?.Room, '?')} (${String(r?.Count ?? '?')})`).join(', ');
      const more = typeof f.Total === 'number' && f.Total > rooms.length ? `, and ${f.Total - rooms.length} more` : '';
      return notice(v, at, undefined, `rooms: ${list || 'none'}${more}`);
    }
    case Type.Members: {
      const n = Array.isArray(f.Members) ? f.Members.length : 0;
      const count = typeof f.Count === 'number' ? f.Count : n;
      if (n === 0) return notice(v, at, f.Room, count === 0 ? `nobody in ${str(f.Room)}` : `no more in ${str(f.Room)} (${count} in all)`);
      // A page of a bigger room says so; Next is where /more carries on.
      const page = count > n ? ` (${n} listed${typeof f.Next === 'string' ? '; /more for the next' : ''})` : '';
      return notice(v, at, f.Room, `${count} in ${str(f.Room)}: ${memberNames(v, f.Members)}${page}`);
    }
    case Type.Rename:
      return f.ID === v.selfId
        ? notice(v, at, f.Room, `you are now known as ${name}`)
        : notice(v, at, f.Room, `${safe(str(f.OldName, '?'))} is now known as ${name}`);
    default:
      return undefined; // Ack and HeartBeat are answers, shown by whoever asked; unknown Types are ignored
  }
}

/** Our own line, shown once the server has acked it (or, from a resume or History, as it was delivered). */
export function formatOwn(v: View, at: number, where: { room: string } | { to: string }, name: string, text: string): string {
  return 'room' in where
    ? `${hhmm(at)} [${where.room}] ${paint(v, Ansi.Green, safe(name))}: ${safe(text)}`
    : paint(v, Ansi.Magenta, `${hhmm(at)} [dm] you → ${safe(nameOf(v.presence, where.to))}: ${safe(text)}`);
}

/** Our own line the server does not have yet (no link, or the log asked us to retry): dim, marked. */
export function formatPending(v: View, at: number, where: { room: string } | { to: string }, name: string, text: string): string {
  const line = 'room' in where
    ? `${hhmm(at)} [${where.room}] ${safe(name)}: ${safe(text)}`
    : `${hhmm(at)} [dm] you → ${safe(nameOf(v.presence, where.to))}: ${safe(text)}`;
  return paint(v, Ansi.Dim, `${line} (sending…)`);
}

/** A notice about our link the server would have given ("* connected as …"), in the look of the server's. */
export const formatNotice = (v: { color: boolean }, text: string, now = Date.now()): string =>
  notice({ selfId: '', color: v.color, presence: new Map() }, now / 1000, undefined, text);

/** A line from the client itself (connection status, usage errors). */
export function formatLocal(v: { color: boolean }, text: string, kind: 'info' | 'error' = 'info', now = Date.now()): string {
  const line = kind === 'error' ? paint(v, Ansi.Red, `! ${text}`) : paint(v, Ansi.Dim, `-- ${text}`);
  return `${hhmm(now / 1000)} ${line}`;
}
