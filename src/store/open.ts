// The message log `npm start` asked for (--store, --data, --history-max,
// --history-days, --redis): SQLite under the data directory by default, or
// memory, or (several processes as one chat) Redis.
import type { Config } from '../ops/config';
import type { MessageLog } from './log';
import { MemoryLog } from './memory';
import type * as Redis from './redis';
import type * as Sqlite from './sqlite';

/**
 * Opens the configured log; rejects with an Error of one line naming the
 * directory or the Redis URL (without its password) and the cause when it cannot.
 */
export async function openLog(
  config: Pick<Config, 'store' | 'dataDir' | 'historyMax' | 'historyDays' | 'redis' | 'redisPrefix'>,
): Promise<MessageLog> {
  const retention = { maxPerRoom: config.historyMax, maxDays: config.historyDays };
  if (config.redis !== '') {
    // Loaded only when asked for, as the SQLite driver is below: ioredis is resident memory a
    // one-process server never uses.
    const { RedisLog } = require('./redis') as typeof Redis;
    return RedisLog.connect(config.redis, retention, { prefix: config.redisPrefix });
  }
  if (config.store === 'memory') return new MemoryLog({ retention });
  // Loaded only when it is the store asked for: better-sqlite3 and SQLite's own code
  // are about 3 MB of resident memory that a server on another store never uses.
  const { SqliteLog } = require('./sqlite') as typeof Sqlite;
  return SqliteLog.open(config.dataDir, retention);
}
