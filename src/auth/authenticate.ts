import { DomainError } from "../platform/errors.js";
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

// RFC 6750 2.1: "Bearer" then one space then the token (b64token).
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

export function createAuthenticator(deps: { tokens: AccessTokens; sessions: SessionStore }): Authenticator {
  return {
    async authenticate(authorization) {
      if (!authorization) throw new DomainError("unauthenticated", "missing authorization: Bearer <access token>");
      const match = BEARER.exec(authorization.trim());
      if (!match?.[1]) throw new DomainError("unauthenticated", "authorization must be: Bearer <access token>");
      const claims = await deps.tokens.verify(match[1]);
      // Revocation is checked on the primary store of sessions on every call: a signed token alone is not enough.
      const session = await deps.sessions.touch(claims.sessionId);
      if (!session || session.userId !== claims.userId) throw new DomainError("unauthenticated", "session has ended");
      return { userId: claims.userId, sessionId: claims.sessionId, session };
    },
  };
}
