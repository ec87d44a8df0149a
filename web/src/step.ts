// The client's pure core: step(state, event) -> { state, effects }. Frames from the
// server (frames.ts) and the user's actions (here) are events; the frames to send are
// effects (data). An event that changes nothing returns the same state object.
import { Limits, Type, nameProblem, roomProblem } from './protocol';
import { ChatLine, ChatState, ClientEvent, Effect, Step, dmId, emptyDm, roomId } from './state';
import { alert, append, ask, same, send, tell, updateLine, withConv } from './edit';
import { tooLong } from './text';
import { onFrame } from './frames';

/** Our own line in a conversation, pending until the server's Ack. */
function say(s0: ChatState, convId: string, text: string, at: number): Step {
  const c = s0.convs.get(convId);
  if (!c || s0.link.state !== 'open' || text.trim() === '') return same(s0);
  if (tooLong(text)) return same(alert(s0, `A message is at most ${Limits.maxContent} characters`, at));
  const key = `local-${s0.serial}`;
  const [s1, ref] = ask(s0, { kind: 'line', conv: convId, key });
  const line: ChatLine = { kind: 'chat', key, from: s0.me, name: s0.name, text, at, mine: true, status: 'pending' };
  const frame: Effect['frame'] = c.kind === 'room'
    ? { Type: Type.Broadcast, Room: c.title, Content: text, Ref: ref }
    : { Type: Type.Direct, To: c.peer as string, Content: text, Ref: ref };
  return { state: withConv(s1, append(c, line)), effects: [send(frame)] };
}

/** The link went down (link: what now): nothing in flight will be answered, every room must be joined again. */
function lost(s: ChatState, link: ChatState['link'], at: number): ChatState {
  if (s.link.state === 'stopped') return s;
  let next: ChatState = { ...s, me: '', link, requests: s.requests.clear() };
  for (const c of next.convs.values()) {
    let d = c.kind === 'room' ? { ...c, joined: false } : c;
    for (const l of c.lines) {
      if (l.kind === 'chat' && l.status === 'pending') d = updateLine(d, l.key, (x) => ({ ...x, status: 'failed', error: 'Not sent: connection lost' }) as ChatLine);
    }
    if (d !== c) next = withConv(next, d);
  }
  return s.link.state === 'open' ? tell(next, next.current, 'Connection lost', at, 'warn') : next;
}

export function step(s: ChatState, e: ClientEvent): Step {
  switch (e.kind) {
    case 'frame':
      return onFrame(s, e.frame, e.at);
    case 'connecting':
      return s.link.state === 'stopped' ? same(s) : same({ ...s, link: { state: 'connecting', attempt: e.attempt } });
    case 'dropped':
      return same(lost(s, { state: 'reconnecting', attempt: e.attempt, retryAt: e.retryAt }, e.at));
    case 'held':
      return same(lost(s, { state: 'held', reason: `The server closed the connection (${e.code}${e.reason ? ` ${e.reason}` : ''})` }, e.at));
    case 'said':
      return say(s, s.current, e.text, e.at);
    case 'retried': {
      const c = s.convs.get(e.conv);
      const line = c?.lines.find((l) => l.key === e.key);
      if (!c || line?.kind !== 'chat' || line.status !== 'failed' || s.link.state !== 'open') return same(s);
      return say(withConv(s, { ...c, lines: c.lines.filter((l) => l !== line) }), e.conv, line.text, e.at);
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
      const [next, ref] = ask(s, { kind: 'join', room: e.room, focus: true });
      return { state: next, effects: [send({ Type: Type.Join, Room: e.room, Ref: ref })] };
    }
    case 'leaveAsked': {
      if (!s.convs.get(roomId(e.room))?.joined) return same(s);
      const [next, ref] = ask(s, { kind: 'leave', room: e.room });
      return { state: next, effects: [send({ Type: Type.Leave, Room: e.room, Ref: ref })] };
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
      if (s.link.state !== 'open') return same({ ...s, name: e.name });
      const [next, ref] = ask(s, { kind: 'rename', name: e.name });
      return { state: next, effects: [send({ Type: Type.Rename, Name: e.name, Ref: ref })] };
    }
    case 'roomsDue':
      return s.link.state === 'open' ? { state: s, effects: [send({ Type: Type.Rooms })] } : same(s);
    case 'alertDismissed':
      return s.alert ? same({ ...s, alert: undefined }) : same(s);
    default: {
      const never: never = e;
      return same(never);
    }
  }
}
