// A persistent map keyed by strings: the hub's maps of connection IDs, users and
// rooms, and each client's Keys (recent-map.ts). A small hash array mapped trie,
// written here, on each string's 32-bit hash, 5 bits a level.
//
// Why not immutable's Map<string, V>: immutable hashes a string of more than 16
// characters through a cache of 255 strings that it throws away when full. Every ID
// here is 21 characters (nanoid), and so is every Key our clients send, so with more
// than 255 of them in use, or a new Key on every line, most lookups miss that cache
// and refill it. Here every lookup hashes its string afresh (21 characters).
// Measured (docs/benchmarks.md, "What a line with a Key costs"): a get among 500 or
// 10,000 IDs takes about half the time; among 100 (the cache's best case) about
// twice, still ~0.15 µs; a keyed line in bench/pipeline.bench.ts costs ~10 % less.
//
// Why not immutable's Map<number, entry> on that hash, used before: a get went from the
// Map to its trie's nodes, to a ValueNode, to its [hash, entry] array, to our entry, to
// the value, and immutable's get and update were ~10 % of a line's CPU. Here a node is
// a bitmap and one array, in which each position in use holds a key and its value side
// by side, or null and the node below. Measured on one core, old against new, medians of
// 5 runs: a get among 500 IDs 69 → 50 ns, among 100 room names 40 → 29 ns; a set of
// an ID already there 241 → 116 ns, of a room 168 → 66 ns; 187 → 44 bytes an entry. In
// bench/pipeline.bench.ts --store memory, interleaved pairs: a line costs ~5 % less
// (median of 50 paired ratios 0.94; medians 7.64 → 7.24 µs), a keyed line (--keys)
// ~18 % less (30 pairs, 0.82; 24.0 → 19.6 µs; new faster in every pair).
//
// Order: a node's positions are in bitmap order, so the entries iterate in the order of
// their hashes' 5-bit groups, the lowest group first: fixed by the keys held, whatever
// the order they were set in (immutable's Map kept up to 8 in the order set, then hash
// order too). Nothing depends on it: the hub's iterations (shutdown, heartbeat expiries,
// presence, head checks) go to independent connections and rooms, and the specs that
// list keys sort them (reducer.spec.ts's shutdown lists its two IDs in the order they
// have here). Strings whose whole hashes collide share a leaf (Collision), in the order
// they were set.
//
// Flooding. The hash is a plain polynomial one, fast and known to all, so whoever names
// keys (room names are the clients') can make as many collide as they like: "Aa" and "BB"
// hash alike, and so does every string made of those two blocks. A leaf of k colliding
// keys costs O(k) a lookup and a copy of k a set, a hash-flooding attack on the hub's one
// thread. Past COLLISION_MAX keys on one whole hash (chance alone gives 2 or 3 among
// millions of keys), a leaf becomes a Spill: the same trie, on a hash keyed with a random
// number drawn when this module loads, which no client can see and so cannot aim at. The
// keys of a Spill iterate in an order that differs from process to process; no others do.

/** The 32-bit hash immutable gives a string (its hashString). */
export function hashOf(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
  return h;
}

/**
 * One level of the trie: `bitmap` has a bit for each of the 32 positions in use, and
 * `slots` two items for each, in bitmap order: a key and its value, or null and the node below.
 */
class Node {
  constructor(readonly bitmap: number, readonly slots: readonly unknown[]) {}
}

/** Keys whose whole hashes are `hash`, as key, value, key, value…: in the order they were set. */
class Collision {
  constructor(readonly hash: number, readonly slots: readonly unknown[]) {}
}

/** Keys on one plain hash past which a leaf is a Spill. */
export const COLLISION_MAX = 8;

/** This process's key for keyedHashOf: random, from the platform's CSPRNG (Node's and browsers' `crypto`). */
const HASH_KEY = globalThis.crypto.getRandomValues(new Uint32Array(1))[0] | 0;

/**
 * A 32-bit hash keyed with `key` (by default this process's random one): each character is
 * mixed in by a multiply and a shift, not added as the plain hash adds it, so which strings
 * collide depends on the key; the end is murmur3's finalizer. Used in Spills only.
 */
export function keyedHashOf(s: string, key: number = HASH_KEY): number {
  let h = key ^ s.length;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** More than COLLISION_MAX keys whose plain hashes are all `hash`: a trie of their own on keyedHashOf. */
class Spill {
  constructor(readonly hash: number, readonly root: Node, readonly size: number) {}
}

type Below = Node | Collision | Spill;

const EMPTY_NODE = new Node(0, []);

/** The bits set in `x`. */
function bitCount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Where `bit`'s key (or null) is in a node's slots. */
function indexOf(bitmap: number, bit: number): number {
  return 2 * bitCount(bitmap & (bit - 1));
}

/** `slots` with `item` at `i`. */
function replaced(slots: readonly unknown[], i: number, item: unknown): unknown[] {
  const next = slots.slice();
  next[i] = item;
  return next;
}

/** `slots` with `a`, `b` put in at `i`. */
function inserted(slots: readonly unknown[], i: number, a: unknown, b: unknown): unknown[] {
  const next = new Array<unknown>(slots.length + 2);
  for (let j = 0; j < i; j++) next[j] = slots[j];
  next[i] = a;
  next[i + 1] = b;
  for (let j = i; j < slots.length; j++) next[j + 2] = slots[j];
  return next;
}

/** `slots` without the two at `i`. */
function removed(slots: readonly unknown[], i: number): unknown[] {
  const next = new Array<unknown>(slots.length - 2);
  for (let j = 0; j < i; j++) next[j] = slots[j];
  for (let j = i + 2; j < slots.length; j++) next[j - 2] = slots[j];
  return next;
}

/** Set by `put` when the key was new: the map grows by one. */
let changedSize = false;

/**
 * The node (or collision) at level `shift` for two keys that met at one position above:
 * k1 (hash h1), or null and a collision (hash h1), and k2 (hash h2).
 */
function pair(shift: number, h1: number, k1: unknown, v1: unknown, h2: number, k2: string, v2: unknown): Node | Collision {
  if (h1 === h2) return new Collision(h1, [k1, v1, k2, v2]); // two keys: a collision of h2 would have taken k2 in put
  const c1 = (h1 >>> shift) & 31;
  const c2 = (h2 >>> shift) & 31;
  if (c1 === c2) return new Node(1 << c1, [null, pair(shift + 5, h1, k1, v1, h2, k2, v2)]);
  return new Node((1 << c1) | (1 << c2), c1 < c2 ? [k1, v1, k2, v2] : [k2, v2, k1, v1]);
}

/**
 * `node` (at level `shift`) with `key` (hash `h`) set to `value`; `node` itself if it had that value.
 * `hash` is the trie's hash: hashOf, or keyedHashOf inside a Spill (whose collisions never spill again).
 */
function put(node: Node, shift: number, h: number, key: string, value: unknown, hash: (s: string) => number = hashOf): Node {
  const bit = 1 << ((h >>> shift) & 31);
  const i = indexOf(node.bitmap, bit);
  if ((node.bitmap & bit) === 0) {
    changedSize = true;
    return new Node(node.bitmap | bit, inserted(node.slots, i, key, value));
  }
  const k = node.slots[i];
  const v = node.slots[i + 1];
  if (k === key) return v === value ? node : new Node(node.bitmap, replaced(node.slots, i + 1, value));
  let below: Below;
  if (k !== null) {
    changedSize = true;
    below = pair(shift + 5, hash(k as string), k, v, h, key, value);
  } else if (v instanceof Node) {
    below = put(v, shift + 5, h, key, value, hash);
  } else if ((v as Collision | Spill).hash !== h) {
    changedSize = true;
    below = pair(shift + 5, (v as Collision | Spill).hash, null, v, h, key, value);
  } else if (v instanceof Spill) {
    below = putSpill(v, key, value);
  } else {
    below = putCollision(v as Collision, key, value, hash === hashOf);
  }
  if (below === v) return node;
  const slots = replaced(node.slots, i + 1, below);
  slots[i] = null;
  return new Node(node.bitmap, slots);
}

/** Where `key` is in a collision's slots, or -1. */
function keyIndex(c: Collision, key: string): number {
  for (let i = 0; i < c.slots.length; i += 2) if (c.slots[i] === key) return i;
  return -1;
}

function putCollision(c: Collision, key: string, value: unknown, maySpill: boolean): Collision | Spill {
  const i = keyIndex(c, key);
  if (i < 0) {
    changedSize = true;
    if (maySpill && c.slots.length >= 2 * COLLISION_MAX) return spill(c.hash, [...c.slots, key, value]);
    return new Collision(c.hash, [...c.slots, key, value]);
  }
  return c.slots[i + 1] === value ? c : new Collision(c.hash, replaced(c.slots, i + 1, value));
}

/** A Spill of the keys and values in `slots` (all on plain hash `hash`). */
function spill(hash: number, slots: readonly unknown[]): Spill {
  let root = EMPTY_NODE;
  for (let i = 0; i < slots.length; i += 2) {
    const k = slots[i] as string;
    root = put(root, 0, keyedHashOf(k), k, slots[i + 1], keyedHashOf);
  }
  return new Spill(hash, root, slots.length / 2);
}

function putSpill(sp: Spill, key: string, value: unknown): Spill {
  changedSize = false;
  const root = put(sp.root, 0, keyedHashOf(key), key, value, keyedHashOf);
  // changedSize is the outer set's too: a new key here is a new key of the map.
  return root === sp.root ? sp : new Spill(sp.hash, root, changedSize ? sp.size + 1 : sp.size);
}

/**
 * `node` without `key`; `node` itself if it had no such key. A node (or collision) left with
 * one key and nothing below gives that key to its parent, so the trie stays as shallow as a fresh one.
 */
function take(node: Node, shift: number, h: number, key: string): Node {
  const bit = 1 << ((h >>> shift) & 31);
  if ((node.bitmap & bit) === 0) return node;
  const i = indexOf(node.bitmap, bit);
  const k = node.slots[i];
  const v = node.slots[i + 1];
  if (k === key) return new Node(node.bitmap ^ bit, removed(node.slots, i));
  if (k !== null) return node;
  let below: Below;
  if (v instanceof Node) below = take(v, shift + 5, h, key);
  else if (v instanceof Spill) below = takeSpill(v, key);
  else below = takeCollision(v as Collision, key);
  if (below === v) return node;
  // What is left below, if it is one key (or one collision or spill), comes up here.
  if (!(below instanceof Spill) && below.slots.length === 2 && !(below.slots[1] instanceof Node)) {
    const slots = replaced(node.slots, i, below.slots[0]);
    slots[i + 1] = below.slots[1];
    return new Node(node.bitmap, slots);
  }
  return new Node(node.bitmap, replaced(node.slots, i + 1, below));
}

function takeCollision(c: Collision, key: string): Collision {
  const i = keyIndex(c, key);
  return i < 0 ? c : new Collision(c.hash, removed(c.slots, i));
}

/** `sp` without `key`: a Collision again once it is down to COLLISION_MAX keys. */
function takeSpill(sp: Spill, key: string): Spill | Collision {
  const root = take(sp.root, 0, keyedHashOf(key), key);
  if (root === sp.root) return sp;
  if (sp.size - 1 > COLLISION_MAX) return new Spill(sp.hash, root, sp.size - 1);
  const slots: unknown[] = [];
  for (const [k, v] of walk(root)) slots.push(k, v);
  return new Collision(sp.hash, slots);
}

const ABSENT = Symbol('absent');

/** `key`'s value under `root` (a trie on plain hash `h` of the key, or a Spill's on the keyed one), or ABSENT. */
function find(root: Node, key: string, h: number = hashOf(key)): unknown {
  let node = root;
  for (let shift = 0; ; shift += 5) {
    const bit = 1 << ((h >>> shift) & 31);
    if ((node.bitmap & bit) === 0) return ABSENT;
    const i = indexOf(node.bitmap, bit);
    const k = node.slots[i];
    const v = node.slots[i + 1];
    if (k !== null) return k === key ? v : ABSENT;
    if (v instanceof Node) node = v;
    else if (v instanceof Spill) return find(v.root, key, keyedHashOf(key));
    else {
      const j = keyIndex(v as Collision, key);
      return j < 0 ? ABSENT : (v as Collision).slots[j + 1];
    }
  }
}

/** The keys and values under `node`, in bitmap order (a Spill's in its own trie's). */
function* walk(node: Below): IterableIterator<[string, unknown]> {
  if (node instanceof Spill) {
    yield* walk(node.root);
    return;
  }
  const { slots } = node;
  for (let i = 0; i < slots.length; i += 2) {
    if (slots[i] === null) yield* walk(slots[i + 1] as Below);
    else yield [slots[i] as string, slots[i + 1]];
  }
}

/** For specs: the most keys any one leaf (Collision) holds under `map`, looked through Spills. */
export function widestLeaf(map: StrMap<unknown>): number {
  const widest = (node: Below): number => {
    if (node instanceof Spill) return widest(node.root);
    if (node instanceof Collision) return node.slots.length / 2;
    let w = 0;
    for (let i = 0; i < node.slots.length; i += 2) if (node.slots[i] === null) w = Math.max(w, widest(node.slots[i + 1] as Below));
    return w;
  };
  return widest((map as unknown as { root: Node }).root);
}

export class StrMap<V> implements Iterable<[string, V]> {
  private constructor(private readonly root: Node, readonly size: number) {}

  private static readonly EMPTY = new StrMap<never>(EMPTY_NODE, 0);
  static empty<V>(): StrMap<V> {
    return StrMap.EMPTY;
  }

  get(key: string): V | undefined {
    const v = find(this.root, key);
    return v === ABSENT ? undefined : (v as V);
  }

  has(key: string): boolean {
    return find(this.root, key) !== ABSENT;
  }

  /** This map with `key` set to `value`; this same map if it had that value already. */
  set(key: string, value: V): StrMap<V> {
    changedSize = false;
    const root = put(this.root, 0, hashOf(key), key, value);
    return root === this.root ? this : new StrMap(root, changedSize ? this.size + 1 : this.size);
  }

  /** This map without `key`; this same map if it had no such key. */
  delete(key: string): StrMap<V> {
    const root = take(this.root, 0, hashOf(key), key);
    return root === this.root ? this : new StrMap(root.bitmap === 0 ? EMPTY_NODE : root, this.size - 1);
  }

  /** This map without any of `keys`. */
  deleteAll(keys: Iterable<string>): StrMap<V> {
    let m: StrMap<V> = this;
    for (const key of keys) m = m.delete(key);
    return m;
  }

  entries(): IterableIterator<[string, V]> {
    return walk(this.root) as IterableIterator<[string, V]>;
  }

  *keys(): IterableIterator<string> {
    for (const [k] of walk(this.root)) yield k;
  }

  *values(): IterableIterator<V> {
    for (const [, v] of walk(this.root)) yield v as V;
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
