import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { whichProgram } from "../../../src/stack/install.js";
import { clusterHealthy } from "../../../src/stack/redis-cluster.js";
import { waitUntil } from "../../../src/stack/readiness.js";
import { formatEndpoints, readStackState, startStack, type RunningStack } from "../../../src/stack/stack.js";

/** The launcher with STACK_REDIS=cluster: 3 masters + 3 replicas from Debian's redis-server, stopped with the stack. */
describe("the local stack with a Redis Cluster", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-cluster-"));
  let stack: RunningStack;

  beforeAll(async () => {
    stack = await startStack({ dir, replicas: 0, redis: "cluster" });
  });
  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("prints REDIS_CLUSTER_NODES in place of REDIS_URL, and every node serves the cluster with an append-only file", async () => {
    const nodes = stack.ports.redisCluster.map((port) => `127.0.0.1:${port}`).join(",");
    const status = formatEndpoints(readStackState(dir)!.urls);
    expect(status).toContain(`\nREDIS_CLUSTER_NODES=${nodes}\n`);
    expect(status).not.toMatch(/^REDIS_URL=/m);
    expect(stack.control.components()).toEqual(expect.arrayContaining(["redis-0", "redis-1", "redis-2", "redis-3", "redis-4", "redis-5"]));
    expect(stack.control.components()).not.toContain("redis");

    const cluster = new Cluster(stack.ports.redisCluster.map((port) => ({ host: "127.0.0.1", port })));
    try {
      // Keys of many tags land on all three masters.
      await Promise.all(Array.from({ length: 30 }, (_, i) => cluster.set(`probe:{${i}}`, String(i))));
      const perMaster = await Promise.all(cluster.nodes("master").map((node) => node.dbsize()));
      expect(perMaster).toHaveLength(3);
      for (const count of perMaster) expect(count).toBeGreaterThan(0);
    } finally {
      cluster.disconnect();
    }
    for (const port of stack.ports.redisCluster) {
      const node = new Redis(port, "127.0.0.1");
      try {
        expect(await node.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
        expect(await node.config("GET", "appendfsync")).toEqual(["appendfsync", "everysec"]);
      } finally {
        node.disconnect();
      }
    }
  });

  it("kills and starts a node through control; the cluster heals by itself", async () => {
    const redisCli = whichProgram("redis-cli")!;
    await stack.control.kill("redis-0");
    expect(readStackState(dir)!.down).toEqual(["redis-0"]);
    await stack.control.start("redis-0");
    await waitUntil(() => clusterHealthy(redisCli, stack.ports.redisCluster), { what: "cluster healthy after the restart", timeoutMs: 30_000 });
    expect(readStackState(dir)!.down).toEqual([]);
  });
});
