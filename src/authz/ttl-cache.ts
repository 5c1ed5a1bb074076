import type { Clock } from "../platform/clock.js";

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
}

export interface TtlCacheDeps {
  clock: Clock;
  ttlMs: number;
  maxEntries: number;
}

export function createTtlCache<V>(deps: TtlCacheDeps): TtlCache<V> {
  const entries = new Map<string, { value: V; expiresAt: number }>();
  // Bumped by every invalidation; a read that started under an older generation may be stale.
  let generation = 0;
  return {
    get(key) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= deps.clock.now()) {
        entries.delete(key);
        return undefined;
      }
      return { value: entry.value };
    },
    mark: () => generation,
    set(key, value, mark, ttlMs = deps.ttlMs) {
      if (mark !== generation || ttlMs <= 0) return;
      entries.delete(key);
      // Map order is insertion order, so the first key is the oldest write.
      if (entries.size >= deps.maxEntries) {
        const oldest = entries.keys().next();
        if (!oldest.done) entries.delete(oldest.value);
      }
      entries.set(key, { value, expiresAt: deps.clock.now() + Math.min(ttlMs, deps.ttlMs) });
    },
    delete(key) {
      generation += 1;
      entries.delete(key);
    },
    clear() {
      generation += 1;
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
