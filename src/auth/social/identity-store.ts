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

export type UnlinkOutcome = "removed" | "not_found" | "last_sign_in";

/** Linked identities, read and written on the primary: they decide sign-ins. */
export interface IdentityStore {
  bySubject(provider: string, subject: string): Promise<StoredIdentity | undefined>;
  listForUser(userId: string): Promise<StoredIdentity[]>;
  /** Undefined when (provider, subject) is already linked, to this account or another. */
  link(userId: string, provider: string, subject: string, email: string): Promise<StoredIdentity | undefined>;
  /**
   * A new account with no password and a verified email, and its identity, in one transaction.
   * Undefined when the email is taken (or the identity was linked meanwhile): nothing is written.
   */
  createAccount(email: string, provider: string, subject: string): Promise<StoredIdentity | undefined>;
  recordUse(id: string): Promise<void>;
  /** Removes the identity unless it is the account's last way to sign in (no password, passkey or other identity). */
  unlink(userId: string, id: string): Promise<UnlinkOutcome>;
}
