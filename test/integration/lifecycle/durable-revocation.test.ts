import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code } from "@connectrpc/connect";
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { newAccountToken } from "../../../src/auth/lifecycle/account-token.js";
import { createMemorySessionStore } from "../../../src/auth/sessions/memory-session-store.js";
import { createSessionRevocations } from "../../../src/auth/sessions/session-revocations.js";
import { createLogger } from "../../../src/platform/log.js";
import { withTransaction } from "../../../src/platform/transaction.js";
import { GOOD_PASSWORD, bearer, newUser, startTestAuth, userIdOf, type TestAuth } from "../../support/auth.js";
import { headerOf, startTestAuthz, type TestAuthz } from "../../support/authz.js";
import { startPrivateRedis } from "../../support/data-tier.js";
import { steppingClock } from "../../support/clock.js";
import { eventually } from "../../support/eventually.js";
import { codeOf } from "../../support/rpc-errors.js";

type PrivateRedis = Awaited<ReturnType<typeof startPrivateRedis>>;

/**
 * Holds the user's row locked on the primary, so the RPC under test queues on it after every Redis
 * call it makes before its commit; `release` lets the commit through once the test has broken Redis.
 */
async function holdUserRow(userId: string, waitingQuery: string) {
  const client = new pg.Client({ connectionString: inject("stack").primaryUrl });
  // Another connection watches: inside a transaction, pg_stat_activity is a snapshot taken at first read.
  const watcher = new pg.Client({ connectionString: inject("stack").primaryUrl });
  await Promise.all([client.connect(), watcher.connect()]);
  await client.query("BEGIN");
  await client.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [userId]);
  return {
    /** Resolves once a statement starting with `waitingQuery` waits for the lock. */
    queued: () =>
      eventually(
        async () =>
          (await watcher.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [`${waitingQuery}%`])).rowCount! > 0,
        5_000,
        `${waitingQuery} waiting for the row lock`,
      ),
    async release() {
      await client.query("COMMIT");
      await Promise.all([client.end(), watcher.end()]);
    },
  };
}

const settled = (call: Promise<unknown>) => call.then(() => "ok", (error: Error) => error.message);

describe("password changes and resets end the other sessions whatever Redis does after the commit", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "revocation-aof-"));
  let redis: PrivateRedis;
  let auth: TestAuth;
  let authz: TestAuthz;

  beforeAll(async () => {
    redis = await startPrivateRedis(undefined, dir);
    auth = await startTestAuth({ REDIS_URL: redis.url, REVOCATION_SWEEP_INTERVAL: "300ms" });
    authz = await startTestAuthz(auth, { REDIS_URL: redis.url });
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close().catch(() => {});
    await redis?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const sessionEnded = (accessToken: string) =>
    eventually(
      async () => {
        if ((await codeOf(auth.client.getMe({}, bearer(accessToken)))) !== Code.Unauthenticated) return undefined;
        const check = await authz.check({ headers: { authorization: `Bearer ${accessToken}` } });
        return check.status.code !== 0 && check;
      },
      15_000,
      "the other session refused by the auth service and the Check",
    );

  it("ChangePassword with Redis paused between the commit and the revocation: the other session ends, the caller's lives", async () => {
    const user = await newUser(auth.client);
    const other = await auth.client.signIn({ email: user.email, password: user.password });
    expect((await authz.check({ headers: { authorization: `Bearer ${other.accessToken}` } })).status.code).toBe(0);

    const row = await holdUserRow(userIdOf(user.tokens.accessToken), "UPDATE users SET password_hash");
    const change = settled(auth.client.changePassword({ currentPassword: GOOD_PASSWORD, newPassword: "a brand new passphrase" }, bearer(user.tokens.accessToken)));
    await row.queued();
    const admin = new Redis(redis.url);
    // Longer than the auth service's Redis command timeout (2 s): its revocation call gives up.
    await admin.call("CLIENT", "PAUSE", "3000", "ALL");
    admin.disconnect();
    await row.release();
    expect(await change).toBe("ok");

    const denied = (await sessionEnded(other.accessToken)).value;
    expect(headerOf(denied, "x-auth-reason")).toBe("session_not_found");
    expect((await auth.client.getMe({}, bearer(user.tokens.accessToken))).user?.email).toBe(user.email);
  });

  it("ResetPassword with Redis down at the commit: once Redis is back, the sweep ends every session", async () => {
    const user = await newUser(auth.client);
    const userId = userIdOf(user.tokens.accessToken);
    const { token, hash } = newAccountToken();
    const primary = new pg.Client({ connectionString: inject("stack").primaryUrl });
    await primary.connect();
    await primary.query("INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, 'reset_password', now() + interval '10 minutes')", [
      hash,
      userId,
    ]);
    await primary.end();

    const row = await holdUserRow(userId, "SELECT u.id, u.email FROM users u JOIN account_tokens");
    const reset = settled(auth.client.resetPassword({ token, newPassword: "a brand new passphrase" }));
    await row.queued();
    await redis.kill();
    await row.release();
    // The answer may be an error (the caches could not be told), but the reset and its revocation are committed.
    await reset;
    const pending = new pg.Client({ connectionString: inject("stack").primaryUrl });
    await pending.connect();
    expect((await pending.query("SELECT 1 FROM session_revocations WHERE user_id = $1", [userId])).rowCount).toBe(1);

    // The same port and append-only file: every session comes back from disk, the revocation from Postgres.
    redis = await startPrivateRedis(redis.port, dir);
    await sessionEnded(user.tokens.accessToken);
    await eventually(async () => (await pending.query("SELECT 1 FROM session_revocations WHERE user_id = $1", [userId])).rowCount === 0, 5000, "the revocation forgotten once applied");
    await pending.end();
  });

  it("applied right after the commit, the cutoff moves up to the apply: a sign-in racing the cache drop ends too", async () => {
    const clock = steppingClock();
    const sessions = createMemorySessionStore({ clock, idleTtlMs: 60_000, absoluteTtlMs: 3_600_000, reuseGraceMs: 2_000 });
    const primary = new pg.Pool({ connectionString: inject("stack").primaryUrl, max: 1 });
    const revocations = createSessionRevocations({ primary, sessions, clock, log: createLogger("silent") });
    const open = (userId: string) =>
      sessions.create({ userId, userAgent: "t", ip: "192.0.2.1", secondFactor: false, emailVerified: false, fingerprint: undefined, provenAt: clock.now() });
    try {
      const userId = userIdOf((await newUser(auth.client)).tokens.accessToken);
      const recorded = await withTransaction(primary, (tx) => revocations.record(tx, userId));
      clock.advance(1000);
      // A sign-in that read the old password from the cache after the commit, before the cache was dropped.
      const raced = await open(userId);
      clock.advance(1000);
      expect(await revocations.apply(recorded)).toBe(1);
      expect(await sessions.touch(raced.session.id, raced.session.userId)).toBeUndefined();
    } finally {
      await primary.end();
    }
  });

  it("an apply that fails writes its moved-up cutoff to the row, so the sweep ends the racing sign-in too", async () => {
    const clock = steppingClock();
    const sessions = createMemorySessionStore({ clock, idleTtlMs: 60_000, absoluteTtlMs: 3_600_000, reuseGraceMs: 2_000 });
    let redisDown = true;
    const flaky = {
      revokeCreatedBefore: (userId: string, beforeMs: number, keep?: string) =>
        redisDown ? Promise.reject(new Error("Command timed out")) : sessions.revokeCreatedBefore(userId, beforeMs, keep),
    };
    // One uncommitted transaction holds it all, so no other instance's sweeper can take the row first.
    const tx = new pg.Client({ connectionString: inject("stack").primaryUrl });
    await tx.connect();
    await tx.query("BEGIN");
    try {
      const revocations = createSessionRevocations({ primary: tx as unknown as pg.Pool, sessions: flaky, clock, log: createLogger("silent") });
      const user = await tx.query<{ id: string }>("INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id", [`raced-${Date.now()}@example.com`]);
      const userId = user.rows[0]!.id;
      const recorded = await revocations.record(tx, userId);
      clock.advance(1000);
      const raced = await sessions.create({ userId, userAgent: "t", ip: "192.0.2.1", secondFactor: false, emailVerified: false, fingerprint: undefined, provenAt: clock.now() });
      clock.advance(1000);
      const appliedAt = clock.now();
      expect(await revocations.apply(recorded)).toBeUndefined();
      const row = await tx.query<{ revoke_before_ms: string }>("SELECT revoke_before_ms FROM session_revocations WHERE id = $1", [recorded.id]);
      expect(Number(row.rows[0]?.revoke_before_ms)).toBeGreaterThanOrEqual(appliedAt);
      redisDown = false;
      expect(await revocations.sweep()).toBeGreaterThanOrEqual(1);
      expect(await sessions.touch(raced.session.id, raced.session.userId)).toBeUndefined();
    } finally {
      await tx.query("ROLLBACK");
      await tx.end();
    }
  });

  it("a revoked session stays revoked after Redis is killed and restarted (AOF)", async () => {
    const user = await newUser(auth.client);
    const kept = await auth.client.signIn({ email: user.email, password: user.password });
    await auth.client.signOut({}, bearer(user.tokens.accessToken));
    await redis.kill();
    redis = await startPrivateRedis(redis.port, dir);
    await eventually(async () => (await auth.client.getMe({}, bearer(kept.accessToken))).user, 10_000, "auth service reconnected");
    expect(await codeOf(auth.client.getMe({}, bearer(user.tokens.accessToken)))).toBe(Code.Unauthenticated);
  });
});
