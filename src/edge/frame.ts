// A server's text frame, whole: RFC 6455 §5.2's header (FIN, opcode 1, no mask,
// the payload's length in 7, 16 or 64 bits) and the UTF-8 payload in one Buffer.
// A frame from the server is not masked, so it is the same bytes for every
// recipient: a broadcast is framed once and that Buffer is written to each
// socket (runner.ts), where ws.send would build a header, an options object and
// two writes per recipient. Only the runner writes frames so; ws still sends
// pings, pongs and close frames itself, through the same socket, in order.
import { Message } from '../core/protocol';

/** The frame of one message (JSON), ready to write to any client's socket. */
export function encodeFrame(m: Message): Buffer {
  return textFrame(JSON.stringify(m));
}

export function textFrame(text: string): Buffer {
  const n = Buffer.byteLength(text);
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81; // FIN, text
  if (head === 2) {
    frame[1] = n;
  } else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  frame.write(text, head);
  return frame;
}
