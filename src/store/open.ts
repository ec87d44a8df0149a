// The message log `npm start` asked for (--store, --data, --history-max,
// --history-days): SQLite under the data directory by default, or memory.
import type { Config } from '../ops/config';
import type { MessageLog } from './log';
import { MemoryLog } from './memory';
import { SqliteLog } from './sqlite';

/** Opens the configured log; throws an Error that names the directory and the cause when it cannot. */
export function openLog(config: Pick<Config, 'store' | 'dataDir' | 'historyMax' | 'historyDays'>): MessageLog {
  const retention = { maxPerRoom: config.historyMax, maxDays: config.historyDays };
  return config.store === 'memory' ? new MemoryLog({ retention }) : SqliteLog.open(config.dataDir, retention);
}
