// `npm run token -- --sub alice --name Alice [--rooms 'lobby,dev*'] [--ttl 1h]`: mints an HS256 token
// for a server started with the same --auth-secret (or AUTH_SECRET), and prints it on stdout
// (docs/protocol.md "Auth"). For servers checking RS256/ES256 tokens, whoever holds the private key mints them.
import { SignJWT } from 'jose';
import { UsageError, readFlags, stringFlag } from './lib/args';

const USAGE = `usage: npm run token -- --sub ID [--name NAME] [--rooms 'lobby,dev*'] [--ttl 1h] [--auth-secret SECRET]
  --sub          the user's stable ID (required)
  --name         the display name (default: the ID)
  --rooms        rooms the token allows: names and prefix* patterns, comma-separated (default: any room)
  --ttl          how long it is valid: 30s, 15m, 1h, 7d (default 1h)
  --auth-secret  the server's secret (default: env AUTH_SECRET)`;

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "30s", "15m", "1h", "7d" in seconds; undefined when malformed or not above 0. */
export function parseTtl(text: string): number | undefined {
  const m = /^(\d+)([smhd])$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) return undefined;
  return Number(m[1]) * TTL_UNITS[m[2]];
}

export interface TokenOptions {
  sub: string;
  name?: string;
  rooms?: string[];
  ttlSeconds: number;
  secret: string;
  /** Seconds since the epoch (default: now). */
  now?: number;
}

export function mint(o: TokenOptions): Promise<string> {
  const now = o.now ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { name: o.name ?? o.sub };
  if (o.rooms !== undefined) claims.rooms = o.rooms;
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.sub).setIssuedAt(now).setExpirationTime(now + o.ttlSeconds)
    .sign(new TextEncoder().encode(o.secret));
}

export function tokenOptions(argv: readonly string[], env: NodeJS.ProcessEnv): TokenOptions | 'help' {
  const flags = readFlags(argv, {
    sub: { type: 'string' }, name: { type: 'string' }, rooms: { type: 'string' }, ttl: { type: 'string' },
    'auth-secret': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (flags.help === true) return 'help';
  if (flags.sub === undefined) throw new UsageError('--sub is required');
  const sub = stringFlag(flags, 'sub', '');
  const ttlText = stringFlag(flags, 'ttl', '1h');
  const ttlSeconds = parseTtl(ttlText);
  if (ttlSeconds === undefined) throw new UsageError(`--ttl must be a duration such as 30s, 15m, 1h or 7d, not "${ttlText}"`);
  const secret = (flags['auth-secret'] as string | undefined) ?? env.AUTH_SECRET ?? '';
  if (secret === '') throw new UsageError('no secret: pass --auth-secret or set AUTH_SECRET, as for the server');
  const rooms = flags.rooms === undefined ? undefined
    : String(flags.rooms).split(',').map((r) => r.trim()).filter((r) => r !== '');
  return { sub, name: flags.name === undefined ? undefined : stringFlag(flags, 'name', ''), rooms, ttlSeconds, secret };
}

async function main(): Promise<number> {
  let o;
  try {
    o = tokenOptions(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.stdout.write(`${await mint(o)}\n`);
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`fatal: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
