import { createHash } from "node:crypto";
import type { AccessClaims } from "../contract/access-token-rules.js";
import { parseBearer } from "../contract/credentials.js";
import type { Clock } from "../platform/clock.js";
import { DomainError } from "../platform/errors.js";
import type { TtlCache } from "../platform/ttl-cache.js";
import type { SessionRecord, SessionStore } from "./sessions/session-store.js";
import type { AccessTokens } from "./tokens/access-tokens.js";

export interface Caller {
  userId: string;
  sessionId: string;
  session: SessionRecord;
}

export interface Authenticator {
  /** The caller behind an `authorization: Bearer` header, whose session must still be live. */
  authenticate(authorization: string | null): Promise<Caller>;
}

export interface AuthenticatorDeps {
  tokens: AccessTokens;
  sessions: SessionStore;
  /**
   * Claims of tokens whose signature and claims already verified, by the token's SHA-256. A
   * verified signature stays verified, so only the token's expiry and the cache TTL end an entry;
   * the session is still read on every call, so revocation stays immediate.
   */
  verified?: { cache: TtlCache<AccessClaims>; clock: Clock };
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  async function claimsOf(token: string): Promise<AccessClaims> {
    const memo = deps.verified;
    if (!memo) return deps.tokens.verify(token);
    const key = createHash("sha256").update(token).digest("base64url");
    const hit = memo.cache.get(key)?.value;
    if (hit && hit.expiresAt * 1000 > memo.clock.now()) return hit;
    const mark = memo.cache.mark();
    const claims = await deps.tokens.verify(token);
    memo.cache.set(key, claims, mark, claims.expiresAt * 1000 - memo.clock.now());
    return claims;
  }

  return {
    async authenticate(authorization) {
      const bearer = parseBearer(authorization);
      if (bearer.kind === "none" && !authorization) throw new DomainError("unauthenticated", "missing authorization: Bearer <access token>");
      if (bearer.kind === "malformed" && bearer.reason !== "empty") {
        throw new DomainError("unauthenticated", `invalid access token: ${bearer.reason === "too_long" ? "too long" : "malformed"}`);
      }
      if (bearer.kind !== "token") throw new DomainError("unauthenticated", "authorization must be: Bearer <access token>");
      const claims = await claimsOf(bearer.token);
      // Revocation is checked on the primary store of sessions on every call: a signed token alone is not enough.
      const session = await deps.sessions.touch(claims.sessionId, claims.userId);
      if (!session) throw new DomainError("unauthenticated", "session has ended");
      return { userId: claims.userId, sessionId: claims.sessionId, session };
    },
  };
}
