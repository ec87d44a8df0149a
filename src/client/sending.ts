// The outbox in the core: queue, send, retry, deliver (protocol.md "Sending twice",
// "What an Ack guarantees"). Every try of a message carries its Key, so the server
// keeps and delivers it once, however often it goes.
import { backoffDelay } from './backoff';
import { Out, told } from './commands';
import { OutMsg, frameOf, isOutage, isPaced, isRetryable, localProblem, update } from './outbox';
import type { ClientState } from './state';
import { Frame, epochOf, seqOf } from './wire';

/** The app asked to send: refused at once if it cannot go, else on the wire now or queued. */
export function queue(s: ClientState, m0: Pick<OutMsg, 'key' | 'room' | 'to' | 'content'>, out: Out): ClientState {
  const m: OutMsg = { ...m0, state: 'queued', refusals: 0 };
  const problem = localProblem(m) ?? (s.phase === 'closed' ? { code: 'closed', reason: 'the client is closed' }
    : s.outbox.some((x) => x.key === m.key) ? { code: 'bad_key', reason: 'that Key is already in the outbox' }
    // Bounded: past it the new message is refused, so what was queued first keeps its place and order.
    : s.outbox.length >= s.opts.outboxMax ? { code: 'outbox_full', reason: `${s.opts.outboxMax} messages are already waiting to be sent` }
    : undefined);
  if (problem) {
    told(out, update(m, 'failed', problem));
    return s;
  }
  if (s.phase === 'ready') return { ...s, outbox: [...s.outbox, transmit(m, out)] };
  told(out, update(m, 'pending'));
  return { ...s, outbox: [...s.outbox, m] };
}

/** One try on the wire, with the message's Key. */
export function transmit(m: OutMsg, out: Out): OutMsg {
  const sent: OutMsg = { ...m, state: 'sent' };
  out.push({ kind: 'send', frame: frameOf(sent) });
  told(out, update(sent, 'sent'));
  return sent;
}

export const withMsg = (s: ClientState, m: OutMsg): ClientState =>
  ({ ...s, outbox: s.outbox.map((x) => (x.key === m.key ? m : x)) });

/** Its Ack: delivered, once (a repeat's Ack finds it gone); a Duplicate said so. */
export function acked(s: ClientState, m: OutMsg, f: Frame, out: Out): ClientState {
  if (m.state === 'waiting') out.push({ kind: 'clearTimer', name: `send:${m.key}` });
  const seq = seqOf(f);
  const epoch = epochOf(f);
  told(out, update(m, 'delivered', {
    ...(typeof f.MsgID === 'string' ? { msgId: f.MsgID } : {}),
    ...(seq !== undefined ? { seq } : {}),
    ...(epoch !== undefined ? { epoch } : {}),
    ...(f.Duplicate === true ? { duplicate: true } : {}),
  }));
  return { ...s, outbox: s.outbox.filter((x) => x !== m) };
}

/** An Error about it: the log refused it for now (retry, same Key, after a while), or it failed. */
export function refusedMsg(s: ClientState, m: OutMsg, f: Frame, at: number, rand: number, out: Out): ClientState {
  const why = { code: f.Code ?? 'error', reason: f.Content };
  if (isPaced(f.Code)) {
    const wait = typeof f.RetryMs === 'number' && f.RetryMs > 0 ? Math.min(f.RetryMs, 60_000) : 1_000;
    const ms = wait * (1 + s.outbox.filter((x) => x.state === 'waiting').length);
    const w: OutMsg = { ...m, state: 'waiting' };
    out.push({ kind: 'setTimer', name: `send:${m.key}`, ms });
    told(out, update(w, 'pending', { ...why, retryAt: at + ms }));
    return withMsg(s, w);
  }
  if (isRetryable(f.Code) && (isOutage(f.Code) || m.refusals + 1 < s.opts.sendAttempts)) {
    // protocol.md "What an Ack guarantees": not kept, not delivered; the client may send it again.
    const ms = backoffDelay(m.refusals, s.opts.backoff, () => rand);
    const w: OutMsg = { ...m, state: 'waiting', refusals: m.refusals + 1 };
    out.push({ kind: 'setTimer', name: `send:${m.key}`, ms });
    told(out, update(w, 'pending', { ...why, retryAt: at + ms }));
    return withMsg(s, w);
  }
  told(out, update(m, 'failed', why));
  return { ...s, outbox: s.outbox.filter((x) => x !== m) };
}

/** Its retry timer: on the wire again if we are connected, else queued for the next welcome. */
export function retryDue(s: ClientState, key: string, out: Out): ClientState {
  const m = s.outbox.find((x) => x.key === key);
  if (!m || m.state !== 'waiting') return s;
  return withMsg(s, s.phase === 'ready' ? transmit(m, out) : { ...m, state: 'queued' });
}
