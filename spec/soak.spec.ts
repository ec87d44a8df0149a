// The soak's pure parts (bench/lib/soak.ts; `npm run soak`, issue 9 item 8): its flags,
// the server's command line fitted to the load, the fields read from a frame, the
// RSS-growth verdict and what fails a run. The Seq accounting itself is the bots'
// verifier (scripts/lib/verify.ts, spec/bot-verify.spec.ts); the last case feeds it
// as the soak's generator does.
import { UsageError } from '../scripts/lib/args';
import { SeqVerifier } from '../scripts/lib/verify';
import {
  SOAK, SoakResult, fittedMsgRate, heapUsedKb, intAfter, parseSoakArgs, readSeqFrame, rssVerdict, serverFlags, soakFailures,
} from '../bench/lib/soak';

describe('soak flags', () => {
  it('defaults to the issue: 10,000 connections, 500 rooms, 100 connects and disconnects a second, 10 minutes', () => {
    const plan = parseSoakArgs([]);
    expect(plan).toMatchObject({ connections: 10_000, rooms: 500, churn: 100, durationMs: 600_000, warmupMs: 300_000, sampleMs: 10_000 });
    expect(plan.heartbeatIntervalMs).toBeUndefined(); // the server's own heartbeat, on
  });

  it('takes --duration 60s, and scales the warm-up and the sampling to a short run', () => {
    expect(parseSoakArgs(['--duration', '60s'])).toMatchObject({ durationMs: 60_000, warmupMs: 30_000, sampleMs: 3000 });
    expect(parseSoakArgs(['--duration', '3s'])).toMatchObject({ durationMs: 3000, warmupMs: 1500, sampleMs: 250 });
  });

  it('refuses what cannot run: a bad duration, more rooms than pairs of connections, a warm-up past the end', () => {
    expect(() => parseSoakArgs(['--duration', 'soon'])).toThrow(UsageError);
    expect(() => parseSoakArgs(['--connections', '10', '--rooms', '6'])).toThrow(/--rooms/);
    expect(() => parseSoakArgs(['--duration', '10s', '--warmup', '10s'])).toThrow(/--warmup/);
    expect(() => parseSoakArgs(['--bogus'])).toThrow(UsageError);
  });
});

describe('the server the soak starts', () => {
  it('keeps the default message rate where the bots stay far under it, and fits it where they would not', () => {
    expect(fittedMsgRate(SOAK)).toEqual({ rate: 10, burst: 20 }); // 250 lines/s over 10,000 connections
    expect(fittedMsgRate({ rate: 1000, connections: 100 })).toEqual({ rate: 40, burst: 80 });
  });

  it('passes every limit the load needs explicitly: loopback, connections over the plan plus churn, the heartbeat if asked', () => {
    const flags = serverFlags({ ...SOAK, heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 15_000 }, '/tmp/d');
    const value = (name: string) => flags[flags.indexOf(name) + 1];
    expect(value('--host')).toBe('127.0.0.1');
    expect(value('--data')).toBe('/tmp/d');
    expect(value('--msg-rate')).toBe('10');
    expect(Number(value('--max-connections'))).toBeGreaterThan(10_000 + 100);
    expect(value('--heartbeat-interval')).toBe('5000');
    expect(serverFlags(SOAK, '/tmp/d')).not.toContain('--heartbeat-interval');
    expect(serverFlags(SOAK, '/tmp/d')).not.toContain('--resume-window');
    const short = serverFlags(parseSoakArgs(['--duration', '60s', '--resume-window', '10s']), '/tmp/d');
    expect(short[short.indexOf('--resume-window') + 1]).toBe('10000');
  });
});

describe('reading frames', () => {
  it('reads Type, Room, Seq and Epoch of a Broadcast, an Ack and a Join reply', () => {
    expect(readSeqFrame('{"ID":"a","Content":"12.5|xx","SentAt":1,"Type":1,"Name":"s1","Room":"soak-3","Seq":42,"Epoch":"Qm7xK2pA","MsgID":"k"}'))
      .toEqual({ type: 1, room: 'soak-3', seq: 42, epoch: 'Qm7xK2pA' });
    expect(readSeqFrame('{"ID":"a","Content":"","SentAt":1,"Type":12,"MsgID":"k","Room":"soak-3","Seq":43,"Epoch":"E","Ref":7}'))
      .toEqual({ type: 12, room: 'soak-3', seq: 43, epoch: 'E' });
    expect(readSeqFrame('{"ID":"a","Content":"","SentAt":1,"Type":6,"Room":"r","Members":[{"ID":"b","Name":"x"}],"Count":1,"Seq":0,"Epoch":"Z"}'))
      .toEqual({ type: 6, room: 'r', seq: 0, epoch: 'Z' });
  });

  it('says -1 for a number that is not there', () => {
    expect(intAfter('{"Type":3,"Room":"r"}', '"Seq":')).toBe(-1);
    expect(intAfter('{"Seq":}', '"Seq":')).toBe(-1);
  });
});

it('reads the heap in use from a /metrics scrape', () => {
  expect(heapUsedKb('# HELP x\nrxchat_process_heap_used_bytes 10485760\nrxchat_other 1\n')).toBe(10240);
  expect(heapUsedKb('rxchat_other 1\n')).toBeUndefined();
});

describe('the RSS verdict: after the warm-up, growing by less than 5 %', () => {
  const run = (kbs: number[]) => kbs.map((kb, i) => ({ t: i * 1000, kb }));

  it('ignores the warm-up and judges the trend after it: a steady climb of 4 % passes, of 6 % fails', () => {
    // Warm-up (t < 2 s) climbs from 50 to 90 MiB; after it, a straight line from 100 to 104 MiB.
    const v = rssVerdict(run([50_000, 90_000, 100_000, 100_500, 101_000, 101_500, 102_000, 102_500, 103_000, 103_500, 104_000]), 2000);
    expect(v.afterWarmupKb).toBeCloseTo(100_000, 0); // the line at the warm-up's end
    expect(v.finalKb).toBeCloseTo(104_000, 0);
    expect(v.growth).toBeCloseTo(0.04, 3);
    expect(v.ok).toBe(true);
    expect(rssVerdict(run([100_000, 100_750, 101_500, 102_250, 103_000, 103_750, 104_500, 105_250, 106_000]), 0).ok).toBe(false);
  });

  it('fails a leak that hides in a sawtooth: each collection gives back less than the cycle grew', () => {
    const leaky = [100, 120, 140, 110, 130, 150, 120, 140, 160, 130, 150, 170].map((m) => m * 1000);
    const v = rssVerdict(run(leaky), 0);
    expect(v.growth).toBeGreaterThan(0.3);
    expect(v.ok).toBe(false);
  });

  it('passes a sawtooth of many cycles with no trend, where one end falls on a peak and the other in a trough', () => {
    // The collector's cycle: 300 -> 360 MiB, then back, 8 times. The run starts after a collection and ends before one.
    const saw = Array.from({ length: 8 }, () => [300, 320, 340, 360]).flat().map((m) => m * 1000);
    const v = rssVerdict(run(saw), 0);
    expect(v.endsGrowth).toBeGreaterThan(0.05); // 320 -> 353: what comparing the ends said
    expect(Math.abs(v.growth)).toBeLessThan(0.03); // a phase of a few % is left, less the more cycles the run holds
    expect(v.ok).toBe(true);
  });

  it('weighs one tall cycle as one of many, where the halves\' peaks took it for growth (the soak of 19:51)', () => {
    // Seven cycles peak at 310 MiB but one at 335, in the second half: V8 let the heap grow further once before a collection.
    const cycles = [[280, 295, 310], [280, 295, 310], [280, 295, 310], [280, 300, 320, 335], [280, 295, 310], [280, 295, 310], [280, 295, 310]];
    const v = rssVerdict(run(cycles.flat().map((m) => m * 1000)), 0);
    expect(v.peakGrowth).toBeGreaterThan(0.15); // 310 -> 335, doubled
    expect(v.growth).toBeLessThan(v.peakGrowth / 5);
    expect(v.ok).toBe(true);
  });

  it('does not judge a run with fewer than six samples after the warm-up', () => {
    const v = rssVerdict(run([100_000, 100_000, 100_000, 200_000, 200_000]), 0);
    expect(v.ok).toBeUndefined();
    expect(v.growth).toBeGreaterThan(0);
    expect(rssVerdict([], 0).ok).toBeUndefined();
  });
});

describe('what fails a soak', () => {
  const clean: SoakResult = {
    seconds: 60, connectSeconds: 2, sent: 3000, acked: 3000, unacked: 0, delivered: 57_000, missing: 0, duplicates: 0,
    trimmed: 0, resets: 0, churned: 6000, connectFailures: 0, dropped: 0, errors: {}, p50Ms: 1, p99Ms: 10, maxMs: 30,
    generatorCore: 0.3, problems: [],
  };

  it('passes a clean run', () => {
    expect(soakFailures(clean)).toEqual([]);
  });

  it('fails any loss, duplicate, unacked line, failed join, dropped connection, Error frame, or a run that sent nothing', () => {
    expect(soakFailures({ ...clean, missing: 1 })).toEqual(['1 lines lost (Seq gaps seen by receivers)']);
    expect(soakFailures({ ...clean, duplicates: 2 })).toEqual(['2 lines duplicated']);
    expect(soakFailures({ ...clean, unacked: 1 })).toHaveLength(1);
    expect(soakFailures({ ...clean, connectFailures: 1 })).toHaveLength(1);
    expect(soakFailures({ ...clean, dropped: 1 })).toHaveLength(1);
    expect(soakFailures({ ...clean, errors: { rate_limited: 3 } })).toEqual(['Error frames: rate_limited ×3']);
    expect(soakFailures({ ...clean, sent: 0 })).toEqual(['no line was sent']);
  });

  it('counts gaps and repeats as the generator feeds the verifier: Join reply, lines, a receiver that left, the tail', () => {
    const v = new SeqVerifier();
    v.joined('a', 'soak-0', 10, 'E');
    v.joined('b', 'soak-0', 10, 'E');
    for (const f of ['{"Type":1,"Room":"soak-0","Seq":11,"Epoch":"E"}', '{"Type":1,"Room":"soak-0","Seq":13,"Epoch":"E"}']) {
      const { room, seq, epoch } = readSeqFrame(f);
      v.seen('a', room, seq, epoch); // a misses 12
    }
    v.seen('b', 'soak-0', 11, 'E');
    v.seen('b', 'soak-0', 11, 'E'); // b gets 11 twice
    v.left('b', 'soak-0'); // churned: what follows is not b's to miss
    v.tail('a', 'soak-0', 14, 'E'); // the room reached 14: a never got it
    v.tail('b', 'soak-0', 14, 'E');
    expect(v.summary()).toMatchObject({ missing: 2, duplicates: 1 });
  });
});
