import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRedis, createRedisSubscriber, redisReady } from "../../../src/platform/redis.js";
import type { RedisTarget } from "../../../src/platform/redis-target.js";
import { whichProgram } from "../../../src/stack/install.js";
import { startRedisCluster, type TestRedisCluster } from "../../support/redis-cluster.js";

const run = promisify(execFile);
const PASSWORD = "cluster-secret";

/** A Redis Cluster whose nodes require AUTH, as a production one does (Kubernetes: the auth-redis-password Secret). */
describe("a password-protected Redis Cluster (REDIS_PASSWORD)", () => {
  let cluster: TestRedisCluster;
  let target: RedisTarget;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    const redisCli = whichProgram("redis-cli")!;
    // masterauth first, so replicas keep syncing once their masters ask for the password.
    for (const port of cluster.ports) await run(redisCli, ["-p", String(port), "CONFIG", "SET", "masterauth", PASSWORD]);
    for (const port of cluster.ports) await run(redisCli, ["-p", String(port), "CONFIG", "SET", "requirepass", PASSWORD]);
    target = { kind: "cluster", nodes: cluster.ports.map((port) => ({ host: "127.0.0.1", port })), password: PASSWORD };
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("every service's client and the revocation subscriber authenticate with it", async () => {
    const redis = createRedis(target);
    const subscriber = createRedisSubscriber(target);
    try {
      await redisReady(redis, target);
      // Keys on every master: each node of the slot map needed the password.
      for (let i = 0; i < 30; i++) await redis.set(`auth-test:{${i}}`, String(i), "PX", 60_000);
      expect(await redis.get("auth-test:{29}")).toBe("29");
      await new Promise<void>((resolve) => (subscriber.status === "ready" ? resolve() : subscriber.on("ready", () => resolve())));
      const heard = new Promise<string>((resolve) => subscriber.on("message", (_channel, message) => resolve(message)));
      await subscriber.subscribe("auth-test-events");
      await redis.publish("auth-test-events", "hello");
      expect(await heard).toBe("hello");
    } finally {
      redis.disconnect();
      subscriber.disconnect();
    }
  });

  it("without it, the client never becomes ready", async () => {
    const { password: _, ...withoutPassword } = target as Extract<RedisTarget, { kind: "cluster" }>;
    const redis = createRedis(withoutPassword);
    try {
      await expect(redisReady(redis, withoutPassword, 3000)).rejects.toThrow(/REDIS_CLUSTER_NODES/);
    } finally {
      redis.disconnect();
    }
  });
});
