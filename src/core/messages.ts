// Builders for the frames the server sends (protocol.md). Pure: time arrives as
// an argument. Every frame carries the seed's four fields, so a client written
// for the original Go chat room can read all of them.
import { Member, Message, ProtocolError, Ref, Type } from './protocol';
import type { StoredMessage } from './history';

/** Unix seconds, the seed's SentAt. */
export const seconds = (ms: number): number => Math.floor(ms / 1000);

const frame = (type: number, id: string, content: string, at: number, ext?: object): Message =>
  ({ ID: id, Content: content, SentAt: seconds(at), Type: type, ...ext });

const withRef = (ref: Ref | undefined) => (ref === undefined ? {} : { Ref: ref });

/** The first frame of a connection: its ID, name, rooms and resume token; `Resumed` when it got an identity back. */
export const welcome = (id: string, name: string, rooms: readonly string[], at: number, token: string, resumed = false): Message =>
  frame(Type.System, id, 'welcome', at, resumed ? { Name: name, Rooms: rooms, Token: token, Resumed: true } : { Name: name, Rooms: rooms, Token: token });

export const notice = (content: string, at: number): Message => frame(Type.System, '', content, at);
/** With auth on: the token a Refresh carried was taken; `Expires`: its exp (seconds). */
export const refreshedFrame = (id: string, at: number, expires: number | undefined, ref?: Ref): Message =>
  frame(Type.Refresh, id, 'refreshed', at, { ...(expires === undefined ? {} : { Expires: Math.floor(expires / 1000) }), ...withRef(ref) });

// The two frames of every chat line are written out field by field rather than
// through frame(): they are the hot path (docs/benchmarks.md, the step), and
// the key order, hence the JSON, is the same.
export const chat = (
  from: { id: string; name: string }, room: string, seq: number, epoch: string, msgId: string, content: string, at: number,
): Message => line(from.id, from.name, room, seq, epoch, msgId, content, at);

/** `chat` with the sender given field by field: the hub's per-line step makes no record for it. */
export const line = (
  id: string, name: string, room: string, seq: number, epoch: string, msgId: string, content: string, at: number,
): Message => ({
  ID: id, Content: content, SentAt: seconds(at), Type: Type.Broadcast, Name: name, Room: room, Seq: seq, Epoch: epoch, MsgID: msgId,
});

/**
 * A line's frame JSON in two pieces around its Seq and Epoch, for a log that gives out the Seq itself
 * (Redis: the append script publishes the frame whole, src/store/redis-scripts.ts), so that the nodes
 * that hear it send it on without parsing or serializing it again:
 * `head + seq + ',"Epoch":' + JSON.stringify(epoch) + tail` is exactly `JSON.stringify(line(...))`.
 */
export function lineAround(id: string, name: string, room: string, msgId: string, content: string, at: number): { head: string; tail: string } {
  const before = JSON.stringify({ ID: id, Content: content, SentAt: seconds(at), Type: Type.Broadcast, Name: name, Room: room });
  return { head: `${before.slice(0, -1)},"Seq":`, tail: `,"MsgID":${JSON.stringify(msgId)}}` };
}

/** A line from the log, exactly as it was delivered live. */
export const stored = (m: StoredMessage, epoch: string): Message =>
  chat({ id: m.from, name: m.name }, m.room, m.seq, epoch, m.msgId, m.content, m.at);

export const heartbeat = (id: string, at: number, ref?: Ref): Message =>
  frame(Type.HeartBeat, id, '', at, withRef(ref));

export const connected = (who: Member, room: string, at: number): Message =>
  frame(Type.Connected, who.ID, 'connected', at, { Name: who.Name, Room: room });

/** `node_down`: several processes only, the member's server stopped answering and the others removed it. */
export type LeaveReason = 'left' | 'closed' | 'timeout' | 'error' | 'slow' | 'shutdown' | 'node_down';

export const disconnected = (who: Member, room: string, reason: LeaveReason, at: number): Message =>
  frame(Type.Disconnected, who.ID, 'disconnected', at, { Name: who.Name, Room: room, Reason: reason });

export const error = (e: ProtocolError, at: number): Message =>
  frame(Type.Error, '', e.reason, at, e.retryMs === undefined
    ? { Code: e.code, ...withRef(e.ref) }
    : { Code: e.code, RetryMs: e.retryMs, ...withRef(e.ref) });

/** Why a resume could not replay a room (protocol.md "Resuming after a reconnect"). */
export type NotRecovered = 'too_many' | 'trimmed' | 'epoch_changed' | 'ahead' | 'no_position' | 'store_failed';

/** You are in `room`: its first members (a page), how many there are in all, its Seq and Epoch; on a resume, whether it replays. */
export const joined = (
  id: string, room: string, members: readonly Member[], count: number, seq: number, epoch: string, at: number, ref?: Ref,
  recovered?: true | NotRecovered,
): Message => frame(Type.Join, id, '', at, {
  Room: room, Members: members, Count: count, Seq: seq, Epoch: epoch,
  ...(recovered === undefined ? {} : recovered === true ? { Recovered: true } : { Recovered: false, Reason: recovered }),
  ...withRef(ref),
});

/** A page of a room's history, oldest first. */
export const history = (
  room: string, epoch: string, head: number, first: number, lines: readonly Message[], more: boolean, at: number, ref?: Ref,
): Message => frame(Type.History, '', '', at, {
  Room: room, Epoch: epoch, Seq: head, First: first, Messages: lines, More: more, ...withRef(ref),
});

/**
 * Lines between the member's last Seq in `room` and `seq` may never reach it
 * live (a gap the log could not fill, or a reset history: a new epoch): it
 * reads them with History. Live lines go on after `seq`.
 */
export const resync = (room: string, seq: number, epoch: string, at: number): Message =>
  frame(Type.Resync, '', '', at, { Room: room, Seq: seq, Epoch: epoch });

export const left = (id: string, room: string, at: number, ref?: Ref): Message =>
  frame(Type.Leave, id, '', at, { Room: room, ...withRef(ref) });

export const roomList = (
  rooms: readonly { Room: string; Count: number }[], total: number, at: number, ref?: Ref,
): Message => frame(Type.Rooms, '', '', at, { Rooms: rooms, Total: total, ...withRef(ref) });

/** A page of a room's members; `next` (the After for the next page) only when there are more. */
export const members = (
  room: string, list: readonly Member[], count: number, at: number, ref?: Ref, next?: string,
): Message => frame(Type.Members, '', '', at, {
  Room: room, Members: list, Count: count, ...(next === undefined ? {} : { Next: next }), ...withRef(ref),
});

export const renamed = (
  id: string, name: string, oldName: string, at: number, room?: string, ref?: Ref,
): Message => frame(Type.Rename, id, '', at, {
  Name: name, OldName: oldName, ...(room === undefined ? {} : { Room: room }), ...withRef(ref),
});

export const direct = (
  from: { id: string; name: string }, to: string, msgId: string, content: string, at: number,
): Message => frame(Type.Direct, from.id, content, at, { Name: from.name, To: to, MsgID: msgId });

export const ack = (
  id: string, msgId: string, at: number, ref: Ref | undefined,
  where: { Room: string; Seq: number; Epoch: string } | { To: string }, key?: string, duplicate = false,
): Message => {
  if (!('To' in where)) return lineAck(id, msgId, at, ref, where.Room, where.Seq, where.Epoch, key, duplicate);
  const m: Message = { ID: id, Content: '', SentAt: seconds(at), Type: Type.Ack, MsgID: msgId, To: where.To };
  return ackTail(m, ref, key, duplicate);
};

/** The Ack of a line kept in a room: `ack` with the position given field by field (the hub's per-line step). */
export const lineAck = (
  id: string, msgId: string, at: number, ref: Ref | undefined, room: string, seq: number, epoch: string, key?: string, duplicate = false,
): Message => ackTail(
  { ID: id, Content: '', SentAt: seconds(at), Type: Type.Ack, MsgID: msgId, Room: room, Seq: seq, Epoch: epoch }, ref, key, duplicate,
);

const ackTail = (m: Message, ref: Ref | undefined, key: string | undefined, duplicate: boolean): Message => {
  if (key !== undefined) m.Key = key;
  if (duplicate) m.Duplicate = true;
  if (ref !== undefined) m.Ref = ref;
  return m;
};
