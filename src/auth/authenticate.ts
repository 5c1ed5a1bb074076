import { parseBearer } from "../contract/credentials.js";
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

export function createAuthenticator(deps: { tokens: AccessTokens; sessions: SessionStore }): Authenticator {
  return {
    async authenticate(authorization) {
      const bearer = parseBearer(authorization);
      if (bearer.kind === "none" && !authorization) throw new DomainError("unauthenticated", "missing authorization: Bearer <access token>");
      if (bearer.kind === "malformed" && bearer.reason !== "empty") {
        throw new DomainError("unauthenticated", `invalid access token: ${bearer.reason === "too_long" ? "too long" : "malformed"}`);
      }
      if (bearer.kind !== "token") throw new DomainError("unauthenticated", "authorization must be: Bearer <access token>");
      const claims = await deps.tokens.verify(bearer.token);
      // Revocation is checked on the primary store of sessions on every call: a signed token alone is not enough.
      const session = await deps.sessions.touch(claims.sessionId);
      if (!session || session.userId !== claims.userId) throw new DomainError("unauthenticated", "session has ended");
      return { userId: claims.userId, sessionId: claims.sessionId, session };
    },
  };
}
