// What a verified token allows, as pure data (the edge verifies it: src/edge/auth.ts; docs/protocol.md "Auth").

/** The user a connection speaks for when auth is on: the token's `sub`, and its `rooms` claim (none: any room). */
export interface User {
  readonly sub: string;
  readonly rooms?: readonly string[];
  /** When the token expires (ms since the epoch); none: never checked after the upgrade. */
  readonly exp?: number;
}

/** How long a connection whose token expired has to send a Refresh before it is closed with 4001. */
export const REFRESH_GRACE_MS = 30_000;

/**
 * Whether the `rooms` claim allows a room: no claim allows every room; otherwise an exact name,
 * or a pattern `prefix*` for every room starting with prefix (`*` alone: any room).
 */
export function roomAllowed(rooms: readonly string[] | undefined, room: string): boolean {
  if (rooms === undefined) return true;
  for (const r of rooms) {
    if (r.endsWith('*') ? room.startsWith(r.slice(0, -1)) : room === r) return true;
  }
  return false;
}
