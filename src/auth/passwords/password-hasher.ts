import argon2 from "argon2";
import type { Argon2Params } from "../config.js";
import { normalizePassword } from "./normalize-password.js";

export interface PasswordHasher {
  hash(password: string): Promise<string>;
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
  const verify = async (stored: string, password: string) => {
    try {
      return await argon2.verify(stored, normalizePassword(password));
    } catch {
      return false;
    }
  };
  const dummyHash = await hash("dummy password, never matches anything real");
  return {
    hash,
    verify,
    needsRehash: (stored) => argon2.needsRehash(stored, options),
    async verifyDummy(password) {
      await verify(dummyHash, password);
    },
  };
}
