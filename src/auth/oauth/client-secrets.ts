import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** 256 random bits, base64url: too much entropy to guess, so one SHA-256 suffices to store it (no argon2 on each token request). */
export function newClientSecret(): { secret: string; sha256: Buffer } {
  const secret = randomBytes(32).toString("base64url");
  return { secret, sha256: secretDigest(secret) };
}

export const secretDigest = (secret: string): Buffer => createHash("sha256").update(secret, "utf8").digest();

/** Constant-time comparison of a presented secret with the stored digest (hex, as oidc-provider holds it). */
export function secretMatches(storedHex: string | undefined, presented: string): boolean {
  if (!storedHex || presented.length === 0 || presented.length > 512) return false;
  const stored = Buffer.from(storedHex, "hex");
  const digest = secretDigest(presented);
  return stored.length === digest.length && timingSafeEqual(stored, digest);
}

export const newClientId = (): string => `c_${randomBytes(16).toString("base64url")}`;
