import fc from 'fast-check';
import { Map as IMap } from 'immutable';
import { StrMap, hashOf } from '../src/core/str-map';

// "Aa" and "BB" have the same hash (31 × 65 + 97 = 31 × 66 + 66), and so do their concatenations.
const COLLIDING = ['AaAa', 'AaBB', 'BBAa', 'BBBB'];

describe('StrMap', () => {
  it('gets, sets and deletes, and answers with the same map when nothing changes', () => {
    const v = { n: 1 };
    const a = StrMap.empty<object>().set('x', v);
    expect(a.get('x')).toBe(v);
    expect(a.has('x')).toBe(true);
    expect(a.has('y')).toBe(false);
    expect(a.get('y')).toBeUndefined();
    expect(a.size).toBe(1);
    expect(a.set('x', v)).toBe(a);
    expect(a.delete('y')).toBe(a);
    const b = a.delete('x');
    expect(b.size).toBe(0);
    expect(b.has('x')).toBe(false);
    expect(a.get('x')).toBe(v); // persistent: a is unchanged
  });

  it('keeps keys whose hashes collide apart', () => {
    expect(new Set(COLLIDING.map(hashOf)).size).toBe(1);
    let m = StrMap.empty<number>();
    COLLIDING.forEach((k, i) => (m = m.set(k, i)));
    expect(m.size).toBe(4);
    expect(COLLIDING.map((k) => m.get(k))).toEqual([0, 1, 2, 3]);
    expect(m.has('CCCC')).toBe(false);
    const updated = m.set('BBAa', 20);
    expect(updated.size).toBe(4);
    expect(updated.get('BBAa')).toBe(20);
    expect(m.get('BBAa')).toBe(2);
    const less = m.delete('AaBB');
    expect(less.size).toBe(3);
    expect(less.has('AaBB')).toBe(false);
    expect([...less.keys()]).toEqual(['AaAa', 'BBAa', 'BBBB']);
    expect(less.delete('AaAa').delete('BBBB').delete('BBAa').size).toBe(0);
    expect(m.deleteAll(['AaAa', 'BBBB', 'nope'])).toMatchObject({ size: 2 });
    expect([...m.deleteAll(['AaAa', 'BBBB']).entries()]).toEqual([['AaBB', 1], ['BBAa', 2]]);
  });

  it('iterates in the order immutable Map<string> does for the same keys', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `connection-id-${i}-abcdefgh`);
    let ours = StrMap.empty<number>();
    let theirs = IMap<string, number>();
    keys.forEach((k, i) => {
      ours = ours.set(k, i);
      theirs = theirs.set(k, i);
    });
    expect([...ours.keys()]).toEqual([...theirs.keys()]);
  });

  it('behaves as a native Map under any sequence of sets and deletes (colliding keys included)', () => {
    const key = fc.oneof(fc.constantFrom(...COLLIDING, 'a', 'b'), fc.string({ maxLength: 24 }));
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), key, fc.integer()),
      fc.tuple(fc.constant('delete' as const), key, fc.constant(0)),
      fc.tuple(fc.constant('deleteAll' as const), key, fc.constant(0)),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      let m = StrMap.empty<number>();
      const model = new Map<string, number>();
      for (const [what, k, v] of ops) {
        if (what === 'set') {
          m = m.set(k, v);
          model.set(k, v);
        } else if (what === 'delete') {
          m = m.delete(k);
          model.delete(k);
        } else {
          m = m.deleteAll([k, 'AaAa']);
          model.delete(k);
          model.delete('AaAa');
        }
        expect(m.size).toBe(model.size);
      }
      for (const [k, v] of model) expect(m.get(k)).toBe(v);
      expect(new Map(m.entries())).toEqual(model);
    }));
  });
});
