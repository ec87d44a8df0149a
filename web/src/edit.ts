// Small, pure edits of the page state, shared by the reducer's parts (frames.ts for
// what the server says, lines.ts for chat lines, step.ts for what the user does). Each
// returns new objects for what it touches and the same ones for the rest.
import {
  ChatLine, ChatState, Conversation, Effect, Line, MAX_DMS, MAX_LINES, Part, Step, roomId,
} from './state';

export const NONE: readonly Effect[] = [];
export const same = (state: ChatState): Step => ({ state, effects: NONE });

/** A name or other string someone else chose, inside a notice. */
export const user = (text: string): Part => ({ user: text });

export function notice(s: ChatState, said: string | readonly Part[], at: number, tone: 'info' | 'warn' = 'info', boundary = false): Line {
  const parts = typeof said === 'string' ? [said] : said;
  const text = parts.map((p) => (typeof p === 'string' ? p : p.user)).join('');
  return { kind: 'notice', key: `n${s.serial}`, text, parts, at, tone, ...(boundary ? { boundary: true } : {}) };
}

/** Adds a notice to one conversation (if it exists), bumping the serial its key came from. */
export function tell(s: ChatState, convId: string, said: string | readonly Part[], at: number, tone: 'info' | 'warn' = 'info'): ChatState {
  const c = s.convs.get(convId);
  return c ? { ...withConv(s, append(c, notice(s, said, at, tone))), serial: s.serial + 1 } : s;
}

export const alert = (s: ChatState, text: string, at: number): ChatState => ({ ...s, alert: { text, at } });

/** Drops a room from ours; the view moves on to another conversation if it was on screen. */
export function forget(s: ChatState, room: string): ChatState {
  const convs = s.convs.delete(roomId(room));
  const rooms = s.rooms.filter((r) => r !== room);
  let current = s.current;
  if (current === roomId(room)) current = rooms.length > 0 ? roomId(rooms[0]) : (convs.keySeq().first() ?? '');
  return { ...s, convs, rooms, current };
}

/** A line of ours on its way: not on the wire yet, or with no Ack yet. */
const unacked = (l: Line): boolean => l.kind === 'chat' && l.outKey !== undefined && (l.status === 'pending' || l.status === 'sent');

/**
 * Appends a line, noting its MsgID (so it is not shown twice) and, for the first room
 * line since a reset, its Seq. Past MAX_LINES the oldest goes; in a room, scrolling up
 * can read it again, so the next older page is read Before it.
 */
export function append(c: Conversation, line: Line): Conversation {
  // Our lines the server has not acked stay at the bottom, below what arrives meanwhile
  // (the lines a resume replays come first): once acked, their Seq is after those.
  let waiting = 0;
  if (!unacked(line)) while (waiting < c.lines.size && unacked(c.lines.get(c.lines.size - 1 - waiting) as Line)) waiting++;
  let lines = waiting === 0 ? c.lines.push(line) : c.lines.insert(c.lines.size - waiting, line);
  let { ids, oldest, more } = c;
  if (line.kind === 'chat') {
    if (line.msgId !== undefined) ids = ids.add(line.msgId);
    if (line.seq !== undefined && oldest === undefined) oldest = line.seq;
  }
  if (lines.size > MAX_LINES) {
    const gone = lines.first() as Line;
    lines = lines.shift();
    if (gone.kind === 'chat') {
      if (gone.msgId !== undefined) ids = ids.remove(gone.msgId);
      if (gone.seq !== undefined && c.kind === 'room') {
        oldest = Math.max(oldest ?? 0, gone.seq + 1);
        more = true;
      }
    }
  }
  return { ...c, lines, ids, oldest, more };
}

/** The index of the line with this key, searched from the newest (answers come soon); -1 if none. */
export const indexOf = (c: Conversation, key: string): number => c.lines.findLastIndex((l) => l.key === key);

/** Replaces the line with this key (same conversation object when there is none). */
export function updateLine(c: Conversation, key: string, f: (l: ChatLine) => ChatLine): Conversation {
  const i = indexOf(c, key);
  const l = i < 0 ? undefined : c.lines.get(i);
  if (l?.kind !== 'chat') return c;
  const next = f(l);
  return next === l ? c : { ...c, lines: c.lines.set(i, next) };
}

/** Removes the line with this key (same conversation object when there is none). */
export function removeLine(c: Conversation, key: string): Conversation {
  const i = indexOf(c, key);
  if (i < 0) return c;
  const l = c.lines.get(i) as Line;
  const ids = l.kind === 'chat' && l.msgId !== undefined ? c.ids.remove(l.msgId) : c.ids;
  return { ...c, lines: c.lines.delete(i), ids };
}

/** Puts a conversation in; a direct one becomes the most recent, and past MAX_DMS the least recent other than the one on screen goes. */
export function withConv(state: ChatState, c: Conversation): ChatState {
  const convs = state.convs.set(c.id, c);
  if (c.kind !== 'dm') return { ...state, convs };
  let recent = state.recent.delete(c.id).add(c.id);
  let trimmed = convs;
  if (recent.size > MAX_DMS) {
    // The oldest two at most: one of them may be on screen.
    const victim = recent.find((id) => id !== state.current && id !== c.id);
    if (victim !== undefined) {
      recent = recent.delete(victim);
      trimmed = trimmed.delete(victim);
    }
  }
  return { ...state, convs: trimmed, recent };
}
