// Writes as rxchat's runner does them (src/edge/runner.ts), and as ws documents them.
// corkingWriter: each message framed once (src/edge/frame.ts) and that whole frame
// written to every recipient's socket; a socket is corked at its first frame in a
// turn of the event loop and every corked socket is uncorked once, on setImmediate,
// so the frames one socket gets in a turn leave in one writev. A reader is judged
// slow by its backlog from earlier turns, checked at that first frame. Shared by
// raw-ws --cork and same-work. plainWriter: ws.send, one write per frame.
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { textFrame } from '../../src/edge/frame';
// One object of the shape ws gives each frame, kept, or a process whose first full GC
// comes early sends every frame through V8's runtime (frame-options.ts).
import './frame-options';

const TEXT = { binary: false } as const;

type WithSocket = WebSocket & { _socket?: Duplex | null };

export interface Writer {
  /** A message's bytes as `write` takes them, made once for all its recipients. */
  encode(m: object): Buffer;
  /** False when the reader was too slow (the caller drops it). */
  write(ws: WebSocket, data: Buffer): boolean;
}

export function corkingWriter(maxBuffered: number): Writer {
  let corked: Duplex[] = [];
  const uncorkAll = () => {
    const batch = corked;
    corked = [];
    for (const socket of batch) socket.uncork();
  };
  const write = (ws: WebSocket, frame: Buffer): boolean => {
    if (ws.readyState !== WebSocket.OPEN) return true;
    const socket = (ws as WithSocket)._socket;
    if (!socket) return true;
    if (socket.writableCorked === 0) {
      if (ws.bufferedAmount > maxBuffered) return false;
      if (corked.length === 0) setImmediate(uncorkAll);
      socket.cork();
      corked.push(socket);
    }
    socket.write(frame);
    return true;
  };
  return { encode: (m) => textFrame(JSON.stringify(m)), write };
}

/** ws.send as ws documents it: one write per frame, the backlog checked at every frame. */
export function plainWriter(maxBuffered: number): Writer {
  const write = (ws: WebSocket, data: Buffer): boolean => {
    if (ws.readyState !== WebSocket.OPEN) return true;
    if (ws.bufferedAmount > maxBuffered) return false;
    ws.send(data, TEXT);
    return true;
  };
  return { encode: (m) => Buffer.from(JSON.stringify(m)), write };
}
