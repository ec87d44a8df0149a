// One object of the shape ws gives every frame it sends, kept for the life of the
// process. Imported by the benchmark's ws baselines (cork.ts) for ws.send. rxchat's
// runner imported it too until it framed its messages itself (src/edge/frame.ts).
import WebSocket from 'ws';

/**
 * ws builds an options object for every frame it sends, a literal whose first key is
 * computed: `{ [kByteLength]: n, fin, generateMask, mask, maskBuffer, opcode, readOnly,
 * rsv1 }` (ws/lib/sender.js). V8 defines each key after a computed one through a site
 * whose feedback has no polymorphic state, and the hidden classes ("maps") those objects
 * pass through are held only weakly. A full GC at a moment no frame is being built (most
 * moments) clears them; the next frame builds new ones, its seven sites see a second map,
 * and they go megamorphic for the life of the process: a runtime call per key per frame.
 * That is the slow mode of "fanout-max moves between runs" (issue 7): 17-30 % of the
 * server's samples in Sender.send's own time, on these lines, and 1.3-2.3 µs of user CPU
 * per delivery against 0.7-0.9 here; a process with no full GC between its first frames
 * and the measurement was fast, and a server that runs for long would not stay so.
 * One such object kept for good keeps the maps, so the sites stay monomorphic (fanout-max
 * with a full GC forced every 300 ms: 1.52-1.56 µs per delivery without it, 0.85-0.87 with).
 * It is caught from a Sender of our own that is never given a socket, sending as the
 * server does (a Buffer, text, unmasked, uncompressed, one fragment). Should ws ever
 * build its options otherwise, this keeps an object that does no harm.
 */
export const keptFrameOptions: object | undefined = (() => {
  type Sender = {
    send(data: Buffer, options: { binary: boolean; mask: boolean; compress: boolean; fin: boolean }): void;
    dispatch: (data: Buffer, compress: boolean, options: object) => void;
  };
  const SenderClass = (WebSocket as unknown as { Sender?: new (socket: object) => Sender }).Sender;
  if (typeof SenderClass !== 'function') return undefined;
  let kept: object | undefined;
  try {
    const sender = new SenderClass({});
    sender.dispatch = (_data, _compress, options) => {
      kept = options;
    };
    sender.send(Buffer.from('{}'), { binary: false, mask: false, compress: false, fin: true });
  } catch {
    return undefined;
  }
  return kept;
})();
