import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { Clock } from "../../platform/clock.js";
import { DomainError } from "../../platform/errors.js";
import { ACCESS_TOKEN_TYP, type AccessClaims } from "../../contract/access-token-rules.js";
import { TokenRefused, verifyAccessToken } from "../../contract/access-token-verify.js";
import type { KeyRing } from "./key-ring.js";
import type { SessionRecord } from "../sessions/session-store.js";

export interface AccessTokens {
  /** The token states the session's `acr` and `email_verified`, from which the gateway derives the level. */
  issue(session: Pick<SessionRecord, "id" | "userId" | "acr" | "emailVerified">): Promise<{ token: string; expiresAt: Date }>;
  /** Checks signature and claims only; whether the session still lives is the caller's question. */
  verify(token: string): Promise<AccessClaims>;
}

export interface AccessTokenDeps {
  keys: KeyRing;
  issuer: string;
  audience: string;
  ttlMs: number;
  clock: Clock;
  /** The user's roles for the `roles` claim (role-copies.ts); none when absent. */
  rolesOf?: (userId: string) => Promise<string[]>;
}

const invalidToken = (reason: string) => new DomainError("unauthenticated", `invalid access token: ${reason}`);

export function createAccessTokens(deps: AccessTokenDeps): AccessTokens {
  return {
    async issue({ id, userId, acr, emailVerified }) {
      const key = deps.keys.current();
      const nowS = Math.floor(deps.clock.now() / 1000);
      const expS = nowS + Math.floor(deps.ttlMs / 1000);
      const roles = deps.rolesOf ? await deps.rolesOf(userId) : [];
      // RFC 9068 2.2.1 (acr), OpenID Connect Core 5.1 (email_verified), RFC 9068 7.2.1.1 (roles). Not required
      // claims: a token without them proves `basic` and no role.
      const token = await new SignJWT({ sid: id, acr, email_verified: emailVerified, ...(roles.length > 0 ? { roles } : {}) })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
        .setIssuer(deps.issuer)
        .setAudience(deps.audience)
        .setSubject(userId)
        .setJti(randomUUID())
        .setIssuedAt(nowS)
        .setExpirationTime(expS)
        .sign(key.privateKey);
      return { token, expiresAt: new Date(expS * 1000) };
    },

    async verify(token) {
      if (token.length === 0) throw invalidToken("empty");
      let claims: AccessClaims;
      try {
        claims = await verifyAccessToken(token, (kid, alg) => deps.keys.verificationKey(kid, alg), {
          algorithms: deps.keys.algorithms(),
          issuer: deps.issuer,
          audience: deps.audience,
          now: deps.clock.now(),
        });
      } catch (error) {
        if (!(error instanceof TokenRefused)) throw error;
        if (error.code === "expired") throw new DomainError("unauthenticated", "access token expired");
        throw invalidToken(error.code === "too_long" ? "too long" : error.code.replaceAll("_", " "));
      }
      // Signed by the same keys, but delegated: an OAuth client's token never acts as the user on our own API.
      if (claims.clientId !== undefined) throw invalidToken("issued to an OAuth client");
      return claims;
    },
  };
}
