import { loadAuthConfig } from "../../../src/auth/config.js";
import { describe, expect, it } from "vitest";
import { DEFAULT_PUBLIC_PREFIXES, loadAuthzConfig } from "../../../src/authz/config.js";
import { problemsOf } from "../../support/config-problems.js";

const problems = (env: Record<string, string>) => problemsOf(() => loadAuthzConfig(env));

describe("loadAuthzConfig", () => {
  it("needs only REDIS_URL and documents its defaults", () => {
    const config = loadAuthzConfig({ REDIS_URL: "redis://127.0.0.1:6379" });
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 7002,
      httpPort: 7003,
      redisTimeoutMs: 200,
      jwksUrl: "http://127.0.0.1:7001/.well-known/jwks.json",
      // The same variables and defaults as the auth service's (src/contract/shared-settings.ts).
      shared: { issuer: "http://127.0.0.1:8080", audience: "auth-platform", publicBaseUrl: "http://127.0.0.1:8080", sessionCookieName: "auth_session", deviceBinding: [] },
      publicPrefixes: DEFAULT_PUBLIC_PREFIXES,
      levelRules: [],
      signinUrl: "http://127.0.0.1:8080/signin",
      cacheTtlMs: 5000,
      degradedMode: "fail_closed",
    });
  });

  it("parses lists and level rules", () => {
    const config = loadAuthzConfig({
      REDIS_URL: "redis://r:6379",
      AUTHZ_PUBLIC_PREFIXES: "/public/, /docs",
      AUTHZ_LEVEL_RULES: "/admin/=mfa, /billing/=verified",
      AUTHZ_DEGRADED_MODE: "allow_tokens",
      SESSION_COOKIE_NAME: "__Host-session",
      DEVICE_BINDING: "user-agent, Accept-Language",
    });
    expect(config.publicPrefixes).toEqual(["/public/", "/docs"]);
    expect(config.levelRules).toEqual([
      { prefix: "/admin/", level: "mfa" },
      { prefix: "/billing/", level: "verified" },
    ]);
    expect(config.degradedMode).toBe("allow_tokens");
    expect(config.shared.sessionCookieName).toBe("__Host-session");
    expect(config.shared.deviceBinding).toEqual(["user-agent", "accept-language"]);
  });

  it("reads the session cookie by the name the auth service gives it: __Host- prefixed on an https deployment", () => {
    const https = { REDIS_URL: "redis://r:6379", PUBLIC_BASE_URL: "https://id.example.com" };
    const authz = loadAuthzConfig(https);
    const auth = loadAuthConfig({ ...https, DATABASE_URL: "postgres://u@h/db", SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString("base64") });
    expect(authz.shared.sessionCookieName).toBe("__Host-auth_session");
    expect(auth.shared.sessionCookieName).toBe(authz.shared.sessionCookieName);
    expect(loadAuthzConfig({ ...https, SESSION_COOKIE_NAME: "__Secure-sid" }).shared.sessionCookieName).toBe("__Secure-sid");
    expect(loadAuthzConfig({ REDIS_URL: "redis://r:6379" }).shared.sessionCookieName).toBe("auth_session");
  });

  it("takes AUTHZ_CHECK_SECRET only when it is long enough to be a secret", () => {
    expect(loadAuthzConfig({ REDIS_URL: "redis://r:6379" }).checkSecret).toBeUndefined();
    expect(loadAuthzConfig({ REDIS_URL: "redis://r:6379", AUTHZ_CHECK_SECRET: "s".repeat(32) }).checkSecret).toBe("s".repeat(32));
    expect(() => loadAuthzConfig({ REDIS_URL: "redis://r:6379", AUTHZ_CHECK_SECRET: "short" })).toThrow(/AUTHZ_CHECK_SECRET must be at least 32 characters/);
  });

  it("collects every problem, naming each variable", () => {
    const found = problems({
      AUTHZ_PORT: "70000",
      AUTHZ_REDIS_TIMEOUT: "soon",
      AUTHZ_DEGRADED_MODE: "allow_all",
      AUTHZ_LEVEL_RULES: "/admin/=root",
      AUTHZ_PUBLIC_PREFIXES: "public",
      SESSION_COOKIE_NAME: "bad name;",
      DEVICE_BINDING: "ip",
      SIGNIN_URL: "ftp://x",
    });
    for (const name of [
      "REDIS_URL",
      "AUTHZ_PORT",
      "AUTHZ_REDIS_TIMEOUT",
      "AUTHZ_DEGRADED_MODE",
      "AUTHZ_LEVEL_RULES",
      "AUTHZ_PUBLIC_PREFIXES",
      "SESSION_COOKIE_NAME",
      "DEVICE_BINDING",
      "SIGNIN_URL",
    ]) {
      expect(found.some((p) => p.includes(name)), name).toBe(true);
    }
  });

  it("follows PUBLIC_BASE_URL for the issuer and the sign-in page unless they are set", () => {
    const config = loadAuthzConfig({ REDIS_URL: "redis://r:6379", PUBLIC_BASE_URL: "https://auth.example.com/" });
    expect(config.shared.issuer).toBe("https://auth.example.com");
    expect(config.signinUrl).toBe("https://auth.example.com/signin");
    expect(loadAuthzConfig({ REDIS_URL: "redis://r:6379", PUBLIC_BASE_URL: "https://a.example", AUTH_ISSUER: "https://iss.example" }).shared.issuer).toBe(
      "https://iss.example",
    );
  });
});
