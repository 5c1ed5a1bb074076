import { errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Clock } from "../platform/clock.js";
import { accessTokenVerifyOptions, CLOCK_TOLERANCE_S, readAccessClaims, SIGNING_ALGORITHMS } from "../contract/access-token-rules.js";
import { levelOf, type AuthLevel } from "../contract/auth-level.js";
import type { TtlCache } from "./ttl-cache.js";

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
          accessTokenVerifyOptions({ algorithms: SIGNING_ALGORITHMS, issuer: deps.issuer, audience: deps.audience, now: deps.clock.now() }),
        );
        const read = readAccessClaims(payload);
        if (!read) return { ok: false, reason: "invalid_token" };
        const claims: TokenClaims = { userId: read.userId, sessionId: read.sessionId, level: levelOf(read.acr, read.emailVerified), expiresAt: read.expiresAt };
        deps.cache.set(token, claims, mark, read.expiresAt * 1000 - deps.clock.now());
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
