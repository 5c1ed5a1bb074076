import { describe, expect, it } from "vitest";
import { levelOf, meetsLevel } from "../../../src/contract/auth-level.js";

describe("levelOf", () => {
  it("gives verified for a verified email, mfa only with a second factor as well", () => {
    expect(levelOf("basic", true)).toBe("verified");
    expect(levelOf("mfa", true)).toBe("mfa");
    expect(levelOf(undefined, true)).toBe("verified");
  });

  it("gives basic while the email is unverified, whatever the acr", () => {
    expect(levelOf("basic", false)).toBe("basic");
    expect(levelOf("mfa", false)).toBe("basic");
    expect(levelOf(undefined, undefined)).toBe("basic");
  });

  it("believes only the literal values the auth service states", () => {
    expect(levelOf("mfa", "true")).toBe("basic");
    expect(levelOf("mfa", 1)).toBe("basic");
    expect(levelOf("MFA", true)).toBe("verified");
    expect(levelOf("verified", true)).toBe("verified");
    expect(levelOf(["mfa"], true)).toBe("verified");
  });

  it("keeps the order linear: a route needing verified admits an mfa session, never an unverified one", () => {
    expect(meetsLevel(levelOf("mfa", true), "verified")).toBe(true);
    expect(meetsLevel(levelOf("mfa", false), "verified")).toBe(false);
    expect(meetsLevel(levelOf("basic", true), "mfa")).toBe(false);
  });
});
