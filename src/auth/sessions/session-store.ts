import type { SessionAcr } from "../../contract/auth-level.js";

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
  /** The last proof of the user in this session (sign-in, or a re-authentication): OIDC `auth_time`. */
  authTime: Date;
}

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

export interface NewSession {
  userId: string;
  userAgent: string;
  ip: string;
  secondFactor: boolean;
  emailVerified: boolean;
  /** The device fingerprint the Check compares requests with (DEVICE_BINDING); undefined when binding is off. */
  fingerprint: string | undefined;
  /**
   * When the password this session rests on was read (epoch ms), taken before the read: the session's
   * created and auth time. A credential change that commits after it ends the session
   * (revokeCreatedBefore), however much later the session is written.
   */
  provenAt: number;
}

/**
 * Sessions and their refresh-token families. Refresh tokens are kept only as hashes.
 * Revoking, and changing what a gateway caches about a session, announces a session event
 * (src/contract/session-events.ts) to every authz instance.
 */
export interface SessionStore {
  create(input: NewSession): Promise<IssuedRefresh>;
  /** Atomically swaps the family's current token for a new one: of two concurrent calls, one wins. */
  rotate(refreshToken: string): Promise<RotateOutcome>;
  /**
   * The user's live session, marking it used (sliding the idle expiry; a store may skip the write while
   * the last one is recent, never so long that a session in use idles out); undefined if revoked,
   * expired or another user's. The caller names the user (from a verified token), so a store can read
   * the session and the user's revocation cutoff at once.
   */
  touch(sessionId: string, userId: string): Promise<SessionRecord | undefined>;
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
  /** Records that the user proved themselves again in this session now; false if it is not the user's live session. */
  markReauthenticated(sessionId: string, userId: string): Promise<boolean>;
  /**
   * Revokes every session of the user created before `beforeMs` except `keep`, sessions the index no
   * longer names included: the cutoff is recorded and announced first, in one write, and holds from
   * then on for every reader; the sessions are deleted after it. Idempotent; an older cutoff never
   * replaces a newer one. Returns how many sessions it deleted.
   */
  revokeCreatedBefore(userId: string, beforeMs: number, keep?: string): Promise<number>;
  /** Records on every live session of the user that the email is now verified, and tells the gateways. */
  markEmailVerified(userId: string): Promise<void>;
}
