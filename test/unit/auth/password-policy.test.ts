import { describe, expect, it } from "vitest";
import { createPasswordPolicy, loadCommonPasswords } from "../../../src/auth/passwords/password-policy.js";

describe("password policy (NIST 800-63B)", () => {
  const common = loadCommonPasswords();
  const policy = createPasswordPolicy(common);

  it("ships a list of common passwords of the minimum length and up", () => {
    expect(common.size).toBeGreaterThan(90_000);
    for (const p of ["password", "12345678", "qwertyuiop", "iloveyou"]) expect(common.has(p)).toBe(true);
  });

  it("accepts long passphrases without composition rules", () => {
    expect(() => policy.check("correct horse battery staple")).not.toThrow();
    expect(() => policy.check("alllowercaseletters")).not.toThrow();
    expect(() => policy.check("ünïcødé-pässwörd")).not.toThrow();
  });

  it.each([
    ["1234567", /at least 8/],
    ["x".repeat(129), /at most 128/],
    ["PASSWORD", /too common/],
    ["Password1", /too common/],
    ["tab\there-and-more", /control/],
  ])("rejects %j", (password, message) => expect(() => policy.check(password)).toThrow(message));

  it("judges the NFKC form that is hashed, not the raw text (800-63B 5.1.1.2)", () => {
    // Full-width letters and digits hash as "password123", which is on the list.
    expect(() => policy.check("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11\uff12\uff13")).toThrow(/too common/);
    expect(() => policy.check("\uff30\uff21\uff33\uff33\uff37\uff2f\uff32\uff24")).toThrow(/too common/);
  });

  it("counts characters, not bytes or UTF-16 units", () => {
    expect(() => policy.check("🔐".repeat(8))).not.toThrow();
    expect(() => policy.check("🔐".repeat(128))).not.toThrow();
    expect(() => policy.check("🔐".repeat(7))).toThrow(/at least 8/);
  });
});
