import { describe, expect, it } from "vitest";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { problemsOf } from "../../support/config-problems.js";
import { parseDuration } from "../../../src/platform/duration.js";

const KEY = Buffer.alloc(32, 7).toString("base64");
const minimal = { DATABASE_URL: "postgres://auth:auth@127.0.0.1:5432/auth", REDIS_URL: "redis://127.0.0.1:6379", SIGNING_KEY_ENCRYPTION_KEY: KEY };

const problems = (env: Record<string, string>) => problemsOf(() => loadAuthConfig(env));

describe("loadAuthConfig", () => {
  it("fills documented defaults from a minimal environment", () => {
    const config = loadAuthConfig(minimal);
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 7001,
      databasePrimaryUrl: minimal.DATABASE_URL,
      databaseReplicaUrl: undefined,
      // One issuer for the whole deployment, whichever instance signs: the public URL (the gateway).
      shared: { issuer: "http://127.0.0.1:8080", audience: "auth-platform", publicBaseUrl: "http://127.0.0.1:8080", sessionCookieName: "auth_session", deviceBinding: [] },
      signingKeyAlg: "EdDSA",
      accessTokenTtlMs: 600_000,
      argon2: { memoryKiB: 19456, iterations: 2, parallelism: 1 },
    });
  });

  it("refuses an OAuth resource named like AUTH_AUDIENCE: a client's token would pass as the user's own", () => {
    const env = { ...minimal, AUTH_AUDIENCE: "https://auth.example.com", OAUTH_RESOURCES: "https://auth.example.com=orders.read" };
    expect(problems(env)).toEqual([
      'OAUTH_RESOURCES: "https://auth.example.com" is AUTH_AUDIENCE, the audience of the platform\'s own tokens; name the resource differently',
    ]);
    expect(problems({ ...env, OAUTH_RESOURCES: "https://orders.example.com=orders.read" })).toEqual([]);
  });

  it("collects every problem at once and names each variable", () => {
    const found = problems({ AUTH_PORT: "70000", ACCESS_TOKEN_TTL: "soon", SIGNING_KEY_ALG: "HS256", REDIS_URL: "http://x" });
    const text = found.join("\n");
    for (const name of ["DATABASE_URL is required", "REDIS_URL", "SIGNING_KEY_ENCRYPTION_KEY is required", "AUTH_PORT", "ACCESS_TOKEN_TTL", "SIGNING_KEY_ALG"]) {
      expect(text).toContain(name);
    }
    expect(found.length).toBeGreaterThanOrEqual(6);
  });

  it("rejects a signing-key encryption key that is not 32 bytes", () => {
    expect(problems({ ...minimal, SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(16).toString("base64") })).toEqual([
      "SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes encoded as base64, got 16 bytes",
    ]);
  });

  it("rejects an absolute session lifetime shorter than the idle one", () => {
    expect(problems({ ...minimal, SESSION_IDLE_TTL: "2d", SESSION_ABSOLUTE_TTL: "1d" })[0]).toMatch(/SESSION_ABSOLUTE_TTL/);
  });

  it("verifies each token's signature once per instance unless VERIFIED_TOKEN_CACHE=off, and names a value it does not know", () => {
    expect(loadAuthConfig(minimal).verifiedTokenCache).toBe(true);
    expect(loadAuthConfig({ ...minimal, VERIFIED_TOKEN_CACHE: "off" }).verifiedTokenCache).toBe(false);
    expect(problems({ ...minimal, VERIFIED_TOKEN_CACHE: "false" })).toEqual(['VERIFIED_TOKEN_CACHE must be one of on, off; got "false"']);
  });

  it("rejects argon2 parameters outside safe bounds", () => {
    expect(problems({ ...minimal, PASSWORD_ARGON2_MEMORY_KIB: "12" })[0]).toMatch(/PASSWORD_ARGON2_MEMORY_KIB/);
    expect(problems({ ...minimal, PASSWORD_ARGON2_ITERATIONS: "-1" })[0]).toMatch(/PASSWORD_ARGON2_ITERATIONS/);
  });
});

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["30", 30_000],
    ["30s", 30_000],
    ["10m", 600_000],
    ["2h", 7_200_000],
    ["7d", 604_800_000],
  ])("%s is %i ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "1w", "-5s", "1.5h", "ten", "1e9"])("%j is malformed", (text) => expect(parseDuration(text)).toBeUndefined());
});
