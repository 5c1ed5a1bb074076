import type { AccountRef } from "../lifecycle/account-writes.js";

export interface TotpFactor {
  secretEnc: Buffer;
  confirmed: boolean;
}

/**
 * TOTP factors and recovery codes. Reads are security-critical and come from
 * the primary; changes that the owner must hear about commit with their mail.
 */
export interface MfaStore {
  factor(userId: string): Promise<TotpFactor | undefined>;
  /** Stores a pending secret, replacing an unconfirmed one; false if TOTP is already on. */
  beginEnrollment(userId: string, secretEnc: Buffer): Promise<boolean>;
  /** Turns TOTP on with the step of the code that proved it, and replaces the recovery codes; notifies the owner. */
  confirm(account: AccountRef, counter: number, recoveryCodeHashes: Buffer[]): Promise<boolean>;
  /** Accepts a TOTP step once: true only for the call that moves the last used step forward. */
  useCounter(userId: string, counter: number): Promise<boolean>;
  /** Spends a recovery code: true only for the call that marks it used. */
  useRecoveryCode(userId: string, codeHash: Buffer): Promise<boolean>;
  /** Removes the factor and its recovery codes; notifies the owner. */
  disable(account: AccountRef): Promise<boolean>;
}
