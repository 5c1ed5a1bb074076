import { randomUUID } from "node:crypto";
import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SocialService } from "../../../src/gen/auth/v1/social_pb.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { bearer, connectTransport, GOOD_PASSWORD, uniqueEmail } from "../../support/auth.js";
import { csrfOf } from "../../support/browser.js";
import { startMailStack } from "../../support/mail.js";
import { codeOf } from "../../support/rpc-errors.js";
import { hostBrowser, someone, standInSignIns, startStandInProvider, STAND_IN_CLIENT, type StandInProvider, type StandInSignIns } from "../../support/social.js";

/** Linking by a mailed link: the proof for an account with no password, bound to the browser that started the sign-in. */
describe("social sign-in: linking an existing account by a mailed link", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  let google: StandInProvider;
  let signIns: StandInSignIns;
  let base: string;

  beforeAll(async () => {
    const port = await findFreePort();
    base = `http://127.0.0.1:${port}`;
    google = await startStandInProvider(`${base}/signin/social/google/callback`);
    stack = await startMailStack({
      AUTH_PORT: String(port),
      PUBLIC_BASE_URL: base,
      RATE_LIMIT_MAIL_ACCOUNT: "3/1h",
      SOCIAL_PROVIDERS: "google",
      SOCIAL_GOOGLE_ISSUER: google.issuer,
      SOCIAL_GOOGLE_CLIENT_ID: STAND_IN_CLIENT.id,
      SOCIAL_GOOGLE_CLIENT_SECRET: STAND_IN_CLIENT.secret,
    });
    signIns = standInSignIns(base, google);
  });
  afterAll(async () => {
    await stack?.close();
    await google?.close();
  });

  const identitiesOf = async (email: string) =>
    (await stack.primary.query<{ subject: string }>("SELECT subject FROM social_identities i JOIN users u ON u.id = i.user_id WHERE u.email = $1 ORDER BY i.created_at", [email])).rows.map((r) => r.subject);

  /** A new identity with the address of an existing account, at the link page, asking for the mailed link. */
  async function linkMailedFor(email: string) {
    const second = { ...someone(), email };
    const { b, res, body } = await signIns.signInWith(second);
    expect(res.status).toBe(200);
    expect(body).toContain("Email me a link instead");
    const mail = await b.post(`${base}/signin/social/link/mail`, { csrf: csrfOf(body), provider: "google", email, return_to: "/example/" });
    expect(mail.status).toBe(200);
    expect(await mail.text()).toContain("in this browser");
    return { b, second, ...(await stack.tokenFrom(email, /Link Google/)) };
  }

  /** An account made by one identity (no password), and a second identity with its address at the link page. */
  async function atLinkPage() {
    const first = someone();
    expect((await signIns.signInWith(first)).res.status).toBe(303);
    return { email: first.email, first, ...(await linkMailedFor(first.email)) };
  }

  /** Opens the mailed link's page in `b` and posts its form as the page's script would. */
  async function confirm(b: ReturnType<typeof hostBrowser>, token: string) {
    const page = await b.get(`${base}/signin/social/link/confirm`);
    if (page.status !== 200) return page;
    return b.post(`${base}/signin/social/link/confirm`, { csrf: csrfOf(await page.text()), token });
  }

  it("an account without a password links a second identity by the link, opened in the same browser, and signs in", async () => {
    const { b, email, first, second, token, mail } = await atLinkPage();
    expect(mail.text).toContain(`${base}/signin/social/link/confirm#token=`);
    expect(await identitiesOf(email)).toEqual([first.sub]);
    const done = await confirm(b, token);
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/example/");
    expect(b.jar.get("auth_session")).toBeTruthy();
    expect(b.jar.has("auth_social")).toBe(false);
    expect(await identitiesOf(email)).toEqual([first.sub, second.sub]);
    const audit = await stack.primary.query<{ type: string; details: { proof?: string } }>(
      "SELECT type, details FROM audit_events WHERE user_id = (SELECT id FROM users WHERE email = $1) AND type LIKE 'social.%' ORDER BY id",
      [email],
    );
    expect(audit.rows.map((r) => [r.type, r.details.proof])).toEqual([
      ["social.link", "new_account"],
      ["social.link_requested", undefined],
      ["social.link_mailed", undefined],
      ["social.link", "mail"],
    ]);
    // Single use: the same link again links nothing and opens no session.
    const again = hostBrowser();
    expect((await confirm(again, token)).status).toBe(400);
  });

  it("the mailed link claims an account whose address was never verified: whoever signed up with it loses its password, factors, links and sessions", async () => {
    // The pre-account takeover: someone signs up with the owner's address and a password, never
    // verifies it (password sign-in works unverified), and sets up what they can.
    const email = uniqueEmail("victim");
    const attacker = stack.auth.client;
    await attacker.signUp({ email, password: GOOD_PASSWORD });
    const held = await attacker.signIn({ email, password: GOOD_PASSWORD });
    await attacker.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: uniqueEmail("attacker") }, bearer(held.accessToken));
    const userId = (await stack.primary.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email])).rows[0]?.id;
    // As if enrolled: a confirmed TOTP factor would send the owner to a code page only the attacker can answer.
    await stack.primary.query("INSERT INTO totp_factors (user_id, secret_enc, confirmed_at) VALUES ($1, '\\x00', now())", [userId]);
    await stack.primary.query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, '\\x00')", [userId]);
    await stack.primary.query(
      "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, device_type, backed_up, name) VALUES ($1, $2, '\\x00', 0, 'singleDevice', false, 'planted')",
      [userId, randomUUID()],
    );

    // The owner: Continue with Google (which verified the address), the mailed link, in the same browser.
    const { b, second, token } = await linkMailedFor(email);
    const done = await confirm(b, token);
    expect(done.status).toBe(303);
    expect(done.headers.get("location")).toBe("/example/");
    expect(await identitiesOf(email)).toEqual([second.sub]);
    expect((await b.get(`${base}/account/identities`)).status).toBe(200);

    expect(await codeOf(attacker.getMe({}, bearer(held.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(attacker.refresh({ refreshToken: held.refreshToken }))).toBe(Code.Unauthenticated);
    expect(await codeOf(attacker.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    const account = await stack.primary.query(
      `SELECT email_verified, password_hash,
              (SELECT count(*)::int FROM totp_factors WHERE user_id = $1) AS totp,
              (SELECT count(*)::int FROM recovery_codes WHERE user_id = $1) AS recovery,
              (SELECT count(*)::int FROM passkeys WHERE user_id = $1) AS passkeys,
              (SELECT count(*)::int FROM account_tokens WHERE user_id = $1 AND purpose IN ('reset_password', 'change_email') AND used_at IS NULL) AS pending
       FROM users WHERE id = $1`,
      [userId],
    );
    expect(account.rows[0]).toEqual({ email_verified: true, password_hash: "", totp: 0, recovery: 0, passkeys: 0, pending: 0 });
    const notice = await stack.sink.waitFor(email, /Security notice: a link mailed/);
    expect(notice.text).toContain("the password, two-step sign-in (TOTP) and its recovery codes, a passkey, every signed-in session");
    const link = await stack.primary.query<{ details: { proof: string; claimed?: boolean } }>("SELECT details FROM audit_events WHERE user_id = $1 AND type = 'social.link'", [userId]);
    expect(link.rows.map((r) => r.details)).toMatchObject([{ proof: "mail", claimed: true }]);
  });

  it("links nothing once the account moved to another address or was disabled after the mail went", async () => {
    // Whoever changed the address (and verified it) owns another mailbox: the mailed proof no longer speaks for the account.
    const moved = await atLinkPage();
    await stack.primary.query("UPDATE users SET email = $2 WHERE email = $1", [moved.email, uniqueEmail("moved")]);
    expect((await confirm(moved.b, moved.token)).status).not.toBe(303);
    expect(moved.b.jar.get("auth_session")).toBeFalsy();
    expect(await stack.primary.query("SELECT 1 FROM social_identities WHERE subject = $1", [moved.second.sub])).toHaveProperty("rowCount", 0);

    const disabled = await atLinkPage();
    await stack.primary.query("UPDATE users SET disabled_at = now() WHERE email = $1", [disabled.email]);
    expect((await confirm(disabled.b, disabled.token)).status).not.toBe(303);
    expect(disabled.b.jar.get("auth_session")).toBeFalsy();
    expect(await identitiesOf(disabled.email)).toEqual([disabled.first.sub]);
  });

  it("the link opened in another browser (the mailbox's owner, not the one signing in) links nothing", async () => {
    const { b, email, first, second, token } = await atLinkPage();
    const elsewhere = hostBrowser();
    const page = await elsewhere.get(`${base}/signin/social/link/confirm`);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain("Open the link in the browser where you started signing in");
    // Posting the token anyway, with a form of its own: still no ticket, still nothing.
    const form = await elsewhere.get(`${base}/signin`);
    const posted = await elsewhere.post(`${base}/signin/social/link/confirm`, { csrf: csrfOf(await form.text()), token });
    expect(posted.status).toBe(400);
    expect(elsewhere.jar.get("auth_session")).toBeUndefined();
    expect(await identitiesOf(email)).toEqual([first.sub]);
    // The browser that started it still can.
    expect((await confirm(b, token)).status).toBe(303);
    expect(await identitiesOf(email)).toEqual([first.sub, second.sub]);
  });

  it("a newer mail replaces the older link's token; a wrong token is refused and the flow stays", async () => {
    const { b, email, first, token: older } = await atLinkPage();
    const page = await (await b.get(`${base}/signin`)).text();
    const resent = await b.post(`${base}/signin/social/link/mail`, { csrf: csrfOf(page), provider: "google", email, return_to: "/" });
    expect(resent.status).toBe(200);
    const { token: newer } = await stack.tokenFrom(email, /Link Google/);
    const stale = await confirm(b, older);
    expect(stale.status).toBe(400);
    expect(await stale.text()).toContain("invalid, expired or already used");
    expect(await identitiesOf(email)).toEqual([first.sub]);
    expect((await confirm(b, newer)).status).toBe(303);
  });

  it("the mails spend the address's mail budget (RATE_LIMIT_MAIL_ACCOUNT)", async () => {
    const { b, email } = await atLinkPage();
    const send = async () => b.post(`${base}/signin/social/link/mail`, { csrf: csrfOf(await (await b.get(`${base}/signin`)).text()), provider: "google", email, return_to: "/" });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(429);
  });

  it("bad input: one proof exactly, a well-formed token, a live ticket; a garbage link token keeps the flow", async () => {
    const social = createClient(SocialService, connectTransport(stack.auth.server.url));
    const ticket = "A".repeat(43);
    expect(await codeOf(social.linkSocialIdentity({ linkTicket: ticket, password: "a password", mailToken: "B".repeat(43) }))).toBe(Code.InvalidArgument);
    expect(await codeOf(social.linkSocialIdentity({ linkTicket: ticket }))).toBe(Code.InvalidArgument);
    expect(await codeOf(social.linkSocialIdentity({ linkTicket: ticket, mailToken: "<script>" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(social.linkSocialIdentity({ linkTicket: ticket, mailToken: "B".repeat(43) }))).toBe(Code.Unauthenticated);
    expect(await codeOf(social.sendSocialLinkMail({ linkTicket: "x".repeat(5000) }))).toBe(Code.Unauthenticated);

    const { b, email, first, token } = await atLinkPage();
    const garbage = await confirm(b, "\u0000<script>");
    expect(garbage.status).toBe(400);
    expect(await garbage.text()).not.toContain("<script>");
    expect(await identitiesOf(email)).toEqual([first.sub]);
    expect((await confirm(b, token)).status).toBe(303);
  });
});
