import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { startAuthServer, type AuthServer } from "../../../src/auth/app.js";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { createLogger } from "../../../src/platform/log.js";
import { queryOnce } from "../../../src/stack/readiness.js";
import { startStack, type RunningStack } from "../../../src/stack/stack.js";
import { type AuthClient, grpcTransport } from "../../support/auth.js";

export const report = (line: string) => process.stderr.write(`[topology] ${line}\n`);

/**
 * A private topology for tests that break components: never the shared stack.
 * The auth server logs into `logs` so tests can assert on what an operator would read.
 */
export interface Topology {
  stack: RunningStack;
  server: AuthServer;
  /** gRPC (HTTP/2), as internal services call it. */
  client: AuthClient;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startTopology(replicas: number, prefix: string): Promise<Topology> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const stack = await startStack({ dir, replicas });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let server: AuthServer | undefined;
  try {
    const config = loadAuthConfig({
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      ...(stack.replicaUrl ? { DATABASE_REPLICA_URL: stack.replicaUrl } : {}),
      REDIS_URL: stack.redisUrl,
      SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      AUTH_PORT: "0",
      // Cheap hashing: these tests measure the data tier, not argon2.
      PASSWORD_ARGON2_MEMORY_KIB: "1024",
      PASSWORD_ARGON2_ITERATIONS: "1",
      // Load loops sign up hundreds of accounts from one IP.
      RATE_LIMIT_SIGNUP_IP: "100000/1h",
      // GetMe is these tests' probe of the read path: every call must reach a replica or the primary.
      PROFILE_CACHE: "off",
    });
    server = await startAuthServer(config, { log: createLogger("info", "auth", sink) });
  } catch (error) {
    await stack.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const running = server;
  return {
    stack,
    server: running,
    client: createClient(AuthService, grpcTransport(running.url)),
    logs,
    async close() {
      try {
        await running.close();
      } finally {
        await stack.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface Outcome {
  startedAt: number;
  ms: number;
  code: "ok" | keyof typeof Code;
}

/** Runs `call` and records when it started, how long it took and its gRPC code. */
export async function timed(call: () => Promise<unknown>): Promise<Outcome> {
  const startedAt = Date.now();
  try {
    await call();
    return { startedAt, ms: Date.now() - startedAt, code: "ok" };
  } catch (error) {
    const code = ConnectError.from(error).code;
    return { startedAt, ms: Date.now() - startedAt, code: Code[code] as keyof typeof Code };
  }
}

/** `workers` loops calling `call` until `untilMs` elapses; the outcomes of every call. */
export async function load(workers: number, untilMs: number, call: (n: number) => Promise<unknown>): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const end = Date.now() + untilMs;
  let n = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < end) {
        outcomes.push(await timed(() => call(n++)));
        await sleep(5);
      }
    }),
  );
  return outcomes;
}

/** How long after `since` the last call that failed or took longer than `slowMs` ended: the observed failover window. */
export function windowAfter(outcomes: Outcome[], since: number, slowMs = 250): number {
  const disturbed = outcomes.filter((o) => o.code !== "ok" || o.ms > slowMs);
  return Math.max(0, ...disturbed.map((o) => o.startedAt + o.ms - since));
}

/** The deadline every call in these tests carries: a hang shows up as DeadlineExceeded, never as a stuck test. */
export const DEADLINE_MS = 6_000;
export const withDeadline = { timeoutMs: DEADLINE_MS };

export async function setReplay(urls: string[], paused: boolean): Promise<void> {
  await Promise.all(urls.map((url) => queryOnce(url, paused ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()")));
}
