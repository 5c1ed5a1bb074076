import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_PUBLIC_PREFIXES, loadAuthzConfig } from "../../../src/authz/config.js";

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadAuthzConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("loadAuthzConfig", () => {
  it("needs only REDIS_URL and documents its defaults", () => {
    const config = loadAuthzConfig({ REDIS_URL: "redis://127.0.0.1:6379" });
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 7002,
      httpPort: 7003,
      redisTimeoutMs: 200,
      jwksUrl: "http://127.0.0.1:7001/.well-known/jwks.json",
      issuer: "http://127.0.0.1:7001",
      audience: "auth-platform",
      sessionCookie: "auth_session",
      publicPrefixes: DEFAULT_PUBLIC_PREFIXES,
      levelRules: [],
      signinUrl: "http://127.0.0.1:8080/signin",
      cacheTtlMs: 5000,
      degradedMode: "fail_closed",
      deviceBinding: "off",
    });
  });

  it("parses lists and level rules", () => {
    const config = loadAuthzConfig({
      REDIS_URL: "redis://r:6379",
      AUTHZ_PUBLIC_PREFIXES: "/public/, /docs",
      AUTHZ_LEVEL_RULES: "/admin/=mfa, /billing/=verified",
      AUTHZ_DEGRADED_MODE: "allow_tokens",
      AUTHZ_SESSION_COOKIE: "__Host-session",
    });
    expect(config.publicPrefixes).toEqual(["/public/", "/docs"]);
    expect(config.levelRules).toEqual([
      { prefix: "/admin/", level: "mfa" },
      { prefix: "/billing/", level: "verified" },
    ]);
    expect(config.degradedMode).toBe("allow_tokens");
    expect(config.sessionCookie).toBe("__Host-session");
  });

  it("collects every problem, naming each variable", () => {
    const problems = problemsOf({
      AUTHZ_PORT: "70000",
      AUTHZ_REDIS_TIMEOUT: "soon",
      AUTHZ_DEGRADED_MODE: "allow_all",
      AUTHZ_LEVEL_RULES: "/admin/=root",
      AUTHZ_PUBLIC_PREFIXES: "public",
      AUTHZ_SESSION_COOKIE: "bad name;",
      SIGNIN_URL: "ftp://x",
    });
    for (const name of [
      "REDIS_URL",
      "AUTHZ_PORT",
      "AUTHZ_REDIS_TIMEOUT",
      "AUTHZ_DEGRADED_MODE",
      "AUTHZ_LEVEL_RULES",
      "AUTHZ_PUBLIC_PREFIXES",
      "AUTHZ_SESSION_COOKIE",
      "SIGNIN_URL",
    ]) {
      expect(problems.some((p) => p.includes(name)), name).toBe(true);
    }
  });
});
