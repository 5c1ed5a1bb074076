import { Code, ConnectError } from "@connectrpc/connect";
import { Cluster } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type TestAuth, bearer, newUser, startTestAuth } from "../../support/auth.js";
import { codeOf } from "../../support/rpc-errors.js";
import { REDIS_SHAPES, redisClient, redisEnv } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("Refresh (redis %s)", (shape) => {
  let auth: TestAuth;
  let primary: pg.Pool;
  const GRACE_MS = 300;

  beforeAll(async () => {
    auth = await startTestAuth(redisEnv(shape), { refreshReuseGraceMs: GRACE_MS });
    primary = new pg.Pool({ connectionString: inject("stack").primaryUrl });
  });
  afterAll(async () => {
    await auth?.close();
    await primary?.end();
  });

  it("rotates the refresh token on every use and keeps the session", async () => {
    const { tokens } = await newUser(auth.client);
    const next = await auth.client.refresh({ refreshToken: tokens.refreshToken });
    expect(next.sessionId).toBe(tokens.sessionId);
    expect(next.refreshToken).not.toBe(tokens.refreshToken);
    expect(next.accessToken).not.toBe(tokens.accessToken);
    const again = await auth.client.refresh({ refreshToken: next.refreshToken });
    await expect(auth.client.getMe({}, bearer(again.accessToken))).resolves.toBeTruthy();
  });

  it("stores refresh tokens only as hashes", async () => {
    const { tokens } = await newUser(auth.client);
    const redis = redisClient(shape);
    try {
      // KEYS answers for one node: on a cluster, ask every master.
      const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
      const keys = (await Promise.all(nodes.map((node) => node.keys(`session:{${tokens.sessionId}}*`)))).flat();
      const dump = JSON.stringify(await Promise.all(keys.map((k) => redis.type(k).then((t) => (t === "hash" ? redis.hgetall(k) : null)))));
      const secret = tokens.refreshToken.split(".")[1] as string;
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(tokens.refreshToken);
    } finally {
      redis.disconnect();
    }
  });

  it("revokes the whole session when a rotated token is reused, and audits it", async () => {
    const { tokens } = await newUser(auth.client);
    const next = await auth.client.refresh({ refreshToken: tokens.refreshToken });
    await new Promise((r) => setTimeout(r, GRACE_MS + 100));
    const reuse = await codeOf(auth.client.refresh({ refreshToken: tokens.refreshToken }));
    expect(reuse).toBe(Code.Unauthenticated);
    // The thief's reuse also kills the legitimate holder's newer tokens: the family is gone.
    expect(await codeOf(auth.client.refresh({ refreshToken: next.refreshToken }))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.getMe({}, bearer(next.accessToken)))).toBe(Code.Unauthenticated);
    const audit = await primary.query("SELECT 1 FROM audit_events WHERE type = 'refresh.reuse' AND details->>'sessionId' = $1", [tokens.sessionId]);
    expect(audit.rowCount).toBe(1);
  });

  it("lets exactly one of many concurrent refreshes with the same token win", async () => {
    const { tokens } = await newUser(auth.client);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => auth.client.refresh({ refreshToken: tokens.refreshToken })));
    const winners = results.filter((r) => r.status === "fulfilled");
    expect(winners).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(ConnectError.from(r.reason).code).toBe(Code.Unauthenticated);
    // The race is not theft: the winner's new pair keeps working.
    const winner = (winners[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof auth.client.refresh>>>).value;
    await expect(auth.client.refresh({ refreshToken: winner.refreshToken })).resolves.toBeTruthy();
  });

  it("refuses unknown, malformed and empty refresh tokens", async () => {
    const { tokens } = await newUser(auth.client);
    const forged = `${tokens.sessionId}.${"A".repeat(43)}`;
    expect(await codeOf(auth.client.refresh({ refreshToken: forged }))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.refresh({ refreshToken: "not-a-token" }))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.refresh({ refreshToken: "x".repeat(10_000) }))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.refresh({ refreshToken: "" }))).toBe(Code.InvalidArgument);
    // A forged token for a real session must not revoke it.
    await expect(auth.client.refresh({ refreshToken: tokens.refreshToken })).resolves.toBeTruthy();
  });
});
