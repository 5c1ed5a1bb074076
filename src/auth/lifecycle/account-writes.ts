/** Who asked, for the audit row a write records with its change. */
export interface Requester {
  ip: string;
  userAgent: string;
  requestId: string;
}

/** The account a write touched: enough to notify its owner and invalidate what is cached about it. */
export interface AccountRef {
  id: string;
  email: string;
}

/** A redeemed verification token; `previousEmail` is set when it confirmed a change of address. */
export interface VerifiedEmail extends AccountRef {
  previousEmail?: string;
}

/**
 * Account changes that mail the owner. Each method commits the change and its
 * mail (and any token) in one transaction: nothing acknowledged loses its mail.
 */
export interface AccountWrites {
  /** Creates the account with a verification mail; for a taken email, mails its owner a notice instead. The same work either way. */
  register(email: string, passwordHash: string): Promise<{ created: boolean; account?: AccountRef }>;
  /**
   * Replaces the hash only if it is still `expected`, notifies the owner, and ends every other session
   * but `keepSessionId`: the revocation commits with the hash (session-revocations.ts). Undefined if the
   * hash had changed; else how many sessions ended now (undefined `revokedSessions`: Redis failed, and
   * the committed revocation is applied by the sweep).
   */
  changePassword(account: AccountRef, expected: string, next: string, keepSessionId: string): Promise<{ revokedSessions: number | undefined } | undefined>;
  requestVerification(account: AccountRef): Promise<void>;
  /**
   * Mails `newEmail` a link that moves the account there (or, if another account has it, a notice)
   * and mails the current address a notice either way.
   */
  requestEmailChange(account: AccountRef, newEmail: string): Promise<void>;
  /**
   * Redeems a verification or email-change token; undefined if it is unknown, used or expired.
   * Throws INVALID_ARGUMENT, changing nothing, if the new address was taken since the request.
   */
  verifyEmail(token: string): Promise<VerifiedEmail | undefined>;
  /**
   * Mails a reset link to the account with this (normalised) email if it is active, and records the
   * request `by` whom in the audit log (password.reset_requested) in the same commit; the account,
   * if any. The same work whether or not there is one.
   */
  requestReset(email: string, by: Requester): Promise<AccountRef | undefined>;
  /**
   * Redeems a reset token, sets the password and ends every session of the account, committed together
   * as for changePassword; undefined if the token is unknown, used or expired.
   */
  resetPassword(token: string, passwordHash: string): Promise<(AccountRef & { revokedSessions: number | undefined }) | undefined>;
}
