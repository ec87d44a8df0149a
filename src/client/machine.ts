// The client's pure core: step(state, input) -> { state, commands }. Socket events,
// timers and the app's calls are inputs (facts); what to send, which timer to set and
// what to tell the app are commands (data), carried out by the shell (client.ts) in
// order. Total: every input in every phase gives an answer; one that changes nothing
// returns the same state object. The concerns live apart: requests.ts (Refs and their
// answers), sending.ts (the outbox), rooms.ts + room.ts (each room's lines in order).
import { linkUp, nextRetry } from './backoff';
import { Out, emit, isLive, told } from './commands';
import { OutMsg, update } from './outbox';
import { answered, ask, failRequests, timedOut } from './requests';
import { RoomState, arrived, fetchFailed, joinReplied, linkLost, newRoom, pageArrived } from './room';
import { inRoom } from './rooms';
import { acked, queue, refusedMsg, retryDue, transmit } from './sending';
import { ClientState, Input, Step, positions } from './state';
import { Frame, T, connectUrl, epochOf, roomOf, seqOf } from './wire';

/** Direct MsgIDs remembered to drop a repeat (protocol.md: a resume replays at most 100). */
const DIRECTS_KEPT = 200;

export function step(s: ClientState, i: Input): Step {
  const out: Out = [];
  const next = dispatch(s, i, out);
  return { state: next, commands: out };
}

function dispatch(s: ClientState, i: Input, out: Out): ClientState {
  switch (i.kind) {
    case 'started':
      return s.phase === 'idle' ? connect(s, out) : s;
    case 'frameReceived':
      return i.conn === s.conn && isLive(s) ? frame(s, i.frame, i, out) : s;
    case 'socketClosed':
      return i.conn === s.conn && isLive(s) ? lost(s, i.code, i.reason || 'connection closed', i, out) : s;
    case 'timerFired':
      return timer(s, i.name, i, out);
    case 'sendAsked':
      return queue(s, { key: i.key, room: i.room, to: i.room === undefined ? i.to : undefined, content: i.content }, out);
    case 'requestAsked': {
      if (s.phase !== 'ready') {
        out.push({ kind: 'reject', id: i.id, code: 'not_connected', reason: 'not connected' });
        return s;
      }
      const [s1, ref] = ask(s, { kind: 'app', id: i.id }, out);
      out.push({ kind: 'send', frame: { ...i.frame, Ref: ref } });
      return s1;
    }
    case 'retryNowAsked':
      return s.phase === 'down' ? connect(s, out) : s;
    case 'reconnectAsked':
      return s.phase === 'down' || s.phase === 'held' ? connect(s, out) : s;
    case 'closeAsked':
      return close(s, out);
    default: {
      const never: never = i;
      return never;
    }
  }
}

// ---- the link -------------------------------------------------------------------

/** A new socket: a resume when we hold a token (protocol.md "Resuming after a reconnect"). */
function connect(s: ClientState, out: Out): ClientState {
  const conn = s.conn + 1;
  const first = s.rooms.keys().next();
  // name and room go along on a resume too: the server uses them only if the resume fails.
  const url = connectUrl(s.opts.url, {
    name: s.name, room: first.done ? undefined : first.value,
    ...(s.token !== undefined ? { resume: s.token, since: positions(s) } : {}),
  });
  out.push({ kind: 'clearTimer', name: 'retry' });
  emit(out, { type: 'link', link: { state: 'connecting', attempt: s.retries.attempt } });
  out.push({ kind: 'connect', conn, url });
  out.push({ kind: 'setTimer', name: 'connect', ms: s.opts.connectTimeoutMs });
  return { ...s, phase: 'connecting', conn, awaitingBeat: false };
}

/** The link is gone (closed, or given up on): everything in flight is void; retry or hold. */
function lost(s: ClientState, code: number, reason: string, i: Input, out: Out): ClientState {
  for (const name of ['connect', 'ping', 'dead']) out.push({ kind: 'clearTimer', name });
  failRequests(s, 'disconnected', `connection lost: ${reason}`, out);
  const rooms = new Map<string, RoomState>();
  for (const [name, r] of s.rooms) {
    // The read dies with the link; the resume (or History again) takes it from the same Seq.
    if (r.fetching !== undefined) emit(out, { type: 'catchup', room: name, state: 'done', complete: false });
    rooms.set(name, linkLost(r));
  }
  // What was on the wire may or may not have reached the log: it goes again, same Key.
  const outbox = s.outbox.map((m) => {
    if (m.state !== 'sent') return m;
    const q: OutMsg = { ...m, state: 'queued' };
    told(out, update(q, 'pending'));
    return q;
  });
  const base = { ...s, rooms, outbox, requests: new Map(), awaitingBeat: false };
  const next = nextRetry(s.retries, code, i.at, s.opts.backoff, () => i.rand ?? 0.5);
  if (next.delayMs === undefined) {
    emit(out, { type: 'link', link: { state: 'held', code, reason } });
    return { ...base, phase: 'held', retries: next.r };
  }
  out.push({ kind: 'setTimer', name: 'retry', ms: next.delayMs });
  emit(out, { type: 'link', link: { state: 'down', attempt: next.r.attempt, retryAt: i.at + next.delayMs, code, reason } });
  return { ...base, phase: 'down', retries: next.r };
}

function close(s: ClientState, out: Out): ClientState {
  if (s.phase === 'closed') return s;
  if (isLive(s)) out.push({ kind: 'disconnect', code: 1000, reason: 'bye' });
  for (const name of ['retry', 'connect', 'ping', 'dead']) out.push({ kind: 'clearTimer', name });
  failRequests(s, 'closed', 'the client is closed', out);
  // Nothing will send them now: say so, rather than let them look pending for ever.
  for (const m of s.outbox) {
    if (m.state === 'waiting') out.push({ kind: 'clearTimer', name: `send:${m.key}` });
    told(out, update(m, 'failed', { code: 'closed', reason: 'the client was closed before the server had it' }));
  }
  emit(out, { type: 'link', link: { state: 'closed' } });
  return { ...s, phase: 'closed', outbox: [], requests: new Map(), awaitingBeat: false };
}

function timer(s: ClientState, name: string, i: Input, out: Out): ClientState {
  if (name === 'retry') return s.phase === 'down' ? connect(s, out) : s;
  if (name === 'connect' || name === 'dead') {
    if (!isLive(s) || (name === 'connect' && s.phase !== 'connecting') || (name === 'dead' && !s.awaitingBeat)) return s;
    // A half-open TCP link can take minutes to close by itself: give up on it now.
    const reason = name === 'connect' ? 'no welcome in time' : 'no answer to a heartbeat';
    out.push({ kind: 'disconnect', code: 4000, reason });
    return lost(s, 1006, reason, i, out);
  }
  if (name === 'ping') {
    if (s.phase !== 'ready') return s;
    out.push({ kind: 'send', frame: { Type: T.HeartBeat } });
    out.push({ kind: 'setTimer', name: 'ping', ms: s.opts.pingMs });
    if (s.awaitingBeat) return s;
    out.push({ kind: 'setTimer', name: 'dead', ms: s.opts.deadMs });
    return { ...s, awaitingBeat: true };
  }
  if (name.startsWith('req:')) {
    const ref = Number(name.slice(4));
    const [s1, p] = timedOut(s, ref, out);
    return p?.kind === 'catchup' ? inRoom(s1, p.room, (r) => fetchFailed(r, ref), out) : s1;
  }
  if (name.startsWith('send:')) return retryDue(s, name.slice(5), out);
  return s;
}

// ---- frames ---------------------------------------------------------------------

function frame(s0: ClientState, f: Frame, i: Input, out: Out): ClientState {
  let s = s0;
  if (s.awaitingBeat) {
    // Any frame shows the link is alive, not only the HeartBeat's answer.
    out.push({ kind: 'clearTimer', name: 'dead' });
    s = { ...s, awaitingBeat: false };
  }
  switch (f.Type) {
    case T.System:
      if (s.phase === 'connecting' && f.ID !== '') return welcome(s, f, i, out);
      emit(out, { type: 'frame', frame: f });
      return s;
    case T.Broadcast:
      return line(s, f, out);
    case T.Direct: {
      const id = typeof f.MsgID === 'string' ? f.MsgID : undefined;
      if (id !== undefined && s.directs.includes(id)) return s;
      emit(out, { type: 'direct', frame: f });
      return id === undefined ? s : { ...s, directs: [...s.directs.slice(-(DIRECTS_KEPT - 1)), id] };
    }
    case T.Ack:
      return ack(s, f, out);
    case T.Error:
      return refused(s, f, i, out);
    case T.History:
      return history(s, f, out);
    case T.HeartBeat:
      return answered(s, f, out)[0]; // the answer to ours; its arrival already counted
    case T.Join: {
      const room = roomOf(f);
      const s1 = answered(s, f, out)[0];
      // The app hears it is in the room (members, count) before what that means for its lines.
      emit(out, { type: 'frame', frame: f });
      return room === undefined ? s1 : inRoom(s1, room, (r, ctx) => joinReplied(r, f, ctx), out);
    }
    case T.Resync: {
      // protocol.md "Resync": lines between our Seq and its Seq may never come live (several servers,
      // a gap the log could not fill, or a reset history). Read them as after a Join that did not recover.
      const room = roomOf(f);
      if (room === undefined || !s.rooms.has(room)) return s;
      return inRoom(s, room, (r, ctx) => joinReplied(r, { ...f, Recovered: false, Reason: 'resync' }, ctx), out);
    }
    case T.Leave: {
      const room = roomOf(f);
      let s1 = answered(s, f, out)[0];
      if (room !== undefined && s1.rooms.has(room)) {
        const rooms = new Map(s1.rooms);
        rooms.delete(room);
        s1 = { ...s1, rooms };
      }
      emit(out, { type: 'frame', frame: f });
      return s1;
    }
    case T.Rename: {
      let s1 = answered(s, f, out)[0];
      // To us alone, without Room: our own new name (protocol.md "Names and presence").
      if (f.ID === s1.id && roomOf(f) === undefined && typeof f.Name === 'string') s1 = { ...s1, name: f.Name };
      emit(out, { type: 'frame', frame: f });
      return s1;
    }
    default: {
      const s1 = answered(s, f, out)[0];
      emit(out, { type: 'frame', frame: f });
      return s1;
    }
  }
}

/**
 * The welcome (protocol.md "Connecting", "Resuming"). Resumed: the same identity, in the
 * same rooms, each answered by a Join reply. Otherwise (a first connection, or a resume
 * that failed) we are in ?room= alone: join the other rooms we mean to be in.
 */
function welcome(s: ClientState, f: Frame, i: Input, out: Out): ClientState {
  const resumed = f.Resumed === true;
  const listed = Array.isArray(f.Rooms) ? f.Rooms.filter((r): r is string => typeof r === 'string') : [];
  const wanted = [...s.rooms.keys()];
  const rooms = new Map(s.rooms);
  for (const r of listed) if (!rooms.has(r)) rooms.set(r, newRoom(r));
  out.push({ kind: 'clearTimer', name: 'connect' });
  out.push({ kind: 'setTimer', name: 'ping', ms: s.opts.pingMs });
  let next: ClientState = {
    ...s, phase: 'ready', id: f.ID, name: typeof f.Name === 'string' ? f.Name : s.name,
    token: typeof f.Token === 'string' ? f.Token : undefined, everReady: true,
    // Only a link that stays up resets the backoff (backoff.ts): a welcome alone proves nothing.
    retries: linkUp(s.retries, i.at), rooms,
  };
  for (const room of wanted) {
    if (listed.includes(room)) continue;
    const [s1, ref] = ask(next, { kind: 'rejoin', room }, out);
    out.push({ kind: 'send', frame: { Type: T.Join, Room: room, Ref: ref } });
    next = s1;
  }
  // In no room before: the server put us in one (?room= is required); leave it again.
  if (!resumed && wanted.length === 0) for (const room of listed) out.push({ kind: 'send', frame: { Type: T.Leave, Room: room } });
  emit(out, { type: 'link', link: { state: 'ready' } });
  const newIdentity = !resumed && s.id !== '' && s.id !== f.ID;
  emit(out, {
    type: 'ready', id: next.id, name: next.name ?? '', rooms: [...next.rooms.keys()], resumed, reconnected: s.everReady,
    ...(newIdentity ? { previousId: s.id } : {}),
  });
  // The outbox goes after the Joins, on the same socket: the server takes them in that order.
  return { ...next, outbox: next.outbox.map((m) => (m.state === 'queued' ? transmit(m, out) : m)) };
}

/** A chat line: through its room's order, or as it is from a server without positions. */
function line(s: ClientState, f: Frame, out: Out): ClientState {
  const room = roomOf(f);
  const seq = seqOf(f);
  if (room === undefined || seq === undefined || !s.rooms.has(room)) {
    emit(out, { type: 'line', room: room ?? '', frame: f, via: 'live' });
    return s;
  }
  return inRoom(s, room, (r, ctx) => arrived(r, { seq, frame: f }, epochOf(f), ctx), out);
}

/** protocol.md "Sending twice": an Ack names its Key; a repeat is acked again, Duplicate. Delivered once. */
function ack(s0: ClientState, f: Frame, out: Out): ClientState {
  const key = typeof f.Key === 'string' ? f.Key : typeof f.Ref === 'string' ? f.Ref : undefined;
  const m = key === undefined ? undefined : s0.outbox.find((x) => x.key === key);
  const s = m ? acked(s0, m, f, out) : answered(s0, f, out)[0];
  // Our own line counts in the room's position (protocol.md: since counts own acked lines).
  const room = roomOf(f);
  const seq = seqOf(f);
  if (room === undefined || seq === undefined || !s.rooms.has(room)) return s;
  return inRoom(s, room, (r, ctx) => arrived(r, { seq }, epochOf(f), ctx), out);
}

/** An Error: about one of our messages (its Ref is its Key), a request of ours, or nothing we sent. */
function refused(s: ClientState, f: Frame, i: Input, out: Out): ClientState {
  // protocol.md: resume_failed, then an ordinary new connection; its welcome says so (not Resumed).
  if (f.Code === 'resume_failed' && f.Ref === undefined) return s;
  if (typeof f.Ref === 'string') {
    const m = s.outbox.find((x) => x.key === f.Ref);
    if (m) return refusedMsg(s, m, f, i.at, i.rand ?? 0.5, out);
  }
  const [s1, p] = answered(s, f, out);
  if (p?.kind === 'catchup') return inRoom(s1, p.room, (r) => fetchFailed(r, f.Ref as number), out);
  if (p?.kind === 'rejoin') {
    // Not back in it (too_many_rooms, …): forget it, and let the app show the Error.
    const r = s1.rooms.get(p.room);
    if (r && !r.joined) {
      const rooms = new Map(s1.rooms);
      rooms.delete(p.room);
      emit(out, { type: 'frame', frame: f });
      return { ...s1, rooms };
    }
  }
  emit(out, { type: 'frame', frame: f });
  return s1;
}

function history(s: ClientState, f: Frame, out: Out): ClientState {
  const [s1, p] = answered(s, f, out);
  if (p?.kind !== 'catchup') return s1;
  return inRoom(s1, p.room, (r, ctx) => pageArrived(r, f.Ref as number, f, ctx), out);
}
