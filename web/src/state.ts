// The page's state as plain, never-mutated data, its events and effects. No DOM, no
// socket, no clock: the view compares objects by identity to know what to redraw, and
// specs compare them with toEqual. The reducer is step.ts (+ frames.ts, lines.ts, edit.ts).
//
// The wire is the client library's (src/client): it owns the socket, resume, the
// outbox and each room's order. Its events come in here as `lib` events; what the page
// wants of it (send, join, read history, …) goes out as effects, plain data that
// main.ts carries out.
//
// Collections are immutable's persistent structures, so an event replaces only what it
// touches: adding a line or updating one conversation costs the same with 3
// conversations of 10 lines as with 200 of 1000 (a spread Map or array copied it all).
import { List, OrderedMap, OrderedSet, Set as ISet } from 'immutable';
import type { ClientEvent as LibEvent, Frame } from '../../src/client';
import type { Member } from './protocol';

/**
 * Our own line: pending (not on the wire: offline, or the server asked us to wait),
 * sent (on the wire, no Ack yet), delivered (the server's Ack: it is in the log), failed.
 */
export type Status = 'pending' | 'sent' | 'delivered' | 'failed';

export interface ChatLine {
  readonly kind: 'chat';
  /** Stable for the line's life: k-<Key> for a line sent from this page, m-<MsgID> for the others. */
  readonly key: string;
  readonly from: string;
  readonly name: string;
  readonly text: string;
  /** Unix milliseconds. */
  readonly at: number;
  readonly mine: boolean;
  /** Where the line is in its room's log (protocol.md "History"); absent until an own line's Ack. */
  readonly seq?: number;
  readonly msgId?: string;
  /** Lines sent from this page: the message's idempotency Key (protocol.md "Sending twice"). */
  readonly outKey?: string;
  readonly status?: Status;
  /** failed: why; pending after the server asked us to wait: what happens next. */
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
  /** The room's history was reset here: Seqs above and below it do not compare. */
  readonly boundary?: boolean;
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
  /** At most MAX_LINES. */
  readonly lines: List<Line>;
  /** The MsgIDs of the lines held: a line that comes twice (live and from History, a replayed own line) is shown once. */
  readonly ids: ISet<string>;
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
  /** Rooms: the Epoch its Seqs count in (protocol.md "History"). */
  readonly epoch?: string;
  /** Rooms: the lowest Seq held since the last reset: the next older page is read Before it. */
  readonly oldest?: number;
  /** Rooms: the latest page was asked for (once it is on screen, and again after a reset). */
  readonly opened: boolean;
  /** Rooms: the first page came. */
  readonly loaded: boolean;
  /** Rooms: a History read is in flight. */
  readonly loading: boolean;
  /** Rooms: the server has lines older than `oldest` (read by scrolling up while fewer than MAX_LINES are held). */
  readonly more: boolean;
}

export type Link =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'open' }
  | { readonly state: 'reconnecting'; readonly attempt: number; readonly retryAt: number }
  /** The server refused our name: the page asks for another. */
  | { readonly state: 'stopped'; readonly reason: string }
  /** The server closed on purpose (a policy code): no retry until the user asks. */
  | { readonly state: 'held'; readonly reason: string };

export interface Directory {
  readonly rooms: readonly { readonly Room: string; readonly Count: number }[];
  readonly total: number;
}

export interface ChatState {
  readonly name: string;
  /** Our connection ID; '' until the first welcome. A resume keeps it (protocol.md "Resuming"). */
  readonly me: string;
  readonly link: Link;
  /** Whether a welcome ever arrived (so the next one is a reconnection). */
  readonly welcomed: boolean;
  /** Rooms we mean to be in, in join order. */
  readonly rooms: readonly string[];
  /** Every conversation, in the order they began. */
  readonly convs: OrderedMap<string, Conversation>;
  /** Direct conversations, least recently active first: the first goes when there are over MAX_DMS. */
  readonly recent: OrderedSet<string>;
  /** The conversation on screen ('' before the first Join). */
  readonly current: string;
  readonly directory: Directory;
  /** Rooms the user asked to join: each is put on screen when its Join reply comes. */
  readonly joining: ISet<string>;
  /** The last error worth a toast. */
  readonly alert?: { readonly text: string; readonly at: number };
  /** Counter for notice keys. */
  readonly serial: number;
}

/** Facts: from the client library, from the user, and the outcomes of the page's requests. */
export type PageEvent =
  /** rooms: on an Error frame, the rooms the library is in after it (a room it could not rejoin is gone). */
  | { kind: 'lib'; event: LibEvent; at: number; rooms?: readonly string[] }
  /** key: a fresh idempotency Key for the line (main.ts makes it: the core has no randomness). */
  | { kind: 'said'; text: string; key: string; at: number }
  | { kind: 'retried'; conv: string; key: string; at: number }
  | { kind: 'switched'; conv: string }
  | { kind: 'joinAsked'; room: string; at: number }
  | { kind: 'leaveAsked'; room: string; at: number }
  | { kind: 'dmOpened'; peer: string; name: string }
  | { kind: 'renameAsked'; name: string; at: number }
  | { kind: 'roomsDue' }
  /** The reader is at the top of a room's lines. */
  | { kind: 'olderWanted'; conv: string }
  | { kind: 'historyLoaded'; room: string; before?: number; epoch?: string; messages: readonly Frame[]; more: boolean; at: number }
  | { kind: 'historyFailed'; room: string; before?: number; code: string; reason: string; at: number }
  /** The server (or the library) said no to a request of the user's. */
  | { kind: 'refused'; request: 'join' | 'leave' | 'rename'; subject: string; code: string; reason: string; at: number }
  | { kind: 'alertDismissed' };

/** What main.ts does with the client library. */
export type Effect =
  | { readonly kind: 'send'; readonly key: string; readonly room?: string; readonly to?: string; readonly content: string }
  | { readonly kind: 'join'; readonly room: string }
  | { readonly kind: 'leave'; readonly room: string }
  | { readonly kind: 'rename'; readonly name: string }
  | { readonly kind: 'listRooms' }
  /** A page of a room's lines: the latest, or Before a Seq (protocol.md "History"). */
  | { readonly kind: 'history'; readonly room: string; readonly before?: number; readonly limit: number };

export interface Step {
  readonly state: ChatState;
  readonly effects: readonly Effect[];
}

/** Lines kept per conversation: live lines push out the oldest; scrolling up reads older ones up to this. */
export const MAX_LINES = 1000;
/** Lines per History page the page asks for (protocol.md: at most 100). */
export const PAGE = 50;
/** Direct conversations kept: 5,000 strangers writing once must not make 5,000. Rooms are always kept. */
export const MAX_DMS = 200;
/** Members listed per room (protocol.md: a Join lists at most 100). */
export const MAX_MEMBERS_SHOWN = 100;

export const roomId = (room: string): string => `#${room}`;
export const dmId = (peer: string): string => `@${peer}`;

export function initialState(name: string, room: string): ChatState {
  return {
    name, me: '', link: { state: 'connecting', attempt: 0 }, welcomed: false, rooms: [room],
    convs: OrderedMap(), recent: OrderedSet(), current: '', directory: { rooms: [], total: 0 }, joining: ISet(), serial: 0,
  };
}

const noLines = { lines: List<Line>(), ids: ISet<string>(), unread: 0 };
const noHistory = { opened: false, loaded: false, loading: false, more: false };

export const emptyRoom = (room: string): Conversation =>
  ({ id: roomId(room), kind: 'room', title: room, ...noLines, members: [], count: 0, joined: false, ...noHistory });

export const emptyDm = (peer: string, name: string): Conversation =>
  ({ id: dmId(peer), kind: 'dm', title: name, peer, ...noLines, members: [], count: 0, joined: true, ...noHistory });

/** Total unread, for the tab title. */
export const unreadTotal = (s: ChatState): number => [...s.convs.values()].reduce((n, c) => n + c.unread, 0);

/** Room conversations in the order we joined them, then direct ones in the order they began. */
export function conversationsInOrder(s: ChatState): { rooms: Conversation[]; dms: Conversation[] } {
  const rooms = s.rooms.map((r) => s.convs.get(roomId(r))).filter((c): c is Conversation => c !== undefined);
  const dms = [...s.convs.values()].filter((c) => c.kind === 'dm');
  return { rooms, dms };
}
