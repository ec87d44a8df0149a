import fc from 'fast-check';
import { Bucket, RoomSizes, biggest, noRooms, resize } from '../src/core/room-sizes';
import { COLLISION_MAX, hashOf, widestLeaf } from '../src/core/str-map';

/** Apply each [room, from, to] in turn. */
const moves = (...ms: [string, number, number][]): RoomSizes => ms.reduce((s, [r, a, b]) => resize(s, r, a, b), noRooms());

describe('room sizes', () => {
  it('lists the biggest rooms first, and rooms of one size in the order they reached it', () => {
    const s = moves(['b', 0, 1], ['a', 0, 1], ['c', 0, 1], ['a', 1, 2], ['b', 1, 2], ['c', 1, 0], ['d', 0, 3], ['a', 2, 1], ['a', 1, 2]);
    expect(biggest(s, 10)).toEqual([{ Room: 'd', Count: 3 }, { Room: 'b', Count: 2 }, { Room: 'a', Count: 2 }]);
    expect(biggest(s, 2)).toEqual([{ Room: 'd', Count: 3 }, { Room: 'b', Count: 2 }]);
    expect(s.counts).toEqual([3, 2]);
    expect(resize(s, 'a', 2, 2)).toBe(s);
    expect(biggest(moves(['x', 0, 1], ['x', 1, 0]), 10)).toEqual([]);
  });

  it('agrees with a sort of every room by count, then by when it reached it', () => {
    const names = ['r1', 'r2', 'r3', 'AaAa', 'AaBB', 'BBAa', 'BBBB'];
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(...names), fc.integer({ min: 0, max: 4 })), { maxLength: 60 }), (steps) => {
      let s = noRooms();
      const count = new Map<string, number>();
      const since = new Map<string, number>();
      steps.forEach(([room, to], t) => {
        const from = count.get(room) ?? 0;
        s = resize(s, room, from, to);
        if (from !== to) since.set(room, t);
        if (to === 0) count.delete(room);
        else count.set(room, to);
      });
      const model = [...count].sort((x, y) => y[1] - x[1] || since.get(x[0])! - since.get(y[0])!).map(([Room, Count]) => ({ Room, Count }));
      expect(biggest(s, 100)).toEqual(model);
    }));
  });

  // Room names are the clients': names made to share one plain hash must not make a join cost O(rooms).
  it('keeps a flood of rooms named on one plain hash in small leaves', () => {
    const flood = Array.from({ length: 2048 }, (_, i) => Array.from({ length: 11 }, (_, b) => ((i >> b) & 1 ? 'BB' : 'Aa')).join(''));
    expect(new Set(flood.map(hashOf)).size).toBe(1);
    const s = flood.reduce((acc, room) => resize(acc, room, 0, 1), noRooms());
    const bucket = s.byCount.get(1) as Bucket;
    expect(bucket.places.size).toBe(2048);
    expect(widestLeaf(bucket.places)).toBeLessThanOrEqual(COLLISION_MAX);
    expect(biggest(s, 3).map((r) => r.Room)).toEqual(flood.slice(0, 3));
    const less = flood.slice(0, 2000).reduce((acc, room) => resize(acc, room, 1, 0), s);
    expect(biggest(less, 100).map((r) => r.Room)).toEqual(flood.slice(2000));
  });
});
