// Small, pure edits of the client state, shared by the reducer's two halves
// (frames.ts for what the server says, step.ts for what the user does). Each
// returns new objects for what it touches and the same ones for the rest.
import {
  ChatLine, ChatState, Conversation, Effect, Line, MAX_LINES, Request, Step, roomId,
} from './state';

export const NONE: readonly Effect[] = [];
export const same = (state: ChatState): Step => ({ state, effects: NONE });
export const send = (frame: Effect['frame']): Effect => ({ kind: 'send', frame });

export const notice = (s: ChatState, text: string, at: number, tone: 'info' | 'warn' = 'info'): Line =>
  ({ kind: 'notice', key: `n${s.serial}`, text, at, tone });

/** Adds a notice to one conversation (if it exists), bumping the serial its key came from. */
export function tell(s: ChatState, convId: string, text: string, at: number, tone: 'info' | 'warn' = 'info'): ChatState {
  const c = s.convs.get(convId);
  return c ? { ...withConv(s, append(c, notice(s, text, at, tone))), serial: s.serial + 1 } : s;
}

export const alert = (s: ChatState, text: string, at: number): ChatState => ({ ...s, alert: { text, at } });

/** Takes a fresh Ref for a request. */
export function ask(s: ChatState, req: Request): [ChatState, string] {
  const ref = `r${s.serial}`;
  const requests = new Map(s.requests);
  requests.set(ref, req);
  return [{ ...s, serial: s.serial + 1, requests }, ref];
}

export function answered(s: ChatState, ref: unknown): [ChatState, Request | undefined] {
  const key = String(ref);
  const req = ref === undefined ? undefined : s.requests.get(key);
  if (!req) return [s, undefined];
  const requests = new Map(s.requests);
  requests.delete(key);
  return [{ ...s, requests }, req];
}

/** Marks a line of ours delivered or failed. */
export const settle = (s: ChatState, conv: string, key: string, status: 'delivered' | 'failed', error?: string): ChatState => {
  const c = s.convs.get(conv);
  return c ? withConv(s, updateLine(c, key, (l) => ({ ...l, status, ...(error ? { error } : {}) }) as ChatLine)) : s;
};

/** Drops a room from ours; the view moves on to another conversation if it was on screen. */
export function forget(s: ChatState, room: string): ChatState {
  const convs = new Map(s.convs);
  convs.delete(roomId(room));
  const rooms = s.rooms.filter((r) => r !== room);
  let current = s.current;
  if (current === roomId(room)) current = rooms.length > 0 ? roomId(rooms[0]) : ([...convs.keys()][0] ?? '');
  return { ...s, convs, rooms, current };
}

/** Appends a line, dropping the oldest past MAX_LINES. */
export const append = (c: Conversation, line: Line): Conversation =>
  ({ ...c, lines: c.lines.length >= MAX_LINES ? [...c.lines.slice(1 - MAX_LINES), line] : [...c.lines, line] });

/** Replaces the line with this key (same conversation object when there is none). */
export function updateLine(c: Conversation, key: string, f: (l: Line) => Line): Conversation {
  const i = c.lines.findIndex((l) => l.key === key);
  if (i < 0) return c;
  const lines = c.lines.slice();
  lines[i] = f(lines[i]);
  return { ...c, lines };
}

export function withConv(state: ChatState, c: Conversation): ChatState {
  const convs = new Map(state.convs);
  convs.set(c.id, c);
  return { ...state, convs };
}
