import type { Clock } from "./clock.js";

export interface TtlCache<V> {
  /** The entry, wrapped so a cached "absent" (null) differs from a miss. */
  get(key: string): { value: V } | undefined;
  /**
   * A token to pass to `set` for a value read after this call: if the cache is invalidated in
   * between, the read may predate the invalidation and is not stored.
   */
  mark(): number;
  set(key: string, value: V, mark: number, ttlMs?: number): void;
  delete(key: string): void;
  clear(): void;
  readonly size: number;
  /** The estimated bytes the entries hold (keys and values), as `maxBytes` counts them. */
  readonly bytes: number;
  /** Stops the sweeper; the cache still works, expired entries then go only when met or pushed out. */
  close(): void;
}

export interface TtlCacheDeps<V> {
  clock: Clock;
  ttlMs: number;
  maxEntries: number;
  /** Bound on the estimated size of keys and values; the oldest entries go first. Default: no bound beyond maxEntries. */
  maxBytes?: number;
  /** An estimate of one value's size in bytes. Default: a small object's. */
  sizeOf?: (value: V) => number;
  /** Told of every lookup, whether it found a live entry (hit ratio metrics). */
  onLookup?: (hit: boolean) => void;
}

// A Map slot, the entry object and its fields: V8's overhead per entry beyond the key and value.
const ENTRY_OVERHEAD_BYTES = 64;
const DEFAULT_VALUE_BYTES = 64;
// How many expired entries one `set` clears from the front: enough to keep pace, bounded per call.
const SWEEP_PER_SET = 4;

/**
 * An in-process TTL cache in write order. Every entry has the same cap (`ttlMs`), so the oldest
 * write expires first: `set` drops expired entries from the front as it goes, and a timer clears
 * the rest while no writes come, so a burst of one-off keys (unknown cookies, distinct tokens)
 * leaves nothing behind once it has expired.
 */
export function createTtlCache<V>(deps: TtlCacheDeps<V>): TtlCache<V> {
  const entries = new Map<string, { value: V; expiresAt: number; bytes: number }>();
  const maxBytes = deps.maxBytes ?? Number.POSITIVE_INFINITY;
  const sizeOf = deps.sizeOf ?? (() => DEFAULT_VALUE_BYTES);
  // Bumped by every invalidation; a read that started under an older generation may be stale.
  let generation = 0;
  let bytes = 0;

  const remove = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    bytes -= entry.bytes;
    entries.delete(key);
  };

  /** Drops expired entries from the front (the oldest writes), at most `limit` of them. */
  function sweep(limit: number): void {
    const now = deps.clock.now();
    for (const [key, entry] of entries) {
      if (limit-- <= 0 || entry.expiresAt > now) return;
      remove(key);
    }
  }

  const sweeper = setInterval(() => sweep(Number.POSITIVE_INFINITY), Math.max(1000, deps.ttlMs));
  sweeper.unref();

  return {
    get(key) {
      const entry = entries.get(key);
      const live = entry !== undefined && entry.expiresAt > deps.clock.now();
      deps.onLookup?.(live);
      if (!live) {
        if (entry) remove(key);
        return undefined;
      }
      return { value: entry.value };
    },
    mark: () => generation,
    set(key, value, mark, ttlMs = deps.ttlMs) {
      if (mark !== generation || ttlMs <= 0) return;
      remove(key);
      sweep(SWEEP_PER_SET);
      const size = key.length * 2 + sizeOf(value) + ENTRY_OVERHEAD_BYTES;
      // One value larger than the whole bound would push out everything and still not fit.
      if (size > maxBytes) return;
      // Map order is insertion order, so the first key is the oldest write.
      for (const oldest of entries.keys()) {
        if (entries.size < deps.maxEntries && bytes + size <= maxBytes) break;
        remove(oldest);
      }
      entries.set(key, { value, expiresAt: deps.clock.now() + Math.min(ttlMs, deps.ttlMs), bytes: size });
      bytes += size;
    },
    delete(key) {
      generation += 1;
      remove(key);
    },
    clear() {
      generation += 1;
      entries.clear();
      bytes = 0;
    },
    get size() {
      return entries.size;
    },
    get bytes() {
      return bytes;
    },
    close: () => clearInterval(sweeper),
  };
}
