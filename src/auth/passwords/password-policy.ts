import { readFileSync } from "node:fs";
import { invalidArgument } from "../../platform/errors.js";
import type { BreachedPasswords } from "./breached-passwords.js";
import { normalizePassword } from "./normalize-password.js";

// NIST SP 800-63B 5.1.1.2: at least 8 characters, allow at least 64, no composition rules,
// check against commonly used passwords. 128 bounds the work a hash request can cause.
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;

export interface PasswordPolicy {
  /** Throws invalid_argument naming the rule the password breaks. */
  check(password: string): void;
  /** `check`, then the breached-password corpus when one is configured (PASSWORD_BREACH_CHECK_URL). */
  assess(password: string): Promise<void>;
}

export function loadCommonPasswords(path = new URL("../../../data/common-passwords.txt", import.meta.url)): Set<string> {
  return new Set(
    readFileSync(path, "utf8")
      .split("\n")
      .map((line) => line.trim().toLowerCase())
      .filter((line) => line !== ""),
  );
}

export function createPasswordPolicy(common: ReadonlySet<string>, breached?: BreachedPasswords): PasswordPolicy {
  const policy: PasswordPolicy = {
    async assess(password) {
      policy.check(password);
      if (breached && (await breached.seen(password))) throw invalidArgument("password appears in a known data breach; choose another");
    },
    check(raw) {
      // Every rule judges what is hashed (800-63B 5.1.1.2): full-width "ｐａｓｓｗｏｒｄ１２３" is "password123".
      const password = normalizePassword(raw);
      // 800-63B counts characters; code points, not UTF-16 units.
      const length = [...password].length;
      if (length < MIN_PASSWORD_LENGTH) throw invalidArgument(`password must be at least ${MIN_PASSWORD_LENGTH} characters`);
      if (length > MAX_PASSWORD_LENGTH) throw invalidArgument(`password must be at most ${MAX_PASSWORD_LENGTH} characters`);
      if (/\p{Cc}/u.test(password)) throw invalidArgument("password must not contain control characters");
      if (common.has(password.toLowerCase())) throw invalidArgument("password is too common; choose another");
    },
  };
  return policy;
}
