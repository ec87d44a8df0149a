// raw-ws: the leanest correct chat server one can write with `ws` alone, as the
// practical limit for Node. One map of rooms, no RxJS, no immutable state; each
// broadcast is serialized and UTF-8 encoded once and the same Buffer is sent to
// every recipient. It keeps what makes a chat server correct and comparable:
// the same frames as docs/protocol.md for welcome, Join, Connected, Disconnected,
// Broadcast and Ack; a heartbeat (ping every interval, drop the silent after the
// timeout); maxPayload; and slow readers dropped at maxBuffered (4008).
// With --cork (the raw-ws-corked target) it writes as rxchat's runner does (cork.ts):
// each message framed once, writes batched per turn of the event loop; without, it
// uses ws.send as documented.
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { nanoid } from 'nanoid';
import WebSocket, { WebSocketServer } from 'ws';
import { ROOM, baselineConfig, seconds } from './args';
import { corkingWriter, plainWriter } from './cork';

interface Conn {
  id: string;
  name: string;
  room: string;
  ws: WebSocket;
  lastSeen: number;
}

interface Room {
  seq: number;
  members: Set<Conn>;
}

const cork = process.argv.includes('--cork');
const config = baselineConfig(process.argv.slice(2).filter((a) => a !== '--cork'));
const writer = (cork ? corkingWriter : plainWriter)(config.maxBuffered);
const rooms = new Map<string, Room>();
const all = new Set<Conn>();
function write(c: Conn, data: Buffer): void {
  if (!writer.write(c.ws, data)) c.ws.close(4008, 'too slow to read');
}

const encode = (m: object) => writer.encode(m);

function toRoom(room: Room, except: Conn | undefined, m: object): void {
  const data = encode(m);
  for (const c of room.members) if (c !== except) write(c, data);
}

function refuse(c: Conn, code: string, reason: string, ref?: unknown): void {
  write(c, encode({ ID: '', Content: reason, SentAt: seconds(), Type: 5, Code: code, ...(ref === undefined ? {} : { Ref: ref }) }));
}

function onMessage(c: Conn, data: WebSocket.RawData, isBinary: boolean): void {
  c.lastSeen = Date.now();
  if (isBinary) return refuse(c, 'binary_frame', 'binary frames are not accepted');
  let m: { Type?: unknown; Content?: unknown; Room?: unknown; Ref?: unknown };
  try {
    m = JSON.parse(data.toString());
  } catch {
    return refuse(c, 'bad_json', 'the frame is not valid JSON');
  }
  if (typeof m !== 'object' || m === null) return refuse(c, 'not_object', 'a frame is a JSON object');
  const ref = typeof m.Ref === 'number' || typeof m.Ref === 'string' ? m.Ref : undefined;
  if (m.Type === 2) return write(c, encode({ ID: c.id, Content: '', SentAt: seconds(), Type: 2, ...(ref === undefined ? {} : { Ref: ref }) }));
  if (m.Type !== 1) return refuse(c, 'unknown_type', 'this server only chats', ref);
  if (typeof m.Content !== 'string') return refuse(c, 'bad_field', 'Content must be a string', ref);
  if (m.Content.length === 0) return refuse(c, 'empty_content', 'Content is empty', ref);
  if (m.Content.length > 4000) return refuse(c, 'too_long', 'Content is over 4000 characters', ref);
  const roomName = m.Room ?? c.room;
  if (roomName !== c.room) return refuse(c, 'not_member', 'you are not in that room', ref);
  const room = rooms.get(c.room) as Room;
  const seq = ++room.seq;
  const msgId = nanoid();
  const at = seconds();
  toRoom(room, c, { ID: c.id, Content: m.Content, SentAt: at, Type: 1, Name: c.name, Room: c.room, Seq: seq, MsgID: msgId });
  write(c, encode({ ID: c.id, Content: '', SentAt: at, Type: 12, MsgID: msgId, Room: c.room, Seq: seq, ...(ref === undefined ? {} : { Ref: ref }) }));
}

function onOpen(ws: WebSocket, name: string, roomName: string): void {
  const c: Conn = { id: nanoid(), name, room: roomName, ws, lastSeen: Date.now() };
  let room = rooms.get(roomName);
  if (!room) rooms.set(roomName, (room = { seq: 0, members: new Set() }));
  const at = seconds();
  write(c, encode({ ID: c.id, Content: 'welcome', SentAt: at, Type: 0, Name: name, Rooms: [roomName] }));
  toRoom(room, undefined, { ID: c.id, Content: 'connected', SentAt: at, Type: 3, Name: name, Room: roomName });
  room.members.add(c);
  all.add(c);
  const members = [...room.members].map((m) => ({ ID: m.id, Name: m.name }));
  write(c, encode({ ID: c.id, Content: '', SentAt: at, Type: 6, Room: roomName, Members: members, Seq: room.seq }));
  ws.on('message', (data, isBinary) => onMessage(c, data, isBinary));
  ws.on('pong', () => (c.lastSeen = Date.now()));
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    all.delete(c);
    room.members.delete(c);
    if (room.members.size === 0) rooms.delete(roomName);
    else toRoom(room, undefined, { ID: c.id, Content: 'disconnected', SentAt: seconds(), Type: 4, Name: name, Room: roomName, Reason: 'closed' });
  });
}

const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxPayload, clientTracking: false });
httpServer.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/ws') return void socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  wss.handleUpgrade(req, socket, head, (ws) => {
    const room = url.searchParams.get('room') || 'lobby';
    const name = url.searchParams.get('name') || 'guest';
    if (!ROOM.test(room) || name.length > 32 || name.trim() === '') {
      ws.send(JSON.stringify({ ID: '', Content: 'bad room or name', SentAt: seconds(), Type: 5, Code: 'bad_room' }));
      return ws.close(1008, 'bad_room');
    }
    onOpen(ws, name, room);
  });
});
httpServer.on('clientError', (_e, socket) => socket.destroy());

// One sweep for all connections: ping the live, cut the silent.
setInterval(() => {
  const now = Date.now();
  for (const c of all) {
    if (now - c.lastSeen > config.heartbeatTimeoutMs) c.ws.terminate();
    else if (c.ws.readyState === WebSocket.OPEN) c.ws.ping();
  }
}, config.heartbeatIntervalMs);

httpServer.listen(config.port, config.host, () => {
  process.stdout.write(`raw-ws${cork ? ' (corked)' : ''} server listening on ws://${config.host}:${(httpServer.address() as AddressInfo).port}/ws\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
