import type { SessionRevocation } from "../sessions/session-revocations.js";

/** An identity at an outside provider, linked to one account. */
export interface StoredIdentity {
  id: string;
  userId: string;
  provider: string;
  subject: string;
  email: string;
  createdAt: Date;
  lastUsedAt: Date | undefined;
}

/**
 * A link by a mailed link. `claimed`: the account's address had never been proven, so the mail was
 * the first proof of it: the revocation of every session, committed with the link, to apply now.
 */
export interface MailLinked {
  identity: StoredIdentity;
  claimed: SessionRevocation | undefined;
}

/** `removed`: with the revocation of the account's other sessions, committed with it, to apply now. */
export type UnlinkOutcome = { outcome: "removed"; revocation: SessionRevocation } | { outcome: "not_found" } | { outcome: "last_sign_in" };

/** Linked identities, read and written on the primary: they decide sign-ins. */
export interface IdentityStore {
  bySubject(provider: string, subject: string): Promise<StoredIdentity | undefined>;
  listForUser(userId: string): Promise<StoredIdentity[]>;
  /** Undefined when (provider, subject) is already linked, to this account or another. */
  link(userId: string, provider: string, subject: string, email: string): Promise<StoredIdentity | undefined>;
  /**
   * Links after a proof of the account's mailbox. An account whose address was not verified is
   * claimed in the same transaction: whoever set it up never proved the mailbox (a pre-account
   * takeover: sign up with someone else's address, wait for them), so it becomes verified and loses
   * its password, TOTP factor, recovery codes, passkeys, pending reset and email-change links, and
   * every session; a security notice says so. Undefined when (provider, subject) is already linked.
   */
  linkByMail(userId: string, provider: string, subject: string, email: string): Promise<MailLinked | undefined>;
  /**
   * A new account with no password and a verified email, and its identity, in one transaction.
   * Undefined when the email is taken (or the identity was linked meanwhile): nothing is written.
   */
  createAccount(email: string, provider: string, subject: string): Promise<StoredIdentity | undefined>;
  recordUse(id: string): Promise<void>;
  /**
   * Removes the identity unless it is the account's last way to sign in (no password, passkey or
   * other identity), and ends every session but `keepSessionId` (the caller's): a session does not
   * say which identity opened it, and one opened by the identity must not outlive it.
   */
  unlink(userId: string, id: string, keepSessionId: string): Promise<UnlinkOutcome>;
}
