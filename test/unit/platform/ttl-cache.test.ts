import { describe, expect, it } from "vitest";
import { createTtlCache } from "../../../src/platform/ttl-cache.js";

const clockAt = (t: { now: number }) => ({ now: () => t.now });

describe("createTtlCache", () => {
  it("serves entries until the TTL, including cached nulls", () => {
    const t = { now: 0 };
    const cache = createTtlCache<string | null>({ clock: clockAt(t), ttlMs: 100, maxEntries: 10 });
    cache.set("a", null, cache.mark());
    expect(cache.get("a")).toEqual({ value: null });
    t.now = 100;
    expect(cache.get("a")).toBeUndefined();
  });

  it("never stores a read that raced an invalidation", () => {
    const cache = createTtlCache<string>({ clock: clockAt({ now: 0 }), ttlMs: 100, maxEntries: 10 });
    const mark = cache.mark();
    cache.delete("a");
    cache.set("a", "stale", mark);
    expect(cache.get("a")).toBeUndefined();
  });

  it("caps a per-entry TTL at the cache TTL and evicts the oldest beyond the size limit", () => {
    const t = { now: 0 };
    const cache = createTtlCache<number>({ clock: clockAt(t), ttlMs: 100, maxEntries: 2 });
    cache.set("a", 1, cache.mark(), 10_000);
    cache.set("b", 2, cache.mark());
    cache.set("c", 3, cache.mark());
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(2);
    t.now = 100;
    expect(cache.get("b")).toBeUndefined();
  });

  it("clears expired entries as new ones arrive, so one-off keys leave nothing behind", () => {
    const t = { now: 0 };
    const cache = createTtlCache<null>({ clock: clockAt(t), ttlMs: 100, maxEntries: 1_000_000 });
    for (let i = 0; i < 1000; i++) cache.set(`gone-${i}`, null, cache.mark());
    t.now = 200;
    for (let i = 0; i < 300; i++) cache.set(`new-${i}`, null, cache.mark());
    expect(cache.size).toBe(300);
    cache.close();
  });

  it("bounds the estimated bytes, evicting the oldest", () => {
    const cache = createTtlCache<string>({ clock: clockAt({ now: 0 }), ttlMs: 100, maxEntries: 1_000_000, maxBytes: 10_000, sizeOf: (v) => v.length * 2 });
    for (let i = 0; i < 1000; i++) cache.set(`k${i}`, "v".repeat(100), cache.mark());
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.get("k999")).toEqual({ value: "v".repeat(100) });
    expect(cache.get("k0")).toBeUndefined();
    cache.set("huge", "v".repeat(10_000), cache.mark());
    expect(cache.get("huge"), "a value past the whole bound is not stored").toBeUndefined();
    expect(cache.get("k999"), "and pushes nothing out").toEqual({ value: "v".repeat(100) });
    cache.clear();
    expect(cache.bytes).toBe(0);
    cache.close();
  });
});
