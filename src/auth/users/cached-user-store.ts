import type { RedisClient } from "../../platform/redis.js";
import { limiterKey } from "../../contract/limiter-key.js";
import type { User, UserStore } from "./user-store.js";

export interface CachedUserStore extends UserStore {
  /** Drops the cached row for this email; every write to a user must call it (after commit). */
  invalidate(email: string): Promise<void>;
  /**
   * Drops the row for an erased account. Its generation counter must outlive any fill that began
   * before (or that fill could put the erased row back), but not by much: twice the cache TTL.
   */
  forget(email: string): Promise<void>;
}

export interface CachedUserStoreDeps {
  inner: UserStore;
  redis: RedisClient;
  ttlMs: number;
}

const keys = (email: string) => {
  const id = limiterKey(email);
  return { row: `usercache:{${id}}`, gen: `usercache:{${id}}:gen` };
};

// Fills only if no invalidation happened since the generation was read before the
// database read; otherwise a slow reader could put back a row a write just replaced.
const FILL = `
local gen = redis.call('GET', KEYS[2]) or '0'
if gen == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 0
`;

// Outlives any in-flight fill by far, so a generation never falls back to one a filler holds.
const GENERATION_TTL_MS = 86_400_000;

/**
 * Sign-in's lookup by email, cached in Redis (shared by every instance) and
 * invalidated on every write, so a changed password or a disabled account
 * takes effect on the next request wherever it lands. Misses are not cached:
 * a new account must be able to sign in at once.
 */
export function createCachedUserStore(deps: CachedUserStoreDeps): CachedUserStore {
  const { inner, redis } = deps;

  async function invalidate(email: string): Promise<void> {
    const k = keys(email);
    await redis.multi().incr(k.gen).pexpire(k.gen, GENERATION_TTL_MS).del(k.row).exec();
  }

  return {
    ...inner,
    invalidate,
    async forget(email) {
      const k = keys(email);
      await redis.multi().incr(k.gen).pexpire(k.gen, 2 * deps.ttlMs).del(k.row).exec();
    },
    async findByEmail(email) {
      const k = keys(email);
      const [cached, gen] = await redis.mget(k.row, k.gen);
      if (cached) {
        const row = JSON.parse(cached) as Omit<User, "createdAt"> & { createdAt: string };
        return { ...row, createdAt: new Date(row.createdAt) };
      }
      const user = await inner.findByEmail(email);
      if (user) await redis.eval(FILL, 2, k.row, k.gen, gen ?? "0", JSON.stringify(user), deps.ttlMs);
      return user;
    },
    async replacePasswordHash(account, expected, next) {
      const replaced = await inner.replacePasswordHash(account, expected, next);
      if (replaced) await invalidate(account.email);
      return replaced;
    },
  };
}
