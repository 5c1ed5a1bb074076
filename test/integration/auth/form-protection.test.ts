import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, bearer, startTestAuth, uniqueEmail } from "../../support/auth.js";
import { cookieBrowser, csrfOf } from "../../support/browser.js";

/** OWASP CSRF cheat sheet and ASVS V3.4.4 / V4.2.2: every state-changing form, sign-out included. */
describe("hosted forms refuse cross-site posts", () => {
  let auth: TestAuth;
  let email: string;

  beforeAll(async () => {
    auth = await startTestAuth();
    email = uniqueEmail("csrf");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
  });
  afterAll(async () => auth?.close());

  async function signedInBrowser() {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    expect((await b.post("/signin", { email, password: GOOD_PASSWORD, csrf, return_to: "/" })).status).toBe(303);
    const tokens = await auth.client.signIn({ email, password: GOOD_PASSWORD });
    const sessionId = (b.jar.get("auth_session") ?? "").split(".")[0];
    const live = async () => (await auth.client.listSessions({}, bearer(tokens.accessToken))).sessions.some((s) => s.sessionId === sessionId);
    return { b, live };
  }

  it("POST /signout without its form's CSRF token leaves the session alone", async () => {
    const { b, live } = await signedInBrowser();
    const res = await b.post("/signout", {});
    expect(res.status).toBe(403);
    expect(await live()).toBe(true);
  });

  it("GET /signout shows a form whose token signs out", async () => {
    const { b, live } = await signedInBrowser();
    const page = await b.get("/signout");
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('action="/signout"');
    const res = await b.post("/signout", { csrf: csrfOf(html) });
    expect(res.status).toBe(303);
    expect(await live()).toBe(false);
  });

  it("refuses a post that a browser marks cross-site, or whose Origin is another site, even with a valid token", async () => {
    const { b, live } = await signedInBrowser();
    const csrf = csrfOf(await (await b.get("/signout")).text());
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const post = (headers: Record<string, string>) =>
      fetch(`${auth.server.url}/signout`, {
        method: "POST",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded", ...headers },
        body: `csrf=${csrf}`,
        redirect: "manual",
      });
    expect((await post({ "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await post({ origin: "https://evil.example" })).status).toBe(403);
    expect((await post({ origin: "null", "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ origin: "https://evil.example", "sec-fetch-site": "same-site" })).status).toBe(403);
    expect(await live()).toBe(true);
    expect((await post({ "sec-fetch-site": "same-origin", origin: auth.server.url })).status).toBe(303);
    expect(await live()).toBe(false);
  });

  it("refuses a sign-in posted from another origin", async () => {
    const b = cookieBrowser(auth.server.url);
    const csrf = csrfOf(await (await b.get("/signin")).text());
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(`${auth.server.url}/signin`, {
      method: "POST",
      headers: { cookie, origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email, password: GOOD_PASSWORD, csrf, return_to: "/" }).toString(),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie().some((c) => c.startsWith("auth_session="))).toBe(false);
  });

  it("binds the token to the pre-session: a cookie and form value an attacker chose together do not pass", async () => {
    // Double submit alone trusts any cookie that equals the form; a sibling subdomain can plant one.
    const chosen = "A".repeat(43);
    const res = await fetch(`${auth.server.url}/signin`, {
      method: "POST",
      headers: { cookie: `auth_csrf=${chosen}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ email, password: GOOD_PASSWORD, csrf: chosen, return_to: "/" }).toString(),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
  });
});

describe("an HTTPS deployment names its cookies __Host- (RFC 6265bis 4.1.3.2)", () => {
  let auth: TestAuth;
  beforeAll(async () => {
    auth = await startTestAuth({ PUBLIC_BASE_URL: "https://id.example.com" });
  });
  afterAll(async () => auth?.close());

  it("sets __Host-auth_csrf and __Host-auth_session: Secure, Path=/, no Domain; the shared name is the prefixed one", async () => {
    expect(auth.config.shared.sessionCookieName).toBe("__Host-auth_session");
    const email = uniqueEmail("host-prefix");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const b = cookieBrowser(auth.server.url);
    const form = await b.get("/signin");
    const csrfCookie = form.headers.getSetCookie().find((c) => c.startsWith("__Host-auth_csrf="));
    expect(csrfCookie).toMatch(/; Secure/);
    expect(csrfCookie).toMatch(/Path=\//);
    expect(csrfCookie).not.toMatch(/Domain=/i);
    const res = await b.post("/signin", { email, password: GOOD_PASSWORD, csrf: csrfOf(await form.text()), return_to: "/" });
    expect(res.status).toBe(303);
    const session = res.headers.getSetCookie().find((c) => c.startsWith("__Host-auth_session="));
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/Path=\//);
    expect(session).not.toMatch(/Domain=/i);
  });
});
