import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";
const COUNT = 10;
const LENGTH = 16;

/** Lower case, separators dropped: what the user typed, as it was hashed. */
const canonical = (code: string) => code.toLowerCase().replace(/[\s-]/g, "");

export const RECOVERY_CODE = /^[a-z0-9]{16}$/;

/** ~79 bits each from the CSPRNG (unambiguous letters and digits), shown as xxxx-xxxx-xxxx-xxxx. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: COUNT }, () => {
    const bytes = randomBytes(LENGTH);
    // 256 % 31 bias is under 1 bit in total over 16 characters; uniformity is not what protects these.
    const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join("");
    return chars.match(/.{4}/g)!.join("-");
  });
}

/** SHA-256 without salt or stretching: with ~79 bits of entropy there is nothing to brute-force. */
export const hashRecoveryCode = (code: string) => createHash("sha256").update(canonical(code)).digest();

export const isRecoveryCode = (code: string) => RECOVERY_CODE.test(canonical(code));
