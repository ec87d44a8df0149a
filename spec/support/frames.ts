// Reading back a server frame as src/edge/frame.ts writes it (RFC 6455 §5.2, unmasked).

/** The payload of one whole frame: what the client's `message` event gives. */
export function payloadOf(frame: Buffer): Buffer {
  const len = frame[1] & 0x7f;
  return frame.subarray(len < 126 ? 2 : len === 126 ? 4 : 10);
}

/**
 * The payload when `data` is one whole text frame (0x81, and as many bytes as its header
 * says); undefined for anything else, such as the header or payload ws's own sends write apart.
 */
export function wholeTextPayload(data: unknown): Buffer | undefined {
  if (!Buffer.isBuffer(data) || data.length < 2 || data[0] !== 0x81) return undefined;
  const n = data[1] & 0x7f;
  const declared = n < 126 ? n : n === 126 ? data.readUInt16BE(2) : Number(data.readBigUInt64BE(2));
  const payload = payloadOf(data);
  return payload.length === declared ? payload : undefined;
}
