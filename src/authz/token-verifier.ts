import { createHash } from "node:crypto";
import { CLOCK_TOLERANCE_S, SIGNING_ALGORITHMS } from "../contract/access-token-rules.js";
import { TokenRefused, verifyAccessToken, type KeyLookup } from "../contract/access-token-verify.js";
import { levelOf, type AuthLevel } from "../contract/auth-level.js";
import type { Clock } from "../platform/clock.js";
import type { TtlCache } from "../platform/ttl-cache.js";
import type { Delegation } from "./decision.js";

export interface TokenClaims {
  userId: string;
  sessionId: string;
  level: AuthLevel;
  /** Seconds since the epoch (RFC 7519 4.1.4). */
  expiresAt: number;
  /** The `roles` claim: what the user held at issue, used only when the session cannot be read (degraded mode). */
  roles?: readonly string[];
  /** An OAuth access token's client, resource (audience-rules.ts) and scope; undefined for our own session tokens. */
  delegation?: Delegation;
}

export type TokenResult = { ok: true; claims: TokenClaims } | { ok: false; reason: "invalid_token" | "token_expired" | "jwks_unavailable" };

export interface TokenVerifier {
  verify(token: string): Promise<TokenResult>;
}

export interface TokenVerifierDeps {
  /** The auth service's public keys by kid (jwks-keys.ts: refetches on an unknown kid); throws when they cannot be had. */
  keys: KeyLookup;
  issuer: string;
  audience: string;
  /** The resources whose OAuth access tokens some route accepts (AUTHZ_AUDIENCE_RULES). */
  oauthAudiences?: readonly string[];
  clock: Clock;
  /** Verified claims by the token's SHA-256: a signature stays valid, so only expiry and the TTL end an entry. */
  cache: TtlCache<TokenClaims>;
}

/** RFC 7519 4.1.3 `aud` as an array, from a token whose signature and claims already verified. */
function audienceOf(token: string): string[] {
  const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { aud?: unknown };
  const { aud } = payload;
  return typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
}

export function createTokenVerifier(deps: TokenVerifierDeps): TokenVerifier {
  const audiences = [deps.audience, ...(deps.oauthAudiences ?? [])];
  const fresh = (claims: TokenClaims) => claims.expiresAt + CLOCK_TOLERANCE_S > deps.clock.now() / 1000;

  return {
    async verify(token) {
      // A digest, not the token: a fixed 43 characters per entry instead of the whole JWT.
      const key = createHash("sha256").update(token).digest("base64url");
      const cached = deps.cache.get(key);
      if (cached) return fresh(cached.value) ? { ok: true, claims: cached.value } : { ok: false, reason: "token_expired" };
      const mark = deps.cache.mark();
      try {
        const read = await verifyAccessToken(token, deps.keys, { algorithms: SIGNING_ALGORITHMS, issuer: deps.issuer, audience: audiences, now: deps.clock.now() });
        const claims: TokenClaims = { userId: read.userId, sessionId: read.sessionId, level: levelOf(read.acr, read.emailVerified), expiresAt: read.expiresAt, roles: read.roles };
        // A token issued to an OAuth client (client_id, RFC 9068) counts only for an OAuth resource it
        // names, never as the user's own session token, even if it also names our audience; ours never
        // carry client_id and must name our audience.
        const aud = audienceOf(token);
        if (read.clientId !== undefined) {
          const oauthAudience = aud.find((a) => a !== deps.audience && audiences.includes(a));
          if (!oauthAudience) return { ok: false, reason: "invalid_token" };
          claims.delegation = { clientId: read.clientId, audience: oauthAudience, scope: read.scope ?? "" };
        } else if (!aud.includes(deps.audience)) {
          return { ok: false, reason: "invalid_token" };
        }
        deps.cache.set(key, claims, mark, read.expiresAt * 1000 - deps.clock.now());
        return { ok: true, claims };
      } catch (error) {
        if (!(error instanceof TokenRefused)) return { ok: false, reason: "jwks_unavailable" };
        return { ok: false, reason: error.code === "expired" ? "token_expired" : "invalid_token" };
      }
    },
  };
}
