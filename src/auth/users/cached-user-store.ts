import type { RedisClient } from "../../platform/redis.js";
import { limiterKey } from "../../contract/limiter-key.js";
import type { Profile, User, UserStore } from "./user-store.js";

/** What names an account's cached copies: its address (sign-in's row) and its id (its profile). */
export type CachedAccount = Pick<User, "id" | "email">;

export interface CachedUserStore extends UserStore {
  /**
   * Drops the cached row for this email and the cached profile for this id; every write to a user
   * must call it after commit, and after recording the write for read-your-writes (a profile read
   * between the two could otherwise refill the cache from a replica that has not replayed it).
   */
  invalidate(account: CachedAccount): Promise<void>;
  /**
   * Drops the copies of an erased account. Their generation counters must outlive any fill that began
   * before (or that fill could put the erased row back), but not by much: twice the cache TTL.
   */
  forget(account: CachedAccount): Promise<void>;
}

export interface CachedUserStoreDeps {
  inner: UserStore;
  redis: RedisClient;
  ttlMs: number;
  /** PROFILE_CACHE: whether `findProfile` (GetMe) is cached by id too; off, every call reads the database. */
  profiles: boolean;
}

interface CacheKeys {
  row: string;
  gen: string;
}

const byEmail = (email: string): CacheKeys => {
  const id = limiterKey(email);
  return { row: `usercache:{${id}}`, gen: `usercache:{${id}}:gen` };
};

/** Ids are the service's own (UUIDs the primary assigned, or carried in a token we signed), so they key the profile as they are. */
const byId = (id: string): CacheKeys => ({ row: `profilecache:{${id}}`, gen: `profilecache:{${id}}:gen` });

// Fills only if no invalidation happened since the generation was read before the
// database read; otherwise a slow reader could put back a row a write just replaced.
const FILL = `
local gen = redis.call('GET', KEYS[2]) or '0'
if gen == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 0
`;

// Outlives any in-flight fill by far, so a generation never falls back to one a filler holds.
const GENERATION_TTL_MS = 86_400_000;

/** What GetMe shows of a user: the row without its credential. */
const profileOf = ({ passwordHash: _credential, ...profile }: User): Profile => profile;

type Stored<T extends { createdAt: Date }> = Omit<T, "createdAt"> & { createdAt: string };

/**
 * Sign-in's lookup by email and GetMe's profile by id, cached in Redis (shared by every instance)
 * and invalidated on every write, so a changed password, a new address or a disabled account takes
 * effect on the next request wherever it lands. Misses are not cached: a new account must be able
 * to sign in at once.
 */
export function createCachedUserStore(deps: CachedUserStoreDeps): CachedUserStore {
  const { inner, redis } = deps;

  /** One slot per key pair: on a cluster the email's pair and the id's pair are two commands. */
  async function drop(keys: CacheKeys, generationTtlMs: number): Promise<void> {
    await redis.multi().incr(keys.gen).pexpire(keys.gen, generationTtlMs).del(keys.row).exec();
  }

  async function dropBoth(account: CachedAccount, generationTtlMs: number): Promise<void> {
    await Promise.all([drop(byEmail(account.email), generationTtlMs), drop(byId(account.id), generationTtlMs)]);
  }

  async function cached<T extends { createdAt: Date }>(keys: CacheKeys, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const [hit, gen] = await redis.mget(keys.row, keys.gen);
    if (hit) {
      const row = JSON.parse(hit) as Stored<T>;
      return { ...row, createdAt: new Date(row.createdAt) } as T;
    }
    const loaded = await load();
    if (loaded) await redis.eval(FILL, 2, keys.row, keys.gen, gen ?? "0", JSON.stringify(loaded), deps.ttlMs);
    return loaded;
  }

  return {
    ...inner,
    invalidate: (account) => dropBoth(account, GENERATION_TTL_MS),
    forget: (account) => dropBoth(account, 2 * deps.ttlMs),
    findByEmail: (email) => cached<User>(byEmail(email), () => inner.findByEmail(email)),
    // A miss reads the primary: a replica read relies on the read-your-writes mark, which a write may
    // fail to leave, and a stale row cached from it would outlive that read by the whole TTL.
    findProfile: deps.profiles ? (id) => cached<Profile>(byId(id), () => inner.findById(id).then((user) => user && profileOf(user))) : inner.findProfile,
    async replacePasswordHash(account, expected, next) {
      const replaced = await inner.replacePasswordHash(account, expected, next);
      // The profile holds no credential: only sign-in's row is stale.
      if (replaced) await drop(byEmail(account.email), GENERATION_TTL_MS);
      return replaced;
    },
  };
}
