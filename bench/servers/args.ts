// The flags the baselines share with `npm start`, same names, same defaults.
import { parseArgs } from 'node:util';

export interface BaselineConfig {
  port: number;
  host: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxPayload: number;
  maxBuffered: number;
}

export function baselineConfig(argv: string[]): BaselineConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      'heartbeat-interval': { type: 'string', default: '25000' },
      'heartbeat-timeout': { type: 'string', default: '60000' },
      'max-payload': { type: 'string', default: String(64 * 1024) },
      'max-buffered': { type: 'string', default: String(1024 * 1024) },
      'log-level': { type: 'string' },
    },
  });
  return {
    port: Number(values.port),
    host: values.host as string,
    heartbeatIntervalMs: Number(values['heartbeat-interval']),
    heartbeatTimeoutMs: Number(values['heartbeat-timeout']),
    maxPayload: Number(values['max-payload']),
    maxBuffered: Number(values['max-buffered']),
  };
}

export const ROOM = /^[A-Za-z0-9_.-]{1,32}$/;
export const seconds = () => Math.floor(Date.now() / 1000);
