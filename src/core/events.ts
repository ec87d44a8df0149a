// Events in, effects out. Events are facts named by their source (a socket
// opened, a frame was received); effects are plain-data imperatives that only
// the runner carries out. Both compare with toEqual in specs.
import { ClientMessage, Message, Outgoing, Position, ProtocolError, Ref } from './protocol';
import type { AppendRequest, ReadOutcome, ReadRequest } from './history';
import type { Heard } from './sequence';
import type { LeaveReason } from './messages';
import type { KeyRecord } from './reducer';
import type { PresenceEvent, PresenceOp, PresenceOutcome, RoomsOutcome } from './presence';
import type { User } from './claims';

export type CloseReason = Extract<LeaveReason, 'closed' | 'error' | 'slow'>;

export type HubEvent =
  /**
   * A socket was accepted; name, room, resume and since are the raw query values.
   * token is the new connection's resume token, minted at the edge (unguessable).
   */
  | { kind: 'opened'; id: string; at: number; token: string; name?: string; room?: string; resume?: string; since?: string; user?: User }
  /**
   * With auth on: a Refresh frame's token, as the edge verified it: its user (undefined: bad, expired,
   * or auth off). The hub takes it if it is the connection's user.
   */
  | { kind: 'refreshed'; id: string; at: number; user?: User; ref?: Ref }
  /** A valid frame arrived. msgId is minted at the edge for messages that need one. */
  | { kind: 'received'; id: string; at: number; msgId: string; message: ClientMessage }
  /** A frame arrived that the protocol refuses. */
  | { kind: 'rejected'; id: string; at: number; error: ProtocolError }
  /**
   * The connection kept sending while told to wait (over its message rate, src/core/rate.ts) for
   * 10 s: those frames were refused at the edge (`rejected`, rate_limited); this one ends it (4029).
   */
  | { kind: 'flooded'; id: string; at: number }
  /** The heartbeat cadence says these connections are due a ping. */
  | { kind: 'pingDue'; ids: readonly string[]; at: number }
  /** Nothing (no frame, no pong) arrived for the heartbeat timeout. */
  | { kind: 'timedOut'; id: string; at: number }
  /** The socket is gone. */
  | { kind: 'closed'; id: string; at: number; reason: CloseReason }
  /** SIGTERM/SIGINT. */
  | { kind: 'shutdownRequested'; at: number }
  /** The log committed an append at `seq` (or found it committed before under the same key: `duplicateOf`, its MsgID). */
  | { kind: 'appended'; at: number; req: AppendRequest; ref?: Ref; seq: number; epoch: string; duplicateOf?: string }
  /** A line of a room with members here, heard on the room's channel (several processes; docs/scaling.md). */
  | { kind: 'heard'; at: number; line: Heard }
  /** The link that lines are heard on is back: lines may have been lost meanwhile. */
  | { kind: 'linkUp'; at: number }
  /** The log could not keep an append: nothing was kept or delivered. */
  | { kind: 'appendFailed'; at: number; req: AppendRequest; ref?: Ref; code: 'store_failed' | 'store_busy' | 'unavailable'; reason: string }
  /** A read of the log is done. */
  | { kind: 'readDone'; at: number; req: ReadRequest; purpose: ReadPurpose; outcome: ReadOutcome }
  /** Several processes: what a resume's `take` found in Redis (src/cluster/sessions.ts). */
  | { kind: 'sessionTaken'; at: number; op: TakeOp; outcome: TakeResult }
  /** Several processes: a Direct to an identity not here was handed over, kept, or refused. */
  | { kind: 'directSent'; at: number; op: SendOp; outcome: SendResult }
  /**
   * Several processes: another node sent a Direct to `to`, live here (this node's channel): an identity, or
   * with `user` a user (a token's sub) that Redis says has connections here, each of which gets it.
   */
  | { kind: 'directHeard'; at: number; to: string; message: Message; user?: true }
  /** Several processes: node `by` took identity `id` over with `token`; its socket here, if it still holds that token, is cut. */
  | { kind: 'cutHeard'; at: number; id: string; token: string; by: string }
  /** Several processes: a presence op is done (src/cluster/presence.ts), for the request that asked it. */
  | { kind: 'presenceDone'; at: number; ask: PresenceAsk; purpose: PresencePurpose; outcome: PresenceOutcome | RoomsOutcome }
  /** Several processes: a member of a room with members here joined, left or was renamed, on any node (this one too). */
  | { kind: 'presenceHeard'; at: number; event: PresenceEvent }
  /** Several processes: other nodes took this one for dead and removed its members from presence. */
  | { kind: 'presenceLost'; at: number };

/** What a Key became, once settled (a pending one is never kept in Redis). */
export type SettledKey = Exclude<KeyRecord, { readonly pending: true }>;

/** An identity as kept in Redis (several processes): what a resume on any node gives back. */
export interface IdentityRecord {
  id: string;
  name: string;
  /** In join order. */
  rooms: string[];
  /** Its recent Keys and what they became, oldest first. */
  keys: [key: string, rec: SettledKey][];
  /** With auth on: the user (token `sub`) it belongs to; a resume by another user's token fails. */
  user?: string;
}

/** Why a Direct goes to Redis: a client's, whose Ack waits for the outcome, or one heard here for an identity gone meanwhile. */
export type SendPurpose =
  | { for: 'direct'; from: string; msgId: string; key?: string; ref?: Ref }
  | { for: 'redirect' }
  /**
   * With auth on: a Direct to a user with connections here, who have it and whose sender is acked
   * already: the other nodes holding the user get it too. Nothing comes back (a failure is logged).
   */
  | { for: 'user' };

export type TakeOp = { op: 'take'; conn: string; token: string };
export type SendOp = { op: 'send'; to: string; message: Message; purpose: SendPurpose };

/** Several processes: what the hub asks of the identities kept in Redis (src/cluster/sessions.ts, carried out by session-runner.ts). */
export type SessionOp =
  /** `id`, with token `token`, is live here (a welcome, or a resume). */
  | { op: 'claim'; id: string; token: string; record: IdentityRecord }
  /** Its record changed (a join, leave, rename or keyed Direct): kept for the case this node dies, if `token` is still its own. */
  | { op: 'update'; id: string; token: string; record: IdentityRecord }
  /** Its connection ended: kept for resuming for ttlMs. */
  | { op: 'park'; token: string; record: IdentityRecord; ttlMs: number }
  /** Its connection ended and it is not kept. */
  | { op: 'release'; id: string }
  /** Connection `conn` resumes with `token`: `sessionTaken` comes back. */
  | TakeOp
  /**
   * A Direct: for a client's (to a user or identity not here), `directSent` comes back; to a user
   * with connections here too (`user`), to the other nodes holding it; handed back, to an identity only.
   */
  | SendOp
  /** With auth on: the user (a token's sub) has its first connection here: Redis lists this node as holding it. */
  | { op: 'holdUser'; user: string }
  /** With auth on: the user's last connection here is gone (or was never here: a Direct heard for it found none). */
  | { op: 'dropUser'; user: string };

export type TakeResult =
  | { found: true; record: IdentityRecord; directs: readonly Message[]; liveOn?: string }
  /** unknown: no identity has that token (used, expired, forged); unavailable: Redis could not be asked. */
  | { found: false; why: 'malformed' | 'unknown' | 'unavailable'; reason?: string };

export type SendResult =
  | { ok: true; delivered: 'live' | 'kept' }
  | { ok: false; code: 'no_such_client' | 'mailbox_full' | 'unavailable'; reason: string };

/** What the hub asks of presence across nodes: an op of RedisPresence.run, or the Rooms list. */
export type PresenceAsk = PresenceOp | { op: 'rooms'; limit: number };

/** Why the hub asked presence, so its answer can be finished when the outcome comes back. */
export type PresencePurpose =
  /** A Join reply (or a resumed room's) waiting for the room's members over every node. */
  | { for: 'join'; to: string; ref?: Ref }
  | { for: 'resume'; to: string }
  /** A Join of a room the client is in already: answered with the members as a first join is. */
  | { for: 'again'; to: string; ref?: Ref }
  | { for: 'members'; to: string; ref?: Ref }
  | { for: 'rooms'; to: string; ref?: Ref }
  /** A leave, a rename, a join again after presenceLost: the rooms learn of it from the events; a failure is only logged. */
  | { for: 'tell'; to?: undefined };

/** Why the hub read the log, so its answer can be finished when the outcome comes back. */
export type ReadPurpose =
  /** A Join reply waiting for the room's Seq and Epoch. */
  | { for: 'join'; to: string; ref?: Ref }
  /** A resumed member's room: its position first (limit 0), from where it said it was (none: no_position). */
  | { for: 'resume'; to: string; since?: Position }
  /** The lines a resumed member missed in one room, read once its position said they can be replayed. */
  | { for: 'replay'; to: string; since: Position }
  /** A History request. */
  | { for: 'history'; to: string; ref?: Ref }
  /** A resumed member's replay came back behind the room's live lines (several processes): the rest of them. */
  | { for: 'catchup'; to: string }
  /** A gap in the lines heard in a room, or (limit 0) its head, to find a lost tail (several processes). */
  | { for: 'gap'; to?: undefined }
  | { for: 'head'; to?: undefined };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Effect =
  | { kind: 'send'; to: string; message: Outgoing }
  /** One message to many: serialized once by the runner (or made already: protocol.ts Encoded). */
  | { kind: 'broadcast'; to: readonly string[]; except?: string; message: Outgoing }
  | { kind: 'close'; to: string; code: number; reason: string }
  /** Drop a dead peer at once, without a closing handshake. */
  | { kind: 'terminate'; to: string }
  | { kind: 'ping'; to: readonly string[] }
  /** The socket is gone: let go of it. */
  | { kind: 'forget'; to: string }
  | { kind: 'log'; level: LogLevel; event: string; fields: Record<string, unknown> }
  /** Give this line to the log; `appended` or `appendFailed` comes back. */
  | { kind: 'append'; req: AppendRequest; ref?: Ref }
  /** Read the log; `readDone` comes back. */
  | { kind: 'read'; req: ReadRequest; purpose: ReadPurpose }
  /**
   * A resume: the socket known as `from` becomes `to` (the identity it got back),
   * and the one that was `to`, if any (a takeover), becomes `from`.
   */
  | { kind: 'rebind'; from: string; to: string }
  /** Hear a room's lines (its first member here), or stop (its last left): several processes only. */
  | { kind: 'subscribe'; room: string }
  | { kind: 'unsubscribe'; room: string }
  /** Several processes: an identity op on Redis (src/cluster/session-runner.ts). */
  | { kind: 'session'; op: SessionOp }
  /** Several processes: ask presence; `presenceDone` comes back (none for a `tell`: the runner logs its failure). */
  | { kind: 'presence'; ask: PresenceAsk; purpose: PresencePurpose };

// Constructors, so specs and the shell read in protocol words.
export const opened = (
  id: string, at: number, q: { name?: string; room?: string; resume?: string; since?: string; user?: User } = {}, token = `tok-${id}`,
): HubEvent => ({ kind: 'opened', id, at, token, ...q });
export const received = (id: string, at: number, message: ClientMessage, msgId = ''): HubEvent =>
  ({ kind: 'received', id, at, msgId, message });
export const rejected = (id: string, at: number, error: ProtocolError): HubEvent => ({ kind: 'rejected', id, at, error });
export const flooded = (id: string, at: number): HubEvent => ({ kind: 'flooded', id, at });
export const refreshed = (id: string, at: number, user: User | undefined, ref?: Ref): HubEvent =>
  ({ kind: 'refreshed', id, at, ...(user === undefined ? {} : { user }), ...(ref === undefined ? {} : { ref }) });
export const pingDue = (ids: readonly string[], at = 0): HubEvent => ({ kind: 'pingDue', ids, at });
export const timedOut = (id: string, at: number): HubEvent => ({ kind: 'timedOut', id, at });
export const closed = (id: string, at: number, reason: CloseReason): HubEvent => ({ kind: 'closed', id, at, reason });
export const shutdownRequested = (at: number): HubEvent => ({ kind: 'shutdownRequested', at });

export const send = (to: string, message: Outgoing): Effect => ({ kind: 'send', to, message });
export const broadcast = (to: readonly string[], message: Outgoing, except?: string): Effect =>
  except === undefined ? { kind: 'broadcast', to, message } : { kind: 'broadcast', to, except, message };
export const close = (to: string, code: number, reason: string): Effect => ({ kind: 'close', to, code, reason });
export const terminate = (to: string): Effect => ({ kind: 'terminate', to });
export const ping = (to: readonly string[]): Effect => ({ kind: 'ping', to });
export const forget = (to: string): Effect => ({ kind: 'forget', to });
export const log = (event: string, fields: Record<string, unknown>, level: LogLevel = 'info'): Effect =>
  ({ kind: 'log', level, event, fields });
export const append = (req: AppendRequest, ref?: Ref): Effect =>
  (ref === undefined ? { kind: 'append', req } : { kind: 'append', req, ref });
export const read = (req: ReadRequest, purpose: ReadPurpose): Effect => ({ kind: 'read', req, purpose });
export const rebind = (from: string, to: string): Effect => ({ kind: 'rebind', from, to });
export const subscribe = (room: string): Effect => ({ kind: 'subscribe', room });
export const unsubscribe = (room: string): Effect => ({ kind: 'unsubscribe', room });
export const heard = (line: Heard, at: number): HubEvent => ({ kind: 'heard', at, line });
export const linkUp = (at: number): HubEvent => ({ kind: 'linkUp', at });
export const session = (op: SessionOp): Extract<Effect, { kind: 'session' }> => ({ kind: 'session', op });
export const sessionTaken = (op: TakeOp, outcome: TakeResult, at: number): HubEvent => ({ kind: 'sessionTaken', at, op, outcome });
export const directSent = (op: SendOp, outcome: SendResult, at: number): HubEvent => ({ kind: 'directSent', at, op, outcome });
export const directHeard = (to: string, message: Message, at: number, user?: true): HubEvent =>
  (user ? { kind: 'directHeard', at, to, message, user } : { kind: 'directHeard', at, to, message });
export const cutHeard = (id: string, token: string, by: string, at: number): HubEvent => ({ kind: 'cutHeard', at, id, token, by });
export const presence = (ask: PresenceAsk, purpose: PresencePurpose = { for: 'tell' }): Effect => ({ kind: 'presence', ask, purpose });
export const presenceDone = (ask: PresenceAsk, purpose: PresencePurpose, outcome: PresenceOutcome | RoomsOutcome, at: number): HubEvent =>
  ({ kind: 'presenceDone', at, ask, purpose, outcome });
export const presenceHeard = (event: PresenceEvent, at: number): HubEvent => ({ kind: 'presenceHeard', at, event });
export const presenceLost = (at: number): HubEvent => ({ kind: 'presenceLost', at });
