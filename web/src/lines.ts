// Chat lines, from wherever they come: live or caught up by the client library (each
// room's lines in Seq order, each once), read from History by the page (a room opens
// with its latest page; scrolling up reads older ones), and our own, whose states the
// library reports (pending, sent, delivered, failed). Whatever the route, a line is
// shown once: by its MsgID (protocol.md "Resuming": a replayed own line is matched to
// the message by the MsgID its Ack names).
import { List } from 'immutable';
import type { Frame, MessageUpdate } from '../../src/client';
import { append, indexOf, notice, removeLine, updateLine, withConv } from './edit';
import { ChatLine, ChatState, Conversation, Line, MAX_LINES, dmId, emptyDm, roomId } from './state';

const whenOf = (f: Frame, at: number) => (f.SentAt > 0 ? f.SentAt * 1000 : at);

/** A Type 1 frame as a line of the conversation; undefined when it is not one (no MsgID). */
function chatLine(f: Frame, me: string, at: number): ChatLine | undefined {
  if (typeof f.MsgID !== 'string' || f.Type !== 1) return undefined;
  const seq = typeof f.Seq === 'number' ? f.Seq : undefined;
  return {
    kind: 'chat', key: `m-${f.MsgID}`, from: f.ID, name: f.Name ?? f.ID, text: f.Content, at: whenOf(f, at),
    mine: me !== '' && f.ID === me, msgId: f.MsgID, ...(seq !== undefined ? { seq } : {}),
  };
}

/** A room's line from the library (live, replayed on a resume, or caught up): once, and unread when not on screen. */
export function lineArrived(s: ChatState, room: string, f: Frame, at: number): ChatState {
  const c = s.convs.get(roomId(room));
  const line = chatLine(f, s.me, at);
  if (!c || !line || c.ids.has(line.msgId as string)) return s;
  const next = append(c, line);
  return withConv(s, line.mine || s.current === c.id ? next : { ...next, unread: c.unread + 1 });
}

/** A Direct message to us (the library drops a repeat of one a resume replays). */
export function directArrived(s: ChatState, f: Frame, at: number): ChatState {
  if (typeof f.MsgID !== 'string' || !f.ID) return s;
  const name = f.Name ?? f.ID;
  const before = s.convs.get(dmId(f.ID)) ?? emptyDm(f.ID, name);
  if (before.ids.has(f.MsgID)) return s;
  const line: ChatLine = { kind: 'chat', key: `m-${f.MsgID}`, from: f.ID, name, text: f.Content, at: whenOf(f, at), mine: false, msgId: f.MsgID };
  const c = { ...append(before, line), title: name, gone: false, unread: s.current === before.id ? 0 : before.unread + 1 };
  return withConv(s, c);
}

/** Our own line, as typed: its Key names it until the server has it. */
export function ownLine(s: ChatState, key: string, text: string, at: number, status: 'pending' | 'sent'): ChatLine {
  return { kind: 'chat', key: `k-${key}`, outKey: key, from: s.me, name: s.name, text, at, mine: true, status };
}

/** What the page says under a line the library could not send (yet). */
function why(m: MessageUpdate, c: Conversation): string | undefined {
  if (m.status === 'failed') {
    if (m.code === 'no_such_client' && c.kind === 'dm') return `${c.title} is no longer connected`;
    return m.reason || m.code || 'Not sent';
  }
  if (m.status === 'pending' && m.code !== undefined) return 'The server is busy; trying again';
  return undefined;
}

/**
 * The library's word on one of our messages. Delivered: the Ack names the MsgID and
 * Seq; should the line already be here by another route (replayed on a resume, or in a
 * History page), that copy goes and ours stays where it was typed, now delivered.
 */
export function messageUpdated(s: ChatState, m: MessageUpdate): ChatState {
  const convId = m.room !== undefined ? roomId(m.room) : m.to !== undefined ? dmId(m.to) : undefined;
  const c0 = convId === undefined ? undefined : s.convs.get(convId);
  const key = `k-${m.key}`;
  if (!c0 || indexOf(c0, key) < 0) return s;
  let c = c0;
  const error = why(m, c);
  if (m.status === 'delivered' && m.msgId !== undefined) {
    if (c.ids.has(m.msgId)) c = removeLine(c, `m-${m.msgId}`);
    c = { ...c, ids: c.ids.add(m.msgId) };
  }
  c = updateLine(c, key, (l) => ({
    ...l, status: m.status,
    ...(m.msgId !== undefined ? { msgId: m.msgId } : {}),
    ...(m.seq !== undefined && m.room !== undefined ? { seq: m.seq } : {}),
    error,
  }));
  if (m.status === 'failed' && m.code === 'no_such_client' && c.kind === 'dm') c = { ...c, gone: true };
  return c === c0 ? s : withConv(s, c);
}

/** Where the lines since the last reset begin: Seqs compare only within them. */
function segmentStart(lines: readonly Line[]): number {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i];
    if (l.kind === 'notice' && l.boundary) return i + 1;
  }
  return 0;
}

/**
 * A page of a room's History (oldest first) put among the lines held, by Seq: lines
 * older than every one held go first (after a reset, first after it), newer ones in
 * their place among them. Lines already held (by MsgID) are skipped. An older page
 * adds no more than MAX_LINES lets in, its newest lines first. O(lines held), once a page.
 */
export function pageArrived(
  s: ChatState, c: Conversation, messages: readonly Frame[], at: number,
): { conv: Conversation; added: number; cut: boolean } {
  const fresh: ChatLine[] = [];
  for (const m of messages) {
    const l = chatLine(m, s.me, at);
    if (l && l.seq !== undefined && !c.ids.has(l.msgId as string)) fresh.push(l);
  }
  fresh.sort((x, y) => (x.seq as number) - (y.seq as number));
  if (fresh.length === 0) return { conv: c, added: 0, cut: false };
  const lines = c.lines.toArray();
  const b = segmentStart(lines);
  const firstHeld = lines.slice(b).find((l): l is ChatLine => l.kind === 'chat' && l.seq !== undefined)?.seq ?? Infinity;
  let older = fresh.filter((l) => (l.seq as number) < firstHeld);
  const newer = fresh.filter((l) => (l.seq as number) >= firstHeld);
  const room = Math.max(0, MAX_LINES - lines.length - newer.length);
  const cut = older.length > room;
  if (cut) older = older.slice(older.length - room);
  const merged: Line[] = [...lines.slice(0, b), ...older];
  let n = 0;
  for (const l of lines.slice(b)) {
    if (l.kind === 'chat' && l.seq !== undefined) while (n < newer.length && (newer[n].seq as number) < l.seq) merged.push(newer[n++]);
    merged.push(l);
  }
  merged.push(...newer.slice(n));
  let ids = c.ids;
  for (const l of [...older, ...newer]) ids = ids.add(l.msgId as string);
  let next: Conversation = { ...c, lines: List(merged), ids };
  if (older.length > 0) next = { ...next, oldest: Math.min(next.oldest ?? Infinity, older[0].seq as number) };
  else if (next.oldest === undefined) next = { ...next, oldest: fresh[0].seq };
  // Over MAX_LINES (newer lines in a full conversation): the oldest go, as when a live line comes.
  while (next.lines.size > MAX_LINES) {
    const gone = next.lines.first() as Line;
    next = { ...next, lines: next.lines.shift(), ids: gone.kind === 'chat' && gone.msgId ? next.ids.remove(gone.msgId) : next.ids };
  }
  return { conv: next, added: older.length + newer.length, cut };
}

/** protocol.md "Resuming": lines the server no longer keeps (trimmed) will never come: say so, in a small line. */
export function gapNoticed(s: ChatState, room: string, after: number, before: number, at: number): ChatState {
  const c = s.convs.get(roomId(room));
  const n = before - after - 1;
  if (!c || n <= 0) return s;
  const said = `${n} earlier message${n === 1 ? ' is' : 's are'} no longer kept by the server`;
  return { ...withConv(s, append(c, notice(s, said, at, 'warn'))), serial: s.serial + 1 };
}

/**
 * The room's history was reset (protocol.md "History": a new Epoch): the lines held
 * stay, but Seqs from here on count anew, so the page reads the room's latest lines
 * again, put after this line. no_position is not a loss: a room we never had a
 * position in (a resume that did not name it).
 */
export function resetNoticed(s: ChatState, room: string, reason: string, epoch: string, at: number): ChatState {
  const c = s.convs.get(roomId(room));
  if (!c || reason === 'no_position') return s;
  const said = `The server's history of #${room} was reset (${reason.replace(/_/g, ' ')}); lines above may be missing from it`;
  const next = append(c, notice(s, said, at, 'warn', true));
  return {
    ...withConv(s, { ...next, epoch, oldest: undefined, more: false, opened: false, loaded: false, loading: false }),
    serial: s.serial + 1,
  };
}
