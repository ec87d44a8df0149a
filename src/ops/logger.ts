// Structured logs: one JSON line per event on stdout. Small on purpose; the
// volume is a few lines per connection, never per chat message.
import type { LogLevel } from '../core/events';

export type Level = LogLevel | 'silent';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };
export const LEVELS = Object.keys(RANK) as Level[];

export type Logger = (level: LogLevel, event: string, fields?: Record<string, unknown>) => void;

export function createLogger(min: Level, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  return (level, event, fields = {}) => {
    if (RANK[level] < RANK[min]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`);
  };
}
