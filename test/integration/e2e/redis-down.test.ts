import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, uniqueEmail } from "../../support/auth.js";
import { startPrivateRedis } from "../../support/data-tier.js";
import { browserSignIn } from "../../support/browser.js";
import { startTopology, userIdOf, type TestGateway, type TestTopology } from "../../support/gateway.js";

/** Redis gone, seen through the gateway: fail closed by default; AUTHZ_DEGRADED_MODE=allow_tokens lets access tokens through. */
describe.each(["envoy", "nginx"] as const)("through the %s gateway with Redis down", (proxy) => {
  let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  let topo: TestTopology;
  let closed: TestGateway;
  let degraded: TestGateway;

  beforeAll(async () => {
    // A Redis of this test's own (by pid): the shared stack's Redis is never stopped.
    redis = await startPrivateRedis();
    topo = await startTopology({ REDIS_URL: redis.url });
    // One gateway per policy: the gateway balances over its instances, so they must agree on the policy.
    [closed, degraded] = await Promise.all([
      topo.addGateway(2, { REDIS_URL: redis.url }, proxy),
      topo.addGateway(2, { REDIS_URL: redis.url, AUTHZ_DEGRADED_MODE: "allow_tokens" }, proxy),
    ]);
  });
  afterAll(async () => {
    await topo?.close();
    await redis?.kill();
  });

  it("denies everything when fail closed; in degraded mode only signed, unexpired access tokens pass", async () => {
    const email = uniqueEmail("redis-down");
    await closed.client.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await closed.client.signIn({ email, password: GOOD_PASSWORD });
    const cookie = await browserSignIn(closed.url, email, GOOD_PASSWORD);
    const token = { authorization: `Bearer ${accessToken}`, accept: "application/json" };
    for (const gw of [closed, degraded]) {
      expect((await fetch(`${gw.url}/example/`, { headers: token })).status).toBe(200);
      expect((await fetch(`${gw.url}/example/`, { headers: { cookie: `auth_session=${cookie}` } })).status).toBe(200);
    }

    await redis.kill();

    const started = performance.now();
    const denied = await fetch(`${closed.url}/example/`, { headers: token });
    const deniedMs = performance.now() - started;
    expect(denied.status).toBe(503);
    expect(denied.headers.get("x-auth-reason")).toBe("session_store_unavailable");
    expect(await denied.json()).toEqual({ code: "session_store_unavailable" });
    // Bounded by AUTHZ_REDIS_TIMEOUT, well inside the gateway's timeout for the Check.
    expect(deniedMs).toBeLessThan(1000);
    expect((await fetch(`${closed.url}/example/`, { headers: { cookie: `auth_session=${cookie}` } })).status).toBe(503);

    // Both degraded instances answer in turn; every answer must be the same.
    for (let i = 0; i < 4; i++) {
      const passed = await fetch(`${degraded.url}/example/`, { headers: { ...token, "x-user-id": "admin" } });
      expect(passed.status).toBe(200);
      expect((await passed.json()).identity.userId).toBe(userIdOf(accessToken));
      const viaCookie = await fetch(`${degraded.url}/example/`, { headers: { cookie: `auth_session=${cookie}`, accept: "application/json" } });
      expect(viaCookie.status).toBe(503);
      expect(viaCookie.headers.get("x-auth-reason")).toBe("session_store_unavailable");
      expect((await fetch(`${degraded.url}/example/`, { headers: { authorization: "Bearer a.b.c" } })).status).toBe(401);
    }
    console.log(`Redis down: fail-closed denial through ${proxy} took ${deniedMs.toFixed(1)} ms`);
  });

  it("with no authz instance answering at all, the gateway denies (503), never passes", async () => {
    await Promise.all(closed.authz.map((a) => a.close()));
    const response = await fetch(`${closed.url}/example/`, { headers: { authorization: "Bearer x.y.z", accept: "application/json" } });
    expect(response.status).toBe(503);
    expect(response.headers.get("x-auth-reason")).toBe("authz_unavailable");
    // Public routes do not need the authz server.
    expect((await fetch(`${closed.url}/signin`)).status).toBe(200);
  });
});
