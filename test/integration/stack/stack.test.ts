import { Redis } from "ioredis";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAlive } from "../../../src/stack/processes.js";
import { haproxyServerStatus, queryOnce, redisPing } from "../../../src/stack/readiness.js";
import { scramSecret } from "../../../src/stack/render-config.js";
import { startStack, type RunningStack } from "../../../src/stack/stack.js";
import { eventually } from "../../support/eventually.js";

const log = (line: string) => process.stderr.write(`[stack test] ${line}\n`);

const portOf = async (url: string) => Number((await queryOnce<{ port: string }>(url, "SELECT current_setting('port') AS port"))[0]!.port);

describe("local data stack", () => {
  let dir: string;
  let stack: RunningStack;
  const allPids = new Set<number>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-test-"));
    const started = Date.now();
    stack = await startStack({ dir, log });
    log(`full stack (primary + 3 replicas + pgbouncer + haproxy + redis) up in ${Date.now() - started} ms`);
    for (const pid of Object.values(stack.control.pids())) allPids.add(pid);
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("writes through PgBouncer and reads the row back from every replica", async () => {
    await queryOnce(stack.primaryUrl, "CREATE TABLE stack_probe (id int PRIMARY KEY, note text)");
    await queryOnce(stack.databaseUrl, "INSERT INTO stack_probe VALUES ($1, $2)", [1, "through pgbouncer"]);
    for (const url of [...stack.replicaUrls, stack.replicaUrl!]) {
      const { value } = await eventually(async () => (await queryOnce<{ note: string }>(url, "SELECT note FROM stack_probe WHERE id = 1"))[0], 5_000, "the write replicated");
      expect(value.note).toBe("through pgbouncer");
    }
    expect((await queryOnce<{ r: boolean }>(stack.replicaUrls[0]!, "SELECT pg_is_in_recovery() AS r"))[0]!.r).toBe(true);
  });

  it("bounds statements, idle transactions and slot WAL on the server, whatever the client connects through", async () => {
    const show = async (url: string, name: string) => (await queryOnce<Record<string, string>>(url, `SHOW ${name}`))[0]![name];
    // Through PgBouncer, which drops a client's statement_timeout: the server's own applies.
    expect(await show(stack.databaseUrl, "statement_timeout")).toBe("30s");
    expect(await show(stack.databaseUrl, "idle_in_transaction_session_timeout")).toBe("1min");
    expect(await show(stack.primaryUrl, "max_slot_wal_keep_size")).toBe("1GB");
    expect(await show(stack.replicaUrls[0]!, "statement_timeout")).toBe("30s");
  });

  it("answers Redis PING and keeps an append-only file, fsynced every second", async () => {
    expect(await redisPing(stack.ports.redis)).toBe(true);
    const redis = new Redis(stack.redisUrl!);
    try {
      expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
      expect(await redis.config("GET", "appendfsync")).toEqual(["appendfsync", "everysec"]);
    } finally {
      redis.disconnect();
    }
  });

  it("stores in PgBouncer's userlist a SCRAM secret Postgres agrees with", async () => {
    const [row] = await queryOnce<{ secret: string }>(
      stack.primaryUrl.replace("auth:auth@", "postgres@").replace(/\/auth$/, "/postgres"),
      "SELECT rolpassword AS secret FROM pg_authid WHERE rolname = 'auth'",
    );
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(row!.secret)!;
    expect(scramSecret("auth", Buffer.from(salt!, "base64"), Number(iterations))).toBe(row!.secret);
  });

  it("balances new read connections across the replicas", async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 9; i++) seen.add(await portOf(stack.replicaUrl!));
    expect(seen.size).toBeGreaterThan(1);
    for (const port of seen) expect(stack.ports.replicas).toContain(port);
  });

  it("serves a burst of 200 concurrent queries through PgBouncer", async () => {
    const pool = new pg.Pool({ connectionString: stack.databaseUrl, max: 200 });
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => pool.query<{ n: number }>("SELECT $1::int + 1 AS n, pg_sleep(0.01)", [i])),
      );
      expect(results.map((r) => r.rows[0]!.n)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    } finally {
      await pool.end();
    }
  });

  it("takes a killed replica out of the read rotation within ~2 s", async () => {
    const killedPort = stack.ports.replicas[0]!;
    const killedAt = Date.now();
    await stack.control.kill("replica-0");
    await eventually(async () => ((await haproxyServerStatus(stack.ports.haproxyStats))["replica-0"]?.startsWith("DOWN") ? true : undefined), 5_000, "replica-0 DOWN in HAProxy");
    const ms = Date.now() - killedAt;
    log(`HAProxy marked the killed replica DOWN ${ms} ms after the kill`);
    expect(ms).toBeLessThan(2_500);
    for (let i = 0; i < 6; i++) expect(await portOf(stack.replicaUrl!)).not.toBe(killedPort);

    await stack.control.start("replica-0");
    allPids.add(stack.control.pid("replica-0")!);
    await eventually(async () => ((await haproxyServerStatus(stack.ports.haproxyStats))["replica-0"] === "UP" ? true : undefined), 10_000, "replica-0 UP in HAProxy");
  });

  it("falls back to the primary when every replica is down", async () => {
    await Promise.all(stack.replicaUrls.map((_, i) => stack.control.kill(`replica-${i}`)));
    await eventually(async () => {
      const status = await haproxyServerStatus(stack.ports.haproxyStats);
      return stack.replicaUrls.every((_, i) => status[`replica-${i}`]?.startsWith("DOWN")) ? true : undefined;
    }, 5_000, "every replica DOWN in HAProxy");
    const [row] = await queryOnce<{ recovery: boolean; port: string }>(
      stack.replicaUrl!,
      "SELECT pg_is_in_recovery() AS recovery, current_setting('port') AS port",
    );
    expect(row).toEqual({ recovery: false, port: String(stack.ports.primary) });
  });

  it("stop() leaves none of its processes alive", async () => {
    for (const pid of Object.values(stack.control.pids())) allPids.add(pid);
    await stack.stop();
    expect([...allPids].filter(isAlive)).toEqual([]);
    const leftovers = fs
      .readdirSync("/proc")
      .filter((e) => /^\d+$/.test(e))
      .filter((e) => {
        try {
          return fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(dir) && isAlive(Number(e));
        } catch {
          return false;
        }
      });
    expect(leftovers).toEqual([]);
  });
});
