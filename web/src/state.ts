// The client's state as plain, never-mutated data, its events and effects. No DOM,
// no socket, no clock: the view compares objects by identity to know what to redraw,
// and specs compare them with toEqual. The reducer is step.ts (+ frames.ts, edit.ts).
//
// Collections are immutable's persistent structures, so a frame replaces only what it
// touches: adding a line or updating one conversation costs the same with 3
// conversations of 10 lines as with 200 of 500 (a spread Map or array copied it all).
import { List, Map as IMap, OrderedMap, OrderedSet } from 'immutable';
import type { Member, Outgoing } from './protocol';

export type Status = 'pending' | 'delivered' | 'failed';

export interface ChatLine {
  readonly kind: 'chat';
  /** Stable for the line's life: local-<ref> for our own, the MsgID for others'. */
  readonly key: string;
  readonly from: string;
  readonly name: string;
  readonly text: string;
  /** Unix milliseconds. */
  readonly at: number;
  readonly mine: boolean;
  readonly status?: Status;
  readonly error?: string;
}

/** A piece of a notice: our own words, or a string someone else chose (a name), which the view isolates (bidi). */
export type Part = string | { readonly user: string };

export interface Notice {
  readonly kind: 'notice';
  readonly key: string;
  /** The parts joined, as plain text. */
  readonly text: string;
  readonly parts: readonly Part[];
  readonly at: number;
  readonly tone: 'info' | 'warn';
}

export type Line = ChatLine | Notice;

export interface Conversation {
  /** `#room` for a room, `@ID` for a direct conversation. */
  readonly id: string;
  readonly kind: 'room' | 'dm';
  /** The room's name or the peer's display name. */
  readonly title: string;
  /** The peer's connection ID (direct conversations). */
  readonly peer?: string;
  /** The peer is known to have disconnected. */
  readonly gone?: boolean;
  /** The newest MAX_LINES. */
  readonly lines: List<Line>;
  readonly unread: number;
  /**
   * Rooms: the first MAX_MEMBERS_SHOWN members, in join order, as the last Join and the
   * Connected/Disconnected/Rename notices said. Not the whole room: protocol.md lists at
   * most 100 members, and rooms above the server's --presence-max send no notices.
   */
  readonly members: readonly Member[];
  /** Rooms: how many are in it (the Join's Count, then notices and the Rooms list). */
  readonly count: number;
  /** Rooms: the server confirmed us in it on this connection. */
  readonly joined: boolean;
  /** Rooms: the last Seq seen (0: none). */
  readonly seq: number;
}

export type Link =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'open' }
  | { readonly state: 'reconnecting'; readonly attempt: number; readonly retryAt: number }
  | { readonly state: 'stopped'; readonly reason: string }
  /** The server closed on purpose (a policy code): no retry until the user asks. */
  | { readonly state: 'held'; readonly reason: string };

/** What an answer with this Ref is about. */
export type Request =
  | { readonly kind: 'line'; readonly conv: string; readonly key: string }
  | { readonly kind: 'join'; readonly room: string; readonly focus: boolean }
  | { readonly kind: 'leave'; readonly room: string }
  | { readonly kind: 'rename'; readonly name: string };

export interface Directory {
  readonly rooms: readonly { readonly Room: string; readonly Count: number }[];
  readonly total: number;
}

export interface ChatState {
  readonly name: string;
  /** Our connection ID; '' until the welcome (the server gives a new one on each connection). */
  readonly me: string;
  readonly link: Link;
  /** Whether a welcome ever arrived (so the next one is a reconnection). */
  readonly welcomed: boolean;
  /** Rooms we mean to be in, in join order; the first goes in the connect URL. */
  readonly rooms: readonly string[];
  /** Every conversation, in the order they began. */
  readonly convs: OrderedMap<string, Conversation>;
  /** Direct conversations, least recently active first: the first goes when there are over MAX_DMS. */
  readonly recent: OrderedSet<string>;
  /** The conversation on screen ('' before the first Join). */
  readonly current: string;
  readonly directory: Directory;
  readonly requests: IMap<string, Request>;
  /** The last error worth a toast. */
  readonly alert?: { readonly text: string; readonly at: number };
  /** Counter for Refs and local keys. */
  readonly serial: number;
}

export type ClientEvent =
  | { kind: 'frame'; frame: import('./protocol').Frame; at: number }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'dropped'; attempt: number; retryAt: number; at: number }
  | { kind: 'held'; code: number; reason: string; at: number }
  | { kind: 'said'; text: string; at: number }
  | { kind: 'retried'; conv: string; key: string; at: number }
  | { kind: 'switched'; conv: string }
  | { kind: 'joinAsked'; room: string; at: number }
  | { kind: 'leaveAsked'; room: string; at: number }
  | { kind: 'dmOpened'; peer: string; name: string }
  | { kind: 'renameAsked'; name: string; at: number }
  | { kind: 'roomsDue' }
  | { kind: 'alertDismissed' };

export type Effect = { kind: 'send'; frame: Outgoing };

export interface Step {
  readonly state: ChatState;
  readonly effects: readonly Effect[];
}

/** Lines kept per conversation: the page is a live view, not an archive. */
export const MAX_LINES = 500;
/** Direct conversations kept: 5,000 strangers writing once must not make 5,000. Rooms are always kept. */
export const MAX_DMS = 200;
/** Members listed per room (protocol.md: a Join lists at most 100). */
export const MAX_MEMBERS_SHOWN = 100;

export const roomId = (room: string): string => `#${room}`;
export const dmId = (peer: string): string => `@${peer}`;

export function initialState(name: string, room: string): ChatState {
  return {
    name, me: '', link: { state: 'connecting', attempt: 0 }, welcomed: false, rooms: [room],
    convs: OrderedMap(), recent: OrderedSet(), current: '', directory: { rooms: [], total: 0 }, requests: IMap(), serial: 0,
  };
}

export const emptyRoom = (room: string): Conversation =>
  ({ id: roomId(room), kind: 'room', title: room, lines: List(), unread: 0, members: [], count: 0, joined: false, seq: 0 });

export const emptyDm = (peer: string, name: string): Conversation =>
  ({ id: dmId(peer), kind: 'dm', title: name, peer, lines: List(), unread: 0, members: [], count: 0, joined: true, seq: 0 });

/** Total unread, for the tab title. */
export const unreadTotal = (s: ChatState): number => [...s.convs.values()].reduce((n, c) => n + c.unread, 0);

/** Room conversations in the order we joined them, then direct ones in the order they began. */
export function conversationsInOrder(s: ChatState): { rooms: Conversation[]; dms: Conversation[] } {
  const rooms = s.rooms.map((r) => s.convs.get(roomId(r))).filter((c): c is Conversation => c !== undefined);
  const dms = [...s.convs.values()].filter((c) => c.kind === 'dm');
  return { rooms, dms };
}
