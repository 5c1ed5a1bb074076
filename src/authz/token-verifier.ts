import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Clock } from "../platform/clock.js";
import { levelOf, type AuthLevel } from "./auth-level.js";
import type { TtlCache } from "./ttl-cache.js";
import { accessTokenVerifyOptions, CLOCK_TOLERANCE_S } from "../auth/tokens/access-token-rules.js";

export interface TokenClaims {
  userId: string;
  sessionId: string;
  level: AuthLevel;
  /** Seconds since the epoch (RFC 7519 4.1.4). */
  expiresAt: number;
}

export type TokenResult = { ok: true; claims: TokenClaims } | { ok: false; reason: "invalid_token" | "token_expired" | "jwks_unavailable" };

export interface TokenVerifier {
  verify(token: string): Promise<TokenResult>;
}

export interface TokenVerifierDeps {
  /** The auth service's public keys, e.g. jose's createRemoteJWKSet (refetches on an unknown kid). */
  keys: JWTVerifyGetKey;
  issuer: string;
  audience: string;
  clock: Clock;
  /** Verified claims by token: a signature stays valid, so only expiry and the TTL end an entry. */
  cache: TtlCache<TokenClaims>;
}

// The algorithms the auth service can be configured to sign with (SIGNING_KEY_ALG).
const ALGORITHMS = ["EdDSA", "ES256"];

export function createTokenVerifier(deps: TokenVerifierDeps): TokenVerifier {
  const fresh = (claims: TokenClaims) => claims.expiresAt + CLOCK_TOLERANCE_S > deps.clock.now() / 1000;

  return {
    async verify(token) {
      const cached = deps.cache.get(token);
      if (cached) return fresh(cached.value) ? { ok: true, claims: cached.value } : { ok: false, reason: "token_expired" };
      const mark = deps.cache.mark();
      try {
        const { payload } = await jwtVerify(
          token,
          deps.keys,
          accessTokenVerifyOptions({ algorithms: ALGORITHMS, issuer: deps.issuer, audience: deps.audience, now: deps.clock.now() }),
        );
        const { sub, sid, exp } = payload;
        if (typeof sub !== "string" || typeof sid !== "string" || typeof exp !== "number" || sub === "" || sid === "") {
          return { ok: false, reason: "invalid_token" };
        }
        const claims: TokenClaims = { userId: sub, sessionId: sid, level: levelOf(payload.acr, payload.email_verified), expiresAt: exp };
        deps.cache.set(token, claims, mark, exp * 1000 - deps.clock.now());
        return { ok: true, claims };
      } catch (error) {
        if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: "token_expired" };
        if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return { ok: false, reason: "jwks_unavailable" };
        if (error instanceof joseErrors.JOSEError) return { ok: false, reason: "invalid_token" };
        // Anything else came from fetching the key set (connection refused, DNS), not from the token.
        return { ok: false, reason: "jwks_unavailable" };
      }
    },
  };
}
