import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { User, UserStore } from "../../../src/auth/users/user-store.js";

export interface UserStoreUnderTest {
  store: UserStore;
  /** Puts an account where the store reads it, as registration would. */
  seed(user: User): Promise<void>;
  close(): Promise<void>;
}

const account = (overrides: Partial<User> = {}): User => ({
  id: randomUUID(),
  email: `contract-${randomUUID()}@example.com`,
  emailVerified: false,
  passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
  disabled: false,
  createdAt: new Date(Math.floor(Date.now() / 1000) * 1000),
  ...overrides,
});

/** What every UserStore must do (the Postgres store, its Redis-cached wrapper, the in-memory one). */
export function userStoreContract(name: string, factory: () => Promise<UserStoreUnderTest>): void {
  describe(`UserStore contract: ${name}`, () => {
    async function withStore(test: (s: UserStoreUnderTest) => Promise<void>) {
      const underTest = await factory();
      try {
        await test(underTest);
      } finally {
        await underTest.close();
      }
    }

    it("finds an account by email and by id, and nothing for unknown or malformed keys", async () => {
      await withStore(async ({ store, seed }) => {
        const user = account({ emailVerified: true });
        await seed(user);
        expect(await store.findByEmail(user.email)).toEqual(user);
        expect(await store.findById(user.id)).toEqual(user);
        expect(await store.findByEmail(`missing-${user.email}`)).toBeUndefined();
        expect(await store.findById(randomUUID())).toBeUndefined();
        expect(await store.findById("'; DROP TABLE users; --")).toBeUndefined();
      });
    });

    it("shows a profile without the credential, and a disabled account as disabled", async () => {
      await withStore(async ({ store, seed }) => {
        const user = account({ disabled: true });
        await seed(user);
        const profile = await store.findProfile(user.id);
        expect(profile).toEqual({ id: user.id, email: user.email, emailVerified: false, disabled: true, createdAt: user.createdAt });
        expect(profile).not.toHaveProperty("passwordHash");
        expect((await store.findByEmail(user.email))?.disabled).toBe(true);
        expect(await store.findProfile("nope")).toBeUndefined();
      });
    });

    it("holds a credential only while the account has that hash and is enabled", async () => {
      await withStore(async ({ store, seed }) => {
        const user = account();
        await seed(user);
        const disabled = account({ disabled: true });
        await seed(disabled);
        expect(await store.holdsCredential(user, user.passwordHash)).toBe(true);
        expect(await store.holdsCredential(user, `${user.passwordHash}x`)).toBe(false);
        expect(await store.holdsCredential(disabled, disabled.passwordHash)).toBe(false);
        expect(await store.holdsCredential({ id: randomUUID() }, user.passwordHash)).toBe(false);
        await store.replacePasswordHash(user, user.passwordHash, "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3");
        expect(await store.holdsCredential(user, user.passwordHash)).toBe(false);
      });
    });

    it("replaces a password hash only while it is still the expected one", async () => {
      await withStore(async ({ store, seed }) => {
        const user = account();
        await seed(user);
        // Read first, so a caching store holds the old row the replacement must displace.
        expect((await store.findByEmail(user.email))?.passwordHash).toBe(user.passwordHash);
        expect(await store.replacePasswordHash(user, "stale", "next")).toBe(false);
        expect(await store.replacePasswordHash(user, user.passwordHash, "next")).toBe(true);
        expect((await store.findByEmail(user.email))?.passwordHash).toBe("next");
        expect((await store.findById(user.id))?.passwordHash).toBe("next");
        expect(await store.replacePasswordHash(user, user.passwordHash, "again")).toBe(false);
      });
    });
  });
}
