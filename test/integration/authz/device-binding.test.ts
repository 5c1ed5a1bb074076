import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FIELD, sessionKey } from "../../../src/contract/session-record.js";
import { GOOD_PASSWORD, type TestAuth, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { type TestAuthz, headerOf, startTestAuthz } from "../../support/authz.js";

const LAPTOP = { "user-agent": "Laptop/1.0", "accept-language": "en-GB" };

describe("device binding: recorded by the auth service at sign-in, checked by the authz server", () => {
  const binding = { DEVICE_BINDING: "user-agent,accept-language" };
  let auth: TestAuth;
  let authz: TestAuthz;
  let redis: Redis;

  beforeAll(async () => {
    auth = await startTestAuth(binding);
    authz = await startTestAuthz(auth, binding);
    redis = new Redis(inject("stack").redisUrl);
  });
  afterAll(async () => {
    redis?.disconnect();
    await authz?.close();
    await auth?.close();
  });

  it("passes the device that signed in and denies the same token from another", async () => {
    const email = uniqueEmail("device");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD }, { headers: LAPTOP });
    expect(await redis.hget(sessionKey(tokens.sessionId), FIELD.fingerprint)).toMatch(/^user-agent,accept-language:[A-Za-z0-9_-]{43}$/);

    const check = (headers: Record<string, string>) => authz.check({ headers: { authorization: `Bearer ${tokens.accessToken}`, accept: "application/json", ...headers } });
    expect((await check(LAPTOP)).status.code).toBe(0);
    for (const other of [{ ...LAPTOP, "accept-language": "fr-FR" }, { ...LAPTOP, "user-agent": "Phone/2.0" }, {}]) {
      const response = await check(other);
      expect(response.status.code, JSON.stringify(other)).toBe(16);
      expect(headerOf(response, "x-auth-reason")).toBe("device_mismatch");
    }
  });

  it("records nothing while binding is off", async () => {
    const unbound = await startTestAuth();
    try {
      const email = uniqueEmail("unbound");
      await unbound.client.signUp({ email, password: GOOD_PASSWORD });
      const tokens = await unbound.client.signIn({ email, password: GOOD_PASSWORD }, { headers: LAPTOP });
      expect(await redis.hget(sessionKey(tokens.sessionId), FIELD.fingerprint)).toBeNull();
    } finally {
      await unbound.close();
    }
  });
});
