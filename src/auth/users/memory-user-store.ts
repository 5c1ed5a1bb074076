import type { User, UserStore } from "./user-store.js";

export interface MemoryUserStore extends UserStore {
  /** Puts an account in the store, as registration would. */
  add(user: User): void;
}

/** Accounts in process memory with the Postgres store's semantics (one contract suite runs against both), for unit tests of service logic. */
export function createMemoryUserStore(): MemoryUserStore {
  const byId = new Map<string, User>();
  const copy = (user: User | undefined) => (user ? { ...user } : undefined);
  return {
    add(user) {
      if ([...byId.values()].some((u) => u.email === user.email && u.id !== user.id)) throw new Error(`email ${user.email} is taken`);
      byId.set(user.id, { ...user });
    },
    findByEmail: async (email) => copy([...byId.values()].find((u) => u.email === email)),
    findById: async (id) => copy(byId.get(id)),
    async findProfile(id) {
      const user = byId.get(id);
      if (!user) return undefined;
      const { passwordHash: _, ...profile } = user;
      return profile;
    },
    async holdsCredential(account, passwordHash) {
      const user = byId.get(account.id);
      return user !== undefined && !user.disabled && user.passwordHash === passwordHash;
    },
    async replacePasswordHash(account, expected, next) {
      const user = byId.get(account.id);
      if (!user || user.passwordHash !== expected) return false;
      user.passwordHash = next;
      return true;
    },
  };
}
