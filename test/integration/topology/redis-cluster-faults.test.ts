import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIELD, sessionKey } from "../../../src/contract/session-record.js";
import { hashSessionSecret } from "../../../src/contract/session-secret.js";
import { GOOD_PASSWORD, type TestAuth, bearer, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { type TestAuthz, headerOf, startTestAuthz } from "../../support/authz.js";
import { eventually } from "../../support/eventually.js";
import { startRedisCluster, type TestRedisCluster } from "../../support/redis-cluster.js";

const run = promisify(execFile);
// Every call carries this deadline: a request that outlives it hung, which no fault may cause.
const DEADLINE_MS = 5000;
const call = { timeoutMs: DEADLINE_MS };

interface Session {
  sessionId: string;
  accessToken: string;
  refreshToken: string;
  /** A rotation answered UNAVAILABLE may or may not have applied: its token is no longer known. */
  tainted: boolean;
  /** A refresh is under way: no sign-out picks it meanwhile. */
  busy?: boolean;
}

interface Failure {
  op: string;
  code: string;
  endedAt: number;
  ms: number;
}

/**
 * Two auth and two authz instances on a Redis Cluster of their own (3 masters + 3 replicas, killed by
 * pid), under light load while a master dies, slots move, and the whole cluster restarts.
 */
describe("two auth and two authz instances on a Redis Cluster under faults", () => {
  let cluster: TestRedisCluster;
  let auths: TestAuth[];
  let authzs: TestAuthz[];
  let inspect: Cluster;
  const users: { email: string }[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster({ nodeTimeoutMs: 1000 });
    const env = {
      REDIS_CLUSTER_NODES: cluster.nodes,
      // Two durable writes (a sign-in) each bounded by the wait plus a second stay inside DEADLINE_MS.
      REDIS_WAIT_TIMEOUT: "500ms",
      // Cheap hashing: the load is for Redis, not argon2.
      PASSWORD_ARGON2_MEMORY_KIB: "1024",
      PASSWORD_ARGON2_ITERATIONS: "1",
    };
    auths = await Promise.all([startTestAuth(env), startTestAuth(env)]);
    // Every Check reads Redis: an allow after a revocation would be Redis having lost it, not a cache.
    authzs = await Promise.all(auths.map((auth) => startTestAuthz(auth, { REDIS_CLUSTER_NODES: cluster.nodes, AUTHZ_CACHE_TTL: "1ms", AUTHZ_REDIS_TIMEOUT: "2s" })));
    inspect = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
    for (let i = 0; i < 8; i++) {
      const email = uniqueEmail("cluster");
      await auths[i % 2]!.client.signUp({ email, password: GOOD_PASSWORD });
      users.push({ email });
    }
  });
  afterAll(async () => {
    inspect?.disconnect();
    await Promise.all([...(authzs ?? []).map((a) => a.close()), ...(auths ?? []).map((a) => a.close())]);
    await cluster?.stop();
  });

  /** Sign-ins, refreshes, Checks and sign-outs over both instances of each service until `stop` resolves. */
  async function underLoad(stop: Promise<void>, seed: Session[]) {
    const sessions = [...seed];
    const signedOut: Session[] = [];
    const failures: Failure[] = [];
    let staleAllows = 0;
    let requests = 0;
    let running = true;
    void stop.then(() => (running = false));
    const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)];
    const auth = () => pick(auths)!.client;
    const timed = async <T>(op: string, fn: () => Promise<T>): Promise<T | undefined> => {
      const started = performance.now();
      requests++;
      try {
        return await fn();
      } catch (error) {
        failures.push({ op, code: error instanceof ConnectError ? Code[error.code] : String(error), endedAt: performance.now(), ms: performance.now() - started });
        return undefined;
      }
    };
    const check = async (session: Session) => {
      const started = performance.now();
      requests++;
      const response = await pick(authzs)!.check({ headers: { authorization: `Bearer ${session.accessToken}` } });
      return { response, started };
    };
    const workers = {
      async signIn() {
        const { email } = pick(users)!;
        const tokens = await timed("SignIn", () => auth().signIn({ email, password: GOOD_PASSWORD }, call));
        if (tokens) sessions.push({ sessionId: tokens.sessionId, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, tainted: false });
      },
      async refresh() {
        const session = pick(sessions.filter((s) => !s.tainted && !s.busy));
        if (!session) return;
        Object.assign(session, { tainted: true, busy: true });
        const next = await timed("Refresh", () => auth().refresh({ refreshToken: session.refreshToken }, call));
        session.busy = false;
        if (!next) return;
        Object.assign(session, { accessToken: next.accessToken, refreshToken: next.refreshToken, tainted: false });
      },
      async check() {
        const session = pick(sessions);
        if (!session) return;
        const { response, started } = await check(session);
        const reason = headerOf(response, "x-auth-reason");
        // Signed out by the other worker while this Check ran: denied rightly.
        if (!sessions.includes(session)) return;
        if (response.status.code !== 0) failures.push({ op: "Check", code: reason ?? String(response.status.code), endedAt: performance.now(), ms: performance.now() - started });
      },
      async signOut() {
        const idle = sessions.filter((s) => !s.busy);
        if (idle.length < 10) return;
        const session = pick(idle)!;
        sessions.splice(sessions.indexOf(session), 1);
        const done = await timed("SignOut", () => auth().signOut({}, { ...bearer(session.accessToken), ...call }));
        if (done === undefined) return;
        signedOut.push(session);
        const { response } = await check(session);
        if (response.status.code === 0) staleAllows++;
      },
    };
    await Promise.all(
      Object.values(workers).map(async (work) => {
        while (running) {
          await work();
          await sleep(5);
        }
      }),
    );
    return { sessions, signedOut, failures, requests, staleAllows: () => staleAllows };
  }

  // Sessions to start from: retried on UNAVAILABLE as a client would (a busy machine can outlast the wait bound).
  const seedSessions = async (n: number) =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const { value: tokens } = await eventually(
          () => auths[i % 2]!.client.signIn({ email: users[i % users.length]!.email, password: GOOD_PASSWORD }),
          20_000,
          "a seed sign-in",
        );
        return { sessionId: tokens.sessionId, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, tainted: false };
      }),
    );

  /** Every session a client was told about is in Redis with its last acknowledged refresh token; every signed-out one is gone. */
  async function expectNothingAcknowledgedLost(load: Awaited<ReturnType<typeof underLoad>>) {
    let lost = 0;
    for (const session of load.sessions) {
      const [uid, rt] = await inspect.hmget(sessionKey(session.sessionId), FIELD.userId, FIELD.refreshHash);
      if (!uid || (!session.tainted && rt !== hashSessionSecret(session.refreshToken))) lost++;
    }
    let revivedAfterSignOut = 0;
    for (const session of load.signedOut) {
      if ((await inspect.exists(sessionKey(session.sessionId))) === 1) revivedAfterSignOut++;
      if ((await authzs[0]!.check({ headers: { authorization: `Bearer ${session.accessToken}` } })).status.code === 0) revivedAfterSignOut++;
    }
    expect({ lost, revivedAfterSignOut, staleAllows: load.staleAllows() }).toEqual({ lost: 0, revivedAfterSignOut: 0, staleAllows: 0 });
  }

  it("loses no acknowledged session, rotation or revocation when a master holding sessions dies; failures are UNAVAILABLE and end soon", async () => {
    const seed = await seedSessions(20);
    const victim = await cluster.masterOf(sessionKey(seed[0]!.sessionId));
    let stop!: () => void;
    const loading = underLoad(new Promise<void>((resolve) => (stop = resolve)), seed);
    await sleep(1000);

    const killedAt = performance.now();
    await cluster.kill(victim);
    const promoted = await eventually(async () => {
      const master = await cluster.masterOf(sessionKey(seed[0]!.sessionId));
      return master !== victim && master >= 0;
    }, 20_000, "the dead master's replica promoted");
    // Back as a replica of the promoted node, so its shard has a replica to acknowledge writes again.
    await cluster.start(victim);
    await cluster.healthy();
    const healthyAt = performance.now();
    await sleep(1000);
    stop();
    const load = await loading;

    const codes = new Set(load.failures.map((f) => f.code));
    const window = load.failures.length > 0 ? Math.max(...load.failures.map((f) => f.endedAt)) - killedAt : 0;
    console.log(
      `Redis Cluster master failover under load: ${load.requests} requests, ${load.failures.length} failed (${[...codes].join(", ") || "none"}), ` +
        `replica promoted ${promoted.ms} ms after the kill, cluster healthy after ${(healthyAt - killedAt).toFixed(0)} ms, ` +
        `failover window (kill to last failed request) ${window.toFixed(0)} ms, slowest failure ${Math.max(0, ...load.failures.map((f) => f.ms)).toFixed(0)} ms`,
    );
    // RPCs answer UNAVAILABLE, Checks deny as the store being unavailable (503): never a hang, never another error.
    for (const code of codes) expect(["Unavailable", "session_store_unavailable"]).toContain(code);
    for (const failure of load.failures) expect(failure.ms).toBeLessThan(DEADLINE_MS);
    for (const failure of load.failures) expect(failure.endedAt).toBeLessThan(healthyAt + 1000);
    await expectNothingAcknowledgedLost(load);
  });

  it("moves slots between masters under load without a failed request", async () => {
    const seed = await seedSessions(10);
    const redisCli = "redis-cli";
    const nodes = (await run(redisCli, ["-p", String(cluster.ports[0]), "cluster", "nodes"])).stdout
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .filter((f) => f[2]!.includes("master") && !f[2]!.includes("fail"));
    const [from, to] = [nodes[0]!, nodes[1]!];
    let stop!: () => void;
    const loading = underLoad(new Promise<void>((resolve) => (stop = resolve)), seed);
    await sleep(500);
    const started = performance.now();
    await run(redisCli, ["--cluster", "reshard", `127.0.0.1:${cluster.ports[0]}`, "--cluster-from", from[0]!, "--cluster-to", to[0]!, "--cluster-slots", "1000", "--cluster-yes"], { timeout: 60_000 });
    const movedMs = performance.now() - started;
    await sleep(500);
    stop();
    const load = await loading;
    console.log(`Redis Cluster resharding under load: 1000 slots moved in ${movedMs.toFixed(0)} ms; ${load.requests} requests, ${load.failures.length} failed`);
    expect(load.failures).toEqual([]);
    await expectNothingAcknowledgedLost(load);
  });

  it("answers UNAVAILABLE within the wait bound, not OK, while no replica acknowledges a sign-in, refresh or sign-out", async () => {
    const [session] = await seedSessions(1);
    const replicas = await cluster.replicas();
    expect(replicas).toHaveLength(3);
    for (const i of replicas) cluster.pause(i);
    try {
      const started = performance.now();
      const answers = await Promise.all([
        auths[0]!.client.signIn({ email: users[0]!.email, password: GOOD_PASSWORD }, call).then(() => "OK", (e: ConnectError) => Code[e.code]),
        auths[1]!.client.refresh({ refreshToken: session!.refreshToken }, call).then(() => "OK", (e: ConnectError) => Code[e.code]),
        auths[0]!.client.signOut({}, { ...bearer(session!.accessToken), ...call }).then(() => "OK", (e: ConnectError) => Code[e.code]),
      ]);
      const ms = performance.now() - started;
      expect(answers).toEqual(["Unavailable", "Unavailable", "Unavailable"]);
      // Each answered within its deadline: the wait is bounded by REDIS_WAIT_TIMEOUT (500 ms here).
      expect(ms).toBeLessThan(DEADLINE_MS);
      console.log(`Redis Cluster without an acknowledging replica: sign-in, refresh and sign-out answered UNAVAILABLE in ${ms.toFixed(0)} ms`);
    } finally {
      for (const i of replicas) cluster.resume(i);
    }
    await cluster.healthy();
  });

  it("comes back by itself after the whole cluster restarts: subscribers resubscribe, trusting no cache meanwhile", async () => {
    const cached = await startTestAuthz(auths[0]!, { REDIS_CLUSTER_NODES: cluster.nodes, AUTHZ_CACHE_TTL: "60s" });
    try {
      const [session] = await seedSessions(1);
      const asSession = { headers: { authorization: `Bearer ${session!.accessToken}` } };
      // The new instance's first Checks may come before its cluster client has the slot map.
      await eventually(async () => (await cached.check(asSession)).status.code === 0, 10_000, "the session allowed");
      const live = async () => /^authz_revocations_subscribed 1$/m.test(await cached.metrics());
      expect(await live()).toBe(true);

      await Promise.all(cluster.ports.map((_, i) => cluster.kill(i)));
      await eventually(async () => !(await live()), 10_000, "the subscriber noticing its node is gone");
      // While no event can arrive, nothing cached is trusted: the Check reads Redis, which is down.
      expect(headerOf(await cached.check(asSession), "x-auth-reason")).toBe("session_store_unavailable");
      await Promise.all(cluster.ports.map((_, i) => cluster.start(i)));
      await cluster.healthy();
      await eventually(live, 20_000, "the subscriber resubscribed");

      // The append-only files kept the session; a revocation now reaches the instance through the resubscribed channel.
      await eventually(async () => (await cached.check(asSession)).status.code === 0, 10_000, "the session served again");
      await eventually(async () => (await auths[1]!.client.signOut({}, bearer(session!.accessToken)).then(() => true, () => false)), 10_000, "sign-out answered");
      expect(headerOf(await cached.check(asSession), "x-auth-reason")).toBe("session_not_found");
    } finally {
      await cached.close();
    }
  });
});
