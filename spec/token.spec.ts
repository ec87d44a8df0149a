// `npm run token` (scripts/token.ts): what it mints is what the server accepts.
import { Auth } from '../src/edge/auth';
import { UsageError } from '../scripts/lib/args';
import { mint, parseTtl, tokenOptions } from '../scripts/token';
import { socketBase } from '../web/src/protocol';

const SECRET = 'token-script-secret-long-enough-00';

describe('npm run token', () => {
  it('mints a token the server verifies, with sub, name, rooms and exp from --ttl', async () => {
    const o = tokenOptions(['--sub', 'alice', '--name', 'Alice', '--rooms', 'lobby, dev*', '--ttl', '2h'], { AUTH_SECRET: SECRET });
    expect(o).toMatchObject({ sub: 'alice', name: 'Alice', rooms: ['lobby', 'dev*'], ttlSeconds: 7200, secret: SECRET });
    const now = 1_800_000_000;
    const token = await mint({ ...(o as Exclude<typeof o, 'help'>), now });
    const auth = Auth.fromOptions({ authSecret: SECRET, authPublicKey: '' }, () => now * 1000) as Auth;
    expect(await auth.verify(token)).toEqual({ ok: true, claims: { sub: 'alice', name: 'Alice', rooms: ['lobby', 'dev*'], expMs: (now + 7200) * 1000 } });
    // Expired after its ttl.
    const later = Auth.fromOptions({ authSecret: SECRET, authPublicKey: '' }, () => (now + 7201) * 1000) as Auth;
    expect(await later.verify(token)).toEqual({ ok: false, refusal: 'token_expired' });
  });

  it('defaults: name = sub, any room, 1 hour; --auth-secret over AUTH_SECRET', () => {
    expect(tokenOptions(['--sub', 'bo', '--auth-secret', 'x'], { AUTH_SECRET: 'y' })).toEqual({ sub: 'bo', name: undefined, rooms: undefined, ttlSeconds: 3600, secret: 'x' });
  });

  it('refuses what it cannot mint, naming why', () => {
    expect(() => tokenOptions([], { AUTH_SECRET: SECRET })).toThrow(new UsageError('--sub is required'));
    expect(() => tokenOptions(['--sub', 'a'], {})).toThrow(/no secret/);
    expect(() => tokenOptions(['--sub', 'a', '--ttl', '1y'], { AUTH_SECRET: SECRET })).toThrow(/--ttl must be/);
    expect(tokenOptions(['--help'], {})).toBe('help');
  });

  it('parseTtl', () => {
    expect(parseTtl('30s')).toBe(30);
    expect(parseTtl('15m')).toBe(900);
    expect(parseTtl('7d')).toBe(604_800);
    expect(parseTtl('0h')).toBeUndefined();
    expect(parseTtl('1.5h')).toBeUndefined();
    expect(parseTtl('10')).toBeUndefined();
  });
});

describe('the web page passes ?token= on', () => {
  it('adds the page URL\'s token to the socket URL, encoded; none without one', () => {
    expect(socketBase({ protocol: 'https:', host: 'chat.example' }, 'a.b-c_d')).toBe('wss://chat.example/ws?token=a.b-c_d');
    expect(socketBase({ protocol: 'http:', host: 'h:1' }, 'x+y')).toBe('ws://h:1/ws?token=x%2By');
    expect(socketBase({ protocol: 'http:', host: 'h:1' }, null)).toBe('ws://h:1/ws');
  });
});
