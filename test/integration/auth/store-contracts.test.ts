import { randomUUID } from "node:crypto";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { createRedisSessionStore } from "../../../src/auth/sessions/redis-session-store.js";
import { createCachedUserStore } from "../../../src/auth/users/cached-user-store.js";
import { createPgUserStore } from "../../../src/auth/users/pg-user-store.js";
import type { User, UserStore } from "../../../src/auth/users/user-store.js";
import { createUserWritten } from "../../../src/auth/users/user-written.js";
import { parseSessionEvent, REVOCATION_CHANNEL, type SessionEvent } from "../../../src/contract/session-events.js";
import { createLogger } from "../../../src/platform/log.js";
import { migrate } from "../../../src/platform/migrate.js";
import { createReplicaReads } from "../../../src/platform/replica-reads.js";
import { createDurableWrites } from "../../../src/platform/redis-durable.js";
import { REDIS_SHAPES, redisClient, redisSubscriber, type RedisShape } from "../../support/redis-matrix.js";
import { sessionStoreContract } from "../../support/contracts/session-store.js";
import { userStoreContract } from "../../support/contracts/user-store.js";

for (const shape of REDIS_SHAPES) {
  sessionStoreContract(`Redis (${shape})`, async (options) => {
    const redis = redisClient(shape);
    const subscriber = redisSubscriber(shape);
    const events: SessionEvent[] = [];
    subscriber.on("message", (_channel: string, message: string) => {
      const event = parseSessionEvent(message);
      if (event) events.push(event);
    });
    await subscriber.subscribe(REVOCATION_CHANNEL);
    return {
      // As the service wires it: on the cluster every acknowledged write waits for a replica.
      store: createRedisSessionStore({ redis, durable: createDurableWrites(redis, { replicas: shape === "cluster" ? 1 : 0, timeoutMs: 2000 }), ...options }),
      events,
      async close() {
        subscriber.disconnect();
        redis.disconnect();
      },
    };
  });
}

/** The Postgres store as the service wires it: the primary, and replica reads with read-your-writes. */
async function pgStore(shape: RedisShape) {
  const stack = inject("stack");
  // Run alone, this file may be the first to reach the shared stack: the schema is its own to ensure.
  await migrate(stack.primaryUrl, createLogger("silent"));
  const primary = new pg.Pool({ connectionString: stack.primaryUrl, max: 2 });
  const replica = new pg.Pool({ connectionString: stack.replicaUrl, max: 2 });
  const redis = redisClient(shape);
  const ownReads = createReplicaReads({ write: primary, read: replica, redis, log: createLogger("silent") });
  const inner = createPgUserStore(primary, ownReads);
  return {
    inner,
    redis,
    primary,
    ownReads,
    async seed(user: User) {
      await primary.query(
        "INSERT INTO users (id, email, email_verified, password_hash, disabled_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        [user.id, user.email, user.emailVerified, user.passwordHash, user.disabled ? new Date() : null, user.createdAt],
      );
      // As after registration: the user's own next read sees the row on whichever replica serves it.
      await ownReads.wrote(user.id);
    },
    async close() {
      redis.disconnect();
      await Promise.all([primary.end(), replica.end()]);
    },
  };
}

userStoreContract("Postgres", async () => {
  const { inner, seed, close } = await pgStore("node");
  return { store: inner, seed, close };
});

for (const shape of REDIS_SHAPES) {
  userStoreContract(`Postgres behind the Redis cache (${shape})`, async () => {
    const { inner, redis, seed, close } = await pgStore(shape);
    return { store: createCachedUserStore({ inner, redis, ttlMs: 60_000, profiles: true }), seed, close };
  });
}

describe.each(REDIS_SHAPES)("the cached user store's own rules (redis %s)", (shape) => {
  /** The Postgres store behind the cache, counting the profile reads that reach it; `during` runs inside the next one. */
  async function cachedStore(profiles = true) {
    const underlying = await pgStore(shape);
    // Database reads of a profile: by the replica path (findProfile), or the primary (findById).
    const counted = { profileReads: 0, replicaReads: 0, during: undefined as (() => Promise<void>) | undefined };
    const afterRead = async () => {
      counted.profileReads += 1;
      const during = counted.during;
      counted.during = undefined;
      await during?.();
    };
    const inner: UserStore = {
      ...underlying.inner,
      async findProfile(id) {
        counted.replicaReads += 1;
        const profile = await underlying.inner.findProfile(id);
        await afterRead();
        return profile;
      },
      async findById(id) {
        const user = await underlying.inner.findById(id);
        await afterRead();
        return user;
      },
    };
    const store = createCachedUserStore({ inner, redis: underlying.redis, ttlMs: 60_000, profiles });
    const user: User = { id: randomUUID(), email: `cached-${randomUUID()}@example.com`, emailVerified: false, passwordHash: "h", disabled: false, createdAt: new Date(Math.floor(Date.now() / 1000) * 1000) };
    await underlying.seed(user);
    /** A committed write to the row, then what the service does after every one (user-written.ts). */
    const write = async (sql: string) => {
      await underlying.primary.query(sql, [user.id]);
      await createUserWritten({ ownReads: underlying.ownReads, users: store })(user);
    };
    return { ...underlying, store, counted, user, write };
  }

  it("reads a profile from the database once, then from Redis", async () => {
    const { store, counted, user, close } = await cachedStore();
    try {
      const first = await store.findProfile(user.id);
      expect(await store.findProfile(user.id)).toEqual(first);
      expect(first).toEqual({ id: user.id, email: user.email, emailVerified: false, disabled: false, createdAt: user.createdAt });
      expect(counted.profileReads).toBe(1);
      // From the primary: a replica read leans on a read-your-writes mark a write may have failed to
      // leave, and what it filled would stay stale for the whole TTL.
      expect(counted.replicaReads).toBe(0);
    } finally {
      await close();
    }
  });

  it("invalidate({ id, email }) drops both the profile and sign-in's row", async () => {
    const { store, user, write, close } = await cachedStore();
    try {
      await store.findProfile(user.id);
      await store.findByEmail(user.email);
      await write("UPDATE users SET email_verified = true, disabled_at = now() WHERE id = $1");
      expect(await store.findProfile(user.id)).toMatchObject({ emailVerified: true, disabled: true });
      expect(await store.findByEmail(user.email)).toMatchObject({ emailVerified: true, disabled: true });
    } finally {
      await close();
    }
  });

  it("a profile read that began before a write never puts the old profile back", async () => {
    const { store, counted, user, write, close } = await cachedStore();
    try {
      counted.during = () => write("UPDATE users SET email_verified = true WHERE id = $1");
      expect((await store.findProfile(user.id))?.emailVerified).toBe(false);
      expect((await store.findProfile(user.id))?.emailVerified).toBe(true);
    } finally {
      await close();
    }
  });

  it("forget drops the profile and the row of an erased account", async () => {
    const { store, primary, user, close } = await cachedStore();
    try {
      await store.findProfile(user.id);
      await store.findByEmail(user.email);
      await primary.query("DELETE FROM users WHERE id = $1", [user.id]);
      await store.forget(user);
      expect(await store.findProfile(user.id)).toBeUndefined();
      expect(await store.findByEmail(user.email)).toBeUndefined();
    } finally {
      await close();
    }
  });

  it("with PROFILE_CACHE off, every profile read reaches the database", async () => {
    const { store, counted, user, close } = await cachedStore(false);
    try {
      await store.findProfile(user.id);
      await store.findProfile(user.id);
      expect(counted.profileReads).toBe(2);
    } finally {
      await close();
    }
  });
});
