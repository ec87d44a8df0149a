// The message log `npm start` asked for (--store, --data, --history-max,
// --history-days): SQLite under the data directory by default, or memory.
import type { Config } from '../ops/config';
import type { MessageLog } from './log';
import { MemoryLog } from './memory';
import type * as Sqlite from './sqlite';

/** Opens the configured log; throws an Error that names the directory and the cause when it cannot. */
export function openLog(config: Pick<Config, 'store' | 'dataDir' | 'historyMax' | 'historyDays'>): MessageLog {
  const retention = { maxPerRoom: config.historyMax, maxDays: config.historyDays };
  if (config.store === 'memory') return new MemoryLog({ retention });
  // Loaded only when it is the store asked for (issue 12, RSS at rest): better-sqlite3's
  // modules cost --store memory about 1 MB resident for nothing. Another backend's
  // driver (ioredis: 59 modules) belongs behind the same kind of require.
  const { SqliteLog } = require('./sqlite') as typeof Sqlite;
  return SqliteLog.open(config.dataDir, retention);
}
