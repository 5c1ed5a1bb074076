import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminClient } from "../../support/admin.js";
import { GOOD_PASSWORD, bearer, startTestAuth, testEnv, uniqueEmail, userIdOf, type TestAuth } from "../../support/auth.js";
import { codeOf } from "../../support/rpc-errors.js";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** `npm run admin -- <args>` without the compile step: the same entry point, run by tsx as the launcher runs services. */
async function admin(args: string[], env: Record<string, string> = testEnv()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", "src/main-admin.ts", ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString());

describe("npm run admin (the CLI)", () => {
  let auth: TestAuth;
  let primary: pg.Pool;

  beforeAll(async () => {
    auth = await startTestAuth();
    primary = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 2 });
  });
  afterAll(async () => {
    await primary?.end();
    await auth?.close();
  });

  async function signedUp() {
    const email = uniqueEmail("cli");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    return email;
  }

  it("explains its usage and refuses bad arguments or configuration with exit 2", async () => {
    const usage = [[], ["make-me-admin"], ["grant-role", "a@example.com"], ["disable-user", "a@example.com", "extra"]];
    const { SIGNING_KEY_ENCRYPTION_KEY: _, ...withoutKey } = testEnv();
    // Each is a process of its own; started together, they cost one start-up's wait.
    const [badEmail, badRole, noKey, nobody, ...usages] = await Promise.all([
      admin(["grant-role", "not an email", "admin"]),
      admin(["grant-role", "a@example.com", "Admin; DROP TABLE users"]),
      admin(["enable-user", "a@example.com"], withoutKey),
      admin(["enable-user", uniqueEmail("nobody")]),
      // Without any configuration too: the usage comes first.
      ...usage.map((args) => admin(args, {})),
    ]);
    usages.forEach((result, i) => {
      expect(result.code, usage[i]!.join(" ")).toBe(2);
      expect(result.stderr).toContain("usage: npm run admin -- <command>");
    });
    expect(badEmail).toMatchObject({ code: 2, stderr: expect.stringContaining("email") });
    expect(badRole).toMatchObject({ code: 2, stderr: expect.stringContaining("role must be lower case") });
    expect(noKey).toMatchObject({ code: 2, stderr: expect.stringContaining("SIGNING_KEY_ENCRYPTION_KEY is required") });
    expect(nobody).toMatchObject({ code: 1, stderr: expect.stringContaining("no account has the address") });
  }, 180_000);

  it("grant-role makes the first admin without any admin, and revoke-role takes it back", async () => {
    const email = await signedUp();
    const granted = await admin(["grant-role", email.toUpperCase(), "admin"]);
    expect(granted).toMatchObject({ code: 0, stdout: `${email}: roles admin\n` });
    expect((await admin(["grant-role", email, "admin"])).stdout).toContain("(unchanged)");

    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    expect(claimsOf(tokens.accessToken).roles).toEqual(["admin"]);
    const api = adminClient(auth);
    const id = userIdOf(tokens.accessToken);
    expect((await api.findUsers({ userId: id }, bearer(tokens.accessToken))).users).toMatchObject([{ email, roles: ["admin"] }]);
    const trail = await primary.query("SELECT details FROM audit_events WHERE user_id = $1 AND type = 'admin.role_granted' ORDER BY id", [id]);
    expect(trail.rows[0].details).toMatchObject({ via: "cli", role: "admin", changed: true, operator: expect.any(String) });

    expect(await admin(["revoke-role", email, "admin"])).toMatchObject({ code: 0, stdout: `${email}: roles (none)\n` });
    expect(await codeOf(api.findUsers({ userId: id }, bearer(tokens.accessToken)))).toBe(Code.PermissionDenied);
  });

  it("disable-user ends the sessions and sign-in until enable-user", async () => {
    const email = await signedUp();
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    expect(await admin(["disable-user", email])).toMatchObject({ code: 0, stdout: `${email}: disabled; 1 sessions ended\n` });
    expect(await codeOf(auth.client.getMe({}, bearer(tokens.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.refresh({ refreshToken: tokens.refreshToken }))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    expect(await admin(["enable-user", email])).toMatchObject({ code: 0, stdout: `${email}: enabled\n` });
    await auth.client.signIn({ email, password: GOOD_PASSWORD });
  });

  it("delete-user erases the account and keeps its trail under a pseudonym", async () => {
    const email = await signedUp();
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const id = userIdOf(tokens.accessToken);
    const deleted = await admin(["delete-user", email]);
    expect(deleted).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^${email}: deleted; audit trail kept as p1:[A-Za-z0-9_-]{43}\\n$`)) });
    const pseudonym = /kept as (\S+)/.exec(deleted.stdout)?.[1];
    expect(await codeOf(auth.client.getMe({}, bearer(tokens.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(auth.client.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    expect((await primary.query("SELECT 1 FROM users WHERE id = $1 OR email = $2", [id, email])).rowCount).toBe(0);
    expect((await primary.query("SELECT 1 FROM audit_events WHERE user_id = $1", [id])).rowCount).toBe(0);
    const kept = await primary.query("SELECT type FROM audit_events WHERE details->>'subject' = $1 ORDER BY id", [pseudonym]);
    expect(kept.rows.map((r) => r.type)).toEqual(["signup", "signin.success", "admin.user_deleted"]);
    expect(await admin(["delete-user", email])).toMatchObject({ code: 1 });
  });
});
