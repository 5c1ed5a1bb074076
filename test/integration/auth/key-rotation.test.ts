import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccessTokens } from "../../../src/auth/tokens/access-tokens.js";
import { createKeyRing, type KeyRing } from "../../../src/auth/tokens/key-ring.js";
import { createPgSigningKeyStore } from "../../../src/auth/tokens/signing-key-store.js";
import { createLogger } from "../../../src/platform/log.js";
import { migrate } from "../../../src/platform/migrate.js";
import { createScratchDatabase } from "../../support/data-tier.js";

const DAY = 86_400_000;

describe("signing keys (real Postgres, a clock the test moves)", () => {
  let db: Awaited<ReturnType<typeof createScratchDatabase>>;
  let pool: pg.Pool;
  const log = createLogger("silent");
  const rings: KeyRing[] = [];

  beforeAll(async () => {
    db = await createScratchDatabase();
    await migrate(db.url, log);
    pool = new pg.Pool({ connectionString: db.url });
  });
  afterAll(async () => {
    for (const ring of rings) ring.close();
    await pool?.end();
    await db?.drop();
  });

  it("mints one key when several instances start together, and applies migrations once under a lock", async () => {
    const results = await Promise.all([migrate(db.url, log), migrate(db.url, log), migrate(db.url, log)]);
    expect(results.flat()).toEqual([]);
    await pool.query("DELETE FROM signing_keys");
    const key = randomBytes(32);
    const clock = { now: () => Date.now() };
    const started = await Promise.all(
      Array.from({ length: 4 }, () =>
        createKeyRing({ store: createPgSigningKeyStore(pool), encryptionKey: key, alg: "EdDSA", rotationMs: 30 * DAY, accessTokenTtlMs: 600_000, clock, log }),
      ),
    );
    rings.push(...started);
    expect((await pool.query("SELECT kid FROM signing_keys")).rowCount).toBe(1);
    expect(new Set(started.map((r) => r.current().kid)).size).toBe(1);
  });

  it("publishes the next key before it signs, and keeps the old one while its tokens live", async () => {
    await pool.query("DELETE FROM signing_keys");
    let now = Date.now();
    const clock = { now: () => now };
    const deps = { store: createPgSigningKeyStore(pool), encryptionKey: randomBytes(32), alg: "ES256" as const, rotationMs: 2 * DAY, accessTokenTtlMs: 600_000, clock, log };
    const ring = await createKeyRing(deps);
    rings.push(ring);
    const tokens = createAccessTokens({ keys: ring, issuer: "iss", audience: "aud", ttlMs: 600_000, clock });
    const first = ring.current().kid;
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([first]);

    // Inside the pre-publish window (last hour): the next key appears in the JWKS but does not sign yet.
    now += 2 * DAY - 5 * 60_000;
    await ring.refresh();
    const published = ring.jwks().keys.map((k) => k.kid);
    expect(published).toHaveLength(2);
    expect(ring.current().kid).toBe(first);
    const oldToken = (await tokens.issue({ id: "session", userId: "user", acr: "basic", emailVerified: false })).token;

    // After the switch: the new key signs; the old one still verifies tokens it signed.
    now += 6 * 60_000;
    await ring.refresh();
    const second = ring.current().kid;
    expect(second).not.toBe(first);
    expect(published).toContain(second);
    await expect(tokens.verify(oldToken)).resolves.toMatchObject({ userId: "user" });

    // Once every token it signed has expired, the old key leaves the JWKS.
    now += 2 * 3_600_000;
    await ring.refresh();
    expect(ring.jwks().keys.map((k) => k.kid)).not.toContain(first);
  });

  it("stores private keys only encrypted, bound to their kid", async () => {
    const rows = (await pool.query<{ kid: string; enc: Buffer }>("SELECT kid, private_key_enc AS enc FROM signing_keys")).rows;
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.enc.toString("latin1")).not.toContain("PRIVATE KEY");
  });
});
