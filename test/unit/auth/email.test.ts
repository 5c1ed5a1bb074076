import { describe, expect, it } from "vitest";
import { normalizeEmail } from "../../../src/auth/email.js";
import { DomainError } from "../../../src/platform/errors.js";

describe("normalizeEmail", () => {
  it.each([
    ["  Alice@Example.COM ", "alice@example.com"],
    ["u\u0308ser@example.com", "üser@example.com"],
    ["first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"],
    ["用户@例子.广告", "用户@例子.广告"],
  ])("%j -> %j", (input, expected) => expect(normalizeEmail(input)).toBe(expected));

  it.each([
    "",
    "plain",
    "a@b",
    "a@@b.co",
    "a b@c.co",
    "a@b..co",
    "a.@b.co",
    "a@-b.co",
    "a\u0000@b.co",
    "a\u200b@b.co",
    "\"quoted\"@b.co",
    `${"x".repeat(65)}@b.co`,
    `a@${"b".repeat(250)}.co`,
  ])("rejects %j as invalid_argument", (input) => {
    expect(() => normalizeEmail(input)).toThrow(DomainError);
    try {
      normalizeEmail(input);
    } catch (error) {
      expect((error as DomainError).kind).toBe("invalid_argument");
    }
  });
});
