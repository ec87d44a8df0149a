// Socket.IO v4 doing the same chat: `socket.to(room).emit` for the broadcast (the
// adapter encodes the packet once for all recipients), the ack through Socket.IO's
// ack callback, the same frames as docs/protocol.md as event payloads. Heartbeat
// is engine.io's: a ping every interval, a peer that does not answer within
// (timeout - interval) is dropped. Websocket transport only, like the clients.
// With --redis (`npm run bench -- --cluster`, target socketio-redis): several such
// processes as one chat through @socket.io/redis-adapter (ioredis, one publishing and
// one subscribing connection; channels under --redis-prefix). A room's Seq and its
// Join's Members stay this process's own: the bench reads neither.
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { nanoid } from 'nanoid';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { ROOM, baselineConfig, seconds } from './args';

interface Chat {
  Type?: unknown;
  Content?: unknown;
  Room?: unknown;
  Ref?: unknown;
}

const config = baselineConfig(process.argv.slice(2));
const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  maxHttpBufferSize: config.maxPayload,
  pingInterval: config.heartbeatIntervalMs,
  pingTimeout: config.heartbeatTimeoutMs - config.heartbeatIntervalMs,
});

/** Per room: its Seq and who is there (for the Join frame's Members). */
const rooms = new Map<string, { seq: number; members: Map<string, string> }>();

io.on('connection', (socket) => {
  const q = socket.handshake.query;
  const roomName = typeof q.room === 'string' && q.room ? q.room : 'lobby';
  const name = typeof q.name === 'string' && q.name ? q.name : 'guest';
  if (!ROOM.test(roomName) || name.length > 32 || name.trim() === '') {
    socket.emit('message', { ID: '', Content: 'bad room or name', SentAt: seconds(), Type: 5, Code: 'bad_room' });
    socket.disconnect(true);
    return;
  }
  const id = socket.id;
  let room = rooms.get(roomName);
  if (!room) rooms.set(roomName, (room = { seq: 0, members: new Map() }));
  const at = seconds();
  socket.emit('message', { ID: id, Content: 'welcome', SentAt: at, Type: 0, Name: name, Rooms: [roomName] });
  socket.to(roomName).emit('message', { ID: id, Content: 'connected', SentAt: at, Type: 3, Name: name, Room: roomName });
  socket.join(roomName);
  room.members.set(id, name);
  const members = [...room.members].map(([ID, Name]) => ({ ID, Name }));
  socket.emit('message', { ID: id, Content: '', SentAt: at, Type: 6, Room: roomName, Members: members, Seq: room.seq });

  socket.on('chat', (m: Chat, ack?: (a: object) => void) => {
    const ref = typeof m?.Ref === 'number' || typeof m?.Ref === 'string' ? m.Ref : undefined;
    const refuse = (code: string, reason: string) =>
      socket.emit('message', { ID: '', Content: reason, SentAt: seconds(), Type: 5, Code: code, ...(ref === undefined ? {} : { Ref: ref }) });
    if (typeof m !== 'object' || m === null) return refuse('not_object', 'a frame is a JSON object');
    if (typeof m.Content !== 'string') return refuse('bad_field', 'Content must be a string');
    if (m.Content.length === 0) return refuse('empty_content', 'Content is empty');
    if (m.Content.length > 4000) return refuse('too_long', 'Content is over 4000 characters');
    if ((m.Room ?? roomName) !== roomName) return refuse('not_member', 'you are not in that room');
    const r = rooms.get(roomName);
    if (!r) return;
    const seq = ++r.seq;
    const msgId = nanoid();
    const sentAt = seconds();
    socket.to(roomName).emit('message', { ID: id, Content: m.Content, SentAt: sentAt, Type: 1, Name: name, Room: roomName, Seq: seq, MsgID: msgId });
    if (typeof ack === 'function') ack({ ID: id, Content: '', SentAt: sentAt, Type: 12, MsgID: msgId, Room: roomName, Seq: seq, ...(ref === undefined ? {} : { Ref: ref }) });
  });

  socket.on('disconnect', () => {
    const r = rooms.get(roomName);
    if (!r) return;
    r.members.delete(id);
    if (r.members.size === 0) rooms.delete(roomName);
    else io.to(roomName).emit('message', { ID: id, Content: 'disconnected', SentAt: seconds(), Type: 4, Name: name, Room: roomName, Reason: 'closed' });
  });
});

if (config.redis !== '') {
  const pub = new Redis(config.redis, { connectionName: `socketio-bench-${config.nodeId || process.pid}` });
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub, { key: `${config.redisPrefix}socket.io` }));
}

httpServer.listen(config.port, config.host, () => {
  process.stdout.write(`socketio server listening on http://${config.host}:${(httpServer.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
