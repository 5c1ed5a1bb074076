import { Cluster, Redis } from "ioredis";
import { inject } from "vitest";
import type { RedisClient } from "../../src/platform/redis.js";

/**
 * The Redis deployments the Redis-dependent suites run against, in the same run: the shared stack's
 * single node and the shared Redis Cluster (test/support/data-tier.ts). A suite takes them with
 * `describe.each(REDIS_SHAPES)` and passes `redisEnv(shape)` to the services it starts.
 */
export const REDIS_SHAPES = ["node", "cluster"] as const;
export type RedisShape = (typeof REDIS_SHAPES)[number];

/** The env that points a service at that deployment (REDIS_URL or REDIS_CLUSTER_NODES, never both). */
export function redisEnv(shape: RedisShape): Record<string, string> {
  const stack = inject("stack");
  return shape === "node" ? { REDIS_URL: stack.redisUrl } : { REDIS_CLUSTER_NODES: stack.redisClusterNodes };
}

/** A client of the test's own on that deployment, for looking at keys and events. */
export function redisClient(shape: RedisShape): RedisClient {
  const stack = inject("stack");
  if (shape === "node") return new Redis(stack.redisUrl);
  return new Cluster(stack.redisClusterNodes.split(",").map((node) => ({ host: node.split(":")[0]!, port: Number(node.split(":")[1]) })));
}

/** A connection for SUBSCRIBE: on a cluster any node hears every PUBLISH. */
export function redisSubscriber(shape: RedisShape): Redis {
  const stack = inject("stack");
  return new Redis(shape === "node" ? stack.redisUrl : `redis://${stack.redisClusterNodes.split(",")[0]}`);
}

/** `env` pointed at the cluster instead of the single node when the overrides name one. */
export function withRedisOverrides<T extends Record<string, string | undefined>>(env: T, overrides: Record<string, string | undefined>): T {
  const merged = { ...env, ...overrides };
  if (overrides.REDIS_CLUSTER_NODES) delete merged.REDIS_URL;
  return merged;
}
