// `npm start`: parse flags, start the server, and shut down cleanly on SIGTERM/SIGINT.
import './ops/stack-maps'; // first: traces name .ts lines, maps read only when a trace is made (see there)
import './ops/preload'; // third-party modules from their one-file builds (see there)
import { ConfigError, USAGE, parseConfig, redactUrl } from './ops/config';
import { createLogger } from './ops/logger';
import { startServer } from './edge/server';
import { openLog } from './store/open';

/**
 * issue 9, 6: a start that cannot work (a bad flag, a data directory that cannot be used, a bad or
 * unreachable Redis, a port in use) says why in one line on stderr, without a stack, and exits 2.
 * Exit 1 is left for what was not foreseen (a bug: its stack is printed).
 */
const EXIT_CANNOT_START = 2;

function cannotStart(message: string): never {
  process.stderr.write(`cannot start: ${message}\n`);
  process.exit(EXIT_CANNOT_START);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    cannotStart(`${e.message} (--help lists the flags)`);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { config } = parsed;
  const log = createLogger(config.logLevel);
  let messages;
  try {
    messages = await openLog(config);
  } catch (e) {
    // issue 7: a data directory that cannot be opened or written stops the server at start, with one clear
    // line; issue 8: so does a bad Redis URL, or a Redis that does not answer within 10 s.
    cannotStart((e as Error).message);
  }
  let server;
  try {
    server = await startServer({ ...config, log, messages });
  } catch (e) {
    // The same one line for the bus's Redis (a RedisOpenError: gone since the log connected) or a port in use.
    await Promise.resolve(messages.close()).catch(() => undefined);
    cannotStart((e as Error).message);
  }
  if (config.redis !== '') log('info', 'cluster', { node: server.nodeId, redis: redactUrl(config.redis), prefix: config.redisPrefix });
  // Printed whatever the log level: scripts and people wait for this line.
  process.stdout.write(`chat server listening on ${server.url}\n`);
  // With --redis the log is Redis's: --store and --data do not apply, so the line does not name them.
  const store = config.redis === '' ? {} : { store: 'redis', dataDir: undefined };
  log('info', 'started', { url: server.url, ...config, ...store, redis: config.redis === '' ? '' : redactUrl(config.redis), authSecret: config.authSecret === '' ? '' : '***' });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log('info', 'stopping', { signal });
    // protocol.md: every client gets a notice and a 1001 close; the process is gone within 5 s.
    const hardStop = setTimeout(() => process.exit(0), 4800);
    hardStop.unref();
    server.close(4000).then(() => {
      log('info', 'stopped', {});
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(`fatal: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
