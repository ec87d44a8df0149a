import fc from 'fast-check';
import { RecentMap } from '../src/core/recent-map';

describe('RecentMap', () => {
  it('keeps at least the last max / 2 keys set and fewer than max, in the order they were first set', () => {
    let m = RecentMap.empty<number>();
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) m = m.set(k, i, 4);
    // Generations of 2: [a b] was dropped when [c d] filled up; e is young.
    expect([...m]).toEqual([['c', 2], ['d', 3], ['e', 4]]);
    expect(m.get('a')).toBeUndefined();
    // An update keeps its place and forgets nothing.
    m = m.set('c', 10, 4);
    expect([...m]).toEqual([['c', 10], ['d', 3], ['e', 4]]);
    expect([...m.newestFirst()]).toEqual([['e', 4], ['d', 3], ['c', 10]]);
    expect(m.set('d', 3, 4)).toBe(m);
    expect(m.delete('zz')).toBe(m);
    m = m.delete('d');
    expect([...m]).toEqual([['c', 10], ['e', 4]]);
    expect(m.size).toBe(2);
    expect(RecentMap.of([['x', 1], ['y', 2], ['z', 3]], 2).size).toBe(1);
  });

  it('under any sets and deletes: each key its last value, the newest max / 2 kept, fewer than max, in order', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'AaAa', 'BBBB');
    const op = fc.oneof(fc.tuple(fc.constant(true), key, fc.integer()), fc.tuple(fc.constant(false), key, fc.constant(0)));
    fc.assert(fc.property(fc.integer({ min: 2, max: 6 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
      let m = RecentMap.empty<number>();
      // Every key set and not deleted since, in the order it was (last) added as new, with its last value.
      let model: [string, number][] = [];
      for (const [isSet, k, v] of ops) {
        if (isSet) {
          const i = model.findIndex(([mk]) => mk === k);
          if (i >= 0) model[i] = [k, v];
          else model = [...model.filter(([mk]) => mk !== k), [k, v]];
          m = m.set(k, v, max);
        } else {
          model = model.filter(([mk]) => mk !== k);
          m = m.delete(k);
        }
        // After a set, nothing of the newest max / 2 is missing; what is gone was forgotten for good.
        if (isSet) for (const [mk, mv] of model.slice(-(max >> 1))) expect(m.get(mk)).toBe(mv);
        model = model.filter(([mk]) => m.get(mk) !== undefined);
        const kept = [...m];
        expect(kept.length).toBe(m.size);
        expect(m.size).toBeLessThan(max);
        // What is kept is the model's, in its order, with its values.
        expect(kept).toEqual(model);
        expect([...m.newestFirst()]).toEqual([...kept].reverse());
      }
    }));
  });
});
