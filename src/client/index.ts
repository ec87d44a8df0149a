// The one client library (issue 7): resume, the outbox and idempotent retries, written
// once for the web page, the command-line chat and the bots. Pure core (machine.ts,
// room.ts, outbox.ts), thin shell (client.ts). No Node, DOM or RxJS imports.
export { ChatClient, RequestError } from './client';
export type { ClientOptions, Clock, HistoryPage, SocketClass, SocketLike } from './client';
export type { ClientEvent, LinkState, Restore } from './state';
export type { MessageStatus, MessageUpdate } from './outbox';
export type { Frame, Outgoing, Position } from './wire';
export { T as Type, connectUrl } from './wire';
export { randomKey } from './keys';
