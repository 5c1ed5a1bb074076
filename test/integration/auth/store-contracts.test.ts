import pg from "pg";
import { inject } from "vitest";
import { createRedisSessionStore } from "../../../src/auth/sessions/redis-session-store.js";
import { createCachedUserStore } from "../../../src/auth/users/cached-user-store.js";
import { createPgUserStore } from "../../../src/auth/users/pg-user-store.js";
import type { User } from "../../../src/auth/users/user-store.js";
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
    return { store: createCachedUserStore({ inner, redis, ttlMs: 60_000 }), seed, close };
  });
}
