// The client library (src/client, issue 7) as the chat CLI and the bots use it in
// Node: the `ws` WebSocket, their 5 s bound on requests, its events as Observables,
// and a Sender that picks each message's Key before it asks, so a caller can wait
// for that message's fate (delivered, failed, or no Ack in time) from the start.
// Resume, the outbox, Keys and retries are the library's; nothing here repeats them.
import WebSocket from 'ws';
import { Observable } from 'rxjs';
import { ChatClient, ClientEvent, ClientOptions, MessageUpdate, RequestError } from '../../src/client';
import { keySequence } from '../../src/client/keys';

/** docs/cli.md: every request (join, who, history, …) waits at most this long for its answer. */
export const REQUEST_MS = 5000;

/** A client of the library on a `ws` socket (the library is given the WebSocket class to use). */
export function nodeClient(o: Omit<ClientOptions, 'WebSocket'>): ChatClient {
  return new ChatClient({ requestTimeoutMs: REQUEST_MS, ...o, WebSocket });
}

export type EventOf<K extends ClientEvent['type']> = Extract<ClientEvent, { type: K }>;

/** One kind of the client's events as an Observable; unsubscribing removes exactly its listener. */
export function events$<K extends ClientEvent['type']>(client: ChatClient, type: K): Observable<EventOf<K>> {
  return new Observable<EventOf<K>>((sub) => client.on(type, (e) => sub.next(e)));
}

/** Codes the library gives a request that failed on our side; any other code is the server's Error. */
const LOCAL_CODES = new Set(['not_connected', 'disconnected', 'closed', 'timeout', 'held']);

/** The server refused it with an Error frame (which the client also emitted as a frame, so it was shown). */
export const fromServer = (e: unknown): boolean => e instanceof RequestError && !LOCAL_CODES.has(e.code);

/** What became of one message: the library's last word on it, or no Ack within the bound while on the wire. */
export type Fate =
  | (MessageUpdate & { status: 'delivered' | 'failed' })
  | { key: string; status: 'timeout'; content: string; room?: string; to?: string };

interface Waiter {
  resolve: (f: Fate) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Sends through the client's outbox and keeps a promise per message. A message waits
 * for its Ack at most `answerMs` while it is on the wire ('sent'); while it is pending
 * (no link, or the log asked for a retry) the clock stops, because the library will
 * send it again with the same Key. The library's own bounds end every wait: a failed
 * retry after `sendAttempts`, or close().
 */
export class Sender {
  private readonly waiting = new Map<string, Waiter>();
  /** settled() calls waiting for the last fate. */
  private readonly drained = new Set<() => void>();
  private readonly newKey = keySequence();
  private readonly stop: () => void;

  constructor(private readonly client: ChatClient, private readonly answerMs: number) {
    this.stop = client.on('message', (e) => this.update(e.message));
  }

  /** Queues a line for a room, or a Direct message for a connection ID; the fate settles once. */
  send(where: { room: string } | { to: string }, text: string): { key: string; fate: Promise<Fate> } {
    const key = this.newKey();
    // Listen before asking: the client tells a message's first states before send() returns.
    const fate = new Promise<Fate>((resolve) => this.waiting.set(key, { resolve }));
    if ('room' in where) this.client.send(where.room, text, { key });
    else this.client.sendDirect(where.to, text, { key });
    return { key, fate };
  }

  /** Messages whose fate is not known yet. */
  get inFlight(): number { return this.waiting.size; }

  /** Resolves when every message sent so far has its fate (true), or after ms (false). */
  settled(ms: number): Promise<boolean> {
    if (this.waiting.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (all: boolean) => {
        clearTimeout(timer);
        this.drained.delete(onDrained);
        resolve(all);
      };
      const onDrained = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.drained.add(onDrained);
    });
  }

  dispose(): void {
    this.stop();
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    for (const d of [...this.drained]) d();
  }

  private update(m: MessageUpdate): void {
    const w = this.waiting.get(m.key);
    if (!w) return;
    clearTimeout(w.timer);
    w.timer = undefined;
    if (m.status === 'sent') {
      w.timer = setTimeout(() => this.settle(m.key, { key: m.key, status: 'timeout', content: m.content, room: m.room, to: m.to }), this.answerMs);
    } else if (m.status === 'delivered' || m.status === 'failed') {
      this.settle(m.key, m as Fate);
    }
  }

  private settle(key: string, f: Fate): void {
    const w = this.waiting.get(key);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiting.delete(key);
    w.resolve(f);
    if (this.waiting.size === 0) for (const d of [...this.drained]) d();
  }
}
