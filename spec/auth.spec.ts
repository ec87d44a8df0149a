// Tokens and their claims (src/edge/auth.ts, docs/security.md "Identity"): what is let in, and why not.
import { KeyObject, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Auth, AuthConfigError, claimsOf, roomAllowed, tokenOf } from '../src/edge/auth';

const SECRET = 'a-secret-long-enough-for-hs256-000';
const NOW = 1_800_000_000_000;
const key = new TextEncoder().encode(SECRET);

function sign(claims: Record<string, unknown>, opts: { exp?: number; alg?: string; signWith?: Parameters<SignJWT['sign']>[0] } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'HS256' });
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? NOW / 1000 + 3600);
  return jwt.sign(opts.signWith ?? key);
}

const hs = () => Auth.fromOptions({ authSecret: SECRET, authPublicKey: '' }, () => NOW) as Auth;

describe('Auth.fromOptions', () => {
  it('is off without either flag', () => {
    expect(Auth.fromOptions({ authSecret: '', authPublicKey: '' })).toBeUndefined();
  });

  it('refuses both flags at once, and an unreadable or unusable key file, with one line', () => {
    expect(() => Auth.fromOptions({ authSecret: 's', authPublicKey: '/x' })).toThrow(AuthConfigError);
    expect(() => Auth.fromOptions({ authSecret: '', authPublicKey: '/nonexistent/key.pem' })).toThrow(/^--auth-public-key: cannot read \/nonexistent\/key.pem: ENOENT$/);
    const dir = mkdtempSync(join(tmpdir(), 'auth-'));
    writeFileSync(join(dir, 'junk.pem'), 'not a key');
    expect(() => Auth.fromOptions({ authSecret: '', authPublicKey: join(dir, 'junk.pem') })).toThrow(/holds no PEM public key/);
  });
});

describe('verify (HS256)', () => {
  it('accepts a good token and gives its claims', async () => {
    const t = await sign({ sub: 'u1', name: 'Alice', rooms: ['lobby', 'dev*'] });
    expect(await hs().verify(t)).toEqual({ ok: true, claims: { sub: 'u1', name: 'Alice', expMs: NOW + 3_600_000, rooms: ['lobby', 'dev*'] } });
  });

  it('names a token without a name by its sub', async () => {
    const v = await hs().verify(await sign({ sub: 'u1' }));
    expect(v).toMatchObject({ ok: true, claims: { name: 'u1' } });
  });

  it('refuses no token, a bad signature, an expired one, one without exp or sub, another algorithm', async () => {
    const a = hs();
    expect(await a.verify(undefined)).toEqual({ ok: false, refusal: 'no_token' });
    expect(await a.verify('')).toEqual({ ok: false, refusal: 'no_token' });
    expect(await a.verify('not.a.jwt')).toEqual({ ok: false, refusal: 'bad_token' });
    const other = await sign({ sub: 'u1' }, { signWith: new TextEncoder().encode('another-secret-long-enough-000000') });
    expect(await a.verify(other)).toEqual({ ok: false, refusal: 'bad_token' });
    expect(await a.verify(await sign({ sub: 'u1' }, { exp: NOW / 1000 - 1 }))).toEqual({ ok: false, refusal: 'token_expired' });
    expect(await a.verify(await sign({ sub: 'u1' }, { exp: null as unknown as number }))).toEqual({ ok: false, refusal: 'bad_token' });
    expect(await a.verify(await sign({ name: 'x' }))).toEqual({ ok: false, refusal: 'bad_token' });
    expect(await a.verify(await sign({ sub: 'u1' }, { alg: 'HS512' }))).toEqual({ ok: false, refusal: 'bad_token' });
    expect(await a.verify('x'.repeat(9000))).toEqual({ ok: false, refusal: 'bad_token' });
  });

  it('refuses an unsigned token (alg none)', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'u1', exp: NOW / 1000 + 60 })).toString('base64url');
    expect(await hs().verify(`${header}.${body}.`)).toEqual({ ok: false, refusal: 'bad_token' });
  });

  it('admit: refuses a room outside the rooms claim with forbidden_room', async () => {
    const t = await sign({ sub: 'u1', rooms: 'lobby,dev*' });
    expect(await hs().admit(t, 'lobby')).toMatchObject({ ok: true });
    expect(await hs().admit(t, 'dev-ops')).toMatchObject({ ok: true });
    expect(await hs().admit(t, undefined)).toMatchObject({ ok: true });
    // No ?room=: the first room is lobby, which must be allowed too.
    const devOnly = await sign({ sub: 'u1', rooms: ['dev*'] });
    expect(await hs().admit(devOnly, undefined)).toEqual({ ok: false, refusal: 'forbidden_room' });
    expect(await hs().admit(devOnly, '')).toEqual({ ok: false, refusal: 'forbidden_room' });
    expect(await hs().admit(t, 'secret')).toEqual({ ok: false, refusal: 'forbidden_room' });
  });
});

describe('verify (RS256, ES256) with --auth-public-key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-'));
  it.each([
    ['rsa', 'RS256', { modulusLength: 2048 }],
    ['ec', 'ES256', { namedCurve: 'P-256' }],
  ] as const)('%s keys: a token signed with the private key passes, an HS256 one with the PEM as secret does not', async (type, alg, params) => {
    const { publicKey, privateKey } = (generateKeyPairSync as (t: string, p: object) => { publicKey: KeyObject; privateKey: KeyObject })(type, params);
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const file = join(dir, `${type}.pem`);
    writeFileSync(file, pem);
    const a = Auth.fromOptions({ authSecret: '', authPublicKey: file }, () => NOW) as Auth;
    expect(a.algorithm).toBe(alg);
    expect(await a.verify(await sign({ sub: 'u2', name: 'Bo' }, { alg, signWith: privateKey }))).toMatchObject({ ok: true, claims: { sub: 'u2', name: 'Bo' } });
    // The classic confusion: the public key used as an HMAC secret.
    expect(await a.verify(await sign({ sub: 'u2' }, { signWith: new TextEncoder().encode(pem) }))).toEqual({ ok: false, refusal: 'bad_token' });
  });
});

describe('claims', () => {
  it('claimsOf refuses claims of the wrong shape', () => {
    expect(claimsOf({ sub: 1, exp: 1 })).toBeUndefined();
    expect(claimsOf({ sub: '', exp: 1 })).toBeUndefined();
    expect(claimsOf({ sub: 'a', exp: 1, name: 3 })).toBeUndefined();
    expect(claimsOf({ sub: 'a', exp: 1, rooms: [1] })).toBeUndefined();
    expect(claimsOf({ sub: 'a', exp: 1, rooms: ' a, b* ,' })).toEqual({ sub: 'a', name: 'a', expMs: 1000, rooms: ['a', 'b*'] });
  });

  it('roomAllowed: no claim allows all; names exactly; prefix* patterns; * alone any', () => {
    expect(roomAllowed(undefined, 'x')).toBe(true);
    expect(roomAllowed([], 'x')).toBe(false);
    expect(roomAllowed(['lobby'], 'lobby')).toBe(true);
    expect(roomAllowed(['lobby'], 'lobby2')).toBe(false);
    expect(roomAllowed(['dev*'], 'dev')).toBe(true);
    expect(roomAllowed(['dev*'], 'dev-ops')).toBe(true);
    expect(roomAllowed(['dev*'], 'de')).toBe(false);
    expect(roomAllowed(['*'], 'anything')).toBe(true);
  });

  it('tokenOf: ?token= first, then Authorization: Bearer', () => {
    expect(tokenOf(new URLSearchParams('token=abc'), 'Bearer def')).toBe('abc');
    expect(tokenOf(new URLSearchParams(''), 'Bearer def')).toBe('def');
    expect(tokenOf(new URLSearchParams(''), 'bearer  def ')).toBe('def');
    expect(tokenOf(new URLSearchParams(''), 'Basic def')).toBeUndefined();
    expect(tokenOf(new URLSearchParams(''), undefined)).toBeUndefined();
  });
});
