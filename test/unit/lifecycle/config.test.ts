import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { loadMailWorkerConfig } from "../../../src/auth/mail/config.js";
import { problemsOf } from "../../support/config-problems.js";

const base = {
  DATABASE_URL: "postgres://u@127.0.0.1/db",
  REDIS_URL: "redis://127.0.0.1:6379",
  SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
};


describe("account lifecycle config", () => {
  it("has documented defaults", () => {
    const config = loadAuthConfig(base);
    expect(config.rateLimits.signInIp).toEqual({ points: 50, durationMs: 15 * 60_000 });
    expect(config.rateLimits.mailAccount).toEqual({ points: 5, durationMs: 3_600_000 });
    expect(config.lockout).toEqual({ threshold: 5, baseMs: 60_000, maxMs: 3_600_000, memoryMs: 86_400_000, hardCap: 100 });
    expect(config.shared.publicBaseUrl).toBe("http://127.0.0.1:8080");
    expect(config.resetTokenTtlMs).toBe(30 * 60_000);
    expect(config.changeEmailTokenTtlMs).toBe(60 * 60_000);
    expect(config.mfaEncryptionKey).toHaveLength(32);
    expect(config.mfaEncryptionKey.equals(config.signingKeyEncryptionKey)).toBe(false);
    expect(config.userCacheTtlMs).toBe(60_000);
  });

  it("names each bad variable", () => {
    const problems = problemsOf(() =>
      loadAuthConfig({ ...base, RATE_LIMIT_SIGNIN_IP: "lots", PUBLIC_BASE_URL: "ftp://x", MFA_ENCRYPTION_KEY: "c2hvcnQ=" }),
    );
    expect(problems.join("\n")).toMatch(/RATE_LIMIT_SIGNIN_IP must read <points>\/<duration>/);
    expect(problems.join("\n")).toMatch(/PUBLIC_BASE_URL must use http: or https:/);
    expect(problems.join("\n")).toMatch(/MFA_ENCRYPTION_KEY must be 32 bytes/);
  });

  it("the mail worker needs SMTP_URL and reads its retry policy", () => {
    expect(problemsOf(() => loadMailWorkerConfig({ DATABASE_URL: base.DATABASE_URL }))).toEqual(["SMTP_URL is required"]);
    const config = loadMailWorkerConfig({ DATABASE_URL: base.DATABASE_URL, SMTP_URL: "smtp://127.0.0.1:2525", MAIL_MAX_ATTEMPTS: "3" });
    expect(config).toMatchObject({ maxAttempts: 3, retryBaseMs: 30_000, pollIntervalMs: 2_000 });
  });
});
