/** The account a write touched: enough to notify its owner and invalidate what is cached about it. */
export interface AccountRef {
  id: string;
  email: string;
}

/**
 * Account changes that mail the owner. Each method commits the change and its
 * mail (and any token) in one transaction: nothing acknowledged loses its mail.
 */
export interface AccountWrites {
  /** Creates the account with a verification mail; for a taken email, mails its owner a notice instead. */
  register(email: string, passwordHash: string): Promise<{ created: boolean; account?: AccountRef }>;
  /** Replaces the hash only if it is still `expected`; notifies the owner. */
  changePassword(account: AccountRef, expected: string, next: string): Promise<boolean>;
  requestVerification(account: AccountRef): Promise<void>;
  /** Redeems a verification token; undefined if it is unknown, used or expired. */
  verifyEmail(token: string): Promise<AccountRef | undefined>;
  requestReset(account: AccountRef): Promise<void>;
  /** Redeems a reset token and sets the password; undefined if the token is unknown, used or expired. */
  resetPassword(token: string, passwordHash: string): Promise<AccountRef | undefined>;
}
