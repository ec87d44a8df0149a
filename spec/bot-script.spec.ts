// The bots' pure parts: the script format, the latency stamp and the latency histogram.
import { parseScript } from '../scripts/lib/script';
import { formatSummary, newCounters, readStamp, recordLatency, stamp, summarize } from '../scripts/lib/stats';

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

  it('stamps a line so the same run can time it', () => {
    expect(readStamp(stamp('hi there', 'ab12', 1234.5678, true))).toEqual({
      text: 'hi there', stamp: { run: 'ab12', sentAt: 1234.568, echo: true },
    });
    expect(readStamp('plain words')).toEqual({ text: 'plain words' });
  });
});

describe('bot latency histogram', () => {
  it('reports p50, p99, p99.9 and max to three significant digits', () => {
    const c = newCounters();
    for (let ms = 1; ms <= 1000; ms++) recordLatency(c, ms);
    recordLatency(c, 0.0004); // below the resolution (1 µs): still counted
    const { latencyMs } = summarize(c, 1, 1, 1000);
    expect(latencyMs.samples).toBe(1001);
    expect(latencyMs.p50).toBeCloseTo(500, -0.5);
    expect(latencyMs.p99).toBeCloseTo(990, -0.5);
    expect(latencyMs.p999).toBeCloseTo(999, -0.5);
    expect(latencyMs.max).toBeCloseTo(1000, -0.5);
    expect(formatSummary(summarize(c, 1, 1, 1000))).toMatch(/latency   p50 [\d.]+ ms  p99 [\d.]+ ms  p99\.9 [\d.]+ ms  max [\d.]+ ms  \(1001 samples\)/);
  });

  it('stays the same size however many samples it takes', () => {
    const c = newCounters();
    recordLatency(c, 1);
    const before = c.latency.estimatedFootprintInBytes;
    for (let i = 0; i < 200_000; i++) recordLatency(c, (i % 5000) / 7);
    expect(c.latency.estimatedFootprintInBytes).toBe(before);
    expect(before).toBeLessThan(200_000);
  });

  it('has no figures before the first sample', () => {
    expect(summarize(newCounters(), 1, 0, 0).latencyMs).toEqual({ p50: null, p99: null, p999: null, max: null, samples: 0 });
  });
});
