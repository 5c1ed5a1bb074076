import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

describe("npm run ratelimit with bad configuration", () => {
  it("stops before listening, naming every bad variable", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/main-ratelimit.ts"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, RATE_LIMIT_PORT: "grpc", RATE_LIMIT_GATEWAY_RULES: "signin=20/1m" },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    for (const name of ["REDIS_URL is required", "RATE_LIMIT_PORT", 'RATE_LIMIT_GATEWAY_RULES: "signin=20/1m"']) expect(result.stderr).toContain(name);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
