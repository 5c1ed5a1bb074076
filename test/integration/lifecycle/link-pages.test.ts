import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, bearer, uniqueEmail } from "../../support/auth.js";
import { startMailStack } from "../../support/mail.js";
import { cookieBrowser, csrfOf } from "../../support/browser.js";
import { codeOf } from "../../support/rpc-errors.js";

describe("the pages mail links open", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;

  beforeAll(async () => {
    stack = await startMailStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("/verify-email moves the fragment's token into the form with a nonce'd script and confirms the address", async () => {
    const email = uniqueEmail("link");
    await stack.auth.client.signUp({ email, password: GOOD_PASSWORD });
    const { token } = await stack.tokenFrom(email, /Confirm your email/);
    const b = cookieBrowser(stack.auth.server.url);
    const res = await b.get("/verify-email");
    const html = await res.text();
    const nonce = /<script nonce="([^"]+)">/.exec(html)?.[1];
    expect(nonce).toBeTruthy();
    expect(res.headers.get("content-security-policy")).toContain(`script-src 'nonce-${nonce}'`);
    expect(html).toContain("location.hash");

    const confirmed = await b.post("/verify-email", { csrf: csrfOf(html), token });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain("Email address confirmed");
    const { accessToken } = await stack.auth.client.signIn({ email, password: GOOD_PASSWORD });
    expect((await stack.auth.client.getMe({}, bearer(accessToken))).user?.emailVerified).toBe(true);

    const again = await b.post("/verify-email", { csrf: csrfOf(await (await b.get("/verify-email")).text()), token });
    expect(again.status).toBe(400);
  });

  it("/forgot-password answers alike for any address; /reset-password sets the new password from the form", async () => {
    const email = uniqueEmail("link");
    await stack.auth.client.signUp({ email, password: GOOD_PASSWORD });
    const asks = cookieBrowser(stack.auth.server.url);
    const answers: string[] = [];
    for (const address of [email, uniqueEmail("nobody")]) {
      const res = await asks.post("/forgot-password", { csrf: csrfOf(await (await asks.get("/forgot-password")).text()), email: address });
      expect(res.status).toBe(200);
      answers.push(await res.text());
    }
    expect(answers[0]).toBe(answers[1]);
    const { token } = await stack.tokenFrom(email, /Reset your password/);
    const b = cookieBrowser(stack.auth.server.url);
    const csrf = csrfOf(await (await b.get("/reset-password")).text());

    const weak = await b.post("/reset-password", { csrf, token, new_password: "password123" });
    expect(weak.status).toBe(400);
    const again = await weak.text();
    expect(again).toContain("too common");

    // The form comes back with a fresh CSRF token, as a person would resubmit it.
    const changed = await b.post("/reset-password", { csrf: csrfOf(again), token, new_password: "a fresh long passphrase" });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toContain("Password changed");
    await expect(stack.auth.client.signIn({ email, password: "a fresh long passphrase" })).resolves.toBeTruthy();
    expect(await codeOf(stack.auth.client.signIn({ email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
  });

  it("refuses a post without its form's CSRF token, and a forged token", async () => {
    const b = cookieBrowser(stack.auth.server.url);
    await b.get("/verify-email");
    expect((await b.post("/verify-email", { csrf: "forged", token: "x" })).status).toBe(403);
    const csrf = csrfOf(await (await b.get("/reset-password")).text());
    const forged = await b.post("/reset-password", { csrf, token: "A".repeat(43), new_password: "a fresh long passphrase" });
    expect(forged.status).toBe(400);
  });
});
