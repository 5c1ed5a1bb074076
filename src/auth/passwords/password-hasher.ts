import argon2 from "argon2";
import type { Argon2Params } from "../config.js";
import { normalizePassword } from "./normalize-password.js";

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * Whether `password` is the one `hash` was made from. A hash argon2 cannot read (an account with no
   * password: '', as a social sign-in makes it) matches nothing and costs a dummy verify all the same.
   */
  verify(hash: string, password: string): Promise<boolean>;
  /** True when the stored hash was made with other parameters and should be upgraded. */
  needsRehash(hash: string): boolean;
  /** Spends the same time as a real verify, for unknown accounts (no user enumeration by timing). */
  verifyDummy(password: string): Promise<void>;
}

export async function createPasswordHasher(params: Argon2Params): Promise<PasswordHasher> {
  const options = {
    type: argon2.argon2id as 2,
    memoryCost: params.memoryKiB,
    timeCost: params.iterations,
    parallelism: params.parallelism,
  };
  const hash = (password: string) => argon2.hash(normalizePassword(password), options);
  const dummyHash = await hash("dummy password, never matches anything real");
  const verifyDummy = async (password: string) => {
    await argon2.verify(dummyHash, normalizePassword(password));
  };
  return {
    hash,
    async verify(stored, password) {
      try {
        return await argon2.verify(stored, normalizePassword(password));
      } catch {
        // argon2 refuses an unreadable hash before any work: without the dummy, "this account has no
        // password" would answer faster than a wrong password (DESIGN: no user enumeration by timing).
        await verifyDummy(password);
        return false;
      }
    },
    needsRehash: (stored) => argon2.needsRehash(stored, options),
    verifyDummy,
  };
}
