import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../../src/stack/ports.js";
import { CHROMIUM_ARGS, ensureChromium } from "../../support/chromium.js";
import { startTopology, type TestGateway, type TestTopology } from "../../support/gateway.js";
import { someone, startStandInProvider, STAND_IN_CLIENT, type StandInProvider } from "../../support/social.js";

/** Social sign-in as a person does it: Chromium, through Envoy, to a stand-in Google with a login page of its own. */
describe("social sign-in in Chromium through the gateway", () => {
  const chromiumFound = ensureChromium();
  let google: StandInProvider;
  let topo: TestTopology;
  let gw: TestGateway;
  let browser: Browser | undefined;

  beforeAll(async () => {
    if ("skip" in chromiumFound) return;
    const port = await findFreePort();
    google = await startStandInProvider(`http://127.0.0.1:${port}/signin/social/google/callback`);
    topo = await startTopology({
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      SOCIAL_PROVIDERS: "google",
      SOCIAL_GOOGLE_ISSUER: google.issuer,
      SOCIAL_GOOGLE_CLIENT_ID: STAND_IN_CLIENT.id,
      SOCIAL_GOOGLE_CLIENT_SECRET: STAND_IN_CLIENT.secret,
    });
    gw = await topo.addGateway(1, {}, "envoy", { port });
    browser = await chromium.launch({ executablePath: chromiumFound.path, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await topo?.close();
    await google?.close();
  });

  it("account page -> hosted sign-in -> Continue with Google -> its login -> back signed in, the identity listed", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    const account = someone();
    google.control.next = account;
    google.control.loginPage = true;
    const page = await (await browser!.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    // The gateway's Check sends a browser without a session to the hosted sign-in page.
    await page.goto(`${gw.url}/account/identities`);
    expect(new URL(page.url()).pathname).toBe("/signin");
    await Promise.all([page.waitForURL((url) => url.origin === google.issuer), page.getByRole("link", { name: "Continue with Google" }).click()]);
    await page.getByText(account.sub).waitFor();
    await Promise.all([page.waitForURL(`${gw.url}/account/identities`), page.getByRole("button", { name: "Sign in" }).click()]);
    const row = page.getByRole("row", { name: new RegExp(account.email) });
    await expect(row.getByRole("cell", { name: "Google", exact: true }).textContent()).resolves.toBe("Google");
    expect(await page.getByRole("button", { name: "Unlink Google" }).count()).toBe(1);
  });
});
