// A persistent map keyed by strings: the hub's maps of connection IDs, users and
// rooms, and each client's Keys (recent-map.ts). It is immutable's own Map
// underneath, keyed by each string's hash, with the string kept beside its value.
//
// Why not immutable's Map<string, V> itself: immutable hashes a string of more than
// 16 characters through a cache of 255 strings that it throws away when full. Every
// ID here is 21 characters (nanoid), and so is every Key our clients send, so with
// more than 255 of them in use, or a new Key on every line, most lookups miss that
// cache and refill it. Here every lookup hashes its string afresh (21 characters).
// Measured (docs/benchmarks.md, "What a line with a Key costs"): a get among 500
// or 10,000 IDs takes about half the time; among 100 (the cache's best case) about
// twice, still ~0.15 µs; a keyed line in bench/pipeline.bench.ts costs ~10 % less;
// an unkeyed one the same.
//
// The hash is the one immutable gives a string (31 × h + c over its characters), and
// immutable hashes a 32-bit whole number to itself, so the entries sit where they sat
// in a Map<string, V> and iterate in the same order. Strings whose hashes collide
// share a slot, in the order they were set.
import { Map as IMap } from 'immutable';

/** One key and its value. */
class Entry<V> {
  constructor(readonly key: string, readonly value: V) {}
}

/** One entry, or those of several keys with the same hash (rare: 1 pair in ~2^31). */
type Slot<V> = Entry<V> | readonly Entry<V>[];

/** The 32-bit hash immutable gives a string (its hashString). */
export function hashOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
  return h;
}

function find<V>(slot: Slot<V> | undefined, key: string): Entry<V> | undefined {
  if (slot === undefined) return undefined;
  if (slot instanceof Entry) return slot.key === key ? slot : undefined;
  for (const e of slot) if (e.key === key) return e;
  return undefined;
}

/** `slot` without `key`'s entry (which it has): what is left, or undefined when nothing is. */
function slotWithout<V>(slot: Slot<V>, key: string): Slot<V> | undefined {
  if (slot instanceof Entry) return undefined;
  const rest = slot.filter((e) => e.key !== key);
  return rest.length === 1 ? rest[0] : rest;
}

export class StrMap<V> implements Iterable<[string, V]> {
  private constructor(private readonly slots: IMap<number, Slot<V>>, readonly size: number) {}

  private static readonly EMPTY = new StrMap<never>(IMap(), 0);
  static empty<V>(): StrMap<V> {
    return StrMap.EMPTY;
  }

  get(key: string): V | undefined {
    return find(this.slots.get(hashOf(key)), key)?.value;
  }

  has(key: string): boolean {
    return find(this.slots.get(hashOf(key)), key) !== undefined;
  }

  /** This map with `key` set to `value`; this same map if it had that value already. */
  set(key: string, value: V): StrMap<V> {
    const h = hashOf(key);
    const slot = this.slots.get(h);
    if (slot === undefined) return new StrMap(this.slots.set(h, new Entry(key, value)), this.size + 1);
    // The common case, a key's own slot, with no array made (a chat line sets two or three).
    if (slot instanceof Entry && slot.key === key) {
      return slot.value === value ? this : new StrMap(this.slots.set(h, new Entry(key, value)), this.size);
    }
    const entries: readonly Entry<V>[] = slot instanceof Entry ? [slot] : slot;
    const i = entries.findIndex((e) => e.key === key);
    if (i >= 0 && entries[i].value === value) return this;
    const entry = new Entry(key, value);
    if (i < 0) return new StrMap(this.slots.set(h, [...entries, entry]), this.size + 1);
    const next = entries.length === 1 ? entry : entries.map((e, j) => (j === i ? entry : e));
    return new StrMap(this.slots.set(h, next), this.size);
  }

  /** This map without `key`; this same map if it had no such key. */
  delete(key: string): StrMap<V> {
    const h = hashOf(key);
    const slot = this.slots.get(h);
    if (slot === undefined || find(slot, key) === undefined) return this;
    const rest = slotWithout(slot, key);
    return new StrMap(rest === undefined ? this.slots.delete(h) : this.slots.set(h, rest), this.size - 1);
  }

  /** This map without any of `keys`, in one pass of immutable's withMutations. */
  deleteAll(keys: Iterable<string>): StrMap<V> {
    let size = this.size;
    const slots = this.slots.withMutations((m) => {
      for (const key of keys) {
        const h = hashOf(key);
        const slot = m.get(h);
        if (slot === undefined || find(slot, key) === undefined) continue;
        size--;
        const rest = slotWithout(slot, key);
        if (rest === undefined) m.delete(h);
        else m.set(h, rest);
      }
    });
    return size === this.size ? this : new StrMap(slots, size);
  }

  *entries(): IterableIterator<[string, V]> {
    for (const slot of this.slots.values()) {
      if (slot instanceof Entry) yield [slot.key, slot.value];
      else for (const e of slot) yield [e.key, e.value];
    }
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): IterableIterator<V> {
    for (const slot of this.slots.values()) {
      if (slot instanceof Entry) yield slot.value;
      else for (const e of slot) yield e.value;
    }
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
