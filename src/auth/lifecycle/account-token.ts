import { createHash, randomBytes } from "node:crypto";
import { invalidArgument } from "../../platform/errors.js";

// 256 bits from the CSPRNG, base64url: 43 characters.
export const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** A single-use mailed token and the only form of it that is stored. */
export function newAccountToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashAccountToken(token) };
}

/** SHA-256 suffices (no salt, no stretching): the token has 256 bits of entropy, nothing to brute-force. */
export function hashAccountToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

export function requireAccountToken(token: string): string {
  if (!TOKEN_FORMAT.test(token)) throw invalidArgument("token is malformed");
  return token;
}
