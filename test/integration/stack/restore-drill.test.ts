import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { startAuthServer, type AuthServer } from "../../../src/auth/app.js";
import { loadAuthConfig } from "../../../src/auth/config.js";
import { createLogger } from "../../../src/platform/log.js";
import { queryOnce } from "../../../src/stack/readiness.js";
import { startStack, type RunningStack } from "../../../src/stack/stack.js";
import { GOOD_PASSWORD, connectTransport, uniqueEmail } from "../../support/auth.js";
import { steppingClock } from "../../support/clock.js";
import { createClient } from "@connectrpc/connect";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const TSX = path.join(REPO_ROOT, "node_modules", ".bin", "tsx");
const CLI = path.join(REPO_ROOT, "src", "stack", "cli.ts");
const DAY_MS = 86_400_000;

async function cli(args: string[], stackDir: string): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(TSX, [CLI, ...args], { env: { ...process.env, STACK_DIR: stackDir }, timeout: 60_000 });
}

/** Everything the drill compares, in a stable order: the restore must give exactly this back. */
async function snapshot(primaryUrl: string) {
  const [users, keys, audit] = await Promise.all([
    queryOnce<{ email: string }>(primaryUrl, "SELECT email FROM users ORDER BY email"),
    queryOnce<{ kid: string }>(primaryUrl, "SELECT kid FROM signing_keys ORDER BY kid"),
    queryOnce<{ id: string; type: string }>(primaryUrl, "SELECT id::text, type FROM audit_events ORDER BY id"),
  ]);
  return { users: users.map((r) => r.email), keys: keys.map((r) => r.kid), audit: audit.map((r) => `${r.id} ${r.type}`) };
}

describe("restore drill: pgBackRest backup, WAL archive, point-in-time restore into a fresh stack", () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "restore-drill-"));
  // Reachable by the service user when the tests run as root.
  fs.chmodSync(base, 0o755);
  const sourceDir = path.join(base, "source");
  const restoredDir = path.join(base, "restored");
  const stacks: RunningStack[] = [];
  const servers: AuthServer[] = [];

  afterAll(async () => {
    for (const server of servers) await server.close().catch(() => {});
    for (const stack of stacks) await stack.stop();
    fs.rmSync(base, { recursive: true, force: true });
  });

  /** Stops one stack (and the auth servers on it) before the end of the test. */
  async function stopStack(stack: RunningStack): Promise<void> {
    for (const server of servers.splice(0)) await server.close();
    stacks.splice(stacks.indexOf(stack), 1);
    await stack.stop();
  }

  async function auth(stack: RunningStack, clock = steppingClock()) {
    const config = loadAuthConfig({
      DATABASE_URL: stack.databaseUrl,
      DATABASE_PRIMARY_URL: stack.primaryUrl,
      REDIS_URL: stack.redisUrl,
      SIGNING_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
      AUTH_PORT: "0",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    });
    const server = await startAuthServer(config, { log: createLogger(config.logLevel), clock });
    servers.push(server);
    return { server, client: createClient(AuthService, connectTransport(server.url)) };
  }

  it("refuses a restore without a usable time or without backups, naming what is wrong", async () => {
    const attempt = (args: string[]) => cli(args, path.join(base, "nowhere")).then(() => "", (error: { stderr: string }) => error.stderr);
    expect(await attempt(["restore"])).toContain("restore needs --to <time>");
    expect(await attempt(["restore", "--to", "yesterday"])).toContain('--to: not a time: "yesterday"');
    expect(await attempt(["restore", "--to", "2026-12-01T21:30:00Z", "--from", path.join(base, "empty")])).toMatch(/has no backups/);
    expect(await attempt(["backup", "--type", "weekly"])).toContain('--type must be one of full, diff, incr, got "weekly"');
  });

  it("gives back exactly the users, signing keys and audit events of the chosen moment", async () => {
    const started = Date.now();
    const source = await startStack({ dir: sourceDir, replicas: 0 });
    stacks.push(source);
    const first = await auth(source);

    // Before the backup: one user, the first signing key, its audit events.
    const before = uniqueEmail("before-backup");
    await first.client.signUp({ email: before, password: GOOD_PASSWORD });
    const backup = await cli(["backup", "--type", "full"], sourceDir);
    expect(backup.stderr).toMatch(/full backup \S+ in [\d.]+ s: \d+ bytes in the repository/);

    // pgBackRest records a backup's end to the second and restores only to a later moment.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // After the backup, before the target: only the WAL archive has these.
    const between = uniqueEmail("after-backup");
    await first.client.signUp({ email: between, password: GOOD_PASSWORD });
    await first.client.signIn({ email: before, password: GOOD_PASSWORD });
    const atTarget = await snapshot(source.primaryUrl);
    const [{ now } = { now: new Date(0) }] = await queryOnce<{ now: Date }>(source.primaryUrl, "SELECT clock_timestamp() AS now");
    // A Date keeps milliseconds of Postgres' microseconds: one more so the target is never before
    // the last commit above, and the pause keeps it before the first commit below.
    const target = new Date(now.getTime() + 1);
    await new Promise((resolve) => setTimeout(resolve, 50));

    // After the target: a user, a sign-in, and a rotated-in signing key (an instance whose clock is
    // past the first key's life mints the next one), none of which the restore may bring back.
    await first.client.signUp({ email: uniqueEmail("after-target"), password: GOOD_PASSWORD });
    const later = steppingClock();
    later.advance(31 * DAY_MS);
    await auth(source, later);
    const final = await snapshot(source.primaryUrl);
    expect(final.users.length).toBe(atTarget.users.length + 1);
    expect(final.keys.length).toBeGreaterThan(atTarget.keys.length);
    expect(final.audit.length).toBeGreaterThan(atTarget.audit.length);
    expect(atTarget.users).toEqual([between, before].sort());
    expect(atTarget.keys.length).toBe(1);

    // Into a fresh stack, from the source's repository, while the source still runs.
    const restore = await cli(["restore", "--to", target.toISOString(), "--from", sourceDir], restoredDir);
    expect(restore.stderr).toContain(`restored to ${target.toISOString()}`);
    const restored = await startStack({ dir: restoredDir, replicas: 0 });
    stacks.push(restored);
    expect(await snapshot(restored.primaryUrl)).toEqual(atTarget);

    // The restored database is a working primary: it takes writes on a new timeline.
    await queryOnce(restored.primaryUrl, "INSERT INTO audit_events (type) VALUES ('restore_drill')");
    const [{ timeline } = { timeline: 0 }] = await queryOnce<{ timeline: number }>(restored.primaryUrl, "SELECT timeline_id AS timeline FROM pg_control_checkpoint()");
    expect(timeline).toBeGreaterThan(1);

    const repo = path.join(sourceDir, "backup", "repo");
    const bytes = Number((await promisify(execFile)("du", ["-sb", repo])).stdout.split("\t")[0]);
    process.stderr.write(`[restore drill] ${((Date.now() - started) / 1000).toFixed(1)} s end to end; source repository ${bytes} bytes; ${backup.stderr.trim()}\n`);

    // A new, empty database in the source's dir: its backups are another cluster's now, moved
    // aside (never deleted), and the new database gets a stanza of its own.
    await stopStack(source);
    fs.rmSync(path.join(sourceDir, "primary"), { recursive: true, force: true });
    stacks.push(await startStack({ dir: sourceDir, replicas: 0 }));
    const aside = fs.readdirSync(path.join(sourceDir, "backup")).filter((f) => f.startsWith("repo.before-"));
    expect(aside.length).toBe(1);
    expect(fs.readdirSync(path.join(sourceDir, "backup", aside[0]!, "backup", "auth")).some((f) => f.endsWith("F"))).toBe(true);
    expect((await cli(["backup", "--type", "full"], sourceDir)).stderr).toMatch(/full backup \S+ in/);
  }, 180_000);
});
