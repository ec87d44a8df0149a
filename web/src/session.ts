// What a reload keeps, in this tab's sessionStorage: the library's session (the resume
// token, our ID and each room's position: protocol.md "Resuming after a reconnect"),
// the rooms in their order, the conversation on screen, the direct conversations (the
// server keeps no history of those) and our messages the server has not acked, which
// go again with the same Keys (protocol.md "Sending twice": kept once however often
// they go). Room lines are not kept here: the server has them (History), and the
// resume replays what came meanwhile. Pure: main.ts reads and writes the storage.
import type { Position, Restore } from '../../src/client';
import {
  ChatLine, ChatState, Conversation, Effect, Line, Step, dmId, emptyDm, emptyRoom, initialState, roomId,
} from './state';
import { append, withConv } from './edit';
import { ownLine } from './lines';
import { nameProblem, roomProblem } from './protocol';

export const SESSION_KEY = 'rxchat.session';
/** Bounds, so a tab's storage stays small whatever happened in it (4000-character lines are possible). */
export const SAVED_DMS = 20;
export const SAVED_DM_LINES = 50;
export const SAVED_OUTBOX = 200;

interface SavedLine { readonly from: string; readonly name: string; readonly text: string; readonly at: number; readonly mine: boolean; readonly msgId?: string }
interface SavedDm { readonly peer: string; readonly title: string; readonly gone: boolean; readonly lines: readonly SavedLine[] }
interface SavedOut { readonly key: string; readonly room?: string; readonly to?: string; readonly text: string; readonly at: number }

export interface Saved {
  readonly v: 1;
  readonly name: string;
  readonly session: Restore;
  readonly rooms: readonly string[];
  readonly current: string;
  readonly dms: readonly SavedDm[];
  readonly outbox: readonly SavedOut[];
}

const undelivered = (l: Line): l is ChatLine & { outKey: string } =>
  l.kind === 'chat' && l.outKey !== undefined && (l.status === 'pending' || l.status === 'sent');

export function snapshot(s: ChatState, session: Restore): Saved {
  const outbox: SavedOut[] = [];
  for (const c of s.convs.values()) {
    for (const l of c.lines) {
      if (!undelivered(l)) continue;
      outbox.push(c.kind === 'room'
        ? { key: l.outKey, room: c.title, text: l.text, at: l.at }
        : { key: l.outKey, to: c.peer as string, text: l.text, at: l.at });
    }
  }
  outbox.sort((a, b) => a.at - b.at);
  // The most recent direct conversations, and every one with a message still to go.
  const waiting = new Set(outbox.flatMap((o) => (o.to !== undefined ? [dmId(o.to)] : [])));
  const recent = [...s.recent].reverse();
  const kept = [...new Set([...recent.slice(0, SAVED_DMS), ...recent.filter((id) => waiting.has(id))])];
  const dms = kept.map((id) => s.convs.get(id)).filter((c): c is Conversation => c?.kind === 'dm').map((c) => ({
    peer: c.peer as string, title: c.title, gone: c.gone === true,
    lines: c.lines.filter((l): l is ChatLine => l.kind === 'chat' && (l.status === undefined || l.status === 'delivered'))
      .takeLast(SAVED_DM_LINES).map(({ from, name, text, at, mine, msgId }) => ({ from, name, text, at, mine, ...(msgId ? { msgId } : {}) })).toArray(),
  }));
  return { v: 1, name: s.name, session, rooms: [...s.rooms], current: s.current, dms, outbox: outbox.slice(-SAVED_OUTBOX) };
}

const str = (v: unknown): v is string => typeof v === 'string';
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);

/** The stored text back, checked field by field (it is ours, but storage outlives versions of the page); undefined if unusable. */
export function parseSaved(text: string | null): Saved | undefined {
  if (!text) return undefined;
  let o: Obj | undefined;
  try {
    o = obj(JSON.parse(text));
  } catch {
    return undefined;
  }
  const session = obj(o?.session);
  if (!o || o.v !== 1 || !str(o.name) || !session) return undefined;
  const positions: Position[] = arr(session.positions).map(obj)
    .filter((p): p is Obj => !!p && str(p.room) && num(p.seq) && str(p.epoch))
    .map((p) => ({ room: p.room as string, seq: p.seq as number, epoch: p.epoch as string }));
  const line = (l: Obj): SavedLine => ({ from: String(l.from), name: String(l.name), text: String(l.text), at: Number(l.at), mine: l.mine === true, ...(str(l.msgId) ? { msgId: l.msgId } : {}) });
  return {
    v: 1, name: o.name,
    session: { ...(str(session.token) ? { token: session.token } : {}), ...(str(session.id) ? { id: session.id } : {}), positions },
    rooms: arr(o.rooms).filter((r): r is string => str(r) && !roomProblem(r)),
    current: str(o.current) ? o.current : '',
    dms: arr(o.dms).map(obj).filter((d): d is Obj => !!d && str(d.peer) && str(d.title)).map((d) => ({
      peer: d.peer as string, title: d.title as string, gone: d.gone === true,
      lines: arr(d.lines).map(obj).filter((l): l is Obj => !!l && str(l.text) && num(l.at)).map(line),
    })),
    outbox: arr(o.outbox).map(obj)
      .filter((m): m is Obj => !!m && str(m.key) && str(m.text) && num(m.at) && (str(m.room) || str(m.to)))
      .map((m) => ({ key: m.key as string, text: m.text as string, at: m.at as number, ...(str(m.room) ? { room: m.room } : { to: m.to as string }) })),
  };
}

/** Whether a saved session is this person's: a link with another ?name= starts afresh. */
export const usable = (saved: Saved | undefined, name: string): saved is Saved =>
  saved !== undefined && saved.name === name && !nameProblem(name);

/**
 * The page as it was: its rooms (empty until their History is read), its direct
 * conversations, and our undelivered messages, pending, with the effects that hand
 * them to the library again under their own Keys. `room` (the address bar's) is on
 * screen unless a direct conversation was.
 */
export function restored(name: string, room: string, saved: Saved): Step {
  const rooms = saved.rooms.includes(room) ? [...saved.rooms] : [...saved.rooms, room];
  let s: ChatState = { ...initialState(name, room), rooms };
  for (const r of rooms) s = withConv(s, emptyRoom(r));
  for (const d of saved.dms) {
    let c: Conversation = { ...emptyDm(d.peer, d.title), gone: d.gone };
    for (const [i, l] of d.lines.entries()) {
      const line: ChatLine = {
        kind: 'chat', key: l.msgId ? `m-${l.msgId}` : `saved-${i}`, from: l.from, name: l.name, text: l.text, at: l.at, mine: l.mine,
        ...(l.msgId ? { msgId: l.msgId } : {}), ...(l.mine ? { status: 'delivered' as const } : {}),
      };
      c = append(c, line);
    }
    s = withConv(s, c);
  }
  const effects: Effect[] = [];
  for (const m of saved.outbox) {
    const id = m.room !== undefined ? roomId(m.room) : dmId(m.to as string);
    const c = s.convs.get(id) ?? (m.to !== undefined ? emptyDm(m.to, m.to) : undefined);
    if (!c) continue;
    s = withConv(s, append(c, ownLine(s, m.key, m.text, m.at, 'pending')));
    effects.push(m.room !== undefined
      ? { kind: 'send', key: m.key, room: m.room, content: m.text }
      : { kind: 'send', key: m.key, to: m.to as string, content: m.text });
  }
  const current = s.convs.has(saved.current) && saved.current.startsWith('@') ? saved.current : roomId(room);
  return { state: { ...s, current }, effects };
}
