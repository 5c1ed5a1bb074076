import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, bearer, markEmailVerified, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { browserSignIn, cookieBrowser, csrfOf } from "../../support/browser.js";

const ACCOUNT_PAGES = ["/account", "/account/sessions", "/account/two-step", "/account/passkeys", "/account/password", "/account/email", "/account/security"];
// Every form an account page posts, with fields that would change something if the post were accepted.
const ACCOUNT_ACTIONS: Record<string, Record<string, string>> = {
  "/account/verify-email": {},
  "/account/password": { current_password: GOOD_PASSWORD, new_password: "a brand new passphrase" },
  "/account/email": { current_password: GOOD_PASSWORD, new_email: "elsewhere@example.com" },
  "/account/sessions/revoke": { session_id: "AAAAAAAAAAAAAAAAAAAAAA" },
  "/account/sessions/others": {},
  "/account/two-step/begin": { current_password: GOOD_PASSWORD },
  "/account/two-step/confirm": { code: "123456" },
  "/account/two-step/disable": { code: "123456" },
  "/account/passkeys/begin": { current_password: GOOD_PASSWORD },
  "/account/passkeys/finish": { response: "{}" },
  "/account/passkeys/remove": { passkey_id: "00000000-0000-0000-0000-000000000000" },
};

/** The self-service pages over plain HTTP: access, CSRF, hostile input, and what each form does. */
describe("account pages", () => {
  let auth: TestAuth;

  beforeAll(async () => {
    auth = await startTestAuth();
  });
  afterAll(async () => auth?.close());

  /** A fresh account and a browser signed in to it through the hosted page. */
  async function signedIn(verified = false) {
    const email = uniqueEmail("account");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    if (verified) await markEmailVerified(auth, email);
    const b = cookieBrowser(auth.server.url);
    b.jar.set("auth_session", await browserSignIn(auth.server.url, email, GOOD_PASSWORD));
    return { email, b };
  }

  /** Opens a page and posts one of its forms with the page's own CSRF token. */
  async function submit(b: ReturnType<typeof cookieBrowser>, pagePath: string, action: string, form: Record<string, string>) {
    const csrf = csrfOf(await (await b.get(pagePath)).text());
    return b.post(action, { csrf, ...form });
  }

  it("sends a browser without a session to sign in, with the page to come back to", async () => {
    const b = cookieBrowser(auth.server.url);
    for (const path of ACCOUNT_PAGES) {
      const res = await b.get(`${path}?x=1`);
      expect(res.status, path).toBe(303);
      expect(res.headers.get("location"), path).toBe(`/signin?return_to=${encodeURIComponent(`${path}?x=1`)}`);
    }
    // A forged cookie is no session either; a post goes back to its page.
    b.jar.set("auth_session", "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    const res = await b.post("/account/password", { csrf: "x", current_password: "x", new_password: "y" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/signin?return_to=%2Faccount%2Fpassword");
  });

  it("renders every page for a signed-in browser with strict headers, a phone viewport and labelled fields", async () => {
    const { b, email } = await signedIn();
    for (const path of ACCOUNT_PAGES) {
      const res = await b.get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-security-policy"), path).toContain("default-src 'none'");
      expect(res.headers.get("cache-control"), path).toBe("no-store");
      const html = await res.text();
      expect(html, path).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
      expect(html, path).toContain(`<a href="${path}" aria-current="page">`);
      // Every visible input has a label pointing at it.
      for (const [, id] of html.matchAll(/<input id="([^"]+)"/g)) expect(html, `${path} #${id}`).toContain(`<label for="${id}">`);
    }
    const overview = await (await b.get("/account")).text();
    expect(overview).toContain(email);
    expect(overview).toMatch(/<dd id="email-state">Not yet<\/dd>/);
    expect(overview).toContain('action="/account/verify-email"');
  });

  it("refuses every account form posted without its CSRF token, or with a forged one, and changes nothing", async () => {
    const { b, email } = await signedIn(true);
    await b.get("/account");
    for (const [action, form] of Object.entries(ACCOUNT_ACTIONS)) {
      expect((await b.post(action, form)).status, `${action} without a token`).toBe(403);
      expect((await b.post(action, { ...form, csrf: "forged" })).status, `${action} with a forged token`).toBe(403);
    }
    // The password stayed, the email stayed, no second factor began.
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ mfaRequired: false });
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const crossSite = await fetch(`${auth.server.url}/account/password`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site" },
      body: new URLSearchParams({ csrf: csrfOf(await (await b.get("/account/password")).text()), ...ACCOUNT_ACTIONS["/account/password"] }).toString(),
    });
    expect(crossSite.status).toBe(403);
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toBeDefined();
  });

  it("answers oversized, non-form and non-UTF-8 posts with a clear 4xx on every form", async () => {
    const { b } = await signedIn();
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    for (const action of [...Object.keys(ACCOUNT_ACTIONS), "/signup", "/signin/passkey"]) {
      const post = (body: string | Uint8Array<ArrayBuffer>, type = "application/x-www-form-urlencoded") =>
        fetch(`${auth.server.url}${action}`, { method: "POST", headers: { cookie, "content-type": type }, body, redirect: "manual" });
      expect((await post(`csrf=x&big=${"a".repeat(10_000)}`)).status, `${action} oversized`).toBe(413);
      expect((await post('{"csrf":"x"}', "application/json")).status, `${action} json`).toBe(400);
      expect((await post(new Uint8Array([0x63, 0x73, 0x72, 0x66, 0x3d, 0xff, 0xfe]))).status, `${action} bad utf-8`).toBe(400);
      expect((await post("csrf=%ff")).status, `${action} bad escape`).toBe(400);
    }
    expect((await fetch(`${auth.server.url}/healthz`)).status).toBe(200);
  });

  it("ties a refused field's error to it, and escapes hostile input shown back", async () => {
    const { b } = await signedIn();
    const wrong = await submit(b, "/account/password", "/account/password", { current_password: "not my password", new_password: "a brand new passphrase" });
    expect(wrong.status).toBe(403);
    const html = await wrong.text();
    expect(html).toMatch(/id="current_password"[^>]*aria-describedby="current_password-error"[^>]*aria-invalid="true"/);
    expect(html).toContain('<p id="current_password-error" class="field-error">Current password is incorrect.</p>');
    const weak = await submit(b, "/account/password", "/account/password", { current_password: GOOD_PASSWORD, new_password: "password" });
    expect(weak.status).toBe(400);
    expect(await weak.text()).toMatch(/id="new_password"[^>]*aria-describedby="new_password-hint new_password-error"[^>]*aria-invalid="true"/);

    const signup = cookieBrowser(auth.server.url);
    const hostile = `"><script>alert(1)</script>@example.com`;
    const res = await submit(signup, "/signup", "/signup", { email: hostile, password: GOOD_PASSWORD });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).not.toContain("<script>alert(1)</script>");
    expect(page).toContain("&quot;&gt;&lt;script&gt;");
    expect(page).toMatch(/id="email"[^>]*aria-invalid="true"/);
    const session = await submit(b, "/account/sessions", "/account/sessions/revoke", { session_id: "../../etc/passwd" });
    expect(session.status).toBe(400);
    expect(await session.text()).toContain("Session_id is not a valid session id.");
  });

  it("signs up with the same answer whether or not the address is taken", async () => {
    const email = uniqueEmail("signup-page");
    const answer = async () => {
      const b = cookieBrowser(auth.server.url);
      const res = await submit(b, "/signup", "/signup", { email, password: GOOD_PASSWORD });
      return { status: res.status, body: await res.text() };
    };
    const first = await answer();
    const again = await answer();
    expect(first.status).toBe(200);
    expect(again).toEqual(first);
    expect(first.body).toContain("Check your email");
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ sessionId: expect.any(String) });
  });

  it("lists sessions with device, IP and last seen, signs out another one and then all others", async () => {
    const { b, email } = await signedIn();
    const phone = await auth.client.signIn({ email, password: GOOD_PASSWORD }, { headers: { "user-agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36" } });
    const laptop = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const html = await (await b.get("/account/sessions")).text();
    expect(html).toContain("Chrome on Android");
    expect(html).toContain("(this device)");
    expect(html).toContain("127.0.0.1");
    expect(html).toMatch(/<time datetime="\d{4}-\d\d-\d\dT/);
    const revoked = await submit(b, "/account/sessions", "/account/sessions/revoke", { session_id: phone.sessionId });
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get("location")).toBe("/account/sessions?done=revoked");
    expect(await (await b.get("/account/sessions?done=revoked")).text()).toContain("That session is signed out.");
    await expect(auth.client.getMe({}, bearer(phone.accessToken))).rejects.toThrow(/session has ended/);
    await expect(auth.client.getMe({}, bearer(laptop.accessToken))).resolves.toBeDefined();
    expect((await submit(b, "/account/sessions", "/account/sessions/others", {})).status).toBe(303);
    await expect(auth.client.getMe({}, bearer(laptop.accessToken))).rejects.toThrow(/session has ended/);
    expect((await b.get("/account/sessions")).status).toBe(200);
  });

  it("records a page's session and audit events with the browser's IP and user agent", async () => {
    const { b, email } = await signedIn();
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const sessionId = (b.jar.get("auth_session") ?? "").split(".")[0];
    const fromPage = (await auth.client.listSessions({}, bearer(tokens.accessToken))).sessions.find((s) => s.sessionId === sessionId);
    // fetch's own user agent: the page passed the request's facts on to the RPC it called in process.
    expect(fromPage).toMatchObject({ ip: "127.0.0.1", userAgent: "node" });
    const { events } = await auth.client.listAuditEvents({}, bearer(tokens.accessToken));
    expect(events.filter((e) => e.type === "signin.success").every((e) => e.ip === "127.0.0.1")).toBe(true);
  });

  it("changes the password and asks for a new email address's confirmation", async () => {
    const { b, email } = await signedIn();
    const changed = await submit(b, "/account/password", "/account/password", { current_password: GOOD_PASSWORD, new_password: "a brand new passphrase" });
    expect(changed.status).toBe(303);
    await expect(auth.client.signIn({ email, password: "a brand new passphrase" })).resolves.toBeDefined();
    const moved = await submit(b, "/account/email", "/account/email", { current_password: "a brand new passphrase", new_email: uniqueEmail("moved") });
    expect(moved.status).toBe(303);
    expect(await (await b.get(moved.headers.get("location") ?? "")).text()).toContain("Check the new address");
  });

  it("shows the account's own security events, newest first, and survives an edited page token", async () => {
    const { b } = await signedIn();
    const html = await (await b.get("/account/security")).text();
    expect(html.indexOf("signin.success")).toBeGreaterThan(0);
    expect(html.indexOf("signin.success")).toBeLessThan(html.indexOf("signup"));
    expect((await b.get("/account/security?page=%3Cnot-ours%3E")).status).toBe(200);
  });

  it("turns on two-step sign-in with a QR code, shows recovery codes once, and refuses a wrong code on the field", async () => {
    const { b, email } = await signedIn(true);
    const begun = await submit(b, "/account/two-step", "/account/two-step/begin", { current_password: GOOD_PASSWORD });
    expect(begun.status).toBe(200);
    const html = await begun.text();
    expect(html).toMatch(/<div class="qr" role="img" aria-label="[^"]+"><svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const secret = /data-secret="([A-Z2-7]+)"/.exec(html)?.[1] ?? "";
    const { Secret, TOTP } = await import("otpauth");
    const totp = new TOTP({ secret: Secret.fromBase32(secret) });
    const wrongCode = await b.post("/account/two-step/confirm", { csrf: csrfOf(html), secret, otpauth_uri: /name="otpauth_uri" value="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&") ?? "", code: "000000" === totp.generate() ? "111111" : "000000" });
    expect(wrongCode.status).toBe(400);
    const again = await wrongCode.text();
    expect(again).toContain('<div class="qr"');
    expect(again).toMatch(/id="code"[^>]*aria-invalid="true"/);
    const confirmed = await b.post("/account/two-step/confirm", { csrf: csrfOf(again), code: totp.generate() });
    expect(confirmed.status).toBe(200);
    const codes = [...(await confirmed.text()).matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]);
    expect(codes).toHaveLength(10);
    expect(await (await b.get("/account/two-step")).text()).toContain("Two-step sign-in is <strong>on</strong>");
    await expect(auth.client.signIn({ email, password: GOOD_PASSWORD })).resolves.toMatchObject({ mfaRequired: true });
  });
});
