import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/platform/log.js";
import { migrate } from "../../../src/platform/migrate.js";
import { queryOnce } from "../../../src/stack/readiness.js";
import { GOOD_PASSWORD, bearer, newUser, uniqueEmail } from "../../support/auth.js";
import { DEADLINE_MS, load, report, startTopology, timed, withDeadline, type Outcome, type Topology } from "./topology.js";
import { eventually } from "../../support/eventually.js";

const summary = (outcomes: Outcome[]) => {
  const failed = outcomes.filter((o) => o.code !== "ok");
  return { calls: outcomes.length, failed: failed.length, codes: [...new Set(failed.map((o) => o.code))], maxMs: Math.max(0, ...outcomes.map((o) => o.ms)) };
};

describe("component failures on primary + 1 replica", () => {
  let topo: Topology;

  beforeAll(async () => {
    topo = await startTopology(1, "topology-failures-");
  });
  afterAll(async () => {
    await topo?.close();
  });

  it("migrates against the primary directly: works while PgBouncer is stopped", async () => {
    const { stack } = topo;
    const admin = stack.primaryUrl.replace("auth:auth@", "postgres@").replace(/\/auth$/, "/postgres");
    await queryOnce(admin, "CREATE DATABASE migrate_direct OWNER auth");
    await stack.control.stop("pgbouncer");
    try {
      const applied = await migrate(stack.primaryUrl.replace(/\/auth$/, "/migrate_direct"), createLogger("silent"));
      expect(applied.length).toBeGreaterThan(0);
    } finally {
      await stack.control.start("pgbouncer");
    }
  });

  it("answers UNAVAILABLE within the deadline while PgBouncer restarts, then recovers without restarting the service", async () => {
    const { stack, client } = topo;
    const user = await newUser(client);
    const signIn = () => client.signIn({ email: user.email, password: GOOD_PASSWORD }, withDeadline);
    await signIn();

    const stoppedAt = Date.now();
    await stack.control.stop("pgbouncer");
    const during = await load(3, 1_000, signIn);
    await stack.control.start("pgbouncer");
    const { ms: recoveredMs } = await eventually(async () => (await timed(signIn)).code === "ok", 10_000, "sign-in after PgBouncer restart");
    const gap = Date.now() - stoppedAt;

    const seen = summary(during);
    report(`PgBouncer restart: ${JSON.stringify(seen)}; service answered again ${recoveredMs} ms after PgBouncer was back (gap ${gap} ms)`);
    expect(seen.failed).toBeGreaterThan(0);
    expect(seen.codes).toEqual(["Unavailable"]);
    expect(seen.maxMs).toBeLessThan(DEADLINE_MS);
  });

  it("answers within the deadline while Redis restarts, then reconnects", async () => {
    const { stack, client } = topo;
    const user = await newUser(client);
    const getMe = () => client.getMe({}, { ...bearer(user.tokens.accessToken), ...withDeadline });
    await getMe();

    const stoppedAt = Date.now();
    await stack.control.stop("redis");
    const during = await load(3, 1_000, getMe);
    await stack.control.start("redis");
    // Redis keeps no data across restarts here (no persistence), so sessions start over.
    const { ms: recoveredMs } = await eventually(
      async () => {
        const again = await client.signIn({ email: user.email, password: GOOD_PASSWORD }, withDeadline);
        return (await timed(() => client.getMe({}, { ...bearer(again.accessToken), ...withDeadline }))).code === "ok";
      },
      10_000,
      "sign-in and GetMe after Redis restart",
    );
    const gap = Date.now() - stoppedAt;

    const seen = summary(during);
    report(`Redis restart: ${JSON.stringify(seen)}; service answered again ${recoveredMs} ms after Redis was back (gap ${gap} ms)`);
    expect(seen.failed).toBeGreaterThan(0);
    expect(seen.codes).toEqual(["Unavailable"]);
    expect(seen.maxMs).toBeLessThan(DEADLINE_MS);
  });

  it("fails writes fast with UNAVAILABLE when the primary dies, keeps replica reads working, and loses no acknowledged sign-up", async () => {
    const { stack, client, logs } = topo;
    const reader = await newUser(client);
    await eventually(
      async () => (await queryOnce(stack.replicaUrls[0]!, "SELECT 1 FROM users WHERE email = $1", [reader.email])).length === 1,
      5_000,
      "reader replicated",
    );

    const acknowledged: string[] = [];
    const writes: Outcome[] = [];
    let killedAt = 0;
    const signUps = (async () => {
      const end = Date.now() + 2_500;
      await Promise.all(
        Array.from({ length: 3 }, async () => {
          while (Date.now() < end) {
            const email = uniqueEmail("acked");
            const outcome = await timed(() => client.signUp({ email, password: GOOD_PASSWORD }, withDeadline));
            writes.push(outcome);
            if (outcome.code === "ok") acknowledged.push(email);
            await sleep(5);
          }
        }),
      );
    })();
    await sleep(700);
    killedAt = Date.now();
    await stack.control.kill("primary");
    const reads = await load(2, 1_500, () => client.getMe({}, { ...bearer(reader.tokens.accessToken), ...withDeadline }));
    await signUps;

    const afterKill = writes.filter((o) => o.startedAt >= killedAt);
    const failedWrites = afterKill.filter((o) => o.code !== "ok");
    const settled = failedWrites.filter((o) => o.startedAt > killedAt + 1_000);
    report(
      `primary killed: ${acknowledged.length} sign-ups acknowledged; writes after the kill ${JSON.stringify(summary(afterKill))}, ` +
        `writes started >1 s after the kill max ${Math.max(0, ...settled.map((o) => o.ms))} ms; replica reads ${JSON.stringify(summary(reads))}`,
    );
    expect(failedWrites.length).toBeGreaterThan(0);
    expect(new Set(failedWrites.map((o) => o.code))).toEqual(new Set(["Unavailable"]));
    expect(Math.max(...afterKill.map((o) => o.ms))).toBeLessThan(DEADLINE_MS);
    expect(Math.max(0, ...settled.map((o) => o.ms))).toBeLessThan(500);
    expect(summary(reads).failed).toBe(0);
    expect(logs.some((l) => l.rpc === "SignUp" && l.code === "Unavailable" && String(l.msg).includes("unreachable"))).toBe(true);

    await stack.control.start("primary");
    const rows = await queryOnce<{ email: string }>(stack.primaryUrl, "SELECT email FROM users WHERE email = ANY($1)", [acknowledged]);
    expect(rows.map((r) => r.email).sort()).toEqual([...acknowledged].sort());
    const { ms: recoveredMs } = await eventually(
      async () => (await timed(() => client.signUp({ email: uniqueEmail("after"), password: GOOD_PASSWORD }, withDeadline))).code === "ok",
      10_000,
      "sign-up after the primary returned",
    );
    report(`primary back: every acknowledged sign-up present; service wrote again ${recoveredMs} ms after the primary answered`);
  });
});
