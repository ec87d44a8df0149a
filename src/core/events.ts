// Events in, effects out. Events are facts named by their source (a socket
// opened, a frame was received); effects are plain-data imperatives that only
// the runner carries out. Both compare with toEqual in specs.
import { ClientMessage, Message, ProtocolError } from './protocol';
import type { LeaveReason } from './messages';

export type CloseReason = Extract<LeaveReason, 'closed' | 'error' | 'slow'>;

export type HubEvent =
  /** A socket was accepted; name and room are the raw ?name= and ?room= values. */
  | { kind: 'opened'; id: string; at: number; name?: string; room?: string }
  /** A valid frame arrived. msgId is minted at the edge for messages that need one. */
  | { kind: 'received'; id: string; at: number; msgId: string; message: ClientMessage }
  /** A frame arrived that the protocol refuses. */
  | { kind: 'rejected'; id: string; at: number; error: ProtocolError }
  /** The heartbeat cadence says these connections are due a ping. */
  | { kind: 'pingDue'; ids: readonly string[] }
  /** Nothing (no frame, no pong) arrived for the heartbeat timeout. */
  | { kind: 'timedOut'; id: string; at: number }
  /** The socket is gone. */
  | { kind: 'closed'; id: string; at: number; reason: CloseReason }
  /** SIGTERM/SIGINT. */
  | { kind: 'shutdownRequested'; at: number };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  | { kind: 'send'; to: string; message: Message }
  /** One message to many: serialized once by the runner. */
  | { kind: 'broadcast'; to: readonly string[]; except?: string; message: Message }
  | { kind: 'close'; to: string; code: number; reason: string }
  /** Drop a dead peer at once, without a closing handshake. */
  | { kind: 'terminate'; to: string }
  | { kind: 'ping'; to: readonly string[] }
  /** The socket is gone: let go of it. */
  | { kind: 'forget'; to: string }
  | { kind: 'log'; level: LogLevel; event: string; fields: Record<string, unknown> };

// Constructors, so specs and the shell read in protocol words.
export const opened = (id: string, at: number, q: { name?: string; room?: string } = {}): HubEvent =>
  ({ kind: 'opened', id, at, ...q });
export const received = (id: string, at: number, message: ClientMessage, msgId = ''): HubEvent =>
  ({ kind: 'received', id, at, msgId, message });
export const rejected = (id: string, at: number, error: ProtocolError): HubEvent => ({ kind: 'rejected', id, at, error });
export const pingDue = (ids: readonly string[]): HubEvent => ({ kind: 'pingDue', ids });
export const timedOut = (id: string, at: number): HubEvent => ({ kind: 'timedOut', id, at });
export const closed = (id: string, at: number, reason: CloseReason): HubEvent => ({ kind: 'closed', id, at, reason });
export const shutdownRequested = (at: number): HubEvent => ({ kind: 'shutdownRequested', at });

export const send = (to: string, message: Message): Effect => ({ kind: 'send', to, message });
export const broadcast = (to: readonly string[], message: Message, except?: string): Effect =>
  except === undefined ? { kind: 'broadcast', to, message } : { kind: 'broadcast', to, except, message };
export const close = (to: string, code: number, reason: string): Effect => ({ kind: 'close', to, code, reason });
export const terminate = (to: string): Effect => ({ kind: 'terminate', to });
export const ping = (to: readonly string[]): Effect => ({ kind: 'ping', to });
export const forget = (to: string): Effect => ({ kind: 'forget', to });
export const log = (event: string, fields: Record<string, unknown>, level: LogLevel = 'info'): Effect =>
  ({ kind: 'log', level, event, fields });
