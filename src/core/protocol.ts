// The wire protocol: message types, limits, and the pure decoder that turns one
// text frame into a validated client message or a tagged error. docs/protocol.md
// is the contract; this file is its executable form. No I/O, no clock, no ws.

/** Seed Types 0–4 (gorilla/websocket chat room), extensions from 5 up. */
export const Type = {
  System: 0,
  Broadcast: 1,
  HeartBeat: 2,
  Connected: 3,
  Disconnected: 4,
  Error: 5,
  Join: 6,
  Leave: 7,
  Rooms: 8,
  Members: 9,
  Rename: 10,
  Direct: 11,
  Ack: 12,
  History: 13,
  /** Server only: lines of a room may be missing here; read History from your Seq (several processes, docs/scaling.md). */
  Resync: 14,
  /** With auth on: a client sends a fresh token; the server answers that it took it (docs/protocol.md "Auth"). */
  Refresh: 15,
} as const;
export type TypeCode = (typeof Type)[keyof typeof Type];

export const Limits = {
  /** Characters of a signed token in a Refresh (as at the upgrade: src/edge/auth.ts). */
  maxToken: 8192,
  /** Characters (Unicode code points, as users count them) of Content in a Broadcast or Direct message. */
  maxContent: 4000,
  /** Characters (code points, after NFC) of a display name. */
  maxName: 32,
  /** A room name: 1–32 of letters, digits, '-', '_', '.'. */
  roomPattern: /^[A-Za-z0-9_.-]{1,32}$/,
  /** Rooms one connection may be in at once. */
  maxRoomsPerConnection: 32,
  /** Characters of a client's Ref (echoed back in Ack and Error). */
  maxRef: 64,
  /** Rooms listed in one Rooms reply (the biggest first). */
  maxRoomsListed: 200,
  /** Characters of an ID given in After (a connection's ID is 21). */
  maxId: 64,
  /** Characters of a user's `sub` (a token's claim, src/edge/auth.ts), and so of a Direct's To, which may name one. */
  maxSub: 256,
  /** Members listed in one Join or Members reply (a page; Members pages on with After). */
  maxMembersListed: 100,
  /** Characters of a client's idempotency Key on a Broadcast or Direct. */
  maxKey: 64,
  /** Lines in one History page, at most and by default. */
  maxHistoryPage: 100,
  /**
   * History requests of one connection waiting for their answer: one per room it
   * may be in (a client catching up after a reconnect asks them all at once), and a
   * few. They go to the log one at a time (the reducer's per-connection queue).
   */
  maxHistoryInFlight: 36,
  defaultHistoryPage: 50,
  /** Missed lines a resume replays per room; past this the client reads History instead. */
  maxReplay: 1000,
  /**
   * Bytes (wireSize) one resume replays over all its rooms: the rooms whose
   * replay would go past it are Recovered false, too_many, and read History in
   * pages instead. The server uses the smaller of this and 4 × --max-buffered,
   * under the runner's hard bound for one reader (8 ×), so a replay never gets
   * its own reader dropped as slow. Rooms replay one at a time (the reducer's
   * per-connection queue), and a room's lines are read only when they may fit.
   */
  maxReplayBytes: 4 * 1024 * 1024,
  /** Direct messages kept for an identity that is away, within its resume window. */
  maxAwayDirects: 100,
  /** Bytes (wireSize) of the direct messages kept for all away identities together. */
  maxAwayBytes: 64 * 1024 * 1024,
  /** Recent Keys remembered per identity for deduplication: fewer than this, at least the last half (src/core/recent-map.ts). */
  maxKeysRemembered: 256,
  /**
   * Bytes of Keys kept for an identity while it is away (its last Directs' Keys:
   * about 20 of 21-character Keys, 8 of the longest); a Broadcast's is the log's.
   */
  maxAwayKeyBytes: 4096,
} as const;

export const DEFAULT_ROOM = 'lobby';

/** Every frame the server sends carries the four seed fields; extensions are optional. */
export interface Message {
  ID: string;
  Content: string;
  SentAt: number;
  Type: number;
  [extension: string]: unknown;
}

/**
 * A frame whose JSON was made before it reached the hub: a chat line heard from another process,
 * whose append published it whole (messages.ts `lineAround`). The runner frames it as it is.
 */
export interface Encoded {
  readonly wire: string;
}

/** What a send or broadcast effect carries: a message for the runner to serialize, or one made already. */
export type Outgoing = Message | Encoded;

export const isEncoded = (m: Outgoing): m is Encoded => typeof (m as Encoded).wire === 'string';

export interface Member {
  ID: string;
  Name: string;
}

export type Ref = string | number;

/** What a client may send, after validation. Seed fields ID/SentAt are accepted and ignored. */
export type ClientMessage =
  | { type: 'broadcast'; content: string; room?: string; ref?: Ref; key?: string }
  | { type: 'heartbeat'; ref?: Ref }
  | { type: 'join'; room: string; ref?: Ref }
  | { type: 'leave'; room: string; ref?: Ref }
  | { type: 'rooms'; ref?: Ref }
  | { type: 'members'; room: string; after?: string; ref?: Ref }
  | { type: 'rename'; name: string; ref?: Ref }
  | { type: 'direct'; to: string; content: string; ref?: Ref; key?: string }
  | { type: 'history'; room: string; before?: number; after?: number; limit: number; ref?: Ref }
  | { type: 'refresh'; token: string; ref?: Ref };

/** Machine-readable error codes; each has a human reason and, for fatal ones, a close code. */
export type ErrorCode =
  | 'bad_json'
  | 'not_object'
  | 'bad_field'
  | 'unknown_type'
  | 'binary_frame'
  | 'too_long'
  | 'empty_content'
  | 'bad_room'
  | 'bad_name'
  | 'not_member'
  | 'too_many_rooms'
  | 'no_such_client'
  | 'bad_cursor'
  | 'store_failed'
  | 'store_busy'
  | 'unavailable'
  | 'resume_failed'
  | 'too_many_requests'
  | 'mailbox_full'
  /** Over the connection's message rate (--msg-rate, --msg-burst): not taken; `retryMs` says when one will be. */
  | 'rate_limited'
  /** A Join of a room that has --max-room-members already. */
  | 'room_full'
  /** With auth on: a Join of a room the token's `rooms` claim does not allow, or a Rename (the name is the token's). */
  | 'forbidden'
  /** With auth on: a Refresh whose token is bad, expired, or another user's; the connection keeps its old one. */
  | 'bad_token'
  /** Several processes: Redis, which they share, cannot be reached just now; try again. */
  | 'unavailable';

export interface ProtocolError {
  code: ErrorCode;
  reason: string;
  ref?: Ref;
  /** rate_limited: milliseconds until a frame will be taken (RetryMs on the wire). */
  retryMs?: number;
}

export type Decoded = { ok: true; message: ClientMessage } | { ok: false; error: ProtocolError };

const fail = (code: ErrorCode, reason: string, ref?: Ref): Decoded => ({
  ok: false,
  error: ref === undefined ? { code, reason } : { code, reason, ref },
});

/** Validates a room name; returns a reason when it is bad. */
export function roomProblem(room: string): string | undefined {
  return Limits.roomPattern.test(room)
    ? undefined
    : 'a room name is 1 to 32 letters, digits, "-", "_" or "."';
}

/**
 * Characters as users count them: Unicode code points, so an emoji is one, not
 * the two UTF-16 units of String.length. (An unpaired surrogate counts one.)
 */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * About how many bytes a chat line with this content takes on the wire: its
 * content as UTF-8 inside a JSON string (escapes included), and a frame's other
 * fields. A bound for budgets, not an exact count; pure, so the hub can use it.
 */
export function wireSize(content: string, name = ''): number {
  let n = 200 + name.length * 3;
  for (let i = 0; i < content.length; i++) {
    const c = content.charCodeAt(i);
    if (c < 0x20) n += 6; // \u00XX
    else if (c === 0x22 || c === 0x5c) n += 2; // \" and \\
    else if (c < 0x80) n += 1;
    else if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) n += 2; // a surrogate pair is 4 bytes of UTF-8
    else n += 3;
  }
  return n;
}

/** Whether s is longer than max code points; cheap when its UTF-16 length already says no. */
const longerThan = (s: string, max: number): boolean => s.length > max && codePoints(s) > max;

// Half of a surrogate pair with no other half: not a character, and not storable
// as UTF-8 (SQLite's History would give it back as U+FFFD while it went out live
// as sent). With the u flag a paired surrogate is one code point, never Cs.
const LONE_SURROGATE = /\p{Cs}/u;

// Control characters would let one user forge line breaks or erase text in
// other users' terminals; a name is a single visible line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// Format characters (Cf: bidi controls U+202A–202E and U+2066–2069, zero-width
// U+200B–200F and U+2060–2064, U+FEFF, ...) hide text or reverse what is shown
// after them, so one member could pass for another. Unpaired surrogates (Cs)
// are not text at all.
const FORMAT = /[\p{Cf}\p{Cs}]/u;
// What shows as nothing: white space, combining marks with nothing to sit on,
// and the letters that render blank (Hangul fillers U+115F, U+1160, U+3164,
// U+FFA0; Braille blank U+2800).
const INVISIBLE_ONLY = /^[\s\p{M}\u115f\u1160\u3164\uffa0\u2800]*$/u;

/** The form names are compared, stored and shown in: NFC, so one look is one string. */
export const normalizeName = (name: string): string => name.normalize('NFC');

/** Validates a display name (already normalised); returns a reason when it is bad. */
export function nameProblem(name: string): string | undefined {
  if (longerThan(name, Limits.maxName)) return `a name is at most ${Limits.maxName} characters`;
  if (CONTROL.test(name)) return 'a name must not contain control characters';
  if (FORMAT.test(name)) return 'a name must not contain invisible format characters (bidi controls, zero-width characters)';
  if (INVISIBLE_ONLY.test(name)) return 'a name must not be blank';
  return undefined;
}

/** The error code for a bad name: too_long for length, bad_name for the rest. */
export const nameErrorCode = (name: string): 'too_long' | 'bad_name' =>
  (longerThan(name, Limits.maxName) ? 'too_long' : 'bad_name');

const CLIENT_TYPES: Record<number, ClientMessage['type'] | undefined> = {
  [Type.Broadcast]: 'broadcast',
  [Type.HeartBeat]: 'heartbeat',
  [Type.Join]: 'join',
  [Type.Leave]: 'leave',
  [Type.Rooms]: 'rooms',
  [Type.Members]: 'members',
  [Type.Rename]: 'rename',
  [Type.Direct]: 'direct',
  [Type.History]: 'history',
  [Type.Refresh]: 'refresh',
};

const isRef = (v: unknown): v is Ref =>
  (typeof v === 'string' && v.length <= Limits.maxRef) || (typeof v === 'number' && Number.isFinite(v));

/** Decodes one text frame. Total: every input gives a message or an error. */
export function decode(text: string): Decoded {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('bad_json', 'the frame is not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fail('not_object', 'a frame must be one JSON object');
  }
  const o = raw as Record<string, unknown>;
  // Ref first, so that every later error can be matched to the request.
  if (o.Ref !== undefined && !isRef(o.Ref)) {
    return fail('bad_field', `Ref must be a string of at most ${Limits.maxRef} characters or a number`);
  }
  const ref = o.Ref as Ref | undefined;
  if (typeof o.Type !== 'number' || !Number.isInteger(o.Type)) {
    return fail('bad_field', 'Type must be an integer', ref);
  }
  // Seed fields a seed client fills in itself; the server sets them, but their types must hold.
  for (const [field, kind] of [['ID', 'string'], ['Content', 'string'], ['SentAt', 'number'],
    ['Room', 'string'], ['Name', 'string'], ['To', 'string'], ['Key', 'string']] as const) {
    if (o[field] !== undefined && typeof o[field] !== kind) {
      return fail('bad_field', `${field} must be a ${kind}`, ref);
    }
  }
  const type = CLIENT_TYPES[o.Type];
  if (type === undefined) {
    return fail('unknown_type', `Type ${o.Type} is not one a client may send (1, 2, 6-11, 13)`, ref);
  }
  const key = o.Key as string | undefined;
  if (key !== undefined && (key.length === 0 || longerThan(key, Limits.maxKey))) {
    return fail('bad_field', `Key must be 1 to ${Limits.maxKey} characters`, ref);
  }
  if (key !== undefined && LONE_SURROGATE.test(key)) return fail('bad_field', 'Key must be text: it has an unpaired surrogate', ref);
  const content = o.Content as string | undefined;
  const room = o.Room as string | undefined;
  const withRef = <M extends ClientMessage>(m: M): Decoded => ({
    ok: true,
    message: ref === undefined ? m : { ...m, ref },
  });
  const needRoom = (): string | Decoded => {
    if (room === undefined) return fail('bad_field', 'Room is required', ref);
    const problem = roomProblem(room);
    return problem ? fail('bad_room', problem, ref) : room;
  };
  const checkContent = (): Decoded | undefined => {
    if (content === undefined || content.length === 0) return fail('empty_content', 'Content must not be empty', ref);
    if (longerThan(content, Limits.maxContent)) {
      return fail('too_long', `Content is at most ${Limits.maxContent} characters`, ref);
    }
    // protocol.md: Content is text; a line must read back from History as it went out live.
    if (LONE_SURROGATE.test(content)) return fail('bad_field', 'Content must be text: it has an unpaired surrogate', ref);
    return undefined;
  };

  switch (type) {
    case 'broadcast': {
      const bad = checkContent();
      if (bad) return bad;
      if (room !== undefined) {
        const problem = roomProblem(room);
        if (problem) return fail('bad_room', problem, ref);
      }
      // Every chat line has one shape, absent fields undefined: the hub reads
      // these on every line, and one shape keeps those reads monomorphic.
      return { ok: true, message: { type, content: content as string, room, ref, key } };
    }
    case 'direct': {
      const to = o.To as string | undefined;
      if (to === undefined || to.length === 0 || to.length > Limits.maxSub) {
        return fail('bad_field', `To must be the ID of a connection or, with auth on, a user's sub (1 to ${Limits.maxSub} characters)`, ref);
      }
      const bad = checkContent();
      return bad ?? withRef(key === undefined ? { type, to, content: content as string } : { type, to, content: content as string, key });
    }
    case 'refresh': {
      const token = o.Token;
      if (typeof token !== 'string' || token.length === 0 || token.length > Limits.maxToken) {
        return fail('bad_field', `Token must be a signed token (a string of 1 to ${Limits.maxToken} characters)`, ref);
      }
      return withRef({ type, token });
    }
    case 'join':
    case 'leave': {
      const r = needRoom();
      return typeof r === 'string' ? withRef({ type, room: r }) : r;
    }
    case 'history': {
      const r = needRoom();
      if (typeof r !== 'string') return r;
      const seqField = (f: 'Before' | 'After'): number | undefined | Decoded => {
        const v = o[f];
        if (v === undefined) return undefined;
        return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail('bad_field', `${f} must be a Seq (a whole number, 0 or more)`, ref);
      };
      const before = seqField('Before');
      if (typeof before === 'object') return before;
      const after = seqField('After');
      if (typeof after === 'object') return after;
      if (before !== undefined && after !== undefined) return fail('bad_field', 'give Before or After, not both', ref);
      // Absent means the default; null is a wrong type like any other, not "absent".
      const lim = o.Limit === undefined ? Limits.defaultHistoryPage : o.Limit;
      if (typeof lim !== 'number' || !Number.isInteger(lim) || lim < 1 || lim > Limits.maxHistoryPage) {
        return fail('bad_field', `Limit must be a whole number from 1 to ${Limits.maxHistoryPage}`, ref);
      }
      const m: ClientMessage = { type, room: r, limit: lim };
      if (before !== undefined) m.before = before;
      if (after !== undefined) m.after = after;
      return withRef(m);
    }
    case 'members': {
      const r = needRoom();
      if (typeof r !== 'string') return r;
      if (o.After !== undefined && typeof o.After !== 'string') return fail('bad_field', 'After must be a string', ref);
      const after = o.After as string | undefined;
      if (after === undefined) return withRef({ type, room: r });
      if (after.length === 0 || after.length > Limits.maxId) {
        return fail('bad_field', 'After must be the ID of a member (the Next of the page before)', ref);
      }
      return withRef({ type, room: r, after });
    }
    case 'rename': {
      const raw = o.Name as string | undefined;
      if (raw === undefined) return fail('bad_field', 'Name is required', ref);
      const name = normalizeName(raw);
      const problem = nameProblem(name);
      if (problem) return fail(nameErrorCode(name), problem, ref);
      return withRef({ type, name });
    }
    case 'heartbeat':
    case 'rooms':
      return withRef({ type });
  }
}

/** The reply to a frame that could not be taken. */
export const BINARY_FRAME: ProtocolError = {
  code: 'binary_frame',
  reason: 'binary frames are not part of the protocol; send JSON text',
};

/** Close codes the server uses (protocol.md, "Closing"). */
export const Close = {
  /** Server shutting down (also to a client that connects during the shutdown). */
  GoingAway: 1001,
  /** Bad ?name= or ?room= on connect. */
  PolicyViolation: 1008,
  /** Several processes: a resume could not be looked up (Redis away); reconnect later with the same token. */
  TryAgainLater: 1013,
  /** Frame larger than --max-payload (sent by ws itself). */
  TooBig: 1009,
  /** Invalid UTF-8 (sent by ws itself). */
  InvalidPayload: 1007,
  /** The client read too slowly: its send buffer passed --max-buffered. */
  SlowConsumer: 4008,
  /** The client kept sending over its message rate for 10 s (--msg-rate; src/core/rate.ts). */
  RateLimited: 4029,
  /** With auth on: its token expired and no Refresh came within the grace (30 s; docs/protocol.md "Auth"). */
  TokenExpired: 4001,
} as const;

/**
 * The Ref of a frame refused unread (over the rate): only it is looked at, so the
 * Error can be matched to the request. One JSON.parse; never throws.
 */
export function refOf(text: string): Ref | undefined {
  try {
    const o = JSON.parse(text) as { Ref?: unknown } | null;
    return o !== null && typeof o === 'object' && isRef(o.Ref) ? o.Ref : undefined;
  } catch {
    return undefined;
  }
}

/** The Error for a frame over the connection's message rate (protocol.md "Message rate"). */
export const rateLimited = (retryMs: number, ref?: Ref): ProtocolError => {
  const e: ProtocolError = { code: 'rate_limited', reason: `too many frames: wait ${retryMs} ms before sending more`, retryMs };
  if (ref !== undefined) e.ref = ref;
  return e;
};

/**
 * A resume secret, 32 characters of base64url: the whole resume token with several processes, its part
 * after the identity's ID and a `.` with one (reducer.ts resumeToken; opaque to clients, protocol.md).
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32}$/;

/** Where a client says it is in one room: the Seq of the last line it has, in that Epoch. */
export interface Position {
  seq: number;
  epoch: string;
}

/**
 * `?since=ROOM:SEQ:EPOCH,...` as a map from room to position. Entries that do not
 * parse are left out (that room then resumes with Reason no_position); at most
 * maxRoomsPerConnection are read, so a long query costs no more than that.
 */
export function parseSince(raw: string | undefined): Map<string, Position> {
  const out = new Map<string, Position>();
  if (!raw) return out;
  for (const entry of raw.split(',', Limits.maxRoomsPerConnection)) {
    const parts = entry.split(':');
    if (parts.length !== 3) continue;
    const [room, seqText, epoch] = parts;
    const seq = Number(seqText);
    if (roomProblem(room) || !/^\d{1,15}$/.test(seqText) || !/^[A-Za-z0-9]{1,32}$/.test(epoch)) continue;
    out.set(room, { seq, epoch });
  }
  return out;
}
