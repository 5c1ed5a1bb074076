import type { AccountRef } from "../lifecycle/account-writes.js";

export interface FoundUser extends AccountRef {
  emailVerified: boolean;
  disabled: boolean;
  createdAt: Date;
  /** created_at in µs since the epoch, exact (a Date keeps only ms): the page cursor. */
  createdMicros: string;
  roles: string[];
}

export interface FactorState {
  type: "totp";
  confirmed: boolean;
  recoveryCodesLeft: number;
}

export interface UserFilter {
  /** LIKE-escaped by the store. */
  emailPrefix: string | undefined;
  userId: string | undefined;
  createdAfter: Date | undefined;
  createdBefore: Date | undefined;
  /** Users after this (created_at µs, id) in creation order. */
  after: { createdMicros: string; id: string } | undefined;
  limit: number;
}

/** A change whose sessions end with its commit (session-revocations.ts); undefined count: applied by the sweep. */
export interface Revoked {
  account: AccountRef;
  revokedSessions: number | undefined;
}

/**
 * An operator's reads and changes of other people's accounts, from and to the primary. Each change
 * commits with its revocation and mail, as the owner's own changes do (account-writes.ts).
 */
export interface AdminStore {
  find(filter: UserFilter): Promise<FoundUser[]>;
  factors(userId: string): Promise<FactorState[]>;
  /** Disables the account (if not already), voids its mailed links, and ends every session. */
  disable(userId: string): Promise<Revoked | undefined>;
  enable(userId: string): Promise<AccountRef | undefined>;
  /**
   * Replaces the password with `unusableHash` (of a secret nobody has), removes every passkey, ends
   * every session and mails a reset link. "disabled" for a disabled account: nobody could redeem the link.
   */
  forceReset(userId: string, unusableHash: string): Promise<Revoked | "disabled" | undefined>;
  /** Removes the account's passkeys; how many there were. */
  removePasskeys(userId: string): Promise<number>;
  /**
   * Deletes the account and what hangs off it (tokens, factors, roles, pending revocations, its queued
   * and sent mail) and pseudonymises its audit trail, the events it caused as an admin included.
   */
  erase(userId: string, pseudonym: string): Promise<AccountRef | undefined>;
}
