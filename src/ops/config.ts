// Configuration: flags and environment variables normalised once, from one
// defaults object. A bad value is an error that names the flag.
import { parseArgs } from 'node:util';
import { LEVELS, Level } from './logger';
import { DEFAULT_MAX_ROOM_MEMBERS, DEFAULT_PRESENCE_MAX, DEFAULT_RESUME_WINDOW_MS } from '../core/reducer';
import { normalizeOrigins } from '../edge/origin';

export const STORES = ['sqlite', 'memory'] as const;
export type StoreKind = (typeof STORES)[number];

export interface Config {
  port: number;
  host: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxPayload: number;
  maxBuffered: number;
  presenceMax: number;
  logLevel: Level;
  /** Where accepted lines are kept: a SQLite file under dataDir, or this process's memory. */
  store: StoreKind;
  dataDir: string;
  /** Retention: lines kept per room, and days a line is kept. */
  historyMax: number;
  historyDays: number;
  /** How long an identity can be resumed after its connection ends (0: no resuming). */
  resumeWindowMs: number;
  /** Several processes as one chat (docs/scaling.md): the Redis URL ('' : one process, the log in --store). */
  redis: string;
  /** This process's name in Redis keys and logs ('' : a random one, made at start). */
  nodeId: string;
  /** Put before every Redis key and channel. */
  redisPrefix: string;
  /** Frames per second one connection may send, on average (0: no limit; src/core/rate.ts). */
  msgRate: number;
  /** Frames one connection may send at once (0: no limit). */
  msgBurst: number;
  /** Members one room may have (0: no limit). */
  maxRoomMembers: number;
  /** `GET /metrics` in the Prometheus text format (src/ops/metrics.ts), or off. */
  metrics: 'on' | 'off';
  /** A listener of its own for /metrics ('' : /metrics is served on --port); 0 picks a free one. */
  metricsPort: number | '';
  /** The address that listener is on (with --metrics-port only). */
  metricsHost: string;
  // The door (docs/security.md "The door"): what an upgrade to /ws must pass; 0 turns a limit off.
  /** Web origins that may connect, comma-separated, normalised ('' : the request's own host; '*': any). */
  allowedOrigins: string;
  /** Connections open at once from one address (IPv6: one /64). */
  maxConnsPerIp: number;
  /** New connections from one address per minute. */
  connRatePerIp: number;
  /** The per-address limits count loopback addresses too (by default they are exempt). */
  limitLoopback: boolean;
  /** The client's address is the last X-Forwarded-For entry (a proxy in front appends it). */
  trustProxy: boolean;
  /** Connections open at once, all addresses. */
  maxConnections: number;
  /** ms a client has to send a whole HTTP request (an upgrade's headers) before it is cut off with 408. */
  upgradeTimeoutMs: number;
  // Identity (docs/security.md "Identity"): one of these turns auth on; neither: anonymous guests.
  /** HS256 tokens signed with this shared secret ('' : none). */
  authSecret: string;
  /** A PEM file with the public key of RS256/ES256 tokens ('' : none). */
  authPublicKey: string;
}

/** The field's practice: ping every 25 s, a peer silent for 60 s is dead, 64 KiB frames. */
export const DEFAULTS: Config = {
  port: 8080,
  host: '0.0.0.0',
  heartbeatIntervalMs: 25_000,
  heartbeatTimeoutMs: 60_000,
  maxPayload: 64 * 1024,
  maxBuffered: 1024 * 1024,
  presenceMax: DEFAULT_PRESENCE_MAX,
  logLevel: 'info',
  store: 'sqlite',
  dataDir: './data',
  historyMax: 10_000,
  historyDays: 30,
  resumeWindowMs: DEFAULT_RESUME_WINDOW_MS,
  redis: '',
  nodeId: '',
  redisPrefix: 'rxchat:',
  msgRate: 10,
  msgBurst: 20,
  maxRoomMembers: DEFAULT_MAX_ROOM_MEMBERS,
  metrics: 'on',
  metricsPort: '',
  metricsHost: '127.0.0.1',
  allowedOrigins: '',
  maxConnsPerIp: 64,
  connRatePerIp: 120,
  limitLoopback: false,
  trustProxy: false,
  maxConnections: 10_000,
  upgradeTimeoutMs: 10_000,
  authSecret: '',
  authPublicKey: '',
};

/** flag name, config key, environment variable, help text. */
const FLAGS: ReadonlyArray<[string, keyof Config, string, string]> = [
  ['port', 'port', 'PORT', 'TCP port; 0 picks a free one'],
  ['host', 'host', 'HOST', 'address to listen on'],
  ['heartbeat-interval', 'heartbeatIntervalMs', 'HEARTBEAT_INTERVAL', 'ms between pings to each client'],
  ['heartbeat-timeout', 'heartbeatTimeoutMs', 'HEARTBEAT_TIMEOUT', 'ms of silence (no frame, no pong) after which a client is dropped, within one heartbeat interval'],
  ['max-payload', 'maxPayload', 'MAX_PAYLOAD', 'largest frame accepted, in bytes (bigger: close 1009)'],
  ['max-buffered', 'maxBuffered', 'MAX_BUFFERED', 'bytes from earlier turns waiting to be sent to one client before it counts as behind; behind for 5 s, or by 8 times this, it is dropped (close 4008); while behind, it is not read'],
  ['presence-max', 'presenceMax', 'PRESENCE_MAX', 'rooms with more members get no Connected, Disconnected or Rename notices'],
  ['log-level', 'logLevel', 'LOG_LEVEL', `one of ${LEVELS.join(', ')}`],
  ['store', 'store', 'STORE', `where lines are kept: ${STORES.join(' or ')} (memory: lost on restart)`],
  ['data', 'dataDir', 'DATA_DIR', 'directory of the SQLite message log (created if missing)'],
  ['history-max', 'historyMax', 'HISTORY_MAX', 'lines kept per room'],
  ['history-days', 'historyDays', 'HISTORY_DAYS', 'days a line is kept'],
  ['resume-window', 'resumeWindowMs', 'RESUME_WINDOW', 'ms an identity can be resumed after its connection ends (0: never)'],
  ['redis', 'redis', 'REDIS_URL', 'redis://HOST:PORT/DB: the message log on Redis, shared by several processes (docs/scaling.md); none: one process'],
  ['node-id', 'nodeId', 'NODE_ID', 'this process\'s name in Redis keys and logs, 1-64 of A-Z a-z 0-9 _ . : - (none: a random one)'],
  ['redis-prefix', 'redisPrefix', 'REDIS_PREFIX', 'put before every Redis key and channel'],
  ['msg-rate', 'msgRate', 'MSG_RATE', 'frames per second one connection may send (a token bucket); over it: Error rate_limited, and close 4029 after 10 s (0: no limit)'],
  ['msg-burst', 'msgBurst', 'MSG_BURST', 'frames one connection may send at once before --msg-rate applies (0: no limit)'],
  ['max-room-members', 'maxRoomMembers', 'MAX_ROOM_MEMBERS', 'members one room may have; a Join past it: Error room_full (0: no limit)'],
  ['metrics', 'metrics', 'METRICS', 'on: GET /metrics in the Prometheus text format; off: no /metrics (404)'],
  ['metrics-port', 'metricsPort', 'METRICS_PORT', '/metrics on a listener of its own at this port, not on --port (none: on --port)'],
  ['metrics-host', 'metricsHost', 'METRICS_HOST', 'the address the --metrics-port listener is on'],
  ['allowed-origins', 'allowedOrigins', 'ALLOWED_ORIGINS', 'web origins (https://host[:port], comma-separated, or *) whose pages may connect; clients that send no Origin always may (none: the request\'s own host)'],
  ['max-conns-per-ip', 'maxConnsPerIp', 'MAX_CONNS_PER_IP', 'connections open at once from one address (IPv6: one /64), more: 429 (0: no limit)'],
  ['conn-rate-per-ip', 'connRatePerIp', 'CONN_RATE_PER_IP', 'new connections per minute from one address, more: 429 (0: no limit)'],
  ['limit-loopback', 'limitLoopback', 'LIMIT_LOOPBACK', 'apply the per-address limits to loopback addresses too (127.0.0.0/8, ::1), which are exempt otherwise'],
  ['trust-proxy', 'trustProxy', 'TRUST_PROXY', 'the client\'s address is the last X-Forwarded-For entry, appended by the proxy in front (only behind one)'],
  ['max-connections', 'maxConnections', 'MAX_CONNECTIONS', 'connections open at once, all addresses, more: 503 (0: no limit)'],
  ['upgrade-timeout', 'upgradeTimeoutMs', 'UPGRADE_TIMEOUT', 'ms a client has to send a whole HTTP request, an upgrade\'s headers included, or 408 and closed (0: no limit)'],
  ['auth-secret', 'authSecret', 'AUTH_SECRET', 'HS256 secret: every connection needs a signed token (?token= or Authorization: Bearer; docs/security.md "Identity"); none: anonymous guests'],
  ['auth-public-key', 'authPublicKey', 'AUTH_PUBLIC_KEY', 'PEM file of the public key that checks RS256/ES256 tokens (instead of --auth-secret); unreadable: cannot start'],
];

/** Flags that take no value: given, they are on; their environment variable takes true/false, 1/0, yes/no, on/off. */
const SWITCHES: ReadonlySet<keyof Config> = new Set<keyof Config>(['limitLoopback', 'trustProxy']);

export const USAGE = [
  'Usage: npm start -- [flags]',
  '',
  ...FLAGS.map(([flag, key, env, help]) =>
    `  --${flag.padEnd(20)} ${help} (env ${env}${DEFAULTS[key] === '' ? '' : `; default ${DEFAULTS[key]}`})`),
  `  --${'help'.padEnd(20)} show this help`,
].join('\n');

export class ConfigError extends Error {}

/** A URL as it may be printed (logs, errors): without its password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

export type Parsed = { help: true } | { help: false; config: Config };

function switchOn(envName: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === '') return false;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${envName}: expected true or false (1/0, yes/no, on/off), got "${raw}"`);
}

function intIn(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${flag}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Parsed {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(FLAGS.map(([flag, key]) => [flag, { type: SWITCHES.has(key) ? 'boolean' as const : 'string' as const }])),
      },
      strict: true,
    }).values;
  } catch (e) {
    // parseArgs explains over several lines; a start-up error is one (main.ts).
    throw new ConfigError((e as Error).message.replace(/\s*\n\s*/g, ' '));
  }
  if (values.help) return { help: true };

  const config: Config = { ...DEFAULTS };
  for (const [flag, key, envName] of FLAGS) {
    const given = values[flag];
    if (SWITCHES.has(key)) {
      (config[key] as boolean) = given === true || (given === undefined && switchOn(envName, env[envName]));
      continue;
    }
    const raw = (given as string | undefined) ?? env[envName];
    if (raw === undefined || raw === '') continue;
    switch (key) {
      case 'host':
        config.host = raw;
        break;
      case 'logLevel':
        if (!LEVELS.includes(raw as Level)) throw new ConfigError(`--${flag}: expected one of ${LEVELS.join(', ')}, got "${raw}"`);
        config.logLevel = raw as Level;
        break;
      case 'port':
        config.port = intIn(flag, raw, 0, 65535);
        break;
      case 'store':
        if (!STORES.includes(raw as StoreKind)) throw new ConfigError(`--${flag}: expected one of ${STORES.join(', ')}, got "${raw}"`);
        config.store = raw as StoreKind;
        break;
      case 'dataDir':
        config.dataDir = raw;
        break;
      case 'redis':
        config.redis = raw;
        break;
      case 'nodeId':
        if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(raw)) throw new ConfigError(`--${flag}: expected 1 to 64 of A-Z a-z 0-9 _ . : -, got "${raw}"`);
        config.nodeId = raw;
        break;
      case 'redisPrefix':
        if (/[{}]/.test(raw)) throw new ConfigError(`--${flag}: may not hold { or } (Redis hash tags), got "${raw}"`);
        config.redisPrefix = raw;
        break;
      case 'msgRate':
      case 'msgBurst':
      case 'maxRoomMembers':
        config[key] = intIn(flag, raw, 0, 2 ** 31 - 1);
        break;
      case 'metrics':
        if (raw !== 'on' && raw !== 'off') throw new ConfigError(`--${flag}: expected on or off, got "${raw}"`);
        config.metrics = raw;
        break;
      case 'metricsPort':
        config.metricsPort = intIn(flag, raw, 0, 65535);
        break;
      case 'metricsHost':
        config.metricsHost = raw;
        break;
      case 'resumeWindowMs':
        config.resumeWindowMs = intIn(flag, raw, 0, 24 * 3600_000);
        break;
      case 'allowedOrigins':
        try {
          config.allowedOrigins = normalizeOrigins(raw);
        } catch (e) {
          throw new ConfigError(`--${flag}: ${(e as Error).message}`);
        }
        break;
      case 'maxConnsPerIp':
      case 'connRatePerIp':
      case 'maxConnections':
        config[key] = intIn(flag, raw, 0, 2 ** 31 - 1);
        break;
      case 'authSecret':
      case 'authPublicKey':
        config[key] = raw;
        break;
      case 'upgradeTimeoutMs':
        config.upgradeTimeoutMs = intIn(flag, raw, 0, 3600_000);
        break;
      default:
        (config[key] as number) = intIn(flag, raw, 1, 2 ** 31 - 1);
    }
  }
  if (config.heartbeatTimeoutMs <= config.heartbeatIntervalMs) {
    throw new ConfigError('--heartbeat-timeout must be longer than --heartbeat-interval, or live clients would be dropped');
  }
  return { help: false, config };
}
