// The effect runner: the only code that touches sockets. It keeps the registry
// of live sockets by connection ID (never in hub state), carries out effects in
// order, serializes and frames each message once (frame.ts) and writes that
// frame to every recipient's socket, stops reading clients that do not read
// (TCP backpressure) and drops readers that cannot keep up. Effects for the
// message log (append, read) it hands to the store runner.
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { Close, Outgoing, isEncoded } from '../core/protocol';
import { Effect } from '../core/events';
import { Logger } from '../ops/logger';
import type { Identity } from './connection';
import { encodeFrame, textFrame } from './frame';

/** The effects the message log carries out (src/store/runner.ts). */
export type StoreEffect = Extract<Effect, { kind: 'append' | 'read' }>;

export interface RunnerOptions {
  /**
   * Bytes from earlier turns that may wait in a socket's send buffer before its
   * reader counts as behind (and is not read until it has taken them).
   */
  maxBuffered: number;
  /** How long a reader may stay behind before it is dropped as slow (default SLOW_MS). */
  slowMs?: number;
  /** The clock, for specs (default Date.now). */
  now?: () => number;
  log: Logger;
  /** Told when the runner drops a connection itself (slow reader), so the hub can forget it. */
  onDropped: (id: string, reason: 'slow') => void;
  /** Where append and read effects go. */
  store?: (effect: StoreEffect) => void;
  /** Told when a socket takes on another identity (a resume). */
  onRebind?: (from: string, to: string) => void;
  /** Several processes: where rooms are listened to (src/cluster/bus.ts). */
  bus?: { join(room: string): void; leave(room: string): void };
  /** Several processes: where session effects go (src/cluster/session-runner.ts). */
  sessions?: (effect: Extract<Effect, { kind: 'session' }>) => void;
  /** Several processes: where presence effects go (src/cluster/presence-runner.ts). */
  presence?: (effect: PresenceEffect) => void;
  /** Metrics (src/ops/metrics.ts): told once per send or broadcast effect, with how many sockets it addresses. */
  delivered?: (n: number, message: Outgoing) => void;
}

/**
 * A socket and the identity its connection stream names its events with (connection.ts `Identity`, the
 * same object: server.ts gives it to both); a `rebind` changes the ID. One object per socket, where a
 * WeakMap from socket to identity beside the registry cost ~30-40 B more a socket (issue 9).
 */
export interface Seat extends Identity {
  readonly ws: WebSocket;
}

/** The effects presence across nodes carries out. */
export type PresenceEffect = Extract<Effect, { kind: 'presence' }>;

/**
 * protocol.md "Closing": a reader may be more than --max-buffered behind for this
 * long (a burst it is still taking in) before it is dropped as slow...
 */
export const SLOW_MS = 5_000;
/** ...and never by more than this many times --max-buffered, whatever the time. */
export const HARD_FACTOR = 8;

/** The frame of a message, or of one whose JSON was made already (a line heard from another process). */
const frameOf = (m: Outgoing): Buffer => (isEncoded(m) ? textFrame(m.wire) : encodeFrame(m));

/** ws keeps its net.Socket in `_socket` (not in its typings); null before the upgrade and after close. */
type WithSocket = WebSocket & { _socket?: Duplex | null };

export class Runner {
  private readonly sockets = new Map<string, Seat>();
  // Sockets told to close (dropped as slow, or by a `close` effect) until their
  // 'close' event: a slow reader never completes the closing handshake, and
  // shutdown must still be able to wait for them and cut them (issue 11, 4a).
  private readonly closing = new Set<WebSocket>();
  // When each reader found behind (over maxBuffered at a turn's first write) was
  // first found so; cleared when it catches up. Weak: a socket gone is forgotten.
  private readonly behindSince = new WeakMap<WebSocket, number>();
  // Readers not read because they are behind, each with the 'drain' listener that
  // reads it again once its socket has written the backlog out: TCP backpressure,
  // so a client that does not take its answers cannot ask for more. Keyed by
  // socket, not ID, so a `rebind` changes nothing here.
  private readonly held = new WeakMap<WebSocket, () => void>();
  // False once shutdown stopped reading: a 'drain' then reads nothing again.
  private reading = true;
  private readonly slowMs: number;
  private readonly now: () => number;
  private readonly hardBytes: number;
  private readonly quietBytes: number;
  // Bytes this turn has queued, to all sockets together. Until it passes
  // quietBytes no corked socket can be past hardBytes (write), so none is asked.
  private turnBytes = 0;
  // Sockets corked in this turn of the event loop, uncorked together once the
  // poll phase is over (setImmediate): the frames one socket gets from several
  // steps in a turn (a burst of broadcasts, a chat line and an ack) leave in one
  // write instead of one syscall each. Order is kept: cork only buffers.
  //
  // A turn that asked the log for an append gets a second uncork, queued behind
  // the store runner's batch (src/store/runner.ts, setImmediate too): the writes
  // the log's answers cause, a chat line's deliveries and Ack, then leave in the
  // turn the log answered rather than after the next turn's frames have all been
  // read and stepped. Still at most one write per socket per turn: a socket the
  // first uncork of the turn wrote out keeps what the batch gave it for the next
  // turn, as every socket did before (a resume's welcome and its replay, say,
  // leave in two turns).
  private corked: WebSocket[] = [];
  // uncorkAll calls queued and not yet run: a write corks without queueing another.
  private uncorksDue = 0;
  // Whether an uncork is queued behind the store runner's batch (appendAsked)...
  private afterStore = false;
  // ...and the sockets written out in this turn before it ran.
  private readonly wroteThisTurn = new Set<WebSocket>();
  private readonly uncorkAll = () => {
    this.uncorksDue--;
    this.uncork(false);
  };

  private readonly uncorkAfterStore = () => {
    this.afterStore = false;
    this.uncorksDue--;
    this.uncork(true);
    this.wroteThisTurn.clear();
  };

  private uncork(afterStore: boolean): void {
    const corked = this.corked;
    this.corked = [];
    let kept = false;
    for (const ws of corked) {
      const socket = (ws as WithSocket)._socket;
      if (!socket) continue;
      if (afterStore && this.wroteThisTurn.has(ws)) {
        this.corked.push(ws);
        kept = true;
        continue;
      }
      socket.uncork();
      if (this.afterStore) this.wroteThisTurn.add(ws);
      // What the kernel did not take is still here: over maxBuffered, the reader
      // is behind, and what it sends waits until it has caught up; back under
      // (without having emptied it: no 'drain'), it is read again. Once per
      // socket per turn, not per write.
      if (socket.writableLength > this.opts.maxBuffered) this.hold(ws, socket);
      else if (ws.isPaused) this.release(ws);
    }
    if (kept) {
      // Sockets still corked: what they were given since their cork is all in turnBytes, which goes on counting.
      this.queueUncork();
    } else {
      this.turnBytes = 0;
    }
  }

  constructor(private readonly opts: RunnerOptions) {
    this.slowMs = opts.slowMs ?? SLOW_MS;
    this.now = opts.now ?? Date.now;
    this.hardBytes = HARD_FACTOR * opts.maxBuffered;
    this.quietBytes = (HARD_FACTOR - 1) * opts.maxBuffered;
  }

  /** Live sockets and those still closing. */
  get size(): number {
    return this.sockets.size + this.closing.size;
  }

  /** Adds a socket under its identity's ID; it leaves the registry on the hub's `forget` or `terminate`, or when dropped as slow. */
  register(seat: Seat): void {
    this.sockets.set(seat.id, seat);
  }

  /** Carries out one step's effects in order. A failing effect is logged and the rest still run. */
  run(effects: readonly Effect[]): void {
    for (const effect of effects) {
      try {
        this.apply(effect);
      } catch (e) {
        this.opts.log('error', 'effect_failed', { effect: effect.kind, error: String(e) });
      }
    }
  }

  /** Every socket, live or closing, for shutdown's last resort. */
  terminateAll(): void {
    for (const { ws } of this.sockets.values()) ws.terminate();
    for (const ws of this.closing) ws.terminate();
    this.closing.clear();
  }

  /**
   * Stops reading from every socket (shutdown): no new frames reach the hub, so
   * the event loop drains and the stop's timers run even under a flood. A reader
   * held for backpressure stays unread when it catches up; only a close reads
   * again (closeTracked).
   */
  pauseReading(): void {
    this.reading = false;
    for (const { ws } of this.sockets.values()) ws.pause();
  }

  private apply(effect: Effect): void {
    switch (effect.kind) {
      case 'send': {
        const seat = this.sockets.get(effect.to);
        if (!seat) return;
        this.write(effect.to, seat.ws, frameOf(effect.message));
        this.opts.delivered?.(1, effect.message);
        return;
      }
      case 'broadcast': {
        const frame = frameOf(effect.message);
        let n = 0;
        for (const id of effect.to) {
          if (id === effect.except) continue;
          const seat = this.sockets.get(id);
          if (seat) {
            this.write(id, seat.ws, frame);
            n++;
          }
        }
        // Metrics are told once per effect, not per socket: a fan-out of thousands costs one call.
        this.opts.delivered?.(n, effect.message);
        return;
      }
      case 'close': {
        const ws = this.sockets.get(effect.to)?.ws;
        if (ws && ws.readyState === WebSocket.OPEN) this.closeTracked(ws, effect.code, effect.reason);
        return;
      }
      case 'terminate':
        this.sockets.get(effect.to)?.ws.terminate();
        this.sockets.delete(effect.to);
        return;
      case 'forget':
        this.sockets.delete(effect.to);
        return;
      case 'ping':
        for (const id of effect.to) {
          const ws = this.sockets.get(id)?.ws;
          if (ws && ws.readyState === WebSocket.OPEN) ws.ping();
        }
        return;
      case 'log':
        this.opts.log(effect.level, effect.event, effect.fields);
        return;
      case 'append':
      case 'read':
        if (!this.opts.store) throw new Error('no message log to carry out a store effect');
        this.opts.store(effect);
        if (effect.kind === 'append') this.appendAsked();
        return;
      case 'rebind':
        this.rebind(effect.from, effect.to);
        return;
      case 'subscribe':
        this.opts.bus?.join(effect.room);
        return;
      case 'unsubscribe':
        this.opts.bus?.leave(effect.room);
        return;
      case 'session':
        if (!this.opts.sessions) throw new Error('no sessions store to carry out a session effect');
        this.opts.sessions(effect);
        return;
      case 'presence':
        if (!this.opts.presence) throw new Error('no presence to carry out a presence effect');
        this.opts.presence(effect);
        return;
      default: {
        const never: never = effect;
        throw new Error(`unknown effect ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * A resume: the socket registered as `from` becomes `to`, and the one that was
   * `to` (a takeover) becomes `from`; each stream then names its events so.
   */
  /** The identities of the sockets held, for the heartbeat's pings (the hub pings those it knows). */
  ids(): string[] {
    return [...this.sockets.keys()];
  }

  private rebind(from: string, to: string): void {
    const a = this.sockets.get(from);
    const b = this.sockets.get(to);
    this.sockets.delete(from);
    this.sockets.delete(to);
    if (a) {
      a.id = to;
      this.sockets.set(to, a);
    }
    if (b) {
      b.id = from;
      this.sockets.set(from, b);
    }
    this.opts.onRebind?.(from, to);
  }

  private queueUncork(): void {
    this.uncorksDue++;
    setImmediate(this.uncorkAll);
  }

  /** A turn that asked for an append: one uncork behind the store runner's batch (queued by now), whatever the effects. */
  private appendAsked(): void {
    if (this.afterStore) return;
    this.afterStore = true;
    this.uncorksDue++;
    setImmediate(this.uncorkAfterStore);
  }

  /** Writes a whole frame (frame.ts) to the socket under `ws`: the same Buffer for every recipient. */
  private write(id: string, ws: WebSocket, frame: Buffer): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    const socket = (ws as WithSocket)._socket;
    if (!socket) return; // gone: ws is closing it
    this.turnBytes += frame.length;
    // writableCorked is 0 unless we corked it: ws's own cork (a ping, a close frame) is undone before it returns.
    if (socket.writableCorked !== 0) {
      // A later write this turn to a socket corked at its first: its backlog was
      // at most maxBuffered then, and has grown by at most what the whole turn
      // queued since (nothing leaves a corked socket). So only in a turn that
      // has queued more than quietBytes can it be past hardBytes, and only then
      // is it asked: a broadcast pays one addition per recipient. protocol.md
      // "Closing": however much one turn produces for a reader (a burst of
      // History pages, a resume's replay), its backlog stops at the hard bound.
      if (this.turnBytes > this.quietBytes && ws.bufferedAmount > this.hardBytes) {
        this.drop(id, ws);
        return;
      }
    } else {
      // The first write to this socket in this turn, or any write to a reader
      // that is behind (its socket is not corked, so each comes here). What is
      // buffered at the first write is the backlog of earlier turns that the
      // reader has not taken yet: how far behind it is. Frames this turn
      // produces cannot leave before the uncork, so they say nothing about the
      // reader and are not counted (issue 11, 2).
      const backlog = ws.bufferedAmount;
      if (backlog <= this.opts.maxBuffered) {
        this.behindSince.delete(ws);
        if (this.uncorksDue === 0) this.queueUncork();
        socket.cork();
        this.corked.push(ws);
      } else if (this.tooSlow(ws, backlog)) {
        this.drop(id, ws);
        return;
      } else {
        // Behind: read nothing more from it until it has caught up. It stays
        // uncorked (its kernel buffer is full, so nothing is lost by it), and so
        // every further write to it this turn is checked against the hard bound.
        this.hold(ws, socket);
      }
    }
    socket.write(frame);
  }

  /** protocol.md "Closing": the reader is dropped with 4008 and nothing more is queued for it; it leaves the registry now. */
  private drop(id: string, ws: WebSocket): void {
    this.sockets.delete(id);
    this.closeTracked(ws, Close.SlowConsumer, 'too slow to read');
    this.opts.onDropped(id, 'slow');
  }

  /**
   * Whether a reader that is behind (a backlog over maxBuffered) is too far
   * behind to keep: over HARD_FACTOR × maxBuffered at all, or behind for longer
   * than slowMs. A reader that takes in a burst catches up within the time; one
   * that has stopped reading does not, and its backlog stops growing at the
   * hard bound.
   */
  private tooSlow(ws: WebSocket, backlog: number): boolean {
    if (backlog > this.hardBytes) return true;
    const now = this.now();
    const since = this.behindSince.get(ws);
    if (since === undefined) {
      this.behindSince.set(ws, now);
      return false;
    }
    return now - since > this.slowMs;
  }

  /**
   * Stops reading a reader that is behind until its socket has written out its
   * backlog ('drain'). Only an open socket (a closing one reads for the peer's
   * close frame), not one paused already (held, or by shutdown), and only when
   * a 'drain' will come: Node emits it once the buffer empties after a write
   * found it over its high-water mark (writableNeedDrain); under that mark the
   * backlog is too small to matter.
   */
  private hold(ws: WebSocket, socket: Duplex): void {
    if (ws.isPaused || ws.readyState !== WebSocket.OPEN || !socket.writableNeedDrain) return;
    const onDrain = () => this.release(ws);
    this.held.set(ws, onDrain);
    socket.once('drain', onDrain);
    ws.pause();
  }

  /** Reads a held reader again (unless shutdown has stopped reading), and forgets its 'drain' listener. */
  private release(ws: WebSocket): void {
    const onDrain = this.held.get(ws);
    if (!onDrain) return;
    this.held.delete(ws);
    (ws as WithSocket)._socket?.off('drain', onDrain);
    if (this.reading) ws.resume();
  }

  /** Starts the closing handshake and keeps the socket tracked until it is over. */
  private closeTracked(ws: WebSocket, code: number, reason: string): void {
    this.closing.add(ws);
    ws.once('close', () => this.closing.delete(ws));
    ws.close(code, reason);
    // Read again if shutdown paused it or it was held as behind: the peer's
    // close frame ends the handshake.
    // Frames before it are not taken (connection.ts), so this cannot flood the hub.
    ws.resume();
  }
}
