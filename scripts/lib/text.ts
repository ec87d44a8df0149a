// Lengths as users count them (protocol.md): Unicode code points, so an emoji is one
// character, not the two UTF-16 units of String.length. The server counts the same
// way (src/protocol.ts); this copy keeps the CLI's checks beside its commands.

export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
