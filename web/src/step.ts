// The page's pure core: step(state, event) -> { state, effects }. The client library's
// events (frames.ts, lines.ts) and the user's actions (here) are events; what to ask of
// the library is effects (data), carried out by main.ts. An event that changes nothing
// returns the same state object.
import type { ClientEvent as LibEvent, LinkState } from '../../src/client';
import { Limits, nameProblem, roomProblem } from './protocol';
import { ChatState, Conversation, Effect, PAGE, MAX_LINES, PageEvent, Step, dmId, emptyDm, roomId } from './state';
import { alert, append, indexOf, removeLine, same, tell, withConv } from './edit';
import { directArrived, gapNoticed, lineArrived, messageUpdated, ownLine, pageArrived, resetNoticed } from './lines';
import { onFrame } from './frames';
import { tooLong } from './text';

export function step(s: ChatState, e: PageEvent): Step {
  const r = react(s, e);
  return openShown(r.state, r.effects);
}

/**
 * A room opens with its latest lines: read once it is on screen and we are in it
 * (again after a reset), so 32 rooms coming back do not make 32 reads at once.
 */
function openShown(s: ChatState, effects: readonly Effect[]): Step {
  const c = s.convs.get(s.current);
  if (!c || c.kind !== 'room' || c.opened || !c.joined || s.link.state !== 'open') return { state: s, effects };
  const next = withConv(s, { ...c, opened: true, loading: true });
  return { state: next, effects: [...effects, { kind: 'history', room: c.title, limit: PAGE }] };
}

function react(s: ChatState, e: PageEvent): Step {
  switch (e.kind) {
    case 'lib':
      return fromLibrary(s, e.event, e.at, e.rooms);
    case 'said':
      return say(s, s.current, e.text, e.key, e.at);
    case 'retried': {
      // Again, with the same Key: should the server have had it after all, it is kept once.
      const c = s.convs.get(e.conv);
      const i = c ? indexOf(c, e.key) : -1;
      const line = c && i >= 0 ? c.lines.get(i) : undefined;
      if (!c || line?.kind !== 'chat' || line.status !== 'failed' || line.outKey === undefined) return same(s);
      return say(withConv(s, removeLine(c, e.key)), e.conv, line.text, line.outKey, e.at);
    }
    case 'switched': {
      const c = s.convs.get(e.conv);
      if (!c) return same(s);
      return same(withConv({ ...s, current: c.id }, c.unread === 0 ? c : { ...c, unread: 0 }));
    }
    case 'joinAsked': {
      const problem = roomProblem(e.room);
      if (problem) return same(alert(s, `Can't join "${e.room}": ${problem}`, e.at));
      const c = s.convs.get(roomId(e.room));
      if (c?.joined) return step(s, { kind: 'switched', conv: c.id });
      if (s.link.state !== 'open') return same(alert(s, 'Not connected; try again in a moment', e.at));
      if (s.rooms.length >= Limits.maxRoomsPerConnection) return same(alert(s, `You can be in at most ${Limits.maxRoomsPerConnection} rooms`, e.at));
      return { state: { ...s, joining: s.joining.add(e.room) }, effects: [{ kind: 'join', room: e.room }] };
    }
    case 'leaveAsked': {
      if (!s.convs.get(roomId(e.room))?.joined) return same(s);
      return { state: s, effects: [{ kind: 'leave', room: e.room }] };
    }
    case 'dmOpened': {
      if (e.peer === s.me || e.peer === '') return same(s);
      const c = s.convs.get(dmId(e.peer)) ?? emptyDm(e.peer, e.name);
      return same(withConv({ ...s, current: c.id }, { ...c, unread: 0 }));
    }
    case 'renameAsked': {
      const problem = nameProblem(e.name);
      if (problem) return same(alert(s, problem, e.at));
      if (e.name === s.name) return same(s);
      // A resume keeps the name the server has: a new one needs the server now.
      if (s.link.state !== 'open') return same(alert(s, 'Not connected; try again in a moment', e.at));
      return { state: s, effects: [{ kind: 'rename', name: e.name }] };
    }
    case 'roomsDue':
      return s.link.state === 'open' ? { state: s, effects: [{ kind: 'listRooms' }] } : same(s);
    case 'olderWanted': {
      const c = s.convs.get(e.conv);
      if (!c || c.kind !== 'room' || !c.loaded || c.loading || !c.more || c.oldest === undefined || !c.joined
        || s.link.state !== 'open' || c.lines.size >= MAX_LINES) return same(s);
      return {
        state: withConv(s, { ...c, loading: true }),
        effects: [{ kind: 'history', room: c.title, before: c.oldest, limit: PAGE }],
      };
    }
    case 'historyLoaded':
      return same(historyLoaded(s, e));
    case 'historyFailed': {
      const c = s.convs.get(roomId(e.room));
      if (!c?.loading) return same(s);
      // Lost with the link: read again once back in the room. Anything else is said, once.
      const lost = e.code === 'disconnected' || e.code === 'not_connected' || e.code === 'closed';
      const opened = e.before === undefined ? !lost : c.opened;
      const next = withConv(s, { ...c, loading: false, opened });
      return same(lost ? next : alert(next, `Could not read the history of #${e.room}: ${e.reason}`, e.at));
    }
    case 'refused': {
      if (e.request === 'join') return same(alert({ ...s, joining: s.joining.remove(e.subject) }, `Could not join #${e.subject}: ${e.reason}`, e.at));
      if (e.request === 'leave') return same(alert(s, `Could not leave #${e.subject}: ${e.reason}`, e.at));
      return same(alert(s, `Could not rename to "${e.subject}": ${e.reason}`, e.at));
    }
    case 'alertDismissed':
      return s.alert ? same({ ...s, alert: undefined }) : same(s);
    default: {
      const never: never = e;
      return same(never);
    }
  }
}

/**
 * Our own line: shown at once, online or not, and handed to the library with its Key;
 * it goes when it can, and its states come back as `message` events (lines.ts).
 */
function say(s0: ChatState, convId: string, text: string, key: string, at: number): Step {
  const c = s0.convs.get(convId);
  if (!c || s0.link.state === 'stopped' || text.trim() === '') return same(s0);
  if (tooLong(text)) return same(alert(s0, `A message is at most ${Limits.maxContent} characters`, at));
  const line = ownLine(s0, key, text, at, s0.link.state === 'open' ? 'sent' : 'pending');
  const send: Effect = c.kind === 'room'
    ? { kind: 'send', key, room: c.title, content: text }
    : { kind: 'send', key, to: c.peer as string, content: text };
  return { state: withConv(s0, append(c, line)), effects: [send] };
}

function historyLoaded(s: ChatState, e: Extract<PageEvent, { kind: 'historyLoaded' }>): ChatState {
  const c = s.convs.get(roomId(e.room));
  // Not asked (any more): the room was left, or reset since, and this page counts in the old Epoch.
  if (!c?.loading || (e.epoch !== undefined && c.epoch !== undefined && e.epoch !== c.epoch)) return s;
  if (e.before !== undefined && e.before !== c.oldest) return withConv(s, { ...c, loading: false });
  const { conv, cut } = pageArrived(s, c, e.messages, e.at);
  // An older page says whether there is more beyond it; the latest page too (More: older ones).
  const next: Conversation = { ...conv, loading: false, loaded: true, more: e.more || cut };
  return withConv(s, next);
}

function fromLibrary(s: ChatState, e: LibEvent, at: number, rooms?: readonly string[]): Step {
  switch (e.type) {
    case 'link':
      return same(linked(s, e.link, at));
    case 'ready': {
      // Resumed: the same ID, name and rooms (protocol.md "Resuming"); the library rejoins the rest.
      const rs = [...s.rooms, ...e.rooms.filter((r) => !s.rooms.includes(r))];
      let next: ChatState = { ...s, me: e.id, name: e.name || s.name, link: { state: 'open' }, welcomed: true, rooms: rs };
      if (s.welcomed) next = tell(next, next.current, e.resumed ? 'Reconnected' : 'Reconnected with a new ID (the session had ended)', at);
      else if (e.previousId !== undefined) next = tell(next, next.current, 'Your last session had ended: this is a new one', at, 'warn');
      return { state: next, effects: [{ kind: 'listRooms' }] };
    }
    case 'line':
      return same(e.room === '' ? s : lineArrived(s, e.room, e.frame, at));
    case 'direct':
      return same(directArrived(s, e.frame, at));
    case 'message':
      return same(messageUpdated(s, e.message));
    case 'frame':
      return same(onFrame(s, e.frame, at, rooms));
    case 'gap':
      return same(gapNoticed(s, e.room, e.after, e.before, at));
    case 'reset':
      return same(resetNoticed(s, e.room, e.reason, e.epoch, at));
    case 'catchup':
    case 'seq':
      return same(s);
    default: {
      const never: never = e;
      return same(never);
    }
  }
}

/** The link's state, as the library tells it. Down or held: we are in no room until the library is back in it. */
function linked(s: ChatState, l: LinkState, at: number): ChatState {
  if (s.link.state === 'stopped') return s;
  switch (l.state) {
    case 'connecting':
      return { ...s, link: { state: 'connecting', attempt: l.attempt } };
    case 'down':
      return lost(s, { state: 'reconnecting', attempt: l.attempt, retryAt: l.retryAt }, at);
    case 'held':
      return lost(s, { state: 'held', reason: `The server closed the connection (${l.code}${l.reason ? ` ${l.reason}` : ''})` }, at);
    case 'ready': // the `ready` event that follows says who we are
    case 'closed': // only main.ts closes it, and it is done with this state then
      return s;
    default: {
      const never: never = l;
      return never;
    }
  }
}

function lost(s: ChatState, link: ChatState['link'], at: number): ChatState {
  let next: ChatState = { ...s, link };
  for (const c of s.convs.values()) if (c.kind === 'room' && c.joined) next = withConv(next, { ...c, joined: false });
  return s.link.state === 'open' ? tell(next, next.current, 'Connection lost', at, 'warn') : next;
}

