import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, bearer, markEmailVerified, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { cookieBrowser, csrfOf, signOutVia } from "../../support/browser.js";
import { steppingClock } from "../../support/clock.js";

describe("hosted sign-in page", () => {
  let auth: TestAuth;
  let email: string;

  beforeAll(async () => {
    auth = await startTestAuth();
    email = uniqueEmail();
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
  });
  afterAll(async () => {
    await auth?.close();
  });

  it("renders a form with a CSRF token and strict security headers", async () => {
    const b = cookieBrowser(auth.server.url);
    const res = await b.get("/signin?return_to=/example/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const html = await res.text();
    expect(html).toContain('name="return_to" value="/example/"');
    // The cookie is the pre-session; the form's token is bound to it (HMAC), not a copy of it.
    expect(b.jar.get("auth_csrf")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfOf(html)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfOf(html)).not.toBe(b.jar.get("auth_csrf"));
  });

  it("signs in, sets a secure HttpOnly SameSite cookie and returns to the page wanted", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin?return_to=/example/page?x=1")).text());
    const res = await b.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "/example/page?x=1" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/example/page?x=1");
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("auth_session="));
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Secure/);
    expect(b.jar.get("auth_session")).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  });

  it("answers wrong credentials with the form again, 401, and no cookie", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    const res = await b.post("/signin", { email, password: "not the password", csrf, return_to: "/" });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain("Invalid email or password.");
    expect(b.jar.has("auth_session")).toBe(false);
  });

  it("refuses a post without the CSRF token of its form", async () => {
    const b = cookieBrowser(auth.server.url);
    await b.get("/signin");
    const res = await b.post("/signin", { email, password: GOOD_PASSWORD, csrf: "forged", return_to: "/" });
    expect(res.status).toBe(403);
    expect(b.jar.has("auth_session")).toBe(false);
  });

  it("survives a CSRF token as long as the cookie's in characters but not in bytes, on every form", async () => {
    for (const path of ["/signin", "/signin/code", "/forgot-password", "/verify-email", "/reset-password"]) {
      const res = await fetch(`${auth.server.url}${path}`, {
        method: "POST",
        headers: { cookie: "auth_csrf=a", "content-type": "application/x-www-form-urlencoded" },
        body: "csrf=%C3%A9&email=a%40example.com&password=x&token=x&new_password=x&code=1&challenge=x",
      });
      expect(res.status, path).toBe(403);
    }
    expect((await fetch(`${auth.server.url}/healthz`)).status).toBe(200);
  });

  it("sends a return_to with characters a Location header cannot carry home", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    const res = await b.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "/пример/страница" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
  });

  it("never redirects off-site and escapes what it echoes", async () => {
    const b = cookieBrowser(auth.server.url);
    const page = await (await b.get(`/signin?return_to=${encodeURIComponent('/"><script>alert(1)</script>')}`)).text();
    expect(page).not.toContain("<script>alert(1)</script>");
    expect(page).toContain("&lt;script&gt;");
    const csrf = csrfOf(page);
    const res = await b.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "//evil.example/" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/");
  });

  it("signs out: the session ends and the cookie is cleared", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    await b.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "/" });
    const sessionId = (b.jar.get("auth_session") ?? "").split(".")[0];
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const before = await auth.client.listSessions({}, bearer(tokens.accessToken));
    expect(before.sessions.map((s) => s.sessionId)).toContain(sessionId);
    const res = await signOutVia(b);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/signin");
    expect(b.jar.has("auth_session")).toBe(false);
    const after = await auth.client.listSessions({}, bearer(tokens.accessToken));
    expect(after.sessions.map((s) => s.sessionId)).not.toContain(sessionId);
  });

  it("signs out a session whose cookie the browser sends quoted, as the gateway accepts it", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    await b.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "/" });
    const value = b.jar.get("auth_session") ?? "";
    const sessionId = value.split(".")[0];
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    // RFC 6265 4.1.1 allows a DQUOTE-wrapped cookie-value; the Check unquotes it, so sign-out must too.
    b.jar.set("auth_session", `"${value}"`);
    const res = await signOutVia(b);
    expect(res.status).toBe(303);
    const after = await auth.client.listSessions({}, bearer(tokens.accessToken));
    expect(after.sessions.map((s) => s.sessionId)).not.toContain(sessionId);
  });

  it("does not accept a session id alone as the cookie", async () => {
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const forged = `${tokens.sessionId}.${"A".repeat(43)}`;
    const b = cookieBrowser(auth.server.url);
    b.jar.set("auth_session", forged);
    const res = await signOutVia(b);
    expect(res.status).toBe(303);
    await expect(auth.client.getMe({}, bearer(tokens.accessToken))).resolves.toBeTruthy();
  });

  it("asks for the second factor when the account has TOTP on, then signs in with a code", async () => {
    const clock = steppingClock();
    const mfa = await startTestAuth({}, { clock });
    try {
      const address = uniqueEmail("mfa-page");
      await mfa.client.signUp({ email: address, password: GOOD_PASSWORD });
      await markEmailVerified(mfa, address);
      const { accessToken } = await mfa.client.signIn({ email: address, password: GOOD_PASSWORD });
      const { secret } = await mfa.client.beginTotpEnrollment({}, bearer(accessToken));
      const code = () => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: clock.now() });
      await mfa.client.confirmTotpEnrollment({ code: code() }, bearer(accessToken));
      clock.advance(30_000);

      const b = cookieBrowser(mfa.server.url);
      const csrf = csrfOf(await (await b.get("/signin?return_to=/example/")).text());
      const step = await b.post("/signin", { email: address, password: GOOD_PASSWORD, csrf, return_to: "/example/" });
      expect(step.status).toBe(200);
      const html = await step.text();
      expect(html).toContain('action="/signin/code"');
      expect(b.jar.has("auth_session")).toBe(false);
      const challenge = /name="challenge" value="([^"]+)"/.exec(html)?.[1] ?? "";

      const wrong = await b.post("/signin/code", { csrf, challenge, code: code() === "000000" ? "111111" : "000000", return_to: "/example/" });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain("That code did not work.");
      const done = await b.post("/signin/code", { csrf, challenge, code: code(), return_to: "/example/" });
      expect(done.status).toBe(303);
      expect(done.headers.get("location")).toBe("/example/");
      expect(b.jar.get("auth_session")).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    } finally {
      await mfa.close();
    }
  });

  it("refuses a form whose escapes are not UTF-8 (no U+FFFD stand-ins reach the service)", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    const [local, domain] = email.split("@");
    const res = await fetch(`${auth.server.url}/signin`, {
      method: "POST",
      headers: { cookie: `auth_csrf=${csrf}`, "content-type": "application/x-www-form-urlencoded" },
      body: `csrf=${csrf}&return_to=%2F&email=${local}%FF%FE%40${domain}&password=${encodeURIComponent(GOOD_PASSWORD)}`,
      redirect: "manual",
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("Bad request");
  });

  it("answers oversized posts with 413 and non-form posts with 400", async () => {
    const big = await fetch(`${auth.server.url}/signin`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=" + "x".repeat(20_000) });
    expect(big.status).toBe(413);
    const json = await fetch(`${auth.server.url}/signin`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(json.status).toBe(400);
  });
});
