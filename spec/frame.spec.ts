// A frame made by src/edge/frame.ts is what ws's own client reads: its Receiver
// (the parser every ws client runs) gives back the text, at each length encoding
// (7-bit up to 125 bytes, 16-bit up to 65,535, 64-bit above) and with multi-byte
// UTF-8, where characters and bytes differ.
import WebSocket from 'ws';
import { encodeFrame, textFrame } from '../src/edge/frame';
import { payloadOf } from './support/frames';
import * as M from '../src/core/messages';

type Receiver = NodeJS.WritableStream & { on(event: 'message', f: (data: Buffer, isBinary: boolean) => void): Receiver };
const ReceiverClass = (WebSocket as unknown as { Receiver: new (o: object) => Receiver }).Receiver;

/** What a ws client hears from these bytes: each message's text, or the error it closes with. */
function hear(bytes: Buffer): { messages: string[]; error?: Error } {
  const r = new ReceiverClass({ isServer: false, maxPayload: 0 });
  const heard: { messages: string[]; error?: Error } = { messages: [] };
  r.on('message', (data, isBinary) => heard.messages.push(isBinary ? '(binary)' : data.toString()));
  r.on('error', (e: Error) => (heard.error = e));
  r.write(bytes);
  return heard;
}

describe('textFrame', () => {
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])('frames %i bytes as one text message ws reads back', (n) => {
    const text = 'x'.repeat(n);
    const frame = textFrame(text);
    expect(frame.length).toBe(n + (n < 126 ? 2 : n < 65_536 ? 4 : 10));
    expect(hear(frame)).toEqual({ messages: [text] });
    expect(payloadOf(frame).toString()).toBe(text);
  });

  it('counts bytes, not characters: multi-byte UTF-8 around the 125-byte edge', () => {
    const text = 'é'.repeat(63); // 126 bytes in 63 characters
    expect(hear(textFrame(text))).toEqual({ messages: [text] });
    const emoji = '🙂'.repeat(20_000); // 80,000 bytes
    expect(hear(textFrame(emoji))).toEqual({ messages: [emoji] });
  });

  it('frames a message as its JSON, and frames written back to back are read as separate messages', () => {
    const a = M.notice('hello', 0);
    const b = M.notice('x'.repeat(300), 1);
    expect(hear(Buffer.concat([encodeFrame(a), encodeFrame(b)])).messages.map((t) => JSON.parse(t))).toEqual([a, b]);
  });
});
