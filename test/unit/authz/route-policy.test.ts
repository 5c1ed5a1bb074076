import { describe, expect, it } from "vitest";
import { DEFAULT_PUBLIC_PREFIXES } from "../../../src/authz/config.js";
import { createRoutePolicy, normalizePercentEncoding } from "../../../src/authz/route-policy.js";

const policy = createRoutePolicy({
  publicPrefixes: DEFAULT_PUBLIC_PREFIXES,
  levelRules: [
    { prefix: "/example/admin", level: "mfa" },
    { prefix: "/example/billing/", level: "verified" },
  ],
});

describe("route policy", () => {
  it.each(["/signin", "/signin/code", "/sign%69n", "/.well-known/jwks.json", "/auth.v1.AuthService/SignIn", "/forgot-password"])("%s is public", (path) =>
    expect(policy.isPublic(path)).toBe(true),
  );

  it.each([
    "/signinX",
    "/signin-admin",
    "/auth.v1.AuthService/SignInAnything",
    "/auth.v1.AuthService/GetMe",
    "/signin/../example/",
    "/signin/%2e%2e/example/",
    "/signin/..%2fexample/",
    "/signin%2f..%2fexample",
    "//signin",
    "/example/",
  ])("%s is not public", (path) => expect(policy.isPublic(path)).toBe(false));

  it.each([
    ["/example/admin", "mfa"],
    ["/example/admin/users", "mfa"],
    ["/example/%61dmin", "mfa"],
    ["/example/admi%6e/x", "mfa"],
    ["/example/Admin", "mfa"],
    ["/EXAMPLE/ADMIN", "mfa"],
    ["/example/billing/invoices", "verified"],
    ["/example/%62illing/invoices", "verified"],
    ["/example/./admin", "mfa"],
    ["/example/x/..%2fadmin", "mfa"],
  ])("%s needs %s", (path, level) => expect(policy.requiredLevel(path)).toBe(level));

  it("leaves other paths to any authenticated caller", () => {
    expect(policy.requiredLevel("/example/hello")).toBeUndefined();
    expect(policy.requiredLevel("/example/hello%20world")).toBeUndefined();
  });

  it("decodes only unreserved characters (RFC 3986 6.2.2.2)", () => {
    expect(normalizePercentEncoding("/a%41%7e%2d%2F%2f%20%00")).toBe("/aA~-%2F%2F%20%00");
  });
});
