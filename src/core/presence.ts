// What presence across nodes is asked and answers (issue 8; docs/scaling.md "Presence across nodes"), as
// data: the hub asks with `presence` effects and hears these outcomes and events (src/core/events.ts).
// RedisPresence (src/cluster/presence.ts) carries the ops out on Redis; the types live here so that the pure
// core names them without importing anything from the edge.

import type { LeaveReason } from './messages';

/** Why a member left: the protocol's Disconnected reasons (`node_down`: its node died; a sweeper removed it). */
export type { LeaveReason };

export interface Member {
  id: string;
  name: string;
  /** The node that holds its connection. */
  node: string;
  /** When it joined the room (ms; the joining node's clock). */
  at: number;
}

/**
 * Published on the room's channel for each change; `node` is the member's node, `at` when the change happened,
 * `count` the room's member count over every node just after it (what a hub judges --presence-max by).
 */
export type PresenceEvent =
  | { kind: 'joined'; room: string; id: string; name: string; node: string; at: number; count: number }
  | { kind: 'left'; room: string; id: string; name: string; node: string; at: number; reason: LeaveReason; count: number }
  | { kind: 'renamed'; room: string; id: string; name: string; oldName: string; node: string; at: number; count: number };

export type PresenceOp =
  /** max: refused (`full`) if it is not a member and the room has this many members already. */
  | { op: 'join'; room: string; id: string; name: string; at: number; list?: boolean | number; max?: number }
  | { op: 'leave'; room: string; id: string; reason: LeaveReason; at: number }
  | { op: 'rename'; id: string; name: string; rooms: readonly string[]; at: number }
  | { op: 'members'; room: string; after?: string; limit: number };

/** `unavailable`: Redis is not connected; `store`: Redis refused; `bad_request`: the op itself is malformed. */
/** full: a join refused, the room having `max` members already (over every node). */
export interface PresenceFailure { ok: false; code: 'unavailable' | 'store' | 'bad_request' | 'bad_cursor' | 'full'; reason: string }

export type JoinOutcome = PresenceFailure | {
  ok: true;
  /** The room's member count after, over every node. */
  count: number;
  /** A new member of the room (false: it was already, here or on `tookFrom`). */
  joined: boolean;
  /** The node that held this ID in the room before (a resume on another node); it is this node's now. */
  tookFrom?: string;
  /** When asked (`list`), the members in join order, this one included. */
  members?: Member[];
};
export type LeaveOutcome = PresenceFailure | {
  ok: true;
  count: number;
  /** It was a member, held by this node, and is no longer. */
  left: boolean;
  /** Another node holds this ID in the room: nothing changed. */
  owner?: string;
};
export type RenameOutcome = PresenceFailure | { ok: true; rooms: string[] };
export type MembersOutcome = PresenceFailure | { ok: true; count: number; members: Member[]; next?: string };
export type PresenceOutcome = JoinOutcome | LeaveOutcome | RenameOutcome | MembersOutcome;
export type RoomsOutcome = PresenceFailure | { ok: true; rooms: { room: string; count: number }[]; total: number };
