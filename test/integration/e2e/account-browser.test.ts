import { mkdirSync } from "node:fs";
import path from "node:path";
import { Secret, TOTP } from "otpauth";
import { createClient } from "@connectrpc/connect";
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PasskeyService } from "../../../src/gen/auth/v1/passkeys_pb.js";
import { findFreePort } from "../../../src/stack/ports.js";
import { GOOD_PASSWORD, connectTransport, uniqueEmail } from "../../support/auth.js";
import { CHROMIUM_ARGS, ensureChromium } from "../../support/chromium.js";
import { startTopology, type TestGateway, type TestTopology } from "../../support/gateway.js";
import { createMailDatabase, startMailDelivery } from "../../support/mail.js";
import { rejection } from "../../support/rpc-errors.js";

const SCREENSHOTS = path.resolve(import.meta.dirname, "../../../.test-artifacts/screenshots");
const WIDTHS = [1280, 390];

/**
 * One person's whole account, driven in one headless Chromium through Envoy: sign up, confirm the
 * address from the mail, turn on TOTP from the page's secret, sign in with a code, add a passkey
 * with Chromium's virtual authenticator (DevTools WebAuthn domain) and sign in with it alone and as
 * the second step, and sign out another device, which the gateway then refuses. One browser launch
 * for all of it, in steps that run in order; every page is photographed at desktop and phone width.
 */
describe("self-service pages in Chromium", () => {
  const chromiumFound = ensureChromium();
  let db: Awaited<ReturnType<typeof createMailDatabase>>;
  let delivery: Awaited<ReturnType<typeof startMailDelivery>>;
  let topo: TestTopology;
  let gw: TestGateway;
  let browser: Browser | undefined;
  // One person's state, carried from step to step (each step needs the ones before it).
  let email: string;
  let laptop: BrowserContext;
  let page: Page;
  let phone: BrowserContext;
  let phonePage: Page;
  let totp: TOTP;
  let recoveryCodes: string[];
  let afterCode: { userId: string; authLevel: string };
  let cdp: CDPSession;
  let authenticatorId: string;

  beforeAll(async () => {
    if ("skip" in chromiumFound) return;
    db = await createMailDatabase();
    delivery = await startMailDelivery(db.url);
    const port = await findFreePort();
    // The links in mail and the WebAuthn relying party are this origin: localhost, since WebAuthn refuses IP addresses.
    topo = await startTopology({ ...db.env, PUBLIC_BASE_URL: `http://localhost:${port}` });
    gw = await topo.addGateway(1, {}, "envoy", { port, host: "localhost" });
    browser = await chromium.launch({ executablePath: chromiumFound.path, headless: true, args: CHROMIUM_ARGS });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await topo?.close();
    await delivery?.close();
    await db?.drop();
  });

  async function shoot(page: Page, name: string) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width > 600 ? 800 : 844 });
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  /** Submits the form `button` belongs to, waits for the next page to load, and checks where it landed. */
  async function press(page: Page, button: string | RegExp, landsOn: string) {
    await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: button }).click()]);
    expect(page.url()).toBe(`${gw.url}${landsOn}`);
  }

  /** The hosted sign-in form, filled in and sent; `landsOn` is the page after it (/signin when a second step follows). */
  async function passwordSignIn(page: Page, email: string, returnTo: string, landsOn: string) {
    await page.goto(`${gw.url}/signin?return_to=${returnTo}`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(GOOD_PASSWORD);
    await press(page, "Sign in", landsOn);
  }

  /** Signs out, and in again with the passkey alone; lands on /example/ unless told otherwise. */
  async function passkeyAlone(page: Page, landsOn = "/example/") {
    await page.goto(`${gw.url}/signout`);
    await press(page, "Sign out", "/signin");
    await page.goto(`${gw.url}/signin/passkey?return_to=%2Fexample%2F`);
    await press(page, "Use my passkey", landsOn);
  }

  const identityOn = async (page: Page) => {
    await page.goto(`${gw.url}/example/`);
    return JSON.parse((await page.locator("body").textContent()) ?? "{}").identity as { userId: string; authLevel: string };
  };

  it("signs up from the sign-in page and confirms the address from the mailed link", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    email = uniqueEmail("chromium");
    laptop = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    page = await laptop.newPage();

    // An account page sends a stranger to sign in and back; from there to sign up.
    await page.goto(`${gw.url}/account`);
    expect(page.url()).toBe(`${gw.url}/signin?return_to=%2Faccount`);
    await shoot(page, "signin");
    await Promise.all([page.waitForEvent("load"), page.getByRole("link", { name: "Create an account" }).click()]);
    expect(page.url()).toBe(`${gw.url}/signup`);
    await shoot(page, "signup");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password", { exact: true }).fill(GOOD_PASSWORD);
    await press(page, "Create account", "/signup");
    await expect(page.getByRole("heading").textContent()).resolves.toBe("Check your email");
    await shoot(page, "signup-done");

    // The link in the mail opens the confirmation page (its token in the fragment, never sent to a server).
    const mail = await delivery.sink.waitFor(email, /Confirm your email address/);
    const link = /(http:\/\/localhost:\d+\/verify-email#token=[A-Za-z0-9_-]{43})/.exec(mail.text)?.[1];
    expect(link).toBeDefined();
    await page.goto(link!);
    await shoot(page, "verify-email");
    await press(page, "Confirm my email address", "/verify-email");
    await expect(page.getByRole("heading").textContent()).resolves.toBe("Email address confirmed");

  });

  it("signs in on two devices and turns on TOTP from the QR code's key, showing recovery codes once", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    await passwordSignIn(page, email, "%2Faccount", "/account");
    await expect(page.locator("#email-state").textContent()).resolves.toBe("Yes");
    await shoot(page, "account");

    // A second device signs in now, to be signed out from the first one at the end.
    phone = await browser!.newContext({ viewport: { width: 390, height: 844 }, userAgent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36" });
    phonePage = await phone.newPage();
    await passwordSignIn(phonePage, email, "%2Faccount", "/account");

    // TOTP: the page shows a QR code and the key; the test's authenticator app reads the key.
    await page.goto(`${gw.url}/account/two-step`);
    await shoot(page, "two-step");
    await page.getByLabel("Current password").fill(GOOD_PASSWORD);
    await press(page, "Set up an authenticator app", "/account/two-step/begin");
    await expect(page.getByRole("img", { name: "QR code for your authenticator app" }).locator("svg").count()).resolves.toBe(1);
    await shoot(page, "two-step-enrol");
    totp = new TOTP({ secret: Secret.fromBase32((await page.locator("#totp-secret").getAttribute("data-secret")) ?? "") });
    await page.getByLabel("Code from the app").fill(totp.generate());
    await press(page, "Turn on two-step sign-in", "/account/two-step/confirm");
    recoveryCodes = await page.locator("#recovery-codes li").allTextContents();
    expect(recoveryCodes).toHaveLength(10);
    await shoot(page, "two-step-recovery-codes");

  });

  it("signs in with the password and a code from the authenticator app", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    // Signed out, the password alone is not enough: the code page, and a code of the next time step (each works once).
    await page.goto(`${gw.url}/signout`);
    await press(page, "Sign out", "/signin");
    await passwordSignIn(page, email, "%2Fexample%2F", "/signin");
    await shoot(page, "signin-code");
    await page.getByLabel(/Code from your authenticator app/).fill(totp.generate({ timestamp: Date.now() + 30_000 }));
    await press(page, "Continue", "/example/");
    afterCode = await identityOn(page);
    expect(afterCode.authLevel).toBe("mfa");

  });

  it("adds a passkey with the virtual authenticator and signs in with it alone and as the second step", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    // A passkey, created by Chromium's virtual authenticator (a platform one with user verification).
    cdp = await laptop.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
    await page.goto(`${gw.url}/account/passkeys`);
    await page.getByLabel("Name for the passkey").fill("Test laptop");
    await press(page, "Add a passkey", "/account/passkeys/begin");
    await shoot(page, "passkey-create");
    await press(page, "Create the passkey", "/account/passkeys?done=added");
    await expect(page.getByRole("cell", { name: "Test laptop", exact: true }).count()).resolves.toBe(1);
    await shoot(page, "passkeys");
    expect((await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials).toHaveLength(1);

    // The passkey alone: no email typed (a discoverable credential), user verified, so the session is `mfa`.
    await page.goto(`${gw.url}/signout`);
    await press(page, "Sign out", "/signin");
    await page.goto(`${gw.url}/signin?return_to=%2Fexample%2F`);
    await Promise.all([page.waitForEvent("load"), page.getByRole("link", { name: "Sign in with a passkey" }).click()]);
    expect(page.url()).toBe(`${gw.url}/signin/passkey?return_to=%2Fexample%2F`);
    await shoot(page, "signin-passkey");
    const posted = page.waitForRequest((r) => r.method() === "POST" && r.url().endsWith("/signin/passkey"));
    await press(page, "Use my passkey", "/example/");
    expect(await identityOn(page)).toMatchObject({ userId: afterCode.userId, authLevel: "mfa" });
    // The assertion the browser sent, replayed: its challenge was spent, on every instance.
    const response = new URLSearchParams((await posted).postData() ?? "").get("response") ?? "";
    expect(JSON.parse(response)).toMatchObject({ type: "public-key" });
    const replay = await rejection(createClient(PasskeyService, connectTransport(gw.url)).completePasskeySignIn({ responseJson: response }));
    expect(replay.rawMessage).toMatch(/already used/);
    const signCount = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials[0]?.signCount ?? 0;
    const stored = await delivery.primary.query<{ sign_count: string; last_used_at: Date | null }>("SELECT sign_count, last_used_at FROM passkeys WHERE name = 'Test laptop' AND user_id = $1", [afterCode.userId]);
    expect(Number(stored.rows[0]?.sign_count)).toBe(signCount);
    expect(stored.rows[0]?.last_used_at).toBeInstanceOf(Date);

    // The passkey as the second step of a password sign-in.
    await page.goto(`${gw.url}/signout`);
    await press(page, "Sign out", "/signin");
    await passwordSignIn(page, email, "%2Fexample%2F", "/signin");
    await press(page, "Use a passkey instead", "/signin/passkey");
    await press(page, "Use my passkey", "/example/");
    expect((await identityOn(page)).authLevel).toBe("mfa");

  });

  it("records the passkey's backup state on use and refuses a clone's sign count", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    // Backup state: once the authenticator reports the credential backed up (BE/BS flags), the next use records it.
    const [credential] = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    await cdp.send("WebAuthn.setCredentialProperties", { authenticatorId, credentialId: credential!.credentialId, backupEligibility: true, backupState: true });
    await passkeyAlone(page);
    expect((await identityOn(page)).authLevel).toBe("mfa");
    const synced = await delivery.primary.query<{ backed_up: boolean; device_type: string; sign_count: string }>("SELECT backed_up, device_type, sign_count FROM passkeys WHERE user_id = $1", [afterCode.userId]);
    expect(synced.rows[0]).toMatchObject({ backed_up: true, device_type: "multiDevice" });

    // A clone: the same key answering with a sign count below the stored one is refused (WebAuthn Level 3, 6.1.1).
    await cdp.send("WebAuthn.removeCredential", { authenticatorId, credentialId: credential!.credentialId });
    await cdp.send("WebAuthn.addCredential", { authenticatorId, credential: { ...credential!, signCount: 0, backupEligibility: true, backupState: true } });
    await passkeyAlone(page, "/signin/passkey");
    await expect(page.getByRole("alert").textContent()).resolves.toMatch(/Passkey not recognised/);
    const refused = await delivery.primary.query<{ sign_count: string }>("SELECT sign_count FROM passkeys WHERE user_id = $1", [afterCode.userId]);
    expect(refused.rows[0]?.sign_count).toBe(synced.rows[0]?.sign_count);
    await passwordSignIn(page, email, "%2Fexample%2F", "/signin");
    await page.getByLabel(/Code from your authenticator app/).fill(recoveryCodes[0] ?? "");
    await press(page, "Continue", "/example/");

  });

  it("signs another device out from the sessions page, and the gateway turns it away", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    // From the laptop, sign the phone out; the gateway's Check then turns the phone away (302 to sign in, with its reason).
    await page.goto(`${gw.url}/account/sessions`);
    await shoot(page, "sessions");
    await press(page, /^Sign out Chrome on Android from /, "/account/sessions?done=revoked");
    const denied = await phone.request.get(`${gw.url}/account`, { maxRedirects: 0, headers: { accept: "text/html" } });
    expect(denied.status()).toBe(302);
    expect(denied.headers()["x-auth-reason"]).toBeTruthy();
    expect(denied.headers().location).toBe(`${gw.url}/signin?return_to=%2Faccount`);
    await phonePage.goto(`${gw.url}/account/sessions`);
    expect(phonePage.url()).toBe(`${gw.url}/signin?return_to=%2Faccount%2Fsessions`);

    // The remaining pages, photographed.
    for (const name of ["password", "email", "security"]) {
      await page.goto(`${gw.url}/account/${name}`);
      expect(await page.getByRole("heading", { level: 1 }).count()).toBe(1);
      await shoot(page, name);
    }
    await expect(page.getByRole("cell", { name: "passkey.added" }).count()).resolves.toBe(1);
  });
});
