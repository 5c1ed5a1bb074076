import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExampleUpstream } from "../../../src/example/upstream.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { endpointOf } from "../../../src/stack/render-config.js";
import { ensureLocalCertificate, spkiHash } from "../../../src/stack/tls.js";
import { GOOD_PASSWORD, type TestAuth, startTestAuth, uniqueEmail, userIdOf } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";
import { CHROMIUM_ARGS, ensureChromium } from "../../support/chromium.js";
import { startTestEnvoy, type TestEnvoy } from "../../support/envoy-process.js";

/** Headless Chromium through the real Envoy: plain HTTP -> HTTPS, the hosted sign-in, the Secure cookie over TLS. */
describe("browser sign-in over HTTPS through Envoy", () => {
  const chromiumFound = ensureChromium();
  const dir = mkdtempSync(path.join(tmpdir(), "edge-browser-"));
  const profile = mkdtempSync(path.join(tmpdir(), "chromium-profile-"));
  let auth: TestAuth;
  let authz: TestAuthz;
  let example: Awaited<ReturnType<typeof startExampleUpstream>>;
  let envoy: TestEnvoy;
  let context: BrowserContext | undefined;
  let secure: string;

  beforeAll(async () => {
    if ("skip" in chromiumFound) return;
    const cert = ensureLocalCertificate(dir);
    const tlsPort = await findFreePort();
    secure = `https://127.0.0.1:${tlsPort}`;
    auth = await startTestAuth({ TRUSTED_PROXIES: "127.0.0.1" });
    [authz, example] = await Promise.all([startTestAuthz(auth, { SIGNIN_URL: `${secure}/signin` }), startExampleUpstream("127.0.0.1", 0)]);
    envoy = await startTestEnvoy(
      { auth: [endpointOf(auth.server.url)], authz: [authz.server.endpoints], example: endpointOf(example.url) },
      { tls: { listen: { host: "127.0.0.1", port: tlsPort }, certFile: cert.certFile, keyFile: cert.keyFile } },
    );
    // Trusts exactly this certificate's key, as a user who installed the CA would trust the gateway; nothing else is waived.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumFound.path,
      headless: true,
      args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiHash(cert.certFile)}`],
    });
  });
  afterAll(async () => {
    await context?.close();
    for (const close of [() => envoy?.stop(), () => authz?.close(), () => example?.close(), () => auth?.close()]) await close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it("follows the redirect to HTTPS, signs in on the hosted page and keeps an HttpOnly Secure cookie over TLS", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    const email = uniqueEmail("tls-browser");
    await auth.client.signUp({ email, password: GOOD_PASSWORD });
    const userId = userIdOf((await auth.client.signIn({ email, password: GOOD_PASSWORD })).accessToken);
    const page = await context!.newPage();

    const landing = await page.goto(`${envoy.url}/example/`);
    expect(page.url()).toBe(`${secure}/signin?return_to=%2Fexample%2F`);
    expect(landing?.headers()["strict-transport-security"]).toBe("max-age=31536000");
    await expect(page.locator("h1").textContent()).resolves.toBe("Sign in");

    await page.fill("#email", email);
    await page.fill("#password", GOOD_PASSWORD);
    await Promise.all([page.waitForURL(`${secure}/example/`), page.click("button[type=submit]")]);
    expect(JSON.parse((await page.locator("body").textContent()) ?? "{}")).toMatchObject({ path: "/example/", identity: { userId, authLevel: "basic" } });

    const cookies = (await context!.cookies(secure)).filter((c) => c.name === "auth_session");
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Lax", secure: true, path: "/" });
    expect(await page.evaluate(() => window.isSecureContext && location.protocol)).toBe("https:");
  });
});
