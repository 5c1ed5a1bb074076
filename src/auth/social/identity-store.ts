import type { SessionRevocation } from "../sessions/session-revocations.js";

/**
 * Who an identity is: the configured provider id, the issuer that vouched for the subject, and the
 * subject. The issuer is part of it because the configuration under one id may change (another
 * tenant, a GitHub Enterprise Server, a new SOCIAL_<ID>_ISSUER): subjects are unique only per issuer
 * (OIDC Core 2, "sub": "locally unique ... within the Issuer"), so another issuer's user 12345 is not ours.
 */
export interface IdentityKey {
  provider: string;
  issuer: string;
  subject: string;
}

/** An identity at an outside provider, linked to one account. */
export interface StoredIdentity extends IdentityKey {
  id: string;
  userId: string;
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
  byKey(key: IdentityKey): Promise<StoredIdentity | undefined>;
  listForUser(userId: string): Promise<StoredIdentity[]>;
  /** Undefined when the identity is already linked, to this account or another. */
  link(userId: string, key: IdentityKey, email: string): Promise<StoredIdentity | undefined>;
  /**
   * Links after a proof of the account's mailbox. An account whose address was not verified is
   * claimed in the same transaction: whoever set it up never proved the mailbox (a pre-account
   * takeover: sign up with someone else's address, wait for them), so it becomes verified and loses
   * its password, TOTP factor, recovery codes, passkeys, pending reset and email-change links, and
   * every session; a security notice says so. Undefined when the identity is already linked.
   */
  linkByMail(userId: string, key: IdentityKey, email: string): Promise<MailLinked | undefined>;
  /**
   * A new account with no password and a verified email, and its identity, in one transaction.
   * Undefined when the email is taken (or the identity was linked meanwhile): nothing is written.
   */
  createAccount(email: string, key: IdentityKey): Promise<StoredIdentity | undefined>;
  recordUse(id: string): Promise<void>;
  /**
   * Removes the identity unless it is the account's last way to sign in (no password, passkey or
   * other identity), and ends every session but `keepSessionId` (the caller's): a session does not
   * say which identity opened it, and one opened by the identity must not outlive it.
   */
  unlink(userId: string, id: string, keepSessionId: string): Promise<UnlinkOutcome>;
}
