// The wire as the page sees it (docs/protocol.md). The constants and validators are
// the server's own (src/core/protocol.ts is pure), so page and server cannot drift;
// frames, URLs and the socket itself are the client library's (src/client).
import { DEFAULT_ROOM, Limits, Type, codePoints, nameProblem, roomProblem } from '../../src/core/protocol';

export { DEFAULT_ROOM, Limits, Type, codePoints, nameProblem, roomProblem };
export type { Frame } from '../../src/client';

export interface Member {
  ID: string;
  Name: string;
}

/**
 * ws(s)://this-host/ws, with ?token= when the page was given one (a server with auth on; docs/protocol.md
 * "Auth"): the library adds &name=&room= or &resume=&since=.
 */
export function socketBase(location: { protocol: string; host: string }, token?: string | null): string {
  const base = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  return token ? `${base}?token=${encodeURIComponent(token)}` : base;
}
