import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../../src/stack/ports.js";
import { bearer, GOOD_PASSWORD, markEmailVerified, startTestAuth, uniqueEmail, type TestAuth } from "../../support/auth.js";
import { adminClient, grantRoleDirectly } from "../../support/admin.js";
import { csrfOf } from "../../support/browser.js";
import { codeOf } from "../../support/rpc-errors.js";
import { hostBrowser, someone, standInSignIns, startStandInProvider, STAND_IN_CLIENT, type Someone, type StandInProvider, type StandInSignIns } from "../../support/social.js";

let auth: TestAuth;
let base: string;
let google: StandInProvider;
let db: pg.Pool;

beforeAll(async () => {
  const port = await findFreePort();
  base = `http://127.0.0.1:${port}`;
  google = await startStandInProvider(`${base}/signin/social/google/callback`);
  auth = await startTestAuth({
    AUTH_PORT: String(port),
    PUBLIC_BASE_URL: base,
    SOCIAL_PROVIDERS: "google",
    SOCIAL_GOOGLE_ISSUER: google.issuer,
    SOCIAL_GOOGLE_CLIENT_ID: STAND_IN_CLIENT.id,
    SOCIAL_GOOGLE_CLIENT_SECRET: STAND_IN_CLIENT.secret,
  });
  db = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 2 });
  signIns = standInSignIns(base, google);
});

afterAll(async () => {
  await db?.end();
  await auth?.close();
  await google?.close();
});

let signIns: StandInSignIns;
const toCallback = (account: Someone, returnTo?: string) => signIns.toCallback(account, returnTo);
const signInWith = (account: Someone) => signIns.signInWith(account);

const userIdOf = async (email: string) => (await db.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email])).rows[0]?.id;
/** Links `subject` at the stand-in to the account directly, as a link would have. */
const plantIdentity = (userId: string, subject: string, email: string) =>
  db.query("INSERT INTO social_identities (user_id, provider, issuer, subject, email) VALUES ($1, 'google', $2, $3, $4)", [userId, google.issuer, subject, email]);
const auditOf = async (userId: string) =>
  (await db.query<{ type: string; details: Record<string, unknown> }>("SELECT type, details FROM audit_events WHERE user_id = $1 ORDER BY id", [userId])).rows;

describe("social sign-in against a stand-in Google", () => {
  it("a first sign-in creates the account (email verified, no password) and signs in; the next reuses it", async () => {
    const account = someone();
    const first = await signInWith(account);
    expect(first.res.status).toBe(303);
    expect(first.res.headers.get("location")).toBe("/example/");
    expect(first.b.jar.get("auth_session")).toBeTruthy();
    expect(first.b.jar.has("auth_social")).toBe(false);
    const row = (await db.query("SELECT id, email_verified, password_hash FROM users WHERE email = $1", [account.email])).rows[0];
    expect(row).toMatchObject({ email_verified: true, password_hash: "" });

    const again = await signInWith(account);
    expect(again.res.status).toBe(303);
    expect((await db.query("SELECT count(*)::int AS n FROM social_identities WHERE user_id = $1", [row.id])).rows[0].n).toBe(1);
    const events = await auditOf(row.id);
    expect(events.map((e) => e.type)).toEqual(["signup", "social.link", "signin.success", "signin.success"]);
    expect(events[2]?.details).toMatchObject({ method: "social:google" });
  });

  it("an existing account's address is linked only after its password: a wrong one links nothing", async () => {
    const email = uniqueEmail("owner");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const { b, res, body } = await signInWith(someone({ email }));
    expect(res.status).toBe(200);
    expect(body).toContain("already exists");
    expect(b.jar.get("auth_session")).toBeUndefined();
    expect(body).not.toContain("link_ticket");
    expect(b.jar.get("auth_social")).toBeTruthy();
    const form = { csrf: csrfOf(body), provider: "google", email, return_to: "/example/" };

    const wrong = await b.post(`${base}/signin/social/link`, { ...form, password: "not the password" });
    expect(wrong.status).toBe(401);
    const userId = (await userIdOf(email)) as string;
    expect((await db.query("SELECT 1 FROM social_identities WHERE user_id = $1", [userId])).rowCount).toBe(0);

    const right = await b.post(`${base}/signin/social/link`, { ...form, csrf: csrfOf(await wrong.text()), password: GOOD_PASSWORD });
    expect(right.status).toBe(303);
    expect(b.jar.get("auth_session")).toBeTruthy();
    expect((await db.query("SELECT 1 FROM social_identities WHERE user_id = $1", [userId])).rowCount).toBe(1);
    const types = (await auditOf(userId)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["social.link_requested", "signin.failure", "social.link", "signin.success"]));
    // The ticket is spent.
    const replay = await b.post(`${base}/signin/social/link`, { ...form, csrf: csrfOf(await (await b.get(`${base}/signin`)).text()), password: GOOD_PASSWORD });
    expect(replay.status).toBe(401);
  });

  it("an unverified (or missing) email is refused: no account, no link", async () => {
    for (const claims of [{ email_verified: false }, { email_verified: undefined }]) {
      const account = someone(claims);
      const { res, body } = await signInWith(account);
      expect(res.status).toBe(409);
      expect(body).toContain("has not verified your email address");
      expect(await userIdOf(account.email)).toBeUndefined();
    }
  });

  it("the provider's access_denied is shown clearly, with no session", async () => {
    google.control.deny = true;
    const { b, res, body } = await signInWith(someone());
    expect(res.status).toBe(403);
    expect(body).toContain("Google did not sign you in: you did not allow the sign-in (access_denied)");
    expect(body).not.toContain("The user said no");
    expect(b.jar.get("auth_session")).toBeUndefined();
  });

  it("an error= answering another request (a wrong or no state) is refused like any and spends nothing; an unknown code says generic words", async () => {
    const { b, callback } = await toCallback(someone());
    for (const state of ["attacker-state", undefined]) {
      const stray = new URL(callback.pathname, callback);
      stray.searchParams.set("error", "access_denied");
      if (state) stray.searchParams.set("state", state);
      const res = await b.get(stray.href);
      expect(res.status).toBe(400);
      const body = await res.text();
      expect(body).toContain("does not belong to this browser");
      expect(body).not.toContain("did not allow");
    }
    expect((await b.get(callback.href)).status).toBe(303);

    const next = await toCallback(someone());
    const unknown = new URL(next.callback.pathname, next.callback);
    unknown.searchParams.set("error", "made_up_code");
    unknown.searchParams.set("error_description", "Call 555-0100 to unlock your account");
    unknown.searchParams.set("state", next.callback.searchParams.get("state") ?? "");
    const res = await next.b.get(unknown.href);
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain("Google did not sign you in: it refused the request");
    expect(body).not.toContain("made_up_code");
    expect(body).not.toContain("555-0100");
  });

  it("a callback with another state, or replayed, or without its browser's flow, is refused with 400", async () => {
    const { b, callback } = await toCallback(someone());
    const flowCookie = b.jar.get("auth_social") as string;
    const forged = new URL(callback);
    forged.searchParams.set("state", "attacker-state");
    const refusedForged = await b.get(forged.href);
    expect(refusedForged.status).toBe(400);
    expect(await refusedForged.text()).toContain("does not belong to this browser");
    // Someone else's answer spends nothing; the genuine one is answered once.
    expect((await b.get(callback.href)).status).toBe(303);
    b.jar.set("auth_social", flowCookie);
    expect((await b.get(callback.href)).status).toBe(400);

    const fresh = await toCallback(someone());
    expect((await fresh.b.get(fresh.callback.href)).status).toBe(303);
    expect((await hostBrowser().get(fresh.callback.href)).status).toBe(400);
  });

  it("an ID token with another nonce, or not signed by the provider, is refused with 401", async () => {
    for (const tamper of ["nonce", "signature"] as const) {
      const account = someone();
      const { b, callback } = await toCallback(account);
      google.control.tamper = tamper;
      const res = await b.get(callback.href);
      expect(res.status).toBe(401);
      expect(await res.text()).toContain("could not be verified");
      expect(await userIdOf(account.email)).toBeUndefined();
    }
  });

  it("a disabled account is refused", async () => {
    const account = someone();
    await signInWith(account);
    await db.query("UPDATE users SET disabled_at = now() WHERE email = $1", [account.email]);
    const { res, b } = await signInWith(account);
    expect(res.status).toBe(401);
    expect(b.jar.get("auth_session")).toBeUndefined();
  });

  it("an account with TOTP still asks for its code", async () => {
    const email = uniqueEmail("totp");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    await markEmailVerified(auth, email);
    const signedIn = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const { secret } = await auth.client.beginTotpEnrollment({ currentPassword: GOOD_PASSWORD }, bearer(signedIn.accessToken));
    await auth.client.confirmTotpEnrollment({ code: TOTP.generate({ secret: Secret.fromBase32(secret) }) }, bearer(signedIn.accessToken));
    const userId = (await userIdOf(email)) as string;
    const sub = randomUUID();
    await plantIdentity(userId, sub, email);

    const { b, res, body } = await signInWith({ sub, email, email_verified: true });
    expect(res.status).toBe(200);
    expect(body).toContain('action="/signin/code"');
    expect(b.jar.get("auth_session")).toBeUndefined();
    const challenge = /name="challenge" value="([^"]+)"/.exec(body)?.[1] ?? "";
    const done = await b.post(`${base}/signin/code`, { csrf: csrfOf(body), challenge, code: TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + 30_000 }), return_to: "/example/" });
    expect(done.status).toBe(303);
    expect(b.jar.get("auth_session")).toBeTruthy();
  });

  it("the account page lists and unlinks an identity, but never the last way to sign in", async () => {
    const account = someone();
    const { b } = await signInWith(account);
    const listed = await (await b.get(`${base}/account/identities`)).text();
    expect(listed).toContain(account.email);
    const identityId = /name="identity_id" value="([^"]+)"/.exec(listed)?.[1] ?? "";
    const last = await b.post(`${base}/account/identities/remove`, { csrf: csrfOf(listed), identity_id: identityId });
    expect(last.status).toBe(409);
    expect(await last.text()).toContain("only way to sign in");

    const userId = (await userIdOf(account.email)) as string;
    await plantIdentity(userId, randomUUID(), account.email);
    const again = await (await b.get(`${base}/account/identities`)).text();
    const removed = await b.post(`${base}/account/identities/remove`, { csrf: csrfOf(again), identity_id: identityId });
    expect(removed.status).toBe(303);
    expect((await db.query("SELECT id FROM social_identities WHERE user_id = $1", [userId])).rows.map((r) => r.id)).not.toContain(identityId);
    expect((await auditOf(userId)).map((e) => e.type)).toContain("social.unlink");
  });

  it("unlinking an identity ends the account's other sessions at once (the identity's own included), not the caller's", async () => {
    const email = uniqueEmail("unlink");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const userId = (await userIdOf(email)) as string;
    const sub = randomUUID();
    await plantIdentity(userId, sub, email);
    const { b: viaIdentity, res } = await signInWith({ sub, email, email_verified: true });
    expect(res.status).toBe(303);
    expect((await viaIdentity.get(`${base}/account/identities`)).status).toBe(200);
    const elsewhere = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const caller = hostBrowser();
    const form = await (await caller.get(`${base}/signin?return_to=/`)).text();
    expect((await caller.post(`${base}/signin`, { email, password: GOOD_PASSWORD, csrf: csrfOf(form), return_to: "/" })).status).toBe(303);

    const listed = await (await caller.get(`${base}/account/identities`)).text();
    const identityId = /name="identity_id" value="([^"]+)"/.exec(listed)?.[1] ?? "";
    expect((await caller.post(`${base}/account/identities/remove`, { csrf: csrfOf(listed), identity_id: identityId })).status).toBe(303);

    const cut = await viaIdentity.get(`${base}/account/identities`);
    expect(cut.status).toBe(303);
    expect(cut.headers.get("location")).toMatch(/^\/signin\?/);
    expect(await codeOf(auth.client.refresh({ refreshToken: elsewhere.refreshToken }))).toBe(Code.Unauthenticated);
    expect((await caller.get(`${base}/account/identities`)).status).toBe(200);
  });

  it("DeleteUser erases the account's identities: the same provider subject then makes a fresh account", async () => {
    const adminEmail = uniqueEmail("social-admin");
    await auth.client.signUp({ email: adminEmail, password: GOOD_PASSWORD });
    await grantRoleDirectly(auth, adminEmail, "admin");
    const asAdmin = bearer((await auth.client.signIn({ email: adminEmail, password: GOOD_PASSWORD })).accessToken);
    const account = someone();
    await signInWith(account);
    const deletedId = (await userIdOf(account.email)) as string;
    const planted = randomUUID();
    await plantIdentity(deletedId, planted, account.email);

    await adminClient(auth).deleteUser({ userId: deletedId }, asAdmin);
    const left = await db.query("SELECT subject FROM social_identities WHERE user_id = $1 OR subject = ANY($2)", [deletedId, [account.sub, planted]]);
    expect(left.rows).toEqual([]);

    const { res } = await signInWith(account);
    expect(res.status).toBe(303);
    const freshId = await userIdOf(account.email);
    expect(freshId).toBeDefined();
    expect(freshId).not.toBe(deletedId);
    expect((await auditOf(freshId as string)).map((e) => e.type)).toEqual(["signup", "social.link", "signin.success"]);
  });

  it("an identity is its issuer's: the same subject from another issuer configured under the same id is another person", async () => {
    const account = someone();
    expect((await signInWith(account)).res.status).toBe(303);
    const firstId = (await userIdOf(account.email)) as string;
    // SOCIAL_GOOGLE_ISSUER changed: another auth server on the same database, its own stand-in.
    const port = await findFreePort();
    const otherBase = `http://127.0.0.1:${port}`;
    const other = await startStandInProvider(`${otherBase}/signin/social/google/callback`);
    const moved = await startTestAuth({
      AUTH_PORT: String(port),
      PUBLIC_BASE_URL: otherBase,
      SOCIAL_PROVIDERS: "google",
      SOCIAL_GOOGLE_ISSUER: other.issuer,
      SOCIAL_GOOGLE_CLIENT_ID: STAND_IN_CLIENT.id,
      SOCIAL_GOOGLE_CLIENT_SECRET: STAND_IN_CLIENT.secret,
    });
    try {
      const there = standInSignIns(otherBase, other);
      // Even with the first account's address: a link to prove, not a sign-in.
      const { res, b, body } = await there.signInWith({ ...account });
      expect(res.status).toBe(200);
      expect(body).toContain("already exists");
      expect(b.jar.get("auth_session")).toBeUndefined();
      const sameSubject = { ...someone(), sub: account.sub };
      expect((await there.signInWith(sameSubject)).res.status).toBe(303);
      const secondId = await userIdOf(sameSubject.email);
      expect(secondId).toBeDefined();
      expect(secondId).not.toBe(firstId);
      const rows = await db.query<{ issuer: string }>("SELECT issuer FROM social_identities WHERE subject = $1 ORDER BY created_at", [account.sub]);
      expect(rows.rows.map((r) => r.issuer)).toEqual([google.issuer, other.issuer]);
    } finally {
      await moved.close();
      await other.close();
    }
  });

  it("hostile input: an unknown provider is 404; a huge or garbage code or state is 400", async () => {
    const b = hostBrowser();
    expect((await b.get(`${base}/signin/social/nosuch`)).status).toBe(404);
    expect((await b.get(`${base}/signin/social/NOT%20AN%20ID/callback`)).status).toBe(404);
    const { b: started, callback } = await toCallback(someone());
    const huge = new URL(callback);
    huge.searchParams.set("code", "x".repeat(5000));
    expect((await started.get(huge.href)).status).toBe(400);
    const garbage = await toCallback(someone());
    const bad = new URL(garbage.callback);
    bad.searchParams.set("code", "\u0000<script>");
    bad.searchParams.set("state", "%%%");
    const res = await garbage.b.get(bad.href);
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain("<script>");
  });
});
