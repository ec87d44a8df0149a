// The baselines take `npm start`'s flags through its own parser: the same names,
// defaults and checks, so every target is configured alike.
import { Config, parseConfig } from '../../src/ops/config';
import { Limits } from '../../src/core/protocol';

export type BaselineConfig = Config;

export function baselineConfig(argv: string[]): BaselineConfig {
  const parsed = parseConfig(argv);
  if (parsed.help) throw new Error('the baseline servers have no help; they take the flags of npm start');
  return parsed.config;
}

export const ROOM = Limits.roomPattern;
export const seconds = () => Math.floor(Date.now() / 1000);
