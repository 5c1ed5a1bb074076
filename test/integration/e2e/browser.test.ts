import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, uniqueEmail } from "../../support/auth.js";
import { CHROMIUM_ARGS, ensureChromium } from "../../support/chromium.js";
import { startTopology, userIdOf, type TestGateway, type TestTopology } from "../../support/gateway.js";

const ARTIFACTS = path.resolve(import.meta.dirname, "../../../.test-artifacts");

/** The browser flow in a real headless Chromium, through each gateway, with SESSION_COOKIE_SECURE at its default (true). */
describe.each(["envoy", "nginx"] as const)("browser sign-in through the %s gateway", (proxy) => {
  const chromiumFound = ensureChromium();
  let topo: TestTopology;
  let gw: TestGateway;
  let context: BrowserContext | undefined;
  const profile = mkdtempSync(path.join(tmpdir(), "chromium-profile-"));

  beforeAll(async () => {
    if ("skip" in chromiumFound) return;
    topo = await startTopology();
    gw = await topo.addGateway(1, {}, proxy);
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumFound.path, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await context?.close();
    await topo?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it("redirects to the hosted page, signs in with an HttpOnly SameSite Secure cookie, lands back, signs out", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    const email = uniqueEmail("browser");
    await topo.auth.client.signUp({ email, password: GOOD_PASSWORD });
    const userId = userIdOf((await topo.auth.client.signIn({ email, password: GOOD_PASSWORD })).accessToken);
    const page = await context!.newPage();

    await page.goto(`${gw.url}/example/`);
    expect(page.url()).toBe(`${gw.url}/signin?return_to=%2Fexample%2F`);
    await expect(page.locator("h1").textContent()).resolves.toBe("Sign in");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `signin-page-${proxy}.png`), fullPage: true });

    await page.fill("#email", email);
    await page.fill("#password", GOOD_PASSWORD);
    await Promise.all([page.waitForURL(`${gw.url}/example/`), page.click("button[type=submit]")]);
    const seen = JSON.parse((await page.locator("body").textContent()) ?? "{}");
    expect(seen).toMatchObject({ path: "/example/", identity: { userId, authLevel: "basic" } });

    const [cookie, ...others] = (await context!.cookies(gw.url)).filter((c) => c.name === "auth_session");
    expect(others).toEqual([]);
    // Chromium kept a Secure cookie over plain http: 127.0.0.1 is a potentially trustworthy origin.
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", secure: true, path: "/" });
    expect(await page.evaluate(() => document.cookie)).not.toContain("auth_session");

    // Sign-out is a POST from the hosted /signout form (its CSRF token and Origin checked); a bare cross-site POST is refused.
    await page.goto(`${gw.url}/signout`);
    await Promise.all([page.waitForURL(`${gw.url}/signin`), page.click("button[type=submit]")]);
    expect((await context!.cookies(gw.url)).map((c) => c.name)).not.toContain("auth_session");
    await page.goto(`${gw.url}/example/`);
    expect(page.url()).toBe(`${gw.url}/signin?return_to=%2Fexample%2F`);
  });
});
