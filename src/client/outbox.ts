// Our own messages until the server has them (protocol.md "Sending twice", "What an
// Ack guarantees"): each has a Key, kept across every retry, so a message sent again
// after a reconnect or a refusal is kept and delivered once. Pure pieces the machine
// (machine.ts) puts together.
import { Limits, codePoints, roomProblem } from '../core/protocol';
import { Outgoing, T } from './wire';

export interface OutMsg {
  /** The idempotency Key; also the Ref of every try, so an Error (which has no Key) names it. */
  readonly key: string;
  readonly room?: string;
  readonly to?: string;
  readonly content: string;
  /** queued: waits for a link; sent: on the wire, no Ack yet; waiting: refused for now, retried on a timer. */
  readonly state: 'queued' | 'sent' | 'waiting';
  /** How many times the log refused it for now (store_busy, store_failed, unavailable). */
  readonly refusals: number;
}

/** pending: not on the wire (offline, or waiting to retry); sent: awaiting its Ack. */
export type MessageStatus = 'pending' | 'sent' | 'delivered' | 'failed';

export interface MessageUpdate {
  readonly key: string;
  readonly status: MessageStatus;
  readonly room?: string;
  readonly to?: string;
  readonly content: string;
  /** delivered: the server's, from the Ack. */
  readonly msgId?: string;
  readonly seq?: number;
  readonly epoch?: string;
  /** delivered: the server already had it (an earlier try got through). */
  readonly duplicate?: boolean;
  /** failed, or pending after a refusal: why. */
  readonly code?: string;
  readonly reason?: string;
  /** pending after a refusal: when the next try goes. */
  readonly retryAt?: number;
}

/** protocol.md "Errors": the log could not take it now; the same Key may be sent again. */
export const isRetryable = (code: string | undefined): boolean =>
  code === 'store_busy' || code === 'store_failed' || code === 'unavailable' || code === 'rate_limited';

/**
 * protocol.md "Message rate": `rate_limited` says the connection sent faster than its rate. The message
 * goes again after `RetryMs`, however many tries it takes; several refused at once are spaced one
 * `RetryMs` apart (the first after one, the next after two, ...), so their retries arrive as the server's
 * bucket refills instead of all together, and none is sent while the server says to wait (which, kept
 * up, would close the connection with 4029).
 */
export const isPaced = (code: string | undefined): boolean => code === 'rate_limited';

/**
 * protocol.md "Errors": `unavailable` says the server's Redis is away, for as long as that lasts: the
 * message waits (retried at the backoff's ceiling) however many tries it takes, not up to sendAttempts.
 */
export const isOutage = (code: string | undefined): boolean => code === 'unavailable';

/** protocol.md "Sending twice": a Key is 1 to 64 characters. */
export const MAX_KEY = 64;

/** What the server would refuse anyway, found before it is queued (a local code, a reason). */
export function localProblem(m: Pick<OutMsg, 'key' | 'room' | 'to' | 'content'>): { code: string; reason: string } | undefined {
  if (m.key.length === 0 || m.key.length > MAX_KEY) return { code: 'bad_key', reason: `a Key is 1 to ${MAX_KEY} characters` };
  if (m.content.length === 0) return { code: 'empty_content', reason: 'Content must not be empty' };
  if (codePoints(m.content) > Limits.maxContent) {
    return { code: 'too_long', reason: `Content is at most ${Limits.maxContent} characters` };
  }
  if (m.room !== undefined) {
    const problem = roomProblem(m.room);
    if (problem) return { code: 'bad_room', reason: problem };
  } else if (m.to === undefined || m.to.length === 0 || m.to.length > Limits.maxSub) {
    return { code: 'bad_field', reason: `To must be the ID of a connection or, with auth on, a user's sub (1 to ${Limits.maxSub} characters)` };
  }
  return undefined;
}

/** The frame of one try: the same Key every time, and the Key as its Ref. */
export const frameOf = (m: OutMsg): Outgoing => (m.room !== undefined
  ? { Type: T.Broadcast, Room: m.room, Content: m.content, Key: m.key, Ref: m.key }
  : { Type: T.Direct, To: m.to, Content: m.content, Key: m.key, Ref: m.key });

export function update(m: OutMsg, status: MessageStatus, more: Partial<MessageUpdate> = {}): MessageUpdate {
  const base: MessageUpdate = m.room !== undefined
    ? { key: m.key, status, room: m.room, content: m.content }
    : { key: m.key, status, to: m.to, content: m.content };
  return { ...base, ...more };
}
