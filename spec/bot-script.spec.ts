// The bots' pure parts: the script format, the latency stamp and percentiles.
import { parseScript } from '../scripts/lib/script';
import { percentile, readStamp, stamp } from '../scripts/lib/stats';

describe('bot script format', () => {
  it('reads says, rooms, names and waits, skipping comments and blanks', () => {
    expect(parseScript('# hi\n\nsay hello there\nsay @dev  to dev\njoin dev\nleave dev\nnick {bot} away\nwait 500ms\nwait 2s\nwait 1.5s\n'))
      .toEqual({
        ok: true,
        steps: [
          { kind: 'say', text: 'hello there' },
          { kind: 'say', room: 'dev', text: 'to dev' },
          { kind: 'join', room: 'dev' },
          { kind: 'leave', room: 'dev' },
          { kind: 'nick', name: '{bot} away' },
          { kind: 'wait', ms: 500 },
          { kind: 'wait', ms: 2000 },
          { kind: 'wait', ms: 1500 },
        ],
      });
  });

  it('names the line of a mistake', () => {
    expect(parseScript('say hi\nwait soon\n', 'a.txt')).toEqual({ ok: false, error: 'a.txt:2: wait takes a duration such as 500ms or 2s' });
    expect(parseScript('shout hi', 'b.txt')).toMatchObject({ ok: false, error: expect.stringMatching(/^b\.txt:1: unknown command "shout"/) });
  });

  it('stamps a line so the same run can time it, and takes nearest-rank percentiles', () => {
    expect(readStamp(stamp('hi there', 'ab12', 1234.5678, true))).toEqual({
      text: 'hi there', stamp: { run: 'ab12', sentAt: 1234.568, echo: true },
    });
    expect(readStamp('plain words')).toEqual({ text: 'plain words' });
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([], 50)).toBeUndefined();
  });
});
