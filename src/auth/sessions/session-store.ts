export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** The absolute end of the session, however active it is. */
  expiresAt: Date;
  userAgent: string;
  ip: string;
  /** "mfa" when the session was opened with a second factor (CompleteSignIn), else "basic". */
  acr: SessionAcr;
  /** Whether the account's email was verified, as of sign-in or a later VerifyEmail. */
  emailVerified: boolean;
}

export type SessionAcr = "mfa" | "basic";

export interface IssuedRefresh {
  session: SessionRecord;
  refreshToken: string;
  refreshExpiresAt: Date;
}

export type RotateOutcome =
  | ({ outcome: "ok" } & IssuedRefresh)
  | { outcome: "invalid" }
  /** The token was rotated a moment ago by a concurrent request: refused, family kept. */
  | { outcome: "raced" }
  /** An already-rotated token came back: the family is compromised. */
  | { outcome: "reused"; sessionId: string; userId: string };

/**
 * Sessions and their refresh-token families. Refresh tokens are kept only as
 * hashes. Revoking publishes an invalidation event for the gateways.
 */
export interface SessionStore {
  create(input: { userId: string; userAgent: string; ip: string; secondFactor: boolean; emailVerified: boolean }): Promise<IssuedRefresh>;
  /** Atomically swaps the family's current token for a new one: of two concurrent calls, one wins. */
  rotate(refreshToken: string): Promise<RotateOutcome>;
  /** The live session, marking it used (sliding the idle expiry); undefined if revoked or expired. */
  touch(sessionId: string): Promise<SessionRecord | undefined>;
  listForUser(userId: string): Promise<SessionRecord[]>;
  revoke(sessionId: string, userId: string): Promise<boolean>;
  /**
   * Gives the session a browser cookie (value returned once, hash stored), so the
   * gateway can accept the cookie for it. Undefined if the session is not the user's.
   */
  attachCookie(sessionId: string, userId: string): Promise<string | undefined>;
  /** The live session a browser cookie belongs to, if the cookie's hash matches. */
  findByCookie(sessionId: string, cookieHash: string): Promise<SessionRecord | undefined>;
  /** Revokes every session of the user except `keep`; returns how many. */
  revokeAllForUser(userId: string, keep?: string): Promise<number>;
  /** Records on every live session of the user that the email is now verified, and tells the gateways. */
  markEmailVerified(userId: string): Promise<void>;
}

/** The channel gateways subscribe to; each message is a JSON RevocationEvent. */
export const REVOCATION_CHANNEL = "auth:revocations";

/** `session.changed`: the session lives on, but what a gateway cached about it (its level) is stale. */
export interface RevocationEvent {
  type: "session.revoked" | "session.changed";
  sessionId: string;
  userId: string;
}
