import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, bearer, newUser, startTestAuth } from "../../support/auth.js";
import { type TestAuthz, headerOf, startTestAuthz } from "../../support/authz.js";
import { browserSignIn } from "../../support/browser.js";
import { REDIS_SHAPES, redisEnv } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("revocation (redis %s)", (shape) => {
  let auth: TestAuth;
  let first: TestAuthz;
  let second: TestAuthz;

  beforeAll(async () => {
    auth = await startTestAuth(redisEnv(shape));
    // A long TTL, so only the revocation event can explain a prompt denial.
    [first, second] = await Promise.all([startTestAuthz(auth, { ...redisEnv(shape), AUTHZ_CACHE_TTL: "60s" }), startTestAuthz(auth, { ...redisEnv(shape), AUTHZ_CACHE_TTL: "60s" })]);
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await auth?.close();
  });

  // How fast is the bench's revocation row (SignOut returned -> first deny); here, only what explains the deny.
  it("denies a revoked session on every instance at once, by the event, not the 60 s cache TTL", async () => {
    const { email, tokens: victim } = await newUser(auth.client);
    const admin = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const cookie = await browserSignIn(auth.server.url, email, GOOD_PASSWORD);
    const asVictim = { headers: { authorization: `Bearer ${victim.accessToken}` } };
    const asCookie = { headers: { cookie: `auth_session=${cookie}` } };
    for (const authz of [first, second]) {
      // Warm both caches: an allow served from memory is what must not outlive the revocation.
      expect((await authz.check(asVictim)).status.code).toBe(0);
      expect((await authz.check(asCookie)).status.code).toBe(0);
    }

    await Promise.all([victim.sessionId, cookie.split(".")[0] ?? ""].map((sessionId) => auth.client.revokeSession({ sessionId }, bearer(admin.accessToken))));
    const returned = performance.now();
    // Each session's revocation is its own event: the cookie's may land after the token's.
    const deniedAfter = await Promise.all(
      [first, second].flatMap((authz) => [asVictim, asCookie].map((as) => ({ authz, as }))).map(async ({ authz, as }) => {
        for (;;) {
          const response = await authz.check(as);
          if (response.status.code !== 0) {
            expect(headerOf(response, "x-auth-reason")).toBe("session_not_found");
            return performance.now() - returned;
          }
          if (performance.now() - returned > 1000) return Number.POSITIVE_INFINITY;
        }
      }),
    );
    console.log(`revocation denied after ${deniedAfter.map((ms) => `${ms.toFixed(2)} ms`).join(", ")} (two instances, token and cookie)`);
    // The loop gives up at 1 s: any deny before that came from the event, since the cache would have allowed for 60 s.
    for (const ms of deniedAfter) expect(ms).toBeLessThan(1000);
  });
});
