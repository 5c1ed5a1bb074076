import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

describe("npm run serve with bad configuration", () => {
  it("stops before touching anything, naming every bad variable", () => {
    const result = spawnSync(process.execPath, ["dist/main-auth.js"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: "mysql://nope", AUTH_PORT: "http", SIGNING_KEY_ENCRYPTION_KEY: "short" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    for (const name of ["DATABASE_URL must use postgres:", "REDIS_URL is required", "AUTH_PORT", "SIGNING_KEY_ENCRYPTION_KEY must be 32 bytes"]) {
      expect(result.stderr).toContain(name);
    }
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
