import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../../src/stack/ports.js";
import { isAlive } from "../../../src/stack/processes.js";
import { queryOnce } from "../../../src/stack/readiness.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const TSX = path.join(REPO_ROOT, "node_modules", ".bin", "tsx");
const CLI = path.join(REPO_ROOT, "src", "stack", "cli.ts");

async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(TSX, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const parseEnv = (out: string) => Object.fromEntries(out.split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

describe("stack CLI", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-cli-"));
  let env: Record<string, string> = { STACK_DIR: dir };

  afterAll(async () => {
    await cli(["down"], env);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("names the bad variable and exits non-zero", async () => {
    const result = await cli(["status"], { STACK_DIR: dir, STACK_REDIS_PORT: "nope" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('STACK_REDIS_PORT must be an integer from 1 to 65535, got "nope"');
  });

  it("status exits non-zero when nothing runs", async () => {
    expect((await cli(["status"], env)).code).toBe(1);
  });

  it("up --detach, status, down: a replica-less stack outlives the CLI and stops by pid files", async () => {
    env = {
      STACK_DIR: dir,
      STACK_REPLICAS: "0",
      STACK_PRIMARY_PORT: String(await findFreePort()),
      STACK_PGBOUNCER_PORT: String(await findFreePort()),
      STACK_REDIS_PORT: String(await findFreePort()),
    };
    const up = await cli(["up", "--detach"], env);
    expect(up.code, up.stderr).toBe(0);

    const status = await cli(["status"], env);
    expect(status.code).toBe(0);
    const vars = parseEnv(status.stdout);
    expect(vars).toEqual({
      DATABASE_URL: `postgres://auth:auth@127.0.0.1:${env.STACK_PGBOUNCER_PORT}/auth`,
      DATABASE_PRIMARY_URL: `postgres://auth:auth@127.0.0.1:${env.STACK_PRIMARY_PORT}/auth`,
      REDIS_URL: `redis://127.0.0.1:${env.STACK_REDIS_PORT}`,
    });
    expect((await queryOnce<{ ok: number }>(vars.DATABASE_URL!, "SELECT 1 AS ok"))[0]!.ok).toBe(1);

    const pids = fs.readdirSync(path.join(dir, "run")).map((f) => Number(fs.readFileSync(path.join(dir, "run", f), "utf8")));
    expect(pids).toHaveLength(3);
    expect(pids.every(isAlive)).toBe(true);

    expect((await cli(["up", "--detach"], env)).stderr).toMatch(/already running/);

    process.kill(Number(fs.readFileSync(path.join(dir, "run", "redis.pid"), "utf8")), "SIGKILL");
    await expect.poll(async () => (await cli(["status"], env)).stderr, { timeout: 10_000 }).toContain("degraded: not running: redis");
    expect((await cli(["status"], env)).code).toBe(1);

    const down = await cli(["down"], env);
    expect(down.code).toBe(0);
    expect(pids.filter(isAlive)).toEqual([]);
    expect((await cli(["status"], env)).code).toBe(1);
  }, 60_000);
});
