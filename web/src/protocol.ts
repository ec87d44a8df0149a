// The wire as the browser sees it (docs/protocol.md). The constants and validators
// are the server's own (src/core/protocol.ts is pure), so client and server cannot drift.
import { DEFAULT_ROOM, Limits, Type, codePoints, nameProblem, roomProblem } from '../../src/core/protocol';

export { DEFAULT_ROOM, Limits, Type, codePoints, nameProblem, roomProblem };

export interface Member {
  ID: string;
  Name: string;
}

/** A server frame: the four seed fields always, the extensions where the Type has them. */
export interface Frame {
  ID: string;
  Content: string;
  SentAt: number;
  Type: number;
  Name?: string;
  OldName?: string;
  Room?: string;
  Rooms?: unknown;
  Members?: Member[];
  Seq?: number;
  MsgID?: string;
  To?: string;
  Ref?: string | number;
  Code?: string;
  Reason?: string;
  Total?: number;
  /** Join, Members: how many are in the room (Members lists at most 100 of them). */
  Count?: number;
  /** Members: the After for the next page, when there is one. */
  Next?: string;
}

/** What the client sends; ID and SentAt are the server's to set. */
export type Outgoing =
  | { Type: typeof Type.Broadcast; Room: string; Content: string; Ref: string }
  | { Type: typeof Type.Direct; To: string; Content: string; Ref: string }
  | { Type: typeof Type.HeartBeat; Ref?: string }
  | { Type: typeof Type.Join | typeof Type.Leave | typeof Type.Members; Room: string; Ref?: string }
  | { Type: typeof Type.Rooms; Ref?: string }
  | { Type: typeof Type.Rename; Name: string; Ref?: string };

/** Parses one text frame; anything that is not a frame with the seed's fields is dropped. */
export function parseFrame(data: unknown): Frame | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const f = JSON.parse(data) as Frame;
    if (f === null || typeof f !== 'object' || typeof f.Type !== 'number' || typeof f.ID !== 'string') return undefined;
    if (typeof f.Content !== 'string') f.Content = '';
    return f;
  } catch {
    return undefined;
  }
}

/** ws(s)://this-host/ws?name=…&room=… */
export function socketUrl(location: { protocol: string; host: string }, name: string, room: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ name, room });
  return `${scheme}//${location.host}/ws?${q}`;
}
