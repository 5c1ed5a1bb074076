import { decodeJwt } from "jose";
import pg from "pg";
import type { loadAuthConfig } from "../src/auth/config.js";
import { createAccessTokens } from "../src/auth/tokens/access-tokens.js";
import { createKeyRing } from "../src/auth/tokens/key-ring.js";
import { createPgSigningKeyStore } from "../src/auth/tokens/signing-key-store.js";
import { systemClock } from "../src/platform/clock.js";
import { createLogger } from "../src/platform/log.js";

export interface TokenMinter {
  /** Fresh access tokens of the session `accessToken` belongs to, each distinct, none seen by any authz instance. */
  mint(count: number): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Tokens the auth service would issue for one live session, signed with its own key ring (read
 * from the primary): the uncached Check rows need tens of thousands, more than sign-ins could give.
 */
export async function createTokenMinter(primaryUrl: string, config: ReturnType<typeof loadAuthConfig>, accessToken: string): Promise<TokenMinter> {
  const pool = new pg.Pool({ connectionString: primaryUrl, max: 2 });
  const keys = await createKeyRing({
    store: createPgSigningKeyStore(pool),
    encryptionKey: config.signingKeyEncryptionKey,
    alg: config.signingKeyAlg,
    rotationMs: config.signingKeyRotationMs,
    accessTokenTtlMs: config.accessTokenTtlMs,
    clock: systemClock,
    log: createLogger("silent"),
  });
  const tokens = createAccessTokens({ keys, issuer: config.shared.issuer, audience: config.shared.audience, ttlMs: config.accessTokenTtlMs, clock: systemClock });
  const claims = decodeJwt(accessToken);
  const session = { id: String(claims.sid), userId: String(claims.sub), acr: claims.acr === "mfa" ? ("mfa" as const) : ("basic" as const), emailVerified: claims.email_verified === true };
  return {
    mint: async (count) => Promise.all(Array.from({ length: count }, async () => (await tokens.issue(session)).token)),
    async close() {
      keys.close();
      await pool.end();
    },
  };
}
