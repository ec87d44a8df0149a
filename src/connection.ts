// One connection as an Observable of hub events: the socket's facts, decoded by
// the pure protocol, with the heartbeat as RxJS time operators. The stream never
// errors: a socket error or a bug in here becomes a `closed` event, so one bad
// connection cannot end the merged hub stream.
import { Observable, SchedulerLike, asyncScheduler, catchError, filter, interval, map, merge, of, takeWhile, timeout } from 'rxjs';
import type WebSocket from 'ws';
import { BINARY_FRAME, decode } from './protocol';
import { CloseReason, HubEvent, closed, opened, pingDue, received, rejected, timedOut } from './events';

/** What a socket can tell us, before any protocol is applied. */
export type SocketFact =
  | { kind: 'text'; data: string }
  | { kind: 'binary' }
  | { kind: 'pong' }
  | { kind: 'close'; reason: CloseReason };

export interface ConnectionDeps {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  newId: () => string;
  scheduler?: SchedulerLike;
}

/** The socket's events as facts; the teardown removes exactly the listeners it added. */
export function socketFacts$(ws: WebSocket): Observable<SocketFact> {
  return new Observable<SocketFact>((sub) => {
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) =>
      sub.next(isBinary ? { kind: 'binary' } : { kind: 'text', data: data.toString() });
    const onPong = () => sub.next({ kind: 'pong' });
    const onClose = () => {
      sub.next({ kind: 'close', reason: 'closed' });
      sub.complete();
    };
    // ws emits 'close' after 'error'; the error is the better reason.
    const onError = (e: Error) => sub.error(e);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onClose);
    ws.on('error', onError);
    return () => {
      ws.off('message', onMessage);
      ws.off('pong', onPong);
      ws.off('close', onClose);
      ws.off('error', onError);
    };
  });
}

const isFinal = (e: HubEvent | null) => e !== null && (e.kind === 'closed' || e.kind === 'timedOut');

/**
 * The connection's life: `opened`, then its frames, ending with `closed` or
 * `timedOut`. Frames and pongs both count as signs of life; a ping is due every
 * heartbeat interval until the end.
 */
export function connection$(
  id: string,
  query: { name?: string; room?: string },
  facts$: Observable<SocketFact>,
  deps: ConnectionDeps,
): Observable<HubEvent> {
  const scheduler = deps.scheduler ?? asyncScheduler;
  const now = () => scheduler.now();

  const toEvent = (f: SocketFact): HubEvent | null => {
    switch (f.kind) {
      case 'text': {
        const d = decode(f.data);
        if (!d.ok) return rejected(id, now(), d.error);
        // Only messages that are stored or delivered need an ID of their own.
        const needsId = d.message.type === 'broadcast' || d.message.type === 'direct';
        return received(id, now(), d.message, needsId ? deps.newId() : '');
      }
      case 'binary':
        // protocol.md: a binary frame is bad input; reply, keep open.
        return rejected(id, now(), BINARY_FRAME);
      case 'pong':
        return null;
      case 'close':
        return closed(id, now(), f.reason);
    }
  };

  const life$ = facts$.pipe(
    map(toEvent),
    timeout({ each: deps.heartbeatTimeoutMs, with: () => of(timedOut(id, now())), scheduler }),
    catchError(() => of(closed(id, now(), 'error'))),
  );
  const pings$ = interval(deps.heartbeatIntervalMs, scheduler).pipe(map(() => pingDue(id)));

  return merge(of(opened(id, now(), query)), life$, pings$).pipe(
    takeWhile((e) => !isFinal(e), true),
    filter((e): e is HubEvent => e !== null),
    // Anything thrown above ends this connection only.
    catchError(() => of(closed(id, now(), 'error'))),
  );
}
