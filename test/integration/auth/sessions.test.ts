import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createRedisSessionStore } from "../../../src/auth/sessions/redis-session-store.js";
import { REVOCATION_CHANNEL } from "../../../src/contract/session-events.js";
import { FIELD, sessionKey } from "../../../src/contract/session-record.js";
import { systemClock } from "../../../src/platform/clock.js";
import { createDurableWrites } from "../../../src/platform/redis-durable.js";
import { GOOD_PASSWORD, type TestAuth, bearer, newUser, startTestAuth } from "../../support/auth.js";
import { steppingClock } from "../../support/clock.js";
import { codeOf } from "../../support/rpc-errors.js";
import { REDIS_SHAPES, redisClient, redisEnv, redisSubscriber } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("sessions (redis %s)", (shape) => {
  let auth: TestAuth;
  let primary: pg.Pool;
  let subscriber: Redis;
  const events: Array<{ type: string; sessionId: string; userId: string }> = [];

  beforeAll(async () => {
    auth = await startTestAuth(redisEnv(shape));
    primary = new pg.Pool({ connectionString: inject("stack").primaryUrl });
    subscriber = redisSubscriber(shape);
    await subscriber.subscribe(REVOCATION_CHANNEL);
    subscriber.on("message", (_channel: string, message: string) => events.push(JSON.parse(message)));
  });
  afterAll(async () => {
    await auth?.close();
    await primary?.end();
    subscriber?.disconnect();
  });

  const waitForEvent = async (sessionId: string) => {
    for (let i = 0; i < 50 && !events.some((e) => e.sessionId === sessionId); i++) await new Promise((r) => setTimeout(r, 20));
    return events.find((e) => e.sessionId === sessionId);
  };

  it("GetMe returns the caller's account", async () => {
    const { email, tokens } = await newUser(auth.client);
    const me = await auth.client.getMe({}, bearer(tokens.accessToken));
    expect(me.user?.email).toBe(email);
    expect(me.user?.emailVerified).toBe(false);
    expect(me.user?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("ListSessions shows each device, its IP and which one is current", async () => {
    const { email, tokens: laptop } = await newUser(auth.client, GOOD_PASSWORD, "Laptop/1.0");
    const phone = await auth.client.signIn({ email, password: GOOD_PASSWORD }, { headers: { "user-agent": "Phone/2.0" } });
    const { sessions } = await auth.client.listSessions({}, bearer(phone.accessToken));
    expect(sessions).toHaveLength(2);
    const current = sessions.find((s) => s.current);
    expect(current?.sessionId).toBe(phone.sessionId);
    expect(current?.userAgent).toBe("Phone/2.0");
    const other = sessions.find((s) => !s.current);
    expect(other?.sessionId).toBe(laptop.sessionId);
    expect(other?.userAgent).toBe("Laptop/1.0");
    expect(other?.ip).toBe("127.0.0.1");
    expect(Number(other?.expiresAt?.seconds)).toBeGreaterThan(Date.now() / 1000 + 29 * 86400);
  });

  it("SignOut ends the caller's session, publishes the revocation and keeps others", async () => {
    const { email, tokens: a } = await newUser(auth.client);
    const b = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    await auth.client.signOut({}, bearer(a.accessToken));
    expect(await codeOf(auth.client.getMe({}, bearer(a.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.refresh({ refreshToken: a.refreshToken }))).toBe(Code.Unauthenticated);
    await expect(auth.client.getMe({}, bearer(b.accessToken))).resolves.toBeTruthy();
    expect(await waitForEvent(a.sessionId)).toMatchObject({ type: "session.revoked", sessionId: a.sessionId });
  });

  it("SignOutAll ends every session of the caller", async () => {
    const { email, tokens: a } = await newUser(auth.client);
    const b = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const c = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    expect((await auth.client.signOutAll({}, bearer(b.accessToken))).revoked).toBe(3);
    for (const t of [a, b, c]) expect(await codeOf(auth.client.getMe({}, bearer(t.accessToken)))).toBe(Code.Unauthenticated);
  });

  it("RevokeSession ends one of the caller's sessions but not another user's", async () => {
    const { email, tokens: a } = await newUser(auth.client);
    const b = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const stranger = await newUser(auth.client);
    expect(await codeOf(auth.client.revokeSession({ sessionId: stranger.tokens.sessionId }, bearer(a.accessToken)))).toBe(Code.NotFound);
    await expect(auth.client.getMe({}, bearer(stranger.tokens.accessToken))).resolves.toBeTruthy();
    await auth.client.revokeSession({ sessionId: b.sessionId }, bearer(a.accessToken));
    expect(await codeOf(auth.client.getMe({}, bearer(b.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.revokeSession({ sessionId: b.sessionId }, bearer(a.accessToken)))).toBe(Code.NotFound);
    expect(await codeOf(auth.client.revokeSession({ sessionId: "../../etc" }, bearer(a.accessToken)))).toBe(Code.InvalidArgument);
    const audit = await primary.query("SELECT 1 FROM audit_events WHERE type = 'session.revoke' AND details->>'sessionId' = $1", [b.sessionId]);
    expect(audit.rowCount).toBe(1);
  });

  it("ChangePassword revokes every other session and keeps the caller's", async () => {
    const { email, tokens: a } = await newUser(auth.client);
    const b = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const wrong = await codeOf(auth.client.changePassword({ currentPassword: "wrong wrong wrong", newPassword: "a brand new passphrase" }, bearer(a.accessToken)));
    expect(wrong).toBe(Code.PermissionDenied);
    const common = await codeOf(auth.client.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "password1234" }, bearer(a.accessToken)));
    expect(common).toBe(Code.InvalidArgument);
    const res = await auth.client.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "a brand new passphrase" }, bearer(a.accessToken));
    expect(res.revokedSessions).toBe(1);
    expect(await codeOf(auth.client.getMe({}, bearer(b.accessToken)))).toBe(Code.Unauthenticated);
    await expect(auth.client.getMe({}, bearer(a.accessToken))).resolves.toBeTruthy();
    expect(await codeOf(auth.client.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    await expect(auth.client.signIn({ email, password: "a brand new passphrase" })).resolves.toBeTruthy();
    const audit = await primary.query("SELECT 1 FROM audit_events a JOIN users u ON u.id = a.user_id WHERE u.email = $1 AND a.type = 'password.change'", [email]);
    expect(audit.rowCount).toBe(1);
  });

  it("a session keeps its acr; markEmailVerified lifts each live one of the user and announces it", async () => {
    const redis = redisClient(shape);
    try {
      const store = createRedisSessionStore({ redis, durable: createDurableWrites(redis, auth.config.redisDurability), clock: systemClock, idleTtlMs: 60_000, absoluteTtlMs: 3_600_000, reuseGraceMs: 2000 });
      const userId = randomUUID();
      const open = (secondFactor: boolean, user = userId) => store.create({ userId: user, userAgent: "t", ip: "127.0.0.1", secondFactor, emailVerified: false, fingerprint: undefined, provenAt: Date.now() });
      const [mfa, password, stranger] = await Promise.all([open(true), open(false), open(false, randomUUID())]);
      expect(mfa.session).toMatchObject({ acr: "mfa", emailVerified: false });
      expect(await redis.hmget(`session:{${password.session.id}}`, "acr", "ev")).toEqual(["basic", "0"]);

      await store.markEmailVerified(userId);
      expect(await store.touch(mfa.session.id, mfa.session.userId)).toMatchObject({ acr: "mfa", emailVerified: true });
      const rotated = await store.rotate(password.refreshToken);
      expect(rotated).toMatchObject({ outcome: "ok", session: { acr: "basic", emailVerified: true } });
      expect(await store.touch(stranger.session.id, stranger.session.userId)).toMatchObject({ emailVerified: false });
      for (const { session } of [mfa, password]) {
        expect(await waitForEvent(session.id)).toEqual({ type: "session.changed", sessionId: session.id, userId, atMs: expect.any(Number) });
      }
      expect(events.some((e) => e.sessionId === stranger.session.id)).toBe(false);
    } finally {
      redis.disconnect();
    }
  });

  it("a use writes the session only once its slide is due: lastSeenAt and the idle expiry move then", async () => {
    const redis = redisClient(shape);
    try {
      const clock = steppingClock();
      // A tenth of the idle TTL: 6 s.
      const store = createRedisSessionStore({ redis, durable: createDurableWrites(redis, auth.config.redisDurability), clock, idleTtlMs: 60_000, absoluteTtlMs: 3_600_000, reuseGraceMs: 2000 });
      const { session } = await store.create({ userId: randomUUID(), userAgent: "t", ip: "127.0.0.1", secondFactor: false, emailVerified: false, fingerprint: undefined, provenAt: clock.now() });
      const lastSeen = async () => Number(await redis.hget(sessionKey(session.id), FIELD.lastSeenAt));
      clock.advance(5_000);
      expect((await store.touch(session.id, session.userId))?.lastSeenAt.getTime()).toBe(session.lastSeenAt.getTime());
      expect(await lastSeen()).toBe(session.lastSeenAt.getTime());
      clock.advance(1_500);
      const due = clock.now();
      const slid = await store.touch(session.id, session.userId);
      expect(slid?.lastSeenAt.getTime()).toBeGreaterThanOrEqual(due);
      expect(await lastSeen()).toBe(slid?.lastSeenAt.getTime());
    } finally {
      redis.disconnect();
    }
  });

  it("a token GetMe has verified and cached fails the very next GetMe once its session is revoked from another", async () => {
    const { email, tokens: a } = await newUser(auth.client);
    const b = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    for (let call = 0; call < 3; call++) await expect(auth.client.getMe({}, bearer(b.accessToken))).resolves.toBeTruthy();
    await auth.client.revokeSession({ sessionId: b.sessionId }, bearer(a.accessToken));
    expect(await codeOf(auth.client.getMe({}, bearer(b.accessToken)))).toBe(Code.Unauthenticated);
  });

  it("sessions expire after the idle TTL", async () => {
    const short = await startTestAuth({ ...redisEnv(shape), SESSION_IDLE_TTL: "1s", SESSION_ABSOLUTE_TTL: "1h" });
    try {
      const { tokens } = await newUser(short.client);
      await expect(short.client.getMe({}, bearer(tokens.accessToken))).resolves.toBeTruthy();
      await new Promise((r) => setTimeout(r, 1300));
      expect(await codeOf(short.client.getMe({}, bearer(tokens.accessToken)))).toBe(Code.Unauthenticated);
      expect(await codeOf(short.client.refresh({ refreshToken: tokens.refreshToken }))).toBe(Code.Unauthenticated);
    } finally {
      await short.close();
    }
  });
});
