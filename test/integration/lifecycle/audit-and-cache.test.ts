import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { RedisClient } from "../../../src/platform/redis.js";
import { limiterKey } from "../../../src/contract/limiter-key.js";
import { adminClient, grantRoleDirectly } from "../../support/admin.js";
import { GOOD_PASSWORD, TRUST_LOOPBACK, type TestAuth, bearer, clientFrom, randomIp, startTestAuth, uniqueEmail, userIdOf } from "../../support/auth.js";
import { codeOf } from "../../support/rpc-errors.js";
import { REDIS_SHAPES, redisClient, redisEnv } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("ListAuditEvents and the user-lookup cache (redis %s)", (shape) => {
  let a: TestAuth;
  let b: TestAuth;
  let redis: RedisClient;

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestAuth({ ...redisEnv(shape), ...TRUST_LOOPBACK }), startTestAuth({ ...redisEnv(shape), ...TRUST_LOOPBACK })]);
    redis = redisClient(shape);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    redis?.disconnect();
  });

  it("lists the caller's own events, newest first, with IP, user agent and request id, page by page", async () => {
    const ip = randomIp();
    const c = clientFrom(a, ip);
    const email = uniqueEmail("audit");
    await c.signUp({ email, password: GOOD_PASSWORD });
    await codeOf(c.signIn({ email, password: "not my password" }, { headers: { "user-agent": "Probe/1", "x-request-id": "req-fail-1" } }));
    const { accessToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    const other = clientFrom(a, randomIp());
    const stranger = uniqueEmail("stranger");
    await other.signUp({ email: stranger, password: GOOD_PASSWORD });
    await other.signIn({ email: stranger, password: GOOD_PASSWORD });

    const all = await c.listAuditEvents({}, bearer(accessToken));
    expect(all.events.map((e) => e.type)).toEqual(["signin.success", "signin.failure", "signup"]);
    expect(all.nextPageToken).toBe("");
    expect(all.events[1]).toMatchObject({ ip, userAgent: "Probe/1", requestId: "req-fail-1", details: { reason: "wrong_password" } });
    expect(Number(all.events[0]?.createdAt?.seconds)).toBeGreaterThan(Date.now() / 1000 - 60);

    const first = await c.listAuditEvents({ pageSize: 2 }, bearer(accessToken));
    expect(first.events.map((e) => e.type)).toEqual(["signin.success", "signin.failure"]);
    const second = await c.listAuditEvents({ pageSize: 2, pageToken: first.nextPageToken }, bearer(accessToken));
    expect(second.events.map((e) => e.type)).toEqual(["signup"]);
    expect(second.nextPageToken).toBe("");
  });

  it("needs an access token and refuses a forged page token", async () => {
    const c = clientFrom(a, randomIp());
    expect(await codeOf(c.listAuditEvents({}))).toBe(Code.Unauthenticated);
    const email = uniqueEmail("audit");
    await c.signUp({ email, password: GOOD_PASSWORD });
    const { accessToken } = await c.signIn({ email, password: GOOD_PASSWORD });
    expect(await codeOf(c.listAuditEvents({ pageToken: "bm90LWEtdG9rZW4" }, bearer(accessToken)))).toBe(Code.InvalidArgument);
    expect(await codeOf(c.listAuditEvents({ pageSize: -1 }, bearer(accessToken)))).toBe(Code.InvalidArgument);
  });

  it("a password changed on one instance takes effect on the next sign-in on another", async () => {
    const email = uniqueEmail("cached");
    const onA = clientFrom(a, randomIp());
    const onB = clientFrom(b, randomIp());
    await onA.signUp({ email, password: GOOD_PASSWORD });
    await onA.signIn({ email, password: GOOD_PASSWORD });
    const key = `usercache:{${limiterKey(email)}}`;
    expect(await redis.exists(key)).toBe(1);

    const { accessToken } = await onB.signIn({ email, password: GOOD_PASSWORD });
    await onB.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "a changed passphrase" }, bearer(accessToken));
    expect(await redis.exists(key)).toBe(0);
    expect(await codeOf(onA.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    await expect(onA.signIn({ email, password: "a changed passphrase" })).resolves.toMatchObject({ tokenType: "Bearer" });
  });

  it("a cached row that a password change or a disable failed to drop never lets the old password in", async () => {
    const primary = new pg.Client({ connectionString: inject("stack").primaryUrl });
    await primary.connect();
    try {
      const c = clientFrom(a, randomIp());
      const [replaced, disabled, donor] = [uniqueEmail("stale-hash"), uniqueEmail("stale-disabled"), uniqueEmail("donor")];
      for (const email of [replaced, disabled]) {
        await c.signUp({ email, password: GOOD_PASSWORD });
        await c.signIn({ email, password: GOOD_PASSWORD });
        expect(await redis.exists(`usercache:{${limiterKey(email)}}`)).toBe(1);
      }
      await c.signUp({ email: donor, password: "a changed passphrase" });
      // Committed on the primary with the cached copies left in place, as when the drop after commit fails.
      await primary.query("UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE email = $2) WHERE email = $1", [replaced, donor]);
      await primary.query("UPDATE users SET disabled_at = now() WHERE email = $1", [disabled]);
      expect(await codeOf(c.signIn({ email: replaced, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
      expect(await codeOf(c.signIn({ email: disabled, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    } finally {
      await primary.end();
    }
  });

  it("GetMe is served from the shared profile cache on every instance, and a write to the account drops it", async () => {
    const primary = new pg.Client({ connectionString: inject("stack").primaryUrl });
    await primary.connect();
    try {
      const onA = clientFrom(a, randomIp());
      const onB = clientFrom(b, randomIp());
      const email = uniqueEmail("profile");
      await onA.signUp({ email, password: GOOD_PASSWORD });
      const { accessToken } = await onA.signIn({ email, password: GOOD_PASSWORD });
      const auth = bearer(accessToken);
      const userId = userIdOf(accessToken);
      expect((await onA.getMe({}, auth)).user).toMatchObject({ email, emailVerified: false });
      expect(await redis.exists(`profilecache:{${userId}}`)).toBe(1);
      // Committed behind the cache's back: only a cached copy still shows the old value, on the other instance too.
      await primary.query("UPDATE users SET email_verified = true WHERE id = $1", [userId]);
      expect((await onB.getMe({}, auth)).user?.emailVerified).toBe(false);

      // A write through the service drops the copy before it answers: the next GetMe reads the row.
      await onB.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "a changed passphrase" }, auth);
      expect(await redis.exists(`profilecache:{${userId}}`)).toBe(0);
      expect((await onA.getMe({}, auth)).user?.emailVerified).toBe(true);

      const adminEmail = uniqueEmail("profile-admin");
      await onA.signUp({ email: adminEmail, password: GOOD_PASSWORD });
      await grantRoleDirectly(a, adminEmail, "admin");
      const asAdmin = bearer((await onA.signIn({ email: adminEmail, password: GOOD_PASSWORD })).accessToken);
      await adminClient(a).disableUser({ userId }, asAdmin);
      expect(await codeOf(onB.getMe({}, auth))).toBe(Code.Unauthenticated);
      expect(await redis.exists(`profilecache:{${userId}}`)).toBe(0);
    } finally {
      await primary.end();
    }
  });
});
