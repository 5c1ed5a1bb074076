export interface User {
  id: string;
  email: string;
  emailVerified: boolean;
  passwordHash: string;
  disabled: boolean;
  createdAt: Date;
}

/**
 * Persistence of accounts. Every read here is security-critical or a user's
 * own data, so implementations read from the primary.
 */
export interface UserStore {
  /** Inserts the account; `created` is false when the email is already registered. */
  create(email: string, passwordHash: string): Promise<{ created: boolean; user?: User }>;
  findByEmail(email: string): Promise<User | undefined>;
  findById(id: string): Promise<User | undefined>;
  /** Replaces the hash only if it is still `expected`, so a concurrent change is never overwritten by a rehash. */
  replacePasswordHash(id: string, expected: string, next: string): Promise<boolean>;
}
