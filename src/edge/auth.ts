// Identity from signed tokens (docs/security.md "Identity"): with --auth-secret (HS256) or
// --auth-public-key (RS256/ES256), an upgrade to /ws must carry a JWT, as `?token=` or an
// `Authorization: Bearer` header, checked with jose before any WebSocket is opened. Without
// either flag there is no Auth and everything is as before (anonymous guests).
import { readFileSync } from 'node:fs';
import { createPublicKey, KeyObject } from 'node:crypto';
import { DEFAULT_ROOM, Limits } from '../core/protocol';
import { User, roomAllowed } from '../core/claims';

type Jose = typeof import('jose');

/** What a verified token says: the user's stable ID, the name, when it expires (ms), and the rooms allowed (none: any). */
export interface Claims {
  sub: string;
  name: string;
  expMs: number;
  rooms?: readonly string[];
}

/** Why a token is refused at the upgrade (each one of the door's refusals, src/edge/door.ts). */
export type AuthRefusal = 'no_token' | 'bad_token' | 'token_expired' | 'forbidden_room';

export type AuthVerdict = { ok: true; claims: Claims } | { ok: false; refusal: AuthRefusal };

export interface AuthOptions {
  /** --auth-secret: HS256 with this shared secret ('' : none). */
  authSecret: string;
  /** --auth-public-key: a PEM file (SPKI or certificate) to check RS256/ES256 tokens with ('' : none). */
  authPublicKey: string;
}

/** A start-up error about auth (main.ts prints its message on one line and exits 2). */
export class AuthConfigError extends Error {}

/** Tokens' longest accepted form: a header of 8 KiB holds far less anyway. */
const MAX_TOKEN_LENGTH = 8192;

export class Auth {
  /**
   * Loaded when an Auth is made, not by every server: without auth jose's 83 modules are code a
   * server never runs, and part of its RSS at rest (issue 12).
   */
  private readonly jose = require('jose') as Jose;

  private constructor(
    private readonly key: Uint8Array | KeyObject,
    private readonly algorithms: string[],
    private readonly now: () => number,
  ) {}

  /** The configured auth, or undefined when neither flag is given. Throws AuthConfigError on an unreadable or unusable key. */
  static fromOptions(options: AuthOptions, now: () => number = Date.now): Auth | undefined {
    if (options.authSecret !== '' && options.authPublicKey !== '') {
      throw new AuthConfigError('--auth-secret and --auth-public-key: give one, not both');
    }
    if (options.authSecret !== '') return new Auth(new TextEncoder().encode(options.authSecret), ['HS256'], now);
    if (options.authPublicKey === '') return undefined;
    let pem: string;
    try {
      pem = readFileSync(options.authPublicKey, 'utf8');
    } catch (e) {
      throw new AuthConfigError(`--auth-public-key: cannot read ${options.authPublicKey}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new AuthConfigError(`--auth-public-key: ${options.authPublicKey} holds no PEM public key`);
    }
    const type = key.asymmetricKeyType;
    if (type === 'rsa') return new Auth(key, ['RS256'], now);
    if (type === 'ec') return new Auth(key, ['ES256'], now);
    throw new AuthConfigError(`--auth-public-key: ${options.authPublicKey} is a ${type} key; expected RSA (RS256) or EC P-256 (ES256)`);
  }

  /** Which algorithm tokens must be signed with. */
  get algorithm(): string {
    return this.algorithms[0];
  }

  /** Checks a token: its signature, its expiry (required), and its claims (sub and name required). */
  async verify(token: string | undefined): Promise<AuthVerdict> {
    if (token === undefined || token === '') return { ok: false, refusal: 'no_token' };
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, refusal: 'bad_token' };
    try {
      const { payload } = await this.jose.jwtVerify(token, this.key, {
        algorithms: this.algorithms,
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(this.now()),
      });
      const claims = claimsOf(payload);
      return claims === undefined ? { ok: false, refusal: 'bad_token' } : { ok: true, claims };
    } catch (e) {
      if (e instanceof this.jose.errors.JWTExpired) return { ok: false, refusal: 'token_expired' };
      return { ok: false, refusal: 'bad_token' };
    }
  }

  /** Verifies a token and that it allows `room`, the first room asked for at the upgrade (none: lobby, the default). */
  async admit(token: string | undefined, room: string | undefined): Promise<AuthVerdict> {
    const v = await this.verify(token);
    if (!v.ok) return v;
    if (!roomAllowed(v.claims.rooms, room === undefined || room === '' ? DEFAULT_ROOM : room)) return { ok: false, refusal: 'forbidden_room' };
    return v;
  }
}

/** The user a connection speaks for, from verified claims (src/core/claims.ts). */
export function userOf(claims: Claims): User {
  return { sub: claims.sub, exp: claims.expMs, ...(claims.rooms === undefined ? {} : { rooms: claims.rooms }) };
}

/** The claims of a payload jose has verified, or undefined if they are not what protocol.md "Auth" asks. */
export function claimsOf(payload: Record<string, unknown>): Claims | undefined {
  const { sub, name, exp, rooms } = payload;
  if (typeof sub !== 'string' || sub === '' || sub.length > Limits.maxSub) return undefined;
  if (typeof exp !== 'number') return undefined;
  // A token without a name is named by its user ID.
  if (name !== undefined && typeof name !== 'string') return undefined;
  let allowed: string[] | undefined;
  if (rooms !== undefined) {
    // `rooms`: an array of names and `prefix*` patterns, or one comma-separated string of them.
    const list = typeof rooms === 'string' ? rooms.split(',') : rooms;
    if (!Array.isArray(list) || !list.every((r) => typeof r === 'string')) return undefined;
    allowed = (list as string[]).map((r) => r.trim()).filter((r) => r !== '');
  }
  return { sub, name: name === undefined || name === '' ? sub : name, expMs: exp * 1000, ...(allowed ? { rooms: allowed } : {}) };
}

export { roomAllowed };

/** The token of an upgrade: `?token=`, else `Authorization: Bearer <token>`. */
export function tokenOf(query: URLSearchParams, authorization: string | undefined): string | undefined {
  const q = query.get('token');
  if (q !== null && q !== '') return q;
  const m = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m?.[1];
}
