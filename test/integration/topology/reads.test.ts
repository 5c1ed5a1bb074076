import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/platform/log.js";
import { createRedis, redisReady } from "../../../src/platform/redis.js";
import { startReplicaLagFloor } from "../../../src/platform/replica-lag-floor.js";
import { createReplicaReads } from "../../../src/platform/replica-reads.js";
import { haproxyServerStatus, queryOnce } from "../../../src/stack/readiness.js";
import { GOOD_PASSWORD, bearer, newUser, uniqueEmail } from "../../support/auth.js";
import { load, report, setReplay, startTopology, windowAfter, withDeadline, type Topology } from "./topology.js";
import { eventually } from "../../support/eventually.js";

const portOf = async (url: string) => Number((await queryOnce<{ port: string }>(url, "SELECT current_setting('port') AS port"))[0]!.port);

describe("reads on primary + 3 replicas", () => {
  let topo: Topology;

  beforeAll(async () => {
    const started = Date.now();
    topo = await startTopology(3, "topology-reads-");
    report(`stack (primary + 3 replicas + pgbouncer + haproxy + redis) and auth service up in ${Date.now() - started} ms`);
  });
  afterAll(async () => {
    await topo?.close();
  });

  it("shows a user their own fresh sign-up while every replica is paused, and others a stale replica", async () => {
    const { stack, client } = topo;
    const redisTarget = { kind: "node", url: stack.redisUrl! } as const;
    const aliceEmail = uniqueEmail("ryw");
    const pools = { write: new pg.Pool({ connectionString: stack.databaseUrl }), read: new pg.Pool({ connectionString: stack.replicaUrl }) };
    const redis = createRedis(redisTarget);
    await setReplay(stack.replicaUrls, true);
    try {
      await client.signUp({ email: aliceEmail, password: GOOD_PASSWORD }, withDeadline);
      const tokens = await client.signIn({ email: aliceEmail, password: GOOD_PASSWORD }, withDeadline);
      const me = await client.getMe({}, { ...bearer(tokens.accessToken), ...withDeadline });
      expect(me.user?.email).toBe(aliceEmail);
      const aliceId = me.user!.id;

      // The replicas really are behind: Alice's row is on none of them.
      for (const url of stack.replicaUrls) {
        expect(await queryOnce(url, "SELECT 1 FROM users WHERE id = $1", [aliceId])).toEqual([]);
      }
      // The same read through the same module: Alice's is routed to fresh data, Bob's (no writes of his own) to a replica.
      await redisReady(redis, redisTarget);
      const reads = createReplicaReads({ ...pools, redis, log: createLogger("silent") });
      const sql = "SELECT email FROM users WHERE id = $1";
      expect((await reads.query(aliceId, sql, [aliceId])).rows).toEqual([{ email: aliceEmail }]);
      expect((await reads.query(randomUUID(), sql, [aliceId])).rows).toEqual([]);
    } finally {
      await setReplay(stack.replicaUrls, false);
      await Promise.all([pools.write.end(), pools.read.end()]);
      redis.disconnect();
    }
  });

  it("takes replicas behind MAX_REPLICA_LAG out of the read path, and keeps a user's own write visible after the mark expires", async () => {
    const { stack } = topo;
    const redisTarget = { kind: "node", url: stack.redisUrl! } as const;
    const log = createLogger("silent");
    const pools = { write: new pg.Pool({ connectionString: stack.databaseUrl }), read: new pg.Pool({ connectionString: stack.replicaUrl }) };
    const redis = createRedis(redisTarget);
    await redisReady(redis, redisTarget);
    const lagFloor = startReplicaLagFloor({ primary: pools.write, maxLagMs: 1000, sampleEveryMs: 200, log });
    // A mark shorter than the lag bound: only the floor can keep the write visible once it is gone.
    const reads = createReplicaReads({ ...pools, redis, log, lagFloor, ttlMs: 300 });
    const servedByReplica = async () => (await reads.query<{ replica: boolean }>(randomUUID(), "SELECT pg_is_in_recovery() AS replica")).rows[0]!.replica;
    try {
      await eventually(servedByReplica, 10_000, "caught-up replicas serving reads");
      await setReplay(stack.replicaUrls, true);
      try {
        const email = uniqueEmail("lag");
        const { rows } = await pools.write.query<{ id: string }>("INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id", [email]);
        const id = rows[0]!.id;
        await reads.wrote(id);
        await sleep(2000);
        expect(await redis.get(`ryw:${id}`)).toBeNull();
        expect((await reads.query(id, "SELECT email FROM users WHERE id = $1", [id])).rows).toEqual([{ email }]);
        // Anyone's read: no replica is within the bound, so the primary answers.
        expect(await servedByReplica()).toBe(false);
      } finally {
        await setReplay(stack.replicaUrls, false);
      }
      const { ms } = await eventually(servedByReplica, 10_000, "replicas back in the read path once replayed");
      report(`replicas back in the read path ${ms} ms after replay resumed`);
    } finally {
      lagFloor.close();
      await Promise.all([pools.write.end(), pools.read.end()]);
      redis.disconnect();
    }
  });

  it("makes a password change effective on the next sign-in while every replica is paused", async () => {
    const { stack, client } = topo;
    const user = await newUser(client);
    const nextPassword = "a different horse battery staple";
    await setReplay(stack.replicaUrls, true);
    try {
      await client.changePassword({ currentPassword: user.password, newPassword: nextPassword }, { ...bearer(user.tokens.accessToken), ...withDeadline });
      await expect(client.signIn({ email: user.email, password: user.password }, withDeadline)).rejects.toThrow(/invalid email or password/);
      await expect(client.signIn({ email: user.email, password: nextPassword }, withDeadline)).resolves.toMatchObject({ tokenType: "Bearer" });
    } finally {
      await setReplay(stack.replicaUrls, false);
    }
  });

  it("serves 300 concurrent sign-ins through PgBouncer's transaction pool with 10 pooled connections", async () => {
    const { client } = topo;
    const users = await Promise.all(Array.from({ length: 10 }, () => newUser(client)));
    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 300 }, (_, i) => client.signIn({ email: users[i % 10]!.email, password: GOOD_PASSWORD }, withDeadline)),
    );
    report(`300 concurrent SignIn through PgBouncer: ${Date.now() - started} ms`);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
  });

  it("keeps reads succeeding when a replica is killed under load, and takes it back when restarted", async () => {
    const { stack, client } = topo;
    const users = await Promise.all(Array.from({ length: 4 }, () => newUser(client)));
    let killedAt = 0;
    const killing = (async () => {
      await sleep(500);
      killedAt = Date.now();
      await stack.control.kill("replica-0");
    })();
    const outcomes = await load(4, 4_000, (n) => client.getMe({}, { ...bearer(users[n % 4]!.tokens.accessToken), ...withDeadline }));
    await killing;
    const failed = outcomes.filter((o) => o.code !== "ok");
    const lastFailure = Math.max(0, ...failed.map((o) => o.startedAt + o.ms - killedAt));
    report(
      `replica-0 killed under load: ${outcomes.length} GetMe, ${failed.length} failed (last ${failed.length ? `${lastFailure} ms after the kill` : "none"}), ` +
        `max ${Math.max(...outcomes.map((o) => o.ms))} ms, reads fast again ${windowAfter(outcomes, killedAt)} ms after the kill`,
    );
    expect(failed.filter((o) => o.startedAt > killedAt + 2_000)).toEqual([]);

    const status = await haproxyServerStatus(stack.ports.haproxyStats);
    expect(status["replica-0"]).toMatch(/^DOWN/);
    const restartedAt = Date.now();
    await stack.control.start("replica-0");
    const { ms } = await eventually(async () => (await haproxyServerStatus(stack.ports.haproxyStats))["replica-0"] === "UP", 10_000, "replica-0 UP again");
    report(`replica-0 restarted and UP in HAProxy ${Date.now() - restartedAt} ms after start (${ms} ms after the process answered)`);
    const seen = new Set<number>();
    for (let i = 0; i < 6; i++) seen.add(await portOf(stack.replicaUrl!));
    expect(seen).toContain(stack.ports.replicas[0]);
  });

  it("reads from the primary when every replica is down; nothing fails beyond the check window", async () => {
    const { stack, client } = topo;
    const users = await Promise.all(Array.from({ length: 4 }, () => newUser(client)));
    let killedAt = 0;
    const killing = (async () => {
      await sleep(300);
      killedAt = Date.now();
      await Promise.all(stack.replicaUrls.map((_, i) => stack.control.kill(`replica-${i}`)));
    })();
    const outcomes = await load(4, 3_500, (n) => client.getMe({}, { ...bearer(users[n % 4]!.tokens.accessToken), ...withDeadline }));
    await killing;
    const failed = outcomes.filter((o) => o.code !== "ok");
    report(
      `all replicas killed under load: ${outcomes.length} GetMe, ${failed.length} failed, max ${Math.max(...outcomes.map((o) => o.ms))} ms, ` +
        `reads fast again ${windowAfter(outcomes, killedAt)} ms after the kill`,
    );
    expect(failed.filter((o) => o.startedAt > killedAt + 2_000)).toEqual([]);
    const [row] = await queryOnce<{ recovery: boolean }>(stack.replicaUrl!, "SELECT pg_is_in_recovery() AS recovery");
    expect(row!.recovery).toBe(false);
  });
});
