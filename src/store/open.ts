// The message log `npm start` asked for (--store, --data, --history-max,
// --history-days, --redis): SQLite under the data directory by default, or
// memory, or (several processes as one chat) Redis.
import type { Config } from '../ops/config';
import type { MessageLog } from './log';
import { MemoryLog } from './memory';
import { RedisLog } from './redis';
import { SqliteLog } from './sqlite';

/**
 * Opens the configured log; rejects with an Error of one line naming the
 * directory or the Redis URL (without its password) and the cause when it cannot.
 */
export async function openLog(
  config: Pick<Config, 'store' | 'dataDir' | 'historyMax' | 'historyDays' | 'redis' | 'redisPrefix'>,
): Promise<MessageLog> {
  const retention = { maxPerRoom: config.historyMax, maxDays: config.historyDays };
  if (config.redis !== '') return RedisLog.connect(config.redis, retention, { prefix: config.redisPrefix });
  return config.store === 'memory' ? new MemoryLog({ retention }) : SqliteLog.open(config.dataDir, retention);
}
