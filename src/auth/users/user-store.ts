export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  passwordHash: string;
  disabled: boolean;
  createdAt: Date;
}

/** What a user sees of their own account: no credentials, so it may come from a replica. */
export type Profile = Omit<User, "passwordHash">;

/**
 * Persistence of accounts. Reads of credentials and account state
 * (`findByEmail`, `findById`) are security-critical and always hit the
 * primary; only `findProfile` may be served by a replica, read-your-writes.
 */
export interface UserStore {
  findByEmail(email: string): Promise<User | undefined>;
  findById(id: string): Promise<User | undefined>;
  /** The user's own profile, for display: from a replica once it has replayed this user's writes. */
  findProfile(id: string): Promise<Profile | undefined>;
  /**
   * Replaces the hash only if it is still `expected`, so a concurrent change is never overwritten by a rehash.
   * Takes the email with the id so cached copies keyed by it can be dropped without reading the row again.
   */
  replacePasswordHash(account: Pick<User, "id" | "email">, expected: string, next: string): Promise<boolean>;
  /**
   * Whether the primary still holds `passwordHash` for this enabled account: the last word on a
   * credential that verified against a copy (the Redis cache can keep a replaced row when its drop
   * failed). Never cached.
   */
  holdsCredential(account: Pick<User, "id">, passwordHash: string): Promise<boolean>;
}
