// Text as the page shows and counts it. Lengths are the server's own count
// (codePoints, src/core/protocol.ts): code points, so an emoji is one character.
import { Limits, codePoints } from './protocol';

/** Whether a line is over protocol.md's limit; cheap when its UTF-16 length already says no. */
export const tooLong = (text: string): boolean => text.length > Limits.maxContent && codePoints(text) > Limits.maxContent;

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
