import fc from 'fast-check';
import { COLLISION_MAX, StrMap, hashOf, keyedHashOf, widestLeaf } from '../src/core/str-map';

// "Aa" and "BB" have the same hash (31 × 65 + 97 = 31 × 66 + 66), and so do their concatenations.
const COLLIDING = ['AaAa', 'AaBB', 'BBAa', 'BBBB'];
/** 2^n keys of 2n characters, every one on the same plain hash: each of the n blocks is "Aa" or "BB". */
const flood = (n: number): string[] =>
  Array.from({ length: 2 ** n }, (_, i) => Array.from({ length: n }, (_, b) => ((i >> b) & 1 ? 'BB' : 'Aa')).join(''));
/** Keys whose hashes end in the same 10 bits as COLLIDING's (the trie's first 2 levels), but are not the same. */
const NEAR = Array.from({ length: 20_000 }, (_, i) => `k${i}`)
  .filter((k) => ((hashOf(k) ^ hashOf('AaAa')) & 0x3ff) === 0)
  .slice(0, 4);

type Op = readonly ['set' | 'delete' | 'deleteAll', string, number];

/** Runs `ops` on a StrMap and a native Map side by side: the same size after each (and `each`), the same entries at the end. */
function againstNativeMap(ops: readonly Op[], each: (m: StrMap<number>) => void = () => undefined): void {
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
    each(m);
  }
  for (const [k, v] of model) expect(m.get(k)).toBe(v);
  expect(new Map(m.entries())).toEqual(model);
}

describe('StrMap', () => {
  it('gets, sets and deletes, and answers with the same map when nothing changes', () => {
    const v = { n: 1 };
    const a = StrMap.empty<object>().set('x', v);
    expect(a.get('x')).toBe(v);
    expect(a.has('x')).toBe(true);
    expect(a.has('y')).toBe(false);
    expect(a.get('y')).toBeUndefined();
    expect(a.get('X')).toBeUndefined(); // where 'x' is at the first level (hashes 88 and 120)
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
    expect(less.delete('AaBB')).toBe(less);
    expect(m.set('BBAa', 2)).toBe(m);
    expect([...less.keys()]).toEqual(['AaAa', 'BBAa', 'BBBB']);
    expect(less.delete('AaAa').delete('BBBB').delete('BBAa').size).toBe(0);
    expect(m.deleteAll(['AaAa', 'BBBB', 'nope'])).toMatchObject({ size: 2 });
    expect([...m.deleteAll(['AaAa', 'BBBB']).entries()]).toEqual([['AaBB', 1], ['BBAa', 2]]);
    // Beside keys whose hashes differ only in their high bits, in either order of setting.
    expect(NEAR.length).toBe(4);
    const near = NEAR.reduce((n, k, i) => n.set(k, 10 + i), m);
    const other = NEAR.reduce((n, k, i) => n.set(k, 10 + i), StrMap.empty<number>());
    const both = COLLIDING.reduce((n, k, i) => n.set(k, i), other);
    for (const x of [near, both]) {
      expect(x.size).toBe(8);
      expect([...COLLIDING, ...NEAR].map((k) => x.get(k))).toEqual([0, 1, 2, 3, 10, 11, 12, 13]);
    }
    expect([...near.keys()]).toEqual([...both.keys()]);
    expect(near.set(NEAR[3], 13)).toBe(near);
    expect(near.has('k0')).toBe(false);
    expect(near.deleteAll(NEAR).size).toBe(4);
    expect([...near.deleteAll(COLLIDING).keys()].sort()).toEqual([...NEAR].sort());
  });

  // Nothing the hub sends depends on the order (its iterations fan out to independent sockets and
  // rooms), so this is all it promises: each key once, in an order fixed by the set of keys (their
  // hashes), whatever the order they were set in and whatever was deleted.
  it('iterates each key once, in an order that depends only on the keys it holds', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `connection-id-${i}-abcdefgh`);
    const build = (ks: readonly string[]) => ks.reduce((m, k, i) => m.set(k, i), StrMap.empty<number>());
    const order = [...build(keys).keys()];
    expect([...order].sort()).toEqual([...keys].sort());
    fc.assert(fc.property(
      fc.shuffledSubarray(keys, { minLength: 0 }), fc.shuffledSubarray(keys, { minLength: 0 }),
      (kept, dropped) => {
        // The same keys set in another order, some of them among others set and deleted again.
        const extra = dropped.filter((k) => !kept.includes(k));
        const m = build([...extra, ...kept]).deleteAll(extra);
        expect([...m.keys()]).toEqual(order.filter((k) => kept.includes(k)));
        expect([...m.values()]).toEqual([...m.keys()].map((k) => m.get(k)));
        expect([...m]).toEqual([...m.entries()]);
      },
    ), { numRuns: 50 });
  });

  // Hash flooding: room names are the clients', and a leaf of k colliding keys would cost O(k) a
  // lookup and a copy of k a set. Past COLLISION_MAX they go into a trie on a hash keyed at random.
  it('keeps a flood of keys on one plain hash in leaves of at most COLLISION_MAX', () => {
    const keys = flood(12);
    expect(new Set(keys).size).toBe(4096);
    expect(new Set(keys.map(hashOf)).size).toBe(1);
    // The keyed hash tells them apart (a repeat among 4096 32-bit values is a chance of about 1 in 500).
    expect(new Set(keys.map((k) => keyedHashOf(k))).size).toBeGreaterThanOrEqual(4094);
    let m = StrMap.empty<number>().set('other', -1);
    keys.forEach((k, i) => {
      m = m.set(k, i);
      if (i === COLLISION_MAX - 1) expect(widestLeaf(m)).toBe(COLLISION_MAX); // up to here, one plain leaf
    });
    expect(m.size).toBe(4097);
    expect(widestLeaf(m)).toBeLessThanOrEqual(2);
    // Beside the spill, a key whose hash shares its first 10 bits: the two part one level down.
    const near = Array.from({ length: 50_000 }, (_, i) => `n${i}`).find((k) => ((hashOf(k) ^ hashOf(keys[0])) & 0x3ff) === 0)!;
    const beside = m.set(near, -2);
    expect(beside.size).toBe(4098);
    expect(beside.get(near)).toBe(-2);
    expect(keys.every((k, i) => beside.get(k) === i)).toBe(true);
    expect(beside.delete(near).size).toBe(4097);
    expect(beside.deleteAll(keys).size).toBe(2);
    expect([...beside.deleteAll(keys).keys()].sort()).toEqual([near, 'other'].sort());
    expect(keys.every((k, i) => m.get(k) === i)).toBe(true);
    expect(m.get('other')).toBe(-1);
    expect(m.has(flood(13)[4096])).toBe(false); // same plain hash, not held
    expect(m.set(keys[7], 7)).toBe(m);
    expect(m.set(keys[7], 70).get(keys[7])).toBe(70);
    expect([...m.keys()].sort()).toEqual([...keys, 'other'].sort());
    // Deleted down to COLLISION_MAX, the rest is a plain leaf again, in the order the keys sit in the trie.
    const left = keys.slice(0, COLLISION_MAX);
    const less = m.deleteAll(keys.slice(COLLISION_MAX));
    expect(less.size).toBe(COLLISION_MAX + 1);
    expect(widestLeaf(less)).toBe(COLLISION_MAX);
    expect([...less.keys()].filter((k) => k !== 'other').sort()).toEqual([...left].sort());
    expect(left.every((k, i) => less.get(k) === i)).toBe(true);
    expect(less.deleteAll(left).deleteAll(['other']).size).toBe(0);
  });

  it('hashes with a key: the same key gives the same hash, another key another', () => {
    expect(keyedHashOf('AaAa', 1)).toBe(keyedHashOf('AaAa', 1));
    expect(keyedHashOf('AaAa', 1)).not.toBe(keyedHashOf('BBBB', 1));
    expect(new Set([1, 2, 3, 4].map((key) => keyedHashOf('room-1', key))).size).toBe(4);
  });

  it('behaves as a native Map under any sequence of sets and deletes (a flood of colliding keys included)', () => {
    const many = flood(5);
    const key = fc.oneof(fc.constantFrom(...many), fc.constantFrom(...many.slice(0, COLLISION_MAX + 2), 'a'));
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.tuple(fc.constant('set' as const), key, fc.integer()) },
      { weight: 1, arbitrary: fc.tuple(fc.constant('delete' as const), key, fc.constant(0)) },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 30, maxLength: 120 }), (ops) => {
      againstNativeMap(ops, (m) => expect(widestLeaf(m)).toBeLessThanOrEqual(COLLISION_MAX));
    }), { numRuns: 200 });
  });

  it('behaves as a native Map under any sequence of sets and deletes (colliding keys included)', () => {
    const key = fc.oneof(fc.constantFrom(...COLLIDING, ...NEAR, 'a', 'b'), fc.string({ maxLength: 24 }));
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), key, fc.integer()),
      fc.tuple(fc.constant('delete' as const), key, fc.constant(0)),
      fc.tuple(fc.constant('deleteAll' as const), key, fc.constant(0)),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => againstNativeMap(ops)));
  });
});
