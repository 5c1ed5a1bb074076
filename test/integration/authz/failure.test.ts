import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, newUser, startTestAuth } from "../../support/auth.js";
import { type TestAuthz, headerOf, startTestAuthz } from "../../support/authz.js";
import { startPrivateRedis } from "../../support/data-tier.js";
import { browserSignIn } from "../../support/browser.js";

const gauge = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);

describe("Redis unreachable", () => {
  let auth: TestAuth;
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let closed: TestAuthz;
  let degraded: TestAuthz;

  beforeAll(async () => {
    // The auth service and the instances all use a Redis of this test's own, so killing it touches nothing shared.
    redis = await startPrivateRedis();
    auth = await startTestAuth({ REDIS_URL: redis.url });
    [closed, degraded] = await Promise.all([
      startTestAuthz(auth, { REDIS_URL: redis.url }),
      startTestAuthz(auth, { REDIS_URL: redis.url, AUTHZ_DEGRADED_MODE: "allow_tokens" }),
    ]);
  });
  afterAll(async () => {
    await closed?.close();
    await degraded?.close();
    await auth?.close().catch(() => {});
    await redis?.kill();
  });

  it("fails closed by default; allow_tokens passes tokens only, and says so in metrics", async () => {
    const { email, tokens } = await newUser(auth.client);
    const token = { headers: { authorization: `Bearer ${tokens.accessToken}` } };
    const cookie = { headers: { cookie: `auth_session=${await browserSignIn(auth.server.url, email, GOOD_PASSWORD)}` } };
    expect((await closed.check(token)).status.code).toBe(0);
    expect((await degraded.check(cookie)).status.code).toBe(0);

    await redis.kill();

    const started = performance.now();
    const denied = await closed.check(token);
    const deniedMs = performance.now() - started;
    expect(denied.denied_response?.status.code).toBe("ServiceUnavailable");
    expect(headerOf(denied, "x-auth-reason")).toBe("session_store_unavailable");
    expect(deniedMs).toBeLessThan(1000);
    expect((await closed.forward("/example/", token.headers)).status).toBe(503);

    const passed = await degraded.check(token);
    expect(passed.status.code).toBe(0);
    expect(headerOf(passed, "x-auth-degraded")).toBe("1");
    expect(headerOf(await degraded.check(cookie), "x-auth-reason")).toBe("session_store_unavailable");
    expect(headerOf(await degraded.check({ headers: { authorization: "Bearer a.b.c" } }), "x-auth-reason")).toBe("invalid_token");

    const metrics = await degraded.metrics();
    expect(gauge(metrics, "authz_degraded")).toBe(1);
    expect(metrics).toMatch(/authz_checks_total\{transport="grpc",decision="allow",reason="degraded"\} [1-9]/);
    expect(gauge(await closed.metrics(), "authz_degraded")).toBe(0);

    expect((await fetch(`${closed.server.httpUrl}/readyz`)).status).toBe(503);
    expect((await fetch(`${degraded.server.httpUrl}/readyz`)).status).toBe(200);
  });
});
