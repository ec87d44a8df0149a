// Requests of ours and their answers (protocol.md: an answer, or an Error about a
// request, echoes its Ref). Refs are numbers, so they never meet a message's Ref, which
// is its Key (a string). Every request has a timer: no wait is unbounded.
import type { Out } from './commands';
import type { ClientState, Pending } from './state';
import { Frame, T } from './wire';

/** A request of ours goes out with the next number as its Ref, answered or timed out. */
export function ask(s: ClientState, p: Pending, out: Out): [ClientState, number] {
  const ref = s.serial + 1;
  out.push({ kind: 'setTimer', name: `req:${ref}`, ms: s.opts.requestTimeoutMs });
  return [{ ...s, serial: ref, requests: new Map(s.requests).set(ref, p) }, ref];
}

/** The request this frame answers, if any, forgotten; an app's request settled. */
export function answered(s: ClientState, f: Frame, out: Out): [ClientState, Pending | undefined] {
  if (typeof f.Ref !== 'number') return [s, undefined];
  const p = s.requests.get(f.Ref);
  if (!p) return [s, undefined];
  out.push({ kind: 'clearTimer', name: `req:${f.Ref}` });
  if (p.kind === 'app') {
    out.push(f.Type === T.Error
      ? { kind: 'reject', id: p.id, code: f.Code ?? 'error', reason: f.Content }
      : { kind: 'resolve', id: p.id, frame: f });
  }
  return [forget(s, f.Ref), p];
}

/** No answer in time: an app's request fails; the caller handles the others. */
export function timedOut(s: ClientState, ref: number, out: Out): [ClientState, Pending | undefined] {
  const p = s.requests.get(ref);
  if (!p) return [s, undefined];
  if (p.kind === 'app') out.push({ kind: 'reject', id: p.id, code: 'timeout', reason: `no answer within ${s.opts.requestTimeoutMs} ms` });
  return [forget(s, ref), p];
}

/** Nothing in flight will be answered (the link is gone, the client closed). */
export function failRequests(s: ClientState, code: string, reason: string, out: Out): void {
  for (const [ref, p] of s.requests) {
    out.push({ kind: 'clearTimer', name: `req:${ref}` });
    if (p.kind === 'app') out.push({ kind: 'reject', id: p.id, code, reason });
  }
}

function forget(s: ClientState, ref: number): ClientState {
  const requests = new Map(s.requests);
  requests.delete(ref);
  return { ...s, requests };
}
