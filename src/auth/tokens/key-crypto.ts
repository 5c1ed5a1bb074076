import { open, seal } from "../../platform/aead.js";

/** The kid is the associated data, so a ciphertext cannot be moved to another key row. */
export function encryptPrivateKey(key: Buffer, kid: string, plaintext: string): Buffer {
  return seal(key, kid, Buffer.from(plaintext, "utf8"));
}

export function decryptPrivateKey(key: Buffer, kid: string, sealed: Buffer): string {
  return open(key, kid, sealed).toString("utf8");
}
