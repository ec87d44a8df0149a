// The chat CLI's line parser (scripts/lib/commands.ts): pure, a typed line in, a command out.
import { Limits, codePoints } from '../src/core/protocol';
import { HELP, HISTORY_MAX, parseLine } from '../scripts/lib/commands';

const EMOJI = '\u{1F600}'; // one character, two UTF-16 units

describe('chat CLI commands', () => {
  it('counts characters as code points, as the server does', () => {
    expect(codePoints(EMOJI.repeat(3))).toBe(3);
    expect(codePoints('héllo')).toBe(5);
    expect(codePoints('')).toBe(0);
  });

  it('takes a line of 4000 emoji (8000 UTF-16 units), refuses 4001', () => {
    expect(parseLine(EMOJI.repeat(Limits.maxContent))).toEqual({ kind: 'say', text: EMOJI.repeat(Limits.maxContent) });
    expect(parseLine(EMOJI.repeat(Limits.maxContent + 1))).toEqual({
      kind: 'invalid', reason: `a line is at most ${Limits.maxContent} characters (this one has ${Limits.maxContent + 1})`,
    });
    expect(parseLine(`/msg bob ${EMOJI.repeat(Limits.maxContent)}`)).toMatchObject({ kind: 'msg', to: 'bob' });
    expect(parseLine(`/msg bob ${EMOJI.repeat(Limits.maxContent + 1)}`)).toMatchObject({ kind: 'invalid' });
  });

  it('takes a name of 32 emoji, refuses 33', () => {
    expect(parseLine(`/nick ${EMOJI.repeat(Limits.maxName)}`)).toEqual({ kind: 'nick', name: EMOJI.repeat(Limits.maxName) });
    expect(parseLine(`/nick ${EMOJI.repeat(Limits.maxName + 1)}`)).toEqual({
      kind: 'invalid', reason: `a name is at most ${Limits.maxName} characters (this one has ${Limits.maxName + 1})`,
    });
  });

  it('has /reconnect for after a policy close, and /more for the next page of /who', () => {
    expect(parseLine('/reconnect')).toEqual({ kind: 'reconnect' });
    expect(parseLine('/more')).toEqual({ kind: 'more' });
  });

  it('reads /history [N]: 20 by default, 1 to the most it pages through, digits only', () => {
    expect(parseLine('/history')).toEqual({ kind: 'history', n: 20 });
    expect(parseLine('/history 5')).toEqual({ kind: 'history', n: 5 });
    expect(parseLine(`/history ${HISTORY_MAX}`)).toEqual({ kind: 'history', n: HISTORY_MAX });
    for (const bad of ['0', `${HISTORY_MAX + 1}`, '-3', '2.5', '0x10', '1e2', 'ten', '5 6']) {
      expect(parseLine(`/history ${bad}`)).toEqual({ kind: 'invalid', reason: `usage: /history [N], N from 1 to ${HISTORY_MAX}` });
    }
    expect(HELP.some((l) => l.startsWith('/history [N]'))).toBe(true);
  });
});
