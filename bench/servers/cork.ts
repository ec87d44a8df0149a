// Write batching as rxchat's runner does it (src/edge/runner.ts): a socket is corked at
// its first frame in a turn of the event loop and every corked socket is uncorked
// once, on setImmediate, so the frames one socket gets in a turn leave in one
// writev. A reader is judged slow by its backlog from earlier turns, checked at
// that first frame. Shared by raw-ws --cork and same-work.
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
// As rxchat's runner: one object of the shape ws gives each frame, kept, or a process whose
// first full GC comes early sends every frame through V8's runtime (src/edge/frame-options.ts).
import '../../src/edge/frame-options';

const TEXT = { binary: false } as const;

type WithSocket = WebSocket & { _socket?: Duplex | null };

/** A write function: false when the reader was too slow (the caller drops it). */
export type Write = (ws: WebSocket, data: Buffer) => boolean;

export function corkingWriter(maxBuffered: number): Write {
  let corked: Duplex[] = [];
  const uncorkAll = () => {
    const batch = corked;
    corked = [];
    for (const socket of batch) socket.uncork();
  };
  return (ws, data) => {
    if (ws.readyState !== WebSocket.OPEN) return true;
    const socket = (ws as WithSocket)._socket;
    if (!socket || socket.writableCorked === 0) {
      if (ws.bufferedAmount > maxBuffered) return false;
      if (socket) {
        if (corked.length === 0) setImmediate(uncorkAll);
        socket.cork();
        corked.push(socket);
      }
    }
    ws.send(data, TEXT);
    return true;
  };
}

/** ws.send as ws documents it: one write per frame, the backlog checked at every frame. */
export function plainWriter(maxBuffered: number): Write {
  return (ws, data) => {
    if (ws.readyState !== WebSocket.OPEN) return true;
    if (ws.bufferedAmount > maxBuffered) return false;
    ws.send(data, TEXT);
    return true;
  };
}
