import { Secret } from "otpauth";
import { describe, expect, it } from "vitest";
import { createTotp } from "../../../src/auth/mfa/totp.js";
import { hashRecoveryCode, isRecoveryCode, newRecoveryCodes } from "../../../src/auth/mfa/recovery-codes.js";

// RFC 6238 Appendix B, the SHA1 rows: seed "12345678901234567890", 8 digits, 30 s steps.
const RFC_SEED = Secret.fromLatin1("12345678901234567890");
const RFC_SHA1_VECTORS: Array<[number, string]> = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

describe("TOTP (RFC 6238)", () => {
  const rfc = createTotp({ issuer: "test", digits: 8 });

  it.each(RFC_SHA1_VECTORS)("at T=%i the code is %s", (seconds, code) => {
    expect(rfc.code(RFC_SEED, seconds * 1000)).toBe(code);
    expect(rfc.match(RFC_SEED.base32, code, seconds * 1000)).toBe(Math.floor(seconds / 30));
  });

  it("accepts one step either side and no further", () => {
    const now = 1111111111 * 1000;
    const step = Math.floor(now / 30_000);
    expect(rfc.match(RFC_SEED.base32, rfc.code(RFC_SEED, now - 30_000), now)).toBe(step - 1);
    expect(rfc.match(RFC_SEED.base32, rfc.code(RFC_SEED, now + 30_000), now)).toBe(step + 1);
    expect(rfc.match(RFC_SEED.base32, rfc.code(RFC_SEED, now - 60_000), now)).toBeUndefined();
    expect(rfc.match(RFC_SEED.base32, rfc.code(RFC_SEED, now + 60_000), now)).toBeUndefined();
  });

  it("makes 160-bit secrets and otpauth URIs that name the issuer and account", () => {
    const totp = createTotp({ issuer: "Example Co" });
    const secret = totp.newSecret();
    expect(Secret.fromBase32(secret).bytes).toHaveLength(20);
    const uri = new URL(totp.uri(secret, "ada@example.com"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(secret);
    expect(uri.searchParams.get("issuer")).toBe("Example Co");
    expect(uri.searchParams.get("digits")).toBe("6");
    expect(decodeURIComponent(uri.pathname)).toContain("ada@example.com");
  });
});

describe("recovery codes", () => {
  it("are ten distinct codes that hash the same however they are typed", () => {
    const codes = newRecoveryCodes();
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) {
      expect(code).toMatch(/^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
      expect(isRecoveryCode(code)).toBe(true);
      expect(hashRecoveryCode(code.toUpperCase().replaceAll("-", " "))).toEqual(hashRecoveryCode(code));
    }
    expect(isRecoveryCode("123456")).toBe(false);
  });
});
