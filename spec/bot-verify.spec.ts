// The bots' --verify bookkeeping (scripts/lib/verify.ts), fed Seqs directly: what it
// says of a clean run, and that it does fail when a line is missing or doubled.
import { SeqVerifier } from '../scripts/lib/verify';
import { formatSummary, newCounters, summarize } from '../scripts/lib/stats';

const E = 'Qm7xK2pA';

/** A verifier and the problems it reported, in order. */
function verifier() {
  const problems: string[] = [];
  return { v: new SeqVerifier((bot, what) => problems.push(`${bot}: ${what}`)), problems };
}

describe('--verify', () => {
  it('passes a room whose Seqs follow the Join reply one by one, own Acks included', () => {
    const { v, problems } = verifier();
    v.joined('bot-1', 'lobby', 41, E);
    for (const seq of [42, 43, 44, 45]) v.seen('bot-1', 'lobby', seq, E);
    v.tail('bot-1', 'lobby', 45, E);
    expect(v.summary()).toEqual({ receivers: 1, checked: 4, missing: 0, duplicates: 0, trimmed: 0, resets: 0 });
    expect(problems).toEqual([]);
  });

  it('counts the lines of a gap as missing, and says which', () => {
    const { v, problems } = verifier();
    v.joined('bot-1', 'lobby', 0, E);
    v.seen('bot-1', 'lobby', 1, E);
    v.seen('bot-1', 'lobby', 4, E); // 2 and 3 never came
    v.seen('bot-1', 'lobby', 5, E);
    expect(v.summary()).toMatchObject({ checked: 3, missing: 2, duplicates: 0 });
    expect(problems).toEqual(['bot-1: lobby: Seq 2–3 never arrived']);
  });

  it('counts a Seq seen again, or going back, as a duplicate, and goes on from the highest', () => {
    const { v, problems } = verifier();
    v.joined('bot-2', 'dev', 10, E);
    for (const seq of [11, 12, 12, 11, 13]) v.seen('bot-2', 'dev', seq, E);
    expect(v.summary()).toMatchObject({ checked: 5, missing: 0, duplicates: 2 });
    expect(problems).toEqual(['bot-2: dev: Seq 12 again, after 12', 'bot-2: dev: Seq 11 again, after 12']);
  });

  it('finds lines missing at the end, which no later line reveals, from the room\'s head', () => {
    const { v } = verifier();
    v.joined('bot-1', 'lobby', 0, E);
    v.seen('bot-1', 'lobby', 1, E);
    v.tail('bot-1', 'lobby', 3, E);
    expect(v.summary().missing).toBe(2);
    // A head in another Epoch says nothing about this count.
    v.tail('bot-1', 'lobby', 9, 'Zx81bQ0c');
    expect(v.summary().missing).toBe(2);
  });

  it('keeps lines lost to trimming apart from missing ones', () => {
    const { v } = verifier();
    v.joined('bot-1', 'lobby', 5, E);
    v.seen('bot-1', 'lobby', 6, E);
    v.gap('bot-1', 'lobby', 6, 10); // the library: 7..9 are no longer kept
    v.seen('bot-1', 'lobby', 10, E);
    expect(v.summary()).toMatchObject({ checked: 2, missing: 0, trimmed: 3 });
  });

  it('starts counting again after a reset, and each receiver and room on its own', () => {
    const { v } = verifier();
    v.joined('bot-1', 'lobby', 100, E);
    v.joined('bot-2', 'lobby', 100, E);
    v.joined('bot-1', 'dev', 0, E);
    v.seen('bot-1', 'lobby', 101, E);
    v.reset('bot-1', 'lobby', 0, 'Zx81bQ0c', 'epoch_changed');
    v.seen('bot-1', 'lobby', 1, 'Zx81bQ0c');
    v.seen('bot-2', 'lobby', 101, E);
    v.seen('bot-1', 'dev', 1, E);
    expect(v.summary()).toEqual({ receivers: 3, checked: 4, missing: 0, duplicates: 0, trimmed: 0, resets: 1 });
  });

  it('does not hold a receiver to a room it left, and a rejoin keeps its count going', () => {
    const { v } = verifier();
    v.joined('bot-1', 'dev', 3, E);
    v.seen('bot-1', 'dev', 4, E);
    v.left('bot-1', 'dev');
    expect(v.receiversIn('dev')).toEqual([]);
    v.joined('bot-1', 'dev', 9, E); // lines 5..9 were said while it was away: not missing
    v.seen('bot-1', 'dev', 10, E);
    v.joined('bot-1', 'dev', 12, E); // rejoined after a reconnect: the catch-up goes on from 10
    v.seen('bot-1', 'dev', 11, E);
    expect(v.summary()).toMatchObject({ missing: 0, duplicates: 0, checked: 3 });
  });

  it('adds its counts to the summary, in JSON and in text', () => {
    const { v } = verifier();
    v.joined('bot-1', 'lobby', 0, E);
    v.seen('bot-1', 'lobby', 2, E);
    const s = summarize(newCounters(), 1, 1, 1000, v.summary());
    expect(s.verify).toEqual({ receivers: 1, checked: 1, missing: 1, duplicates: 0, trimmed: 0, resets: 0 });
    expect(formatSummary(s)).toMatch(/^verify {4}1 Seqs checked at 1 receiver×room: 1 missing, 0 duplicate, 0 trimmed, 0 reset$/m);
    expect(summarize(newCounters(), 1, 1, 1000).verify).toBeUndefined();
  });
});
