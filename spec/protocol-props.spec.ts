// Properties of the decoder (issue 9, 7): any text or bytes a client may send,
// through decode and through what a connection does with a raw frame, give a
// valid message or an error the contract documents, and never a throw.
// docs/security.md "Fuzzing and properties"; seeds: spec/support/props.ts.
import fs from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { ClientMessage, Decoded, Limits, codePoints, decode, nameProblem, roomProblem } from '../src/core/protocol';
import { HubEvent } from '../src/core/events';
import { SocketLike, connection$, frameEvent } from '../src/edge/connection';
import * as M from '../src/core/messages';
import { documentedCodes, props } from './support/props';

const DOCUMENTED = documentedCodes();
const LONE_SURROGATE = /\p{Cs}/u;

/** What a decoded message may be: every field within the contract's limits. */
function checkMessage(m: ClientMessage): void {
  const room = (m as { room?: string }).room;
  if (room !== undefined) expect(roomProblem(room)).toBeUndefined();
  if (m.ref !== undefined) expect(typeof m.ref === 'number' ? Number.isFinite(m.ref) : m.ref.length <= Limits.maxRef).toBe(true);
  switch (m.type) {
    case 'broadcast':
    case 'direct':
      expect(m.content.length).toBeGreaterThan(0);
      expect(codePoints(m.content)).toBeLessThanOrEqual(Limits.maxContent);
      expect(LONE_SURROGATE.test(m.content)).toBe(false);
      if (m.key !== undefined) expect(m.key.length > 0 && codePoints(m.key) <= Limits.maxKey).toBe(true);
      if (m.type === 'direct') expect(m.to.length > 0 && m.to.length <= Limits.maxSub).toBe(true);
      return;
    case 'rename':
      expect(nameProblem(m.name)).toBeUndefined();
      return;
    case 'history':
      expect(Number.isInteger(m.limit) && m.limit >= 1 && m.limit <= Limits.maxHistoryPage).toBe(true);
      expect(m.before !== undefined && m.after !== undefined).toBe(false);
      return;
    case 'members':
      if (m.after !== undefined) expect(m.after.length > 0 && m.after.length <= Limits.maxId).toBe(true);
      return;
    default:
  }
}

/** A message within the contract, or an error the contract documents, with a reason. */
function checkDecoded(d: Decoded): void {
  if (d.ok) return checkMessage(d.message);
  expect(DOCUMENTED).toContain(d.error.code);
  expect(d.error.reason.length).toBeGreaterThan(0);
}

// Values that are often right and often wrong for the protocol's fields.
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', 'lobby', 'dev', 'bad room', 'x'.repeat(33), '\ud800', '🙂', '\u202e', 'a'.repeat(65)),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1, 50, 100, 101, Number.MAX_SAFE_INTEGER + 2, 1.5),
);
const FIELDS = ['Type', 'Content', 'Room', 'Name', 'To', 'Key', 'Ref', 'After', 'Before', 'Limit', 'ID', 'SentAt'] as const;
/** A JSON object with some of the protocol's fields, each of any value; Type mostly a real one. */
const frameObject = fc.record(
  Object.fromEntries(FIELDS.map((f) => [f, f === 'Type' ? fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -1, max: 15 }) }, anyValue) : anyValue])),
  { requiredKeys: [] },
);
/** Content long enough to cross Limits.maxContent now and then. */
const longText = fc.string({ unit: 'binary', minLength: 3990, maxLength: 4010 });

describe('decode, over any input (properties)', () => {
  it('never throws on any string (UTF-16 units, lone surrogates included), and gives a message or a documented error', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => checkDecoded(decode(text))), props(300));
  });

  it('never throws on any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => checkDecoded(decode(JSON.stringify(v)))), props(300));
  });

  it('takes or refuses, as documented, objects made of the protocol\'s fields with any values', () => {
    fc.assert(fc.property(frameObject, (o) => checkDecoded(decode(JSON.stringify(o)))), props(1000));
  });

  it('counts Content at the 4000-character edge in code points, whatever the characters', () => {
    fc.assert(fc.property(fc.constantFrom(1, 11), longText, (type, content) => {
      const d = decode(JSON.stringify({ Type: type, Content: content, To: 'someone' }));
      checkDecoded(d);
      if (codePoints(content) > Limits.maxContent) expect(d.ok || d.error.code === 'too_long').toBe(true);
    }), props(30));
  });

  it('takes every well-formed request it is given, with its fields', () => {
    const room = fc.stringMatching(/^[A-Za-z0-9_.-]{1,32}$/);
    const text = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 50 }).filter((s) => s.trim().length > 0);
    const ref = fc.oneof(fc.string({ maxLength: Limits.maxRef }), fc.integer());
    const request = fc.oneof(
      fc.record({ Type: fc.constant(1), Content: text, Room: room, Ref: ref }),
      fc.record({ Type: fc.constant(6), Room: room, Ref: ref }),
      fc.record({ Type: fc.constant(7), Room: room, Ref: ref }),
      fc.record({ Type: fc.constant(10), Name: fc.stringMatching(/^[a-z][a-z0-9]{0,31}$/), Ref: ref }),
      fc.record({ Type: fc.constant(11), To: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), Content: text, Ref: ref }),
      fc.record({ Type: fc.constant(13), Room: room, Limit: fc.integer({ min: 1, max: 100 }), Ref: ref }),
    );
    fc.assert(fc.property(request, (frame) => {
      const d = decode(JSON.stringify(frame));
      expect(d).toMatchObject({ ok: true });
      checkDecoded(d);
      const m = (d as { message: Record<string, unknown> }).message;
      expect(m.ref).toBe(frame.Ref);
      if ('Room' in frame) expect(m.room).toBe(frame.Room);
      if ('Content' in frame) expect(m.content).toBe(frame.Content);
    }), props(200));
  });
});

describe('a connection, over any raw frame (properties)', () => {
  const events = (frames: readonly { bytes: Uint8Array; binary: boolean }[]): HubEvent[] => {
    const ws = new EventEmitter() as EventEmitter & { readyState: number };
    ws.readyState = 1;
    const out: HubEvent[] = [];
    let n = 0;
    const sub = connection$('c1', {}, ws as unknown as SocketLike, { newId: () => `m${n++}`, now: () => 7 })
      .subscribe({ next: (e) => out.push(e), error: (e) => { throw e; } });
    for (const f of frames) ws.emit('message', Buffer.from(f.bytes), f.binary);
    ws.emit('close', 1000, Buffer.alloc(0));
    sub.unsubscribe();
    return out;
  };

  it('turns every frame of any bytes, text or binary, into one received or rejected event, and stays open till its socket closes', () => {
    const frame = fc.record({ bytes: fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s))), binary: fc.boolean() });
    fc.assert(fc.property(fc.array(frame, { maxLength: 10 }), (frames) => {
      const out = events(frames);
      expect(out.map((e) => e.kind)).toEqual(['opened', ...frames.map((f) => (f.binary ? 'rejected' : expect.stringMatching(/^(received|rejected)$/))), 'closed']);
      expect(out[out.length - 1]).toMatchObject({ kind: 'closed', reason: 'closed' });
      for (const e of out) {
        if (e.kind === 'rejected') expect(DOCUMENTED).toContain(e.error.code);
        if (e.kind === 'received') checkMessage(e.message);
      }
    }), props(200));
  });

  it('gives a text frame of any bytes the event decode gives its UTF-8 text (invalid sequences as U+FFFD, as ws would have refused them)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const text = Buffer.from(bytes).toString();
      const e = frameEvent('c1', 0, text, () => 'm');
      const d = decode(text);
      expect(e).toEqual(d.ok ? expect.objectContaining({ kind: 'received', message: d.message }) : expect.objectContaining({ kind: 'rejected', error: d.error }));
    }), props(200));
  });
});

describe('error codes and the contract', () => {
  it('documents every ErrorCode protocol.ts declares in docs/protocol.md\'s table', () => {
    const src = fs.readFileSync(path.join(__dirname, '../src/core/protocol.ts'), 'utf8');
    const union = src.slice(src.indexOf('export type ErrorCode'), src.indexOf(';', src.indexOf('export type ErrorCode')));
    const declared = [...union.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(declared.length).toBeGreaterThan(10);
    expect(declared.filter((c) => !DOCUMENTED.has(c))).toEqual([]);
  });
});

describe("a line's frame in two pieces (messages.ts lineAround: what the Redis log publishes)", () => {
  it('is, with any Seq and epoch put between them, the JSON of the line as the hub serializes it', () => {
    fc.assert(fc.property(
      fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), fc.string(), fc.string({ unit: 'binary' }),
      fc.integer({ min: 0, max: 2 ** 45 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.stringMatching(/^[A-Za-z0-9]{1,12}$/),
      (id, name, room, msgId, content, at, seq, epoch) => {
        const { head, tail } = M.lineAround(id, name, room, msgId, content, at);
        expect(`${head}${seq},"Epoch":${JSON.stringify(epoch)}${tail}`).toBe(JSON.stringify(M.line(id, name, room, seq, epoch, msgId, content, at)));
      },
    ), props(300));
  });
});
