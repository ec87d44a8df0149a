// What a send or broadcast effect carries, read as a Message whether the hub built it or handed on
// a frame made already (protocol.ts Encoded: a line heard from another process).
import { Message, Outgoing, isEncoded } from '../../src/core/protocol';

export const msg = (o: Outgoing): Message => (isEncoded(o) ? (JSON.parse(o.wire) as Message) : o);
