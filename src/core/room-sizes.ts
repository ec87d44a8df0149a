// The rooms by member count, kept up to date by every join and leave, so that a
// Rooms list (Type 8) costs what it lists, not a sort of every room: one bucket
// of room names per count, and the counts that have a bucket, biggest first.
// Pure and persistent like the rest of the hub's state.
//
// Cost: a join or leave moves one room between two buckets, O(log n), and
// touches the list of counts only when a bucket appears or empties, O(distinct
// counts), which is at most √(2 × memberships). Listing the top k visits at most
// k buckets.
import { Map as IMap, OrderedSet } from 'immutable';

export interface RoomSizes {
  /** Room names by member count; within a count, in the order they reached it. */
  readonly byCount: IMap<number, OrderedSet<string>>;
  /** The counts that have rooms, biggest first. */
  readonly counts: readonly number[];
}

export const noRooms = (): RoomSizes => ({ byCount: IMap(), counts: [] });

/** A room's count went from `from` to `to` (0: the room did not exist, or is gone). */
export function resize(sizes: RoomSizes, room: string, from: number, to: number): RoomSizes {
  if (from === to) return sizes;
  let { byCount, counts } = sizes;
  if (from > 0) {
    const bucket = (byCount.get(from) as OrderedSet<string>).delete(room);
    if (bucket.size === 0) {
      byCount = byCount.delete(from);
      counts = counts.filter((c) => c !== from);
    } else {
      byCount = byCount.set(from, bucket);
    }
  }
  if (to > 0) {
    const bucket = byCount.get(to);
    if (bucket === undefined) {
      byCount = byCount.set(to, OrderedSet([room]));
      const at = counts.findIndex((c) => c < to);
      counts = at < 0 ? [...counts, to] : [...counts.slice(0, at), to, ...counts.slice(at)];
    } else {
      byCount = byCount.set(to, bucket.add(room));
    }
  }
  return { byCount, counts };
}

/** The `limit` biggest rooms, biggest first; rooms of one size in the order they reached it. */
export function biggest(sizes: RoomSizes, limit: number): { Room: string; Count: number }[] {
  const out: { Room: string; Count: number }[] = [];
  for (const count of sizes.counts) {
    for (const room of sizes.byCount.get(count) as OrderedSet<string>) {
      if (out.length >= limit) return out;
      out.push({ Room: room, Count: count });
    }
  }
  return out;
}
