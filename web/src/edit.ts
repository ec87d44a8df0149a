// Small, pure edits of the client state, shared by the reducer's two halves
// (frames.ts for what the server says, step.ts for what the user does). Each
// returns new objects for what it touches and the same ones for the rest.
import {
  ChatLine, ChatState, Conversation, Effect, Line, MAX_DMS, MAX_LINES, Part, Request, Step, roomId,
} from './state';

export const NONE: readonly Effect[] = [];
export const same = (state: ChatState): Step => ({ state, effects: NONE });
export const send = (frame: Effect['frame']): Effect => ({ kind: 'send', frame });

/** A name or other string someone else chose, inside a notice. */
export const user = (text: string): Part => ({ user: text });

export function notice(s: ChatState, said: string | readonly Part[], at: number, tone: 'info' | 'warn' = 'info'): Line {
  const parts = typeof said === 'string' ? [said] : said;
  const text = parts.map((p) => (typeof p === 'string' ? p : p.user)).join('');
  return { kind: 'notice', key: `n${s.serial}`, text, parts, at, tone };
}

/** Adds a notice to one conversation (if it exists), bumping the serial its key came from. */
export function tell(s: ChatState, convId: string, said: string | readonly Part[], at: number, tone: 'info' | 'warn' = 'info'): ChatState {
  const c = s.convs.get(convId);
  return c ? { ...withConv(s, append(c, notice(s, said, at, tone))), serial: s.serial + 1 } : s;
}

export const alert = (s: ChatState, text: string, at: number): ChatState => ({ ...s, alert: { text, at } });

/** Takes a fresh Ref for a request. */
export function ask(s: ChatState, req: Request): [ChatState, string] {
  const ref = `r${s.serial}`;
  return [{ ...s, serial: s.serial + 1, requests: s.requests.set(ref, req) }, ref];
}

export function answered(s: ChatState, ref: unknown): [ChatState, Request | undefined] {
  const key = String(ref);
  const req = ref === undefined ? undefined : s.requests.get(key);
  if (!req) return [s, undefined];
  return [{ ...s, requests: s.requests.delete(key) }, req];
}

/** Marks a line of ours delivered or failed. */
export const settle = (s: ChatState, conv: string, key: string, status: 'delivered' | 'failed', error?: string): ChatState => {
  const c = s.convs.get(conv);
  return c ? withConv(s, updateLine(c, key, (l) => ({ ...l, status, ...(error ? { error } : {}) }) as ChatLine)) : s;
};

/** Drops a room from ours; the view moves on to another conversation if it was on screen. */
export function forget(s: ChatState, room: string): ChatState {
  const convs = s.convs.delete(roomId(room));
  const rooms = s.rooms.filter((r) => r !== room);
  let current = s.current;
  if (current === roomId(room)) current = rooms.length > 0 ? roomId(rooms[0]) : (convs.keySeq().first() ?? '');
  return { ...s, convs, rooms, current };
}

/** Appends a line, dropping the oldest past MAX_LINES. */
export const append = (c: Conversation, line: Line): Conversation =>
  ({ ...c, lines: c.lines.size >= MAX_LINES ? c.lines.shift().push(line) : c.lines.push(line) });

/** Replaces the line with this key (same conversation object when there is none). Searched from the newest: answers come soon. */
export function updateLine(c: Conversation, key: string, f: (l: Line) => Line): Conversation {
  const i = c.lines.findLastIndex((l) => l.key === key);
  if (i < 0) return c;
  return { ...c, lines: c.lines.update(i, (l) => f(l as Line)) };
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
