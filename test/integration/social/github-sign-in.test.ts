import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { findFreePort } from "../../../src/stack/ports.js";
import { startTestAuth, uniqueEmail, type TestAuth } from "../../support/auth.js";
import { standInSignIns, type StandInSignIns } from "../../support/social.js";
import { startGitHubStandIn, type GitHubAccount } from "../../support/social-github.js";

/** The GitHub preset (OAuth 2.0 and its user API, no ID token) against a local stand-in selected by SOCIAL_GITHUB_URL / SOCIAL_GITHUB_API_URL. */
describe("social sign-in with the GitHub preset", () => {
  let auth: TestAuth;
  let github: Awaited<ReturnType<typeof startGitHubStandIn>>;
  let signIns: StandInSignIns<GitHubAccount>;
  let db: pg.Pool;
  let nextId = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);

  beforeAll(async () => {
    const port = await findFreePort();
    const base = `http://127.0.0.1:${port}`;
    github = await startGitHubStandIn(`${base}/signin/social/github/callback`);
    auth = await startTestAuth({ AUTH_PORT: String(port), PUBLIC_BASE_URL: base, SOCIAL_PROVIDERS: "github", ...github.env });
    db = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 1 });
    signIns = standInSignIns(base, github, "github");
  });
  afterAll(async () => {
    await db?.end();
    await auth?.close();
    await github?.close();
  });

  const accountOf = async (email: string) =>
    (await db.query<{ password_hash: string; email_verified: boolean; issuer: string | null; subject: string | null }>(
      "SELECT u.password_hash, u.email_verified, i.issuer, i.subject FROM users u LEFT JOIN social_identities i ON i.user_id = u.id AND i.provider = 'github' WHERE u.email = $1",
      [email],
    )).rows[0];

  it("creates the account from the verified primary address, the subject being GET /user's id", async () => {
    const primary = uniqueEmail("gh-primary");
    const secondary = uniqueEmail("gh-secondary");
    const account = { id: nextId++, emails: [{ email: secondary, primary: false, verified: true }, { email: primary, primary: true, verified: true }] };
    const { b, res } = await signIns.signInWith(account);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/example/");
    expect(b.jar.get("auth_session")).toBeTruthy();
    // No ID token: the issuer is the configured server's origin (github.com, or a GitHub Enterprise Server).
    expect(await accountOf(primary)).toEqual({ password_hash: "", email_verified: true, issuer: new URL(github.env.SOCIAL_GITHUB_URL).origin, subject: String(account.id) });
    expect(await accountOf(secondary)).toBeUndefined();
    // The same GitHub user again: the same account, whatever its addresses say now.
    const again = await signIns.signInWith({ ...account, emails: [{ email: uniqueEmail("gh-changed"), primary: true, verified: true }] });
    expect(again.res.status).toBe(303);
    expect((await db.query("SELECT count(*)::int AS n FROM social_identities WHERE provider = 'github' AND subject = $1", [String(account.id)])).rows[0].n).toBe(1);
  });

  it("refuses a user without a verified primary address: no account for any of them", async () => {
    const unverifiedPrimary = uniqueEmail("gh-unverified");
    const verifiedOther = uniqueEmail("gh-other");
    const account = { id: nextId++, emails: [{ email: unverifiedPrimary, primary: true, verified: false }, { email: verifiedOther, primary: false, verified: true }] };
    const { b, res, body } = await signIns.signInWith(account);
    expect(res.status).toBe(409);
    expect(body).toContain("GitHub has not verified your email address");
    expect(b.jar.get("auth_session")).toBeUndefined();
    expect(await accountOf(unverifiedPrimary)).toBeUndefined();
    expect(await accountOf(verifiedOther)).toBeUndefined();
  });
});
