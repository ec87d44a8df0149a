// A persistent map that keeps only the keys set most recently: each client's
// idempotency Keys and what they became (reducer.ts, protocol.md "Sending twice").
//
// Every line from our clients carries a new Key, so once a client has sent a few
// hundred lines, each line sets one Key and something must be forgotten. Forgetting
// exactly the oldest each time costs a delete per line, and immutable's OrderedMap,
// used before, also kept each deleted entry's slot in its list until it compacted,
// so finding its first entry walked past up to a few hundred of them: ~10 µs per line
// for the two sets a keyed line makes (pending, then what it became), where this
// takes ~2 (a micro-benchmark of 200,000 lines at 256 Keys, docs/benchmarks.md).
//
// Here the keys live in two generations, each a StrMap (str-map.ts) and the list of
// its keys in the order they were first set. New keys go into the young one; when it
// holds half of `max`, it becomes the old one and the old one is dropped whole. So at
// least the last max / 2 keys and fewer than `max` are kept, and forgetting costs
// nothing per line.
import { List } from 'immutable';
import { StrMap } from './str-map';

interface Generation<V> {
  readonly records: StrMap<V>;
  /** The keys of `records`, in the order they were first set. */
  readonly order: List<string>;
}

const NONE: Generation<never> = { records: StrMap.empty(), order: List() };

function without<V>(g: Generation<V>, key: string): Generation<V> {
  const records = g.records.delete(key);
  return records === g.records ? g : { records, order: g.order.filter((k) => k !== key) };
}

export class RecentMap<V> implements Iterable<[string, V]> {
  private static readonly EMPTY = new RecentMap<never>(NONE, NONE);

  private constructor(private readonly young: Generation<V>, private readonly old: Generation<V>) {}

  static empty<V>(): RecentMap<V> {
    return RecentMap.EMPTY;
  }

  /** `entries`, set in their order (the last of them kept, as `set` keeps them). */
  static of<V>(entries: Iterable<readonly [string, V]>, max: number): RecentMap<V> {
    let m: RecentMap<V> = RecentMap.EMPTY;
    for (const [k, v] of entries) m = m.set(k, v, max);
    return m;
  }

  get size(): number {
    return this.young.records.size + this.old.records.size;
  }

  get(key: string): V | undefined {
    return this.young.records.get(key) ?? this.old.records.get(key);
  }

  /**
   * This map with `key` set to `value`: a key already here keeps its place; a new one is the
   * newest, and when the young generation holds max / 2 keys the old one is forgotten.
   */
  set(key: string, value: V, max: number): RecentMap<V> {
    const { young, old } = this;
    if (old.records.has(key)) {
      const records = old.records.set(key, value);
      return records === old.records ? this : new RecentMap(young, { records, order: old.order });
    }
    const records = young.records.set(key, value);
    if (records === young.records) return this;
    if (records.size === young.records.size) return new RecentMap({ records, order: young.order }, old);
    const grown = { records, order: young.order.push(key) };
    return records.size >= Math.max(1, max >> 1) ? new RecentMap(NONE, grown) : new RecentMap(grown, old);
  }

  /** This map without `key`. O(size), for the rare failed line; setting is not. */
  delete(key: string): RecentMap<V> {
    const young = without(this.young, key);
    const old = without(this.old, key);
    return young === this.young && old === this.old ? this : new RecentMap(young, old);
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<[string, V]> {
    for (const g of [this.old, this.young]) for (const k of g.order) yield [k, g.records.get(k) as V];
  }

  /** Newest first. */
  *newestFirst(): IterableIterator<[string, V]> {
    for (const g of [this.young, this.old]) {
      for (let i = g.order.size - 1; i >= 0; i--) {
        const k = g.order.get(i) as string;
        yield [k, g.records.get(k) as V];
      }
    }
  }
}
