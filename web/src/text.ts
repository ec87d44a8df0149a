// Lengths as users count them (protocol.md): Unicode code points, so an emoji is one
// character, not the two UTF-16 units of String.length. The server counts the same
// way (src/protocol.ts); the page keeps its own copy, as the CLI does (scripts/lib/text.ts).
import { Limits } from './protocol';

export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * A string someone else chose, for places that take only text (the tab title, a
 * placeholder): wrapped in FSI…PDI so its bidi controls cannot reorder the words
 * around it, with its own isolate controls removed so it cannot close ours early.
 * In the page itself such strings go in <bdi dir="auto"> (dom.ts, userText).
 */
export const isolate = (s: string): string => `\u2068${s.replace(/[\u2066-\u2069]/g, '')}\u2069`;

/** The counter under the box: silent until 500 characters (code points, as the server counts) are left. */
export function counterText(text: string): string {
  const left = Limits.maxContent - (text.length < Limits.maxContent - 500 ? text.length : codePoints(text));
  if (left < 0) return `· ${-left} character${left === -1 ? '' : 's'} too many`;
  return left < 500 ? `· ${left} characters left` : '';
}
