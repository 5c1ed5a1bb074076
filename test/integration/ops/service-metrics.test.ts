import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { bearer, clientFrom, GOOD_PASSWORD, newUser, randomIp, startTestAuth, TRUST_LOOPBACK, uniqueEmail, type TestAuth } from "../../support/auth.js";
import { startPrivateRedis } from "../../support/data-tier.js";
import { startTestAuthz, type TestAuthz } from "../../support/authz.js";
import { codeOf } from "../../support/rpc-errors.js";

/** The value of one series in a Prometheus text exposition, or undefined when it is not exported. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("what operators watch: budgets refused, argon2 load, cache hit ratio", () => {
  let auth: TestAuth;
  let authz: TestAuthz;

  beforeAll(async () => {
    auth = await startTestAuth({ ...TRUST_LOOPBACK, RATE_LIMIT_SIGNUP_IP: "1/1h" });
    authz = await startTestAuthz(auth);
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close();
  });

  it("counts each refusal by budget and exports the hashes in flight", async () => {
    const client = clientFrom(auth, randomIp());
    await client.signUp({ email: uniqueEmail("metrics"), password: GOOD_PASSWORD });
    expect(await codeOf(client.signUp({ email: uniqueEmail("metrics"), password: GOOD_PASSWORD }))).toBe(Code.ResourceExhausted);
    const text = await (await fetch(`${auth.server.url}/metrics`)).text();
    expect(sample(text, 'auth_rate_limited_total{limiter="signup-ip"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, "auth_password_hashes_in_flight")).toBe(0);
  });

  it("counts the Check's cache hits and misses", async () => {
    const { tokens } = await newUser(clientFrom(auth, randomIp()));
    for (let i = 0; i < 3; i++) expect((await authz.forward("/example/", { authorization: `Bearer ${tokens.accessToken}` })).status).toBe(200);
    const text = await authz.metrics();
    expect(sample(text, 'authz_cache_lookups_total{cache="token",result="miss"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'authz_cache_lookups_total{cache="token",result="hit"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'authz_cache_lookups_total{cache="session",result="hit"}')).toBeGreaterThanOrEqual(1);
  });
});

describe("what operators watch: active sessions and how fast revocations reach the gateways", () => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let auth: TestAuth;
  let authz: TestAuthz;

  beforeAll(async () => {
    // A Redis of its own: the shared one holds every other test's sessions too.
    redis = await startPrivateRedis();
    auth = await startTestAuth({ REDIS_URL: redis.url }, { activeSessionsCountMs: 100 });
    authz = await startTestAuthz(auth, { REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close();
    await redis?.kill();
  });

  const activeSessions = async () => sample(await (await fetch(`${auth.server.url}/metrics`)).text(), "auth_active_sessions");

  it("counts the sessions alive in Redis, and one fewer after a sign-out", async () => {
    await vi.waitFor(async () => expect(await activeSessions()).toBe(0), { timeout: 5000 });
    const users = [await newUser(auth.client), await newUser(auth.client), await newUser(auth.client)];
    await vi.waitFor(async () => expect(await activeSessions()).toBe(3), { timeout: 5000 });
    await auth.client.signOut({}, bearer(users[0]!.tokens.accessToken));
    await vi.waitFor(async () => expect(await activeSessions()).toBe(2), { timeout: 5000 });
  });

  it("measures each revocation event from its publication to the cache drop", async () => {
    const { tokens } = await newUser(auth.client);
    expect((await authz.forward("/example/", { authorization: `Bearer ${tokens.accessToken}` })).status).toBe(200);
    const count = 'authz_revocation_propagation_seconds_count{event="session.revoked"}';
    const sum = 'authz_revocation_propagation_seconds_sum{event="session.revoked"}';
    const before = await authz.metrics();
    await auth.client.signOut({}, bearer(tokens.accessToken));
    await vi.waitFor(async () => expect(sample(await authz.metrics(), count)).toBe((sample(before, count) ?? 0) + 1), { timeout: 5000 });
    const text = await authz.metrics();
    const seconds = (sample(text, sum) ?? Number.NaN) - (sample(before, sum) ?? 0);
    // Redis's clock and this one are the same machine's: a loaded one still delivers within a second or so.
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(2);
    expect((await authz.forward("/example/", { authorization: `Bearer ${tokens.accessToken}` })).status).toBe(401);
  });

  it("counts the authz server's Redis errors once Redis is gone", async () => {
    const before = sample(await authz.metrics(), "authz_redis_errors_total") ?? Number.NaN;
    await redis.kill();
    await vi.waitFor(async () => expect(sample(await authz.metrics(), "authz_redis_errors_total")).toBeGreaterThan(before), { timeout: 10_000 });
  });
});
