import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hashSessionSecret, newSessionId, newSessionSecret, parseSessionSecret } from "../../../src/contract/session-secret.js";
import { decryptPrivateKey, encryptPrivateKey } from "../../../src/auth/tokens/key-crypto.js";

describe("private key encryption", () => {
  const key = randomBytes(32);

  it("round-trips and never stores the plaintext", () => {
    const sealed = encryptPrivateKey(key, "kid-1", "-----BEGIN PRIVATE KEY-----abc");
    expect(sealed.toString("latin1")).not.toContain("PRIVATE KEY");
    expect(decryptPrivateKey(key, "kid-1", sealed)).toBe("-----BEGIN PRIVATE KEY-----abc");
  });

  it("refuses a ciphertext moved to another kid, a flipped bit, or another key", () => {
    const sealed = encryptPrivateKey(key, "kid-1", "secret");
    expect(() => decryptPrivateKey(key, "kid-2", sealed)).toThrow();
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    expect(() => decryptPrivateKey(key, "kid-1", flipped)).toThrow();
    expect(() => decryptPrivateKey(randomBytes(32), "kid-1", sealed)).toThrow();
  });
});

describe("session secrets (refresh tokens and cookies)", () => {
  it("name their session and carry 256 random bits", () => {
    const id = newSessionId();
    const { value: token, hash } = newSessionSecret(id);
    expect(parseSessionSecret(token)).toEqual({ sessionId: id, hash });
    expect(hash).toBe(hashSessionSecret(token));
    expect(hash).not.toContain(token.split(".")[1]);
    expect(newSessionSecret(id).value).not.toBe(token);
  });

  it.each(["", "abc", "a.b", `${"a".repeat(22)}.${"b".repeat(42)}`, `${"a".repeat(22)}.${"b".repeat(43)}x`, `${"a".repeat(21)}!.${"b".repeat(43)}`])(
    "rejects malformed %j",
    (token) => expect(parseSessionSecret(token)).toBeUndefined(),
  );
});
