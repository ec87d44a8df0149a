// The rooms by member count, kept up to date by every join and leave, so that a
// Rooms list (Type 8) costs what it lists, not a sort of every room: one bucket
// of room names per count, and the counts that have a bucket, biggest first.
// Pure and persistent like the rest of the hub's state.
//
// Cost: a join or leave moves one room between two buckets, O(log n), and
// touches the list of counts only when a bucket appears or empties, O(distinct
// counts), which is at most √(2 × memberships). Listing the top k visits at most
// k buckets.
//
// A bucket keeps its names in a StrMap (name → its place) and their order in an
// OrderedMap keyed by that place, a number the bucket counts out: never in an immutable
// OrderedSet of the names themselves, whose hash of a string is the plain polynomial
// one with a linear list per collision, so that a client naming rooms to collide
// (str-map.ts "Flooding") would make each join and leave cost O(rooms it named).
import { Map as IMap, OrderedMap } from 'immutable';
import { StrMap } from './str-map';

/** Room names of one count, in the order they reached it. */
export interface Bucket {
  /** Each name's place in `names`. */
  readonly places: StrMap<number>;
  /** The names by place, in the order they came. */
  readonly names: OrderedMap<number, string>;
  /** The place the next name takes. */
  readonly next: number;
}

const bucketOf = (room: string): Bucket =>
  ({ places: StrMap.empty<number>().set(room, 0), names: OrderedMap<number, string>().set(0, room), next: 1 });

function added(b: Bucket, room: string): Bucket {
  if (b.places.has(room)) return b;
  return { places: b.places.set(room, b.next), names: b.names.set(b.next, room), next: b.next + 1 };
}

function without(b: Bucket, room: string): Bucket {
  const at = b.places.get(room);
  if (at === undefined) return b;
  return { places: b.places.delete(room), names: b.names.delete(at), next: b.next };
}

export interface RoomSizes {
  /** Room names by member count; within a count, in the order they reached it. */
  readonly byCount: IMap<number, Bucket>;
  /** The counts that have rooms, biggest first. */
  readonly counts: readonly number[];
}

export const noRooms = (): RoomSizes => ({ byCount: IMap(), counts: [] });

/** A room's count went from `from` to `to` (0: the room did not exist, or is gone). */
export function resize(sizes: RoomSizes, room: string, from: number, to: number): RoomSizes {
  if (from === to) return sizes;
  let { byCount, counts } = sizes;
  if (from > 0) {
    const bucket = without(byCount.get(from) as Bucket, room);
    if (bucket.places.size === 0) {
      byCount = byCount.delete(from);
      counts = counts.filter((c) => c !== from);
    } else {
      byCount = byCount.set(from, bucket);
    }
  }
  if (to > 0) {
    const bucket = byCount.get(to);
    if (bucket === undefined) {
      byCount = byCount.set(to, bucketOf(room));
      const at = counts.findIndex((c) => c < to);
      counts = at < 0 ? [...counts, to] : [...counts.slice(0, at), to, ...counts.slice(at)];
    } else {
      byCount = byCount.set(to, added(bucket, room));
    }
  }
  return { byCount, counts };
}

/** The `limit` biggest rooms, biggest first; rooms of one size in the order they reached it. */
export function biggest(sizes: RoomSizes, limit: number): { Room: string; Count: number }[] {
  const out: { Room: string; Count: number }[] = [];
  for (const count of sizes.counts) {
    for (const room of (sizes.byCount.get(count) as Bucket).names.values()) {
      if (out.length >= limit) return out;
      out.push({ Room: room, Count: count });
    }
  }
  return out;
}
