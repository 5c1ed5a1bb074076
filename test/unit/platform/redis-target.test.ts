import { describe, expect, it } from "vitest";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { loadAuthzConfig } from "../../../src/authz/config.js";
import { loadRateLimitConfig } from "../../../src/ratelimit/config.js";
import { problemsOf } from "../../support/config-problems.js";

const AUTH_ENV = { DATABASE_URL: "postgres://u:p@db/auth", SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64") };
const loaders = {
  auth: (env: Record<string, string>) => loadAuthConfig({ ...AUTH_ENV, ...env }).redis,
  authz: (env: Record<string, string>) => loadAuthzConfig(env).redis,
  ratelimit: (env: Record<string, string>) => loadRateLimitConfig(env).redis,
};

describe.each(Object.entries(loaders))("the Redis deployment of %s", (_service, load) => {
  it("is one node with REDIS_URL and a cluster with REDIS_CLUSTER_NODES", () => {
    expect(load({ REDIS_URL: "redis://r:6379" })).toEqual({ kind: "node", url: "redis://r:6379" });
    expect(load({ REDIS_CLUSTER_NODES: " 10.0.0.1:7000, redis-1.redis:7001,[::1]:7002 " })).toEqual({
      kind: "cluster",
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "redis-1.redis", port: 7001 },
        { host: "::1", port: 7002 },
      ],
    });
  });

  it("gives a cluster's nodes REDIS_PASSWORD", () => {
    expect(load({ REDIS_CLUSTER_NODES: "r:7000", REDIS_PASSWORD: "s3cret" })).toEqual({ kind: "cluster", nodes: [{ host: "r", port: 7000 }], password: "s3cret" });
  });

  it("refuses both, neither, and malformed seed nodes, naming the variable", () => {
    const problems = (env: Record<string, string>) => problemsOf(() => load(env)).filter((p) => /REDIS/.test(p));
    expect(problems({ REDIS_URL: "redis://r:6379", REDIS_CLUSTER_NODES: "r:7000" })).toEqual([
      "REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one node or REDIS_CLUSTER_NODES for a cluster, not both",
    ]);
    expect(problems({})).toEqual(["REDIS_URL is required (one node), or REDIS_CLUSTER_NODES instead (a Redis Cluster's host:port seed nodes)"]);
    for (const bad of ["r", "r:", "r:0", "r:65536", "redis://r:7000", "r:70a", `${"x".repeat(10)} :7000`, "a:1;DROP"]) {
      expect(problems({ REDIS_CLUSTER_NODES: bad })).toEqual([
        `REDIS_CLUSTER_NODES must be comma-separated host:port seed nodes such as 10.0.0.1:6379,10.0.0.2:6379; got "${bad}"`,
      ]);
    }
  });
});

describe("the auth service's write durability", () => {
  it("waits for one replica on a cluster, none on one node, and takes overrides within bounds", () => {
    expect(loadAuthConfig({ ...AUTH_ENV, REDIS_URL: "redis://r:6379" }).redisDurability).toEqual({ replicas: 0, timeoutMs: 1000 });
    expect(loadAuthConfig({ ...AUTH_ENV, REDIS_CLUSTER_NODES: "r:7000" }).redisDurability).toEqual({ replicas: 1, timeoutMs: 1000 });
    expect(loadAuthConfig({ ...AUTH_ENV, REDIS_CLUSTER_NODES: "r:7000", REDIS_WAIT_REPLICAS: "2", REDIS_WAIT_TIMEOUT: "250ms" }).redisDurability).toEqual({ replicas: 2, timeoutMs: 250 });
    expect(problemsOf(() => loadAuthConfig({ ...AUTH_ENV, REDIS_CLUSTER_NODES: "r:7000", REDIS_WAIT_REPLICAS: "-1", REDIS_WAIT_TIMEOUT: "2m" }))).toEqual([
      'REDIS_WAIT_REPLICAS must be an integer from 0 to 16, got "-1"',
      'REDIS_WAIT_TIMEOUT must be a duration from 1ms to 60000ms such as 200ms or 5s; got "2m"',
    ]);
  });
});
