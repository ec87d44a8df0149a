// The client's state, inputs, commands and events, as plain never-mutated data.
// The reducer is machine.ts; the shell (client.ts) owns the socket and the timers,
// feeds inputs in and carries commands out. No socket, no clock, no randomness here:
// times and random numbers arrive on the inputs.
//
// Cost: a line replaces its room's record and copies the map of rooms, which holds at
// most 32 (protocol.md "Rooms"); the outbox is bounded (outboxMax). Both stay small.
import { Backoff, DEFAULT_BACKOFF, Reconnect } from './backoff';
import type { MessageUpdate, OutMsg } from './outbox';
import type { RoomState } from './room';
import type { Frame, Outgoing, Position } from './wire';

export interface CoreOptions {
  /** ws://host:port/ws; the library adds the query. */
  readonly url: string;
  readonly backoff: Backoff;
  /** A HeartBeat this often once ready; no frame within deadMs after one means the link is dead. */
  readonly pingMs: number;
  readonly deadMs: number;
  /** No welcome this long after connecting: give up on that attempt. */
  readonly connectTimeoutMs: number;
  /** The bounded wait of every request (history, join, …) and catch-up read. */
  readonly requestTimeoutMs: number;
  /** Messages the outbox keeps (queued, in flight, waiting to retry); one more is refused: failed, outbox_full. */
  readonly outboxMax: number;
  /** Tries of one message the log refused for now (store_busy, store_failed) before it is failed; `unavailable` is retried without this bound. */
  readonly sendAttempts: number;
  /** Lines one room holds ahead of a gap while History fills it. */
  readonly heldMax: number;
  /** Emit a `seq` event for each line and own Ack the app gets (bots' --verify). */
  readonly reportSeq: boolean;
}

export const DEFAULT_OPTIONS: Omit<CoreOptions, 'url'> = {
  backoff: DEFAULT_BACKOFF,
  pingMs: 25_000,
  deadMs: 10_000,
  connectTimeoutMs: 10_000,
  requestTimeoutMs: 10_000,
  outboxMax: 200,
  sendAttempts: 8,
  heldMax: 1000,
  reportSeq: false,
};

/** held: the server closed on purpose (a policy code); no retry until asked. */
export type Phase = 'idle' | 'connecting' | 'ready' | 'down' | 'held' | 'closed';

/** What an answer with this Ref is about. */
export type Pending =
  | { readonly kind: 'app'; readonly id: number }
  | { readonly kind: 'catchup'; readonly room: string }
  | { readonly kind: 'rejoin'; readonly room: string };

export interface ClientState {
  readonly opts: CoreOptions;
  readonly phase: Phase;
  /** The current socket's number: events of an older one are stale. */
  readonly conn: number;
  readonly retries: Reconnect;
  /** Our connection ID; '' before the first welcome. */
  readonly id: string;
  /** Our display name: asked for, then as the server says. */
  readonly name?: string;
  /** The resume token of the last welcome (protocol.md "Resuming"). */
  readonly token?: string;
  readonly everReady: boolean;
  /** A HeartBeat went out and no frame has come since. */
  readonly awaitingBeat: boolean;
  /** Rooms we are in or mean to be in, in join order (the first goes in ?room=). */
  readonly rooms: ReadonlyMap<string, RoomState>;
  readonly outbox: readonly OutMsg[];
  readonly requests: ReadonlyMap<number, Pending>;
  /** Counter for request Refs: numbers, so they never meet a message's Ref, which is its Key (a string). */
  readonly serial: number;
  /** MsgIDs of the last Direct messages, so one replayed on a resume is not shown twice. */
  readonly directs: readonly string[];
}

/** Where the link stands, as the app is told. */
export type LinkState =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'ready' }
  | { readonly state: 'down'; readonly attempt: number; readonly retryAt: number; readonly code: number; readonly reason: string }
  /** A policy close (1008, 4xxx but 4008): no retry until reconnect(). */
  | { readonly state: 'held'; readonly code: number; readonly reason: string }
  | { readonly state: 'closed' };

export type ClientEvent =
  | { readonly type: 'link'; readonly link: LinkState }
  /**
   * Welcomed. resumed: the same ID, name and rooms (protocol.md "Resuming"); otherwise
   * on a reconnect (reconnected) a new identity: previousId was ours, the rooms are rejoined.
   */
  | { readonly type: 'ready'; readonly id: string; readonly name: string; readonly rooms: readonly string[];
      readonly resumed: boolean; readonly reconnected: boolean; readonly previousId?: string }
  /** A chat line (Type 1), per room in Seq order, each once. via: how it reached us. */
  | { readonly type: 'line'; readonly room: string; readonly frame: Frame; readonly via: 'live' | 'history' }
  /** A Direct message to us (Type 11), each MsgID once. */
  | { readonly type: 'direct'; readonly frame: Frame }
  /** One of our own messages changed state. */
  | { readonly type: 'message'; readonly message: MessageUpdate }
  /** Any other frame: System notices, Join/Leave replies, presence, Rooms, Members, Rename, Errors not about a message. */
  | { readonly type: 'frame'; readonly frame: Frame }
  /** The room's history was reset (or we had no position): lines now count from seq in epoch. */
  | { readonly type: 'reset'; readonly room: string; readonly reason: string; readonly seq: number; readonly epoch: string }
  /** Lines with after < Seq < before are not kept any more (trimmed): the app will never get them. */
  | { readonly type: 'gap'; readonly room: string; readonly after: number; readonly before: number }
  /** Reading missed lines from History (started, with why); done: complete false when the read failed. */
  | { readonly type: 'catchup'; readonly room: string; readonly state: 'started'; readonly reason: string }
  | { readonly type: 'catchup'; readonly room: string; readonly state: 'done'; readonly complete: boolean }
  /** reportSeq only: each Seq the app got in a room, a line or our own acked message, in order. */
  | { readonly type: 'seq'; readonly room: string; readonly seq: number; readonly epoch: string; readonly own: boolean };

/** Facts from the app, the socket and the timers. */
export type InputBody =
  | { kind: 'started' }
  | { kind: 'frameReceived'; conn: number; frame: Frame }
  | { kind: 'socketClosed'; conn: number; code: number; reason: string }
  | { kind: 'timerFired'; name: string }
  | { kind: 'sendAsked'; key: string; room?: string; to?: string; content: string }
  | { kind: 'requestAsked'; id: number; frame: Outgoing }
  /** The network came back, the tab is visible: skip the wait, but never a policy hold. */
  | { kind: 'retryNowAsked' }
  /** The user asked: connect now, even after a policy close. */
  | { kind: 'reconnectAsked' }
  | { kind: 'closeAsked' };

/** An input as the core takes it: with the time, and a random number for the backoff's jitter. */
export type Input = InputBody & {
  /** The clock, ms. */
  at: number;
  /** Uniform in [0, 1) (0.5, no jitter, when absent). */
  rand?: number;
};

/** What the shell must do, in order, after the state is committed. */
export type Command =
  | { readonly kind: 'connect'; readonly conn: number; readonly url: string }
  | { readonly kind: 'send'; readonly frame: Outgoing }
  /** Close the current socket and forget it (its late events are stale). */
  | { readonly kind: 'disconnect'; readonly code: number; readonly reason: string }
  | { readonly kind: 'setTimer'; readonly name: string; readonly ms: number }
  | { readonly kind: 'clearTimer'; readonly name: string }
  | { readonly kind: 'emit'; readonly event: ClientEvent }
  | { readonly kind: 'resolve'; readonly id: number; readonly frame: Frame }
  | { readonly kind: 'reject'; readonly id: number; readonly code: string; readonly reason: string };

export interface Step {
  readonly state: ClientState;
  readonly commands: readonly Command[];
}

/** What a client may start from: a session kept by the app (a reloaded page), or nothing. */
export interface Restore {
  readonly token?: string;
  readonly id?: string;
  readonly positions?: readonly Position[];
}

export function initialState(
  opts: CoreOptions, name: string | undefined, rooms: readonly string[], restore: Restore = {},
): ClientState {
  return {
    opts, phase: 'idle', conn: 0, retries: { attempt: 0 }, id: restore.id ?? '', name, token: restore.token,
    everReady: false, awaitingBeat: false, rooms: roomsFrom(rooms, restore.positions ?? []),
    outbox: [], requests: new Map(), serial: 0, directs: [],
  };
}

function roomsFrom(names: readonly string[], positions: readonly Position[]): ReadonlyMap<string, RoomState> {
  const rooms = new Map<string, RoomState>();
  const at = new Map(positions.map((p) => [p.room, p]));
  for (const name of [...names, ...positions.map((p) => p.room)]) {
    if (rooms.has(name)) continue;
    const p = at.get(name);
    rooms.set(name, { name, joined: false, seq: p?.seq ?? 0, epoch: p?.epoch ?? '', overflow: false, held: [] });
  }
  return rooms;
}

/** Each room's position, for `since` and for the app (/history, --verify). */
export const positions = (s: ClientState): Position[] =>
  [...s.rooms.values()].filter((r) => r.epoch !== '').map((r) => ({ room: r.name, seq: r.seq, epoch: r.epoch }));
