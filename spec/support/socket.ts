// A fake ws socket for marble specs: its events play a marble timeline from the
// moment the first listener attaches, and stop when the last one leaves, so a
// spec can assert teardown with subscription marbles and listener counts.
import { EventEmitter } from 'node:events';
import { Observable, Subscription } from 'rxjs';
import type { SocketLike } from '../../src/edge/connection';

export type SocketFact =
  | { kind: 'text'; data: string }
  | { kind: 'binary'; data: string }
  | { kind: 'pong' }
  | { kind: 'close' }
  | { kind: 'error' }
  /** The server began the closing handshake (ws: readyState CLOSING); frames may still arrive. */
  | { kind: 'closing' };

export const text = (data: string): SocketFact => ({ kind: 'text', data });
export const binary = (data: string): SocketFact => ({ kind: 'binary', data });
export const pong: SocketFact = { kind: 'pong' };
export const close: SocketFact = { kind: 'close' };
export const error: SocketFact = { kind: 'error' };
export const closing: SocketFact = { kind: 'closing' };

export class FakeSocket extends EventEmitter {
  private playing: Subscription | undefined;
  /** As ws numbers them: 1 OPEN, 2 CLOSING, 3 CLOSED. */
  readyState = 1;

  constructor(private readonly facts$: Observable<SocketFact>) {
    super();
  }

  /** The socket as a connection sees it. */
  get socket(): SocketLike {
    return this as unknown as SocketLike;
  }

  listenerTotal(): number {
    return this.eventNames().reduce((n, e) => n + this.listenerCount(e), 0);
  }

  on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    this.playing ??= this.facts$.subscribe((f) => this.play(f));
    return this;
  }

  off(event: string | symbol, listener: (...args: any[]) => void): this {
    super.off(event, listener);
    if (this.listenerTotal() === 0) {
      this.playing?.unsubscribe();
      // Listened to again: its timeline plays again from then.
      this.playing = undefined;
    }
    return this;
  }

  private play(f: SocketFact): void {
    switch (f.kind) {
      case 'text':
        this.emit('message', Buffer.from(f.data), false);
        return;
      case 'binary':
        this.emit('message', Buffer.from(f.data), true);
        return;
      case 'pong':
        this.emit('pong', Buffer.alloc(0));
        return;
      case 'close':
        this.readyState = 3;
        this.emit('close', 1000, Buffer.alloc(0));
        return;
      case 'closing':
        this.readyState = 2;
        return;
      case 'error':
        this.emit('error', new Error('ECONNRESET'));
    }
  }
}
