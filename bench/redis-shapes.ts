import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { startAuthServer, type AuthServer } from "../src/auth/app.js";
import { loadAuthConfig } from "../src/auth/config.js";
import { createRedisSessionStore } from "../src/auth/sessions/redis-session-store.js";
import { startAuthzServer, type AuthzServer } from "../src/authz/app.js";
import { loadAuthzConfig } from "../src/authz/config.js";
import { AuthService } from "../src/gen/auth/v1/auth_pb.js";
import { systemClock } from "../src/platform/clock.js";
import { createLogger } from "../src/platform/log.js";
import { createRedis, redisReady } from "../src/platform/redis.js";
import { createDurableWrites } from "../src/platform/redis-durable.js";
import { startStack } from "../src/stack/stack.js";
import { startRedisCluster } from "../test/support/redis-cluster.js";

/**
 * One Redis node against a Redis Cluster (3 masters + 3 replicas) at the same concurrency, in one
 * run, rounds interleaved so a shared machine's noise hits every shape alike: SignIn, Refresh and
 * the uncached cookie Check (forward-auth, every Check reads Redis), and the cluster once with the
 * replica wait (REDIS_WAIT_REPLICAS=1, the default) and once without, for what WAIT costs.
 * Argon2id runs with its cheapest parameters so SignIn measures Redis and Postgres, not the hash.
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_LOAD_ROUNDS ?? 2);
const PASSWORD = "correct horse battery staple";

interface Shape {
  name: string;
  env: Record<string, string>;
  auth?: AuthServer;
  authz?: AuthzServer;
  results: Map<string, { ok: number; failed: number; seconds: number; samples: number[] }>;
}

async function load(seconds: number, work: (worker: number) => Promise<void>) {
  const samples: number[] = [];
  let failed = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (performance.now() < until) {
        const started = performance.now();
        try {
          await work(worker);
          samples.push(performance.now() - started);
        } catch (error) {
          failed++;
          if (failed === 1) process.stderr.write(`first failure: ${error instanceof ConnectError ? Code[error.code] : String(error)}\n`);
        }
      }
    }),
  );
  return { samples, failed };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "redis-bench-"));
  chmodSync(dir, 0o755);
  const [stack, cluster] = await Promise.all([startStack({ dir, replicas: 0 }), startRedisCluster({ nodeTimeoutMs: 2000 })]);
  const key = randomBytes(32).toString("base64");
  const shapes: Shape[] = [
    { name: "one node", env: { REDIS_URL: stack.redisUrl! }, results: new Map() },
    { name: "cluster, WAIT 1", env: { REDIS_CLUSTER_NODES: cluster.nodes }, results: new Map() },
    { name: "cluster, no WAIT", env: { REDIS_CLUSTER_NODES: cluster.nodes, REDIS_WAIT_REPLICAS: "0" }, results: new Map() },
  ];
  try {
    const ops: Record<string, (shape: Shape) => Promise<(worker: number) => Promise<void>>> = {};
    for (const shape of shapes) {
      const config = loadAuthConfig({
        DATABASE_URL: stack.databaseUrl,
        DATABASE_PRIMARY_URL: stack.primaryUrl,
        SIGNING_KEY_ENCRYPTION_KEY: key,
        AUTH_PORT: "0",
        LOG_LEVEL: "silent",
        PASSWORD_ARGON2_MEMORY_KIB: "1024",
        PASSWORD_ARGON2_ITERATIONS: "1",
        RATE_LIMIT_SIGNIN_IP: "100000000/1m",
        RATE_LIMIT_SIGNUP_IP: "100000000/1m",
        RATE_LIMIT_TOKEN_IP: "100000000/1m",
        LOCKOUT_THRESHOLD: "1000",
        ...shape.env,
      });
      shape.auth = await startAuthServer(config, { log: createLogger("silent") });
      shape.authz = await startAuthzServer(
        loadAuthzConfig({ ...shape.env, AUTHZ_PORT: "0", AUTHZ_HTTP_PORT: "0", AUTHZ_JWKS_URL: `${shape.auth.url}/.well-known/jwks.json`, AUTH_ISSUER: config.shared.issuer, AUTHZ_CACHE_TTL: "1ms", LOG_LEVEL: "silent" }),
        { log: createLogger("silent") },
      );
    }
    const clientOf = (shape: Shape) => createClient(AuthService, createConnectTransport({ baseUrl: shape.auth!.url, httpVersion: "1.1" }));
    const emails = Array.from({ length: CONCURRENCY }, () => `bench-${randomUUID()}@example.com`);
    await Promise.all(emails.map((email) => clientOf(shapes[0]!).signUp({ email, password: PASSWORD })));

    ops.SignIn = async (shape) => {
      const client = clientOf(shape);
      return async (worker) => void (await client.signIn({ email: emails[worker]!, password: PASSWORD }));
    };
    ops.Refresh = async (shape) => {
      const client = clientOf(shape);
      const tokens = await Promise.all(emails.map(async (email) => (await client.signIn({ email, password: PASSWORD })).refreshToken));
      return async (worker) => {
        tokens[worker] = (await client.refresh({ refreshToken: tokens[worker]! })).refreshToken;
      };
    };
    ops["Check (cookie, uncached)"] = async (shape) => {
      const target = loadAuthzConfig({ ...shape.env }).redis;
      const redis = createRedis(target);
      await redisReady(redis, target);
      const store = createRedisSessionStore({ redis, durable: createDurableWrites(redis, { replicas: 0, timeoutMs: 1000 }), clock: systemClock, idleTtlMs: 3_600_000, absoluteTtlMs: 3_600_000, reuseGraceMs: 2000 });
      const cookies = await Promise.all(
        emails.map(async () => {
          const userId = randomUUID();
          const { session } = await store.create({ userId, userAgent: "bench", ip: "127.0.0.1", secondFactor: false, emailVerified: true, fingerprint: undefined, provenAt: Date.now() });
          return (await store.attachCookie(session.id, userId))!;
        }),
      );
      redis.disconnect();
      return async (worker) => {
        const response = await fetch(`${shape.authz!.httpUrl}/auth/forward`, { headers: { "x-original-uri": "/example/", "x-original-method": "GET", "user-agent": "bench", cookie: `auth_session=${cookies[worker]}` } });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`forward-auth answered ${response.status}`);
      };
    };

    for (let round = 0; round < ROUNDS; round++) {
      for (const [op, prepare] of Object.entries(ops)) {
        for (const shape of round % 2 === 0 ? shapes : [...shapes].reverse()) {
          const work = await prepare(shape);
          const { samples, failed } = await load(SECONDS, work);
          const entry = shape.results.get(op) ?? { ok: 0, failed: 0, seconds: 0, samples: [] };
          entry.ok += samples.length;
          entry.failed += failed;
          entry.seconds += SECONDS;
          entry.samples.push(...samples);
          shape.results.set(op, entry);
        }
      }
    }

    console.log(`Redis shapes, ${CONCURRENCY} concurrent clients, ${ROUNDS} x ${SECONDS} s per cell, node ${process.version}`);
    console.log("| operation | Redis | req/s | p50 ms | p99 ms | failed | vs one node (req/s) |");
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    for (const op of Object.keys(ops)) {
      const base = shapes[0]!.results.get(op)!;
      for (const shape of shapes) {
        const r = shape.results.get(op)!;
        const sorted = [...r.samples].sort((a, b) => a - b);
        const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
        const rate = r.ok / r.seconds;
        console.log(`| ${op} | ${shape.name} | ${rate.toFixed(0)} | ${at(0.5).toFixed(1)} | ${at(0.99).toFixed(1)} | ${r.failed} | ${(rate / (base.ok / base.seconds)).toFixed(2)}x |`);
      }
    }
  } finally {
    for (const shape of shapes) {
      await shape.authz?.close().catch(() => {});
      await shape.auth?.close().catch(() => {});
    }
    await Promise.all([stack.stop(), cluster.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
