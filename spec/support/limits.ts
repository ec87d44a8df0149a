// Issue 9's limits in specs. The server's defaults hold 10 frames a second per
// connection (--msg-rate, burst 20) and 10,000 members per room. A spec whose
// clients send in bursts on purpose (a load, a flood of History requests, a slow
// reader fed as fast as possible) starts its server with these, explicitly, so
// the default stays what `npm start` runs ("never by weakening defaults").
// spec/limits.int.spec.ts and spec/connection-rate.spec.ts are where the limits themselves are proved.
import type { ServerOptions } from '../../src/edge/server';

/** In-process servers (startServer): the message rate off. */
export const BURSTS: Pick<ServerOptions, 'msgRate'> = { msgRate: 0 };

/** Spawned servers (dist/src/main.js): the same as flags. */
export const BURSTS_ARGS: readonly string[] = ['--msg-rate', '0'];
