// Memory per idle connection (docs/benchmarks.md, memory): RxJS keeps a
// Subscription's finalizers in an array it grows by push, and V8 gives such an
// array room for 17 at its first push, about 150 B where one or two are held for
// a connection's whole life. A copy holds exactly what is there; a later add or
// remove still works, as on any array.
import type { Subscription } from 'rxjs';

/** Trims a long-lived Subscription's finalizers array to its length (RxJS's `_finalizers`, not in its typings). */
export function compact(s: Subscription): void {
  const held = s as unknown as { _finalizers?: unknown[] | null };
  if (Array.isArray(held._finalizers)) held._finalizers = held._finalizers.slice();
}
