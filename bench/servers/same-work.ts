// same-work: rxchat's protocol work, hand-written on `ws` with mutable maps and no
// RxJS, so that rxchat's ratio to it is what the reactive design itself costs
// (issue 12). Per chat line it does what rxchat does: the frame decoded and
// validated by src/protocol's decode, the sender noted as heard from, the room
// checked for membership, its Seq advanced, a 21-character MsgID (nanoid), the
// Broadcast built by src/messages (ID, Name, Room, Seq, MsgID) and serialized once
// and framed once for the room, an Ack to the sender, and writes corked per turn of
// the event loop as rxchat's runner does (cork.ts). Each room keeps its last --history-max lines in
// memory (last-lines.ts), as rxchat's log does for History and resume, and its Seq
// goes on after it empties. Connection IDs are nanoids too; connecting and
// leaving send rxchat's welcome, Join, Connected and Disconnected frames and log the
// same events. What the benchmark never sends (join, leave, rooms, members, rename,
// direct) is answered with an Error: this is a baseline, not a second product.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { nanoid } from 'nanoid';
import WebSocket, { WebSocketServer } from 'ws';
import * as M from '../../src/core/messages';
import { createLogger } from '../../src/ops/logger';
import {
  BINARY_FRAME, Close, DEFAULT_ROOM, Limits, Message, ProtocolError, Ref, decode, nameErrorCode, nameProblem,
  normalizeName, roomProblem,
} from '../../src/core/protocol';
import { baselineConfig } from './args';
import { corkingWriter } from './cork';
import { LastLines } from './last-lines';

interface Conn {
  id: string;
  name: string;
  /** In join order; the first is where a Broadcast without Room goes. */
  rooms: string[];
  ws: WebSocket;
}

interface Room {
  seq: number;
  epoch: string;
  members: Set<Conn>;
  /** Its last lines (config.historyMax), as rxchat's message log keeps them. */
  kept: LastLines<Message>;
}

const config = baselineConfig(process.argv.slice(2));
const log = createLogger(config.logLevel);
const writer = corkingWriter(config.maxBuffered);
const rooms = new Map<string, Room>();
/** When each connection was last heard from (a frame or a pong), as src/edge/heartbeat.ts's Liveness. */
const lastHeard = new Map<Conn, number>();

const encode = (m: Message): Buffer => writer.encode(m);

function sendTo(c: Conn, data: Buffer): void {
  if (!writer.write(c.ws, data)) c.ws.close(Close.SlowConsumer, 'too slow to read');
}

function toRoom(room: Room, except: Conn | undefined, m: Message): void {
  const data = encode(m);
  for (const c of room.members) if (c !== except) sendTo(c, data);
}

const err = (code: ProtocolError['code'], reason: string, ref?: Ref): ProtocolError =>
  (ref === undefined ? { code, reason } : { code, reason, ref });

function onFrame(c: Conn, data: WebSocket.RawData, isBinary: boolean): void {
  const at = Date.now();
  lastHeard.set(c, at);
  if (isBinary) return sendTo(c, encode(M.error(BINARY_FRAME, at)));
  const d = decode(data.toString());
  if (!d.ok) return sendTo(c, encode(M.error(d.error, at)));
  const m = d.message;
  if (m.type === 'heartbeat') return sendTo(c, encode(M.heartbeat(c.id, at, m.ref)));
  if (m.type !== 'broadcast') return sendTo(c, encode(M.error(err('unknown_type', 'same-work only chats', m.ref), at)));
  const roomName = m.room ?? c.rooms[0];
  if (roomName === undefined) return sendTo(c, encode(M.error(err('not_member', 'you are in no room; join one first', m.ref), at)));
  const room = rooms.get(roomName);
  if (!room || !c.rooms.includes(roomName)) {
    return sendTo(c, encode(M.error(err('not_member', `you are not in room "${roomName}"`, m.ref), at)));
  }
  const seq = ++room.seq;
  const msgId = nanoid();
  const line = M.chat(c, roomName, seq, room.epoch, msgId, m.content, at);
  room.kept.push(line);
  toRoom(room, c, line);
  sendTo(c, encode(M.ack(c.id, msgId, at, m.ref, { Room: roomName, Seq: seq, Epoch: room.epoch })));
}

function onOpen(ws: WebSocket, query: { name?: string; room?: string }): void {
  const id = nanoid();
  const at = Date.now();
  const roomName = query.room || DEFAULT_ROOM;
  const name = query.name ? normalizeName(query.name) : `guest-${id.slice(0, 4)}`;
  const problem = roomProblem(roomName)
    ? err('bad_room', `?room=: ${roomProblem(roomName)}`)
    : nameProblem(name) ? err(nameErrorCode(name), `?name=: ${nameProblem(name)}`) : undefined;
  if (problem) {
    ws.send(JSON.stringify(M.error(problem, at)));
    ws.close(Close.PolicyViolation, problem.code);
    log('warn', 'refused', { id, code: problem.code });
    return;
  }
  const c: Conn = { id, name, rooms: [roomName], ws };
  lastHeard.set(c, at);
  sendTo(c, encode(M.welcome(id, name, [roomName], at, randomBytes(24).toString('base64url'))));
  log('info', 'connect', { id, name, room: roomName });
  let room = rooms.get(roomName);
  const existed = room !== undefined;
  if (!room) rooms.set(roomName, (room = { seq: 0, epoch: nanoid(8), members: new Set(), kept: new LastLines(config.historyMax) }));
  room.members.add(c);
  const page: { ID: string; Name: string }[] = [];
  for (const member of room.members) {
    if (page.length === Limits.maxMembersListed) break;
    page.push({ ID: member.id, Name: member.name });
  }
  sendTo(c, encode(M.joined(id, roomName, page, room.members.size, room.seq, room.epoch, at)));
  if (existed) toRoom(room, c, M.connected({ ID: id, Name: name }, roomName, at));
  log('info', 'join', { id, name, room: roomName, members: room.members.size });

  ws.on('message', (data, isBinary) => onFrame(c, data, isBinary));
  ws.on('pong', () => lastHeard.set(c, Date.now()));
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    lastHeard.delete(c);
    for (const r of c.rooms) {
      const left = rooms.get(r);
      if (!left) continue;
      left.members.delete(c);
      // As rxchat's log: a room that has had lines keeps them, and its Seq, when it empties.
      if (left.members.size === 0) {
        if (left.seq === 0) rooms.delete(r);
      }
      else toRoom(left, undefined, M.disconnected({ ID: c.id, Name: c.name }, r, 'closed', Date.now()));
      log('info', 'leave', { id: c.id, name: c.name, room: r, reason: 'closed', members: left.members.size });
    }
    log('info', 'disconnect', { id: c.id, name: c.name, reason: 'closed' });
  });
}

const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, clientTracking: false });
httpServer.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/ws') return void socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  wss.handleUpgrade(req, socket, head, (ws) =>
    onOpen(ws, { name: url.searchParams.get('name') ?? undefined, room: url.searchParams.get('room') ?? undefined }));
});
httpServer.on('clientError', (_e, socket) => socket.destroy());

// One sweep for all connections, as src/edge/heartbeat.ts: ping the live, cut the silent.
setInterval(() => {
  const now = Date.now();
  for (const [c, at] of lastHeard) {
    if (now - at >= config.heartbeatTimeoutMs) {
      lastHeard.delete(c);
      c.ws.terminate();
    } else if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }
}, config.heartbeatIntervalMs);

httpServer.listen(config.port, config.host, () => {
  process.stdout.write(`same-work server listening on ws://${config.host}:${(httpServer.address() as AddressInfo).port}/ws\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
