import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as oidc from "openid-client";
import { Secret, TOTP } from "otpauth";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findFreePort } from "../../../src/stack/ports.js";
import { bearer, GOOD_PASSWORD, markEmailVerified, uniqueEmail } from "../../support/auth.js";
import { CHROMIUM_ARGS, ensureChromium } from "../../support/chromium.js";
import { startTopology, type TestGateway, type TestTopology } from "../../support/gateway.js";
import { registerClient } from "../../support/oauth.js";

const RESOURCE = "urn:example:api";

/**
 * A relying party of its own origin: /login sends the browser to our authorize endpoint, /callback
 * exchanges the code (openid-client, PKCE, state) and calls the example API through the gateway
 * with the OAuth access token, showing what the API answered.
 */
async function startRelyingParty(port: number, gatewayUrl: string, clientId: string, secret: string, acrValues?: string) {
  const base = `http://127.0.0.1:${port}`;
  const config = await oidc.discovery(new URL(gatewayUrl), clientId, undefined, oidc.ClientSecretBasic(secret), { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", base);
    const answer = async () => {
      if (url.pathname === "/login") {
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/callback`,
          scope: "openid example.read",
          resource: RESOURCE,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: "S256",
          state,
          ...(acrValues ? { acr_values: acrValues } : {}),
        });
        res.writeHead(302, { location: to.href }).end();
        return;
      }
      if (url.pathname !== "/callback") {
        res.writeHead(404).end();
        return;
      }
      const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state });
      const api = await fetch(`${gatewayUrl}/example/hello`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: "application/json" } });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ api: api.status, seen: await api.json(), acr: tokens.claims()?.acr }));
    };
    answer().catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    base,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Chromium keeps its connections open; they would hold close() forever.
        server.closeAllConnections();
      }),
  };
}

describe("the OAuth browser flow through the gateway, in Chromium", () => {
  const chromiumFound = ensureChromium();
  let topo: TestTopology;
  let gw: TestGateway;
  let context: BrowserContext | undefined;
  const profile = mkdtempSync(path.join(tmpdir(), "chromium-oauth-"));

  beforeAll(async () => {
    if ("skip" in chromiumFound) return;
    const port = await findFreePort();
    topo = await startTopology({ PUBLIC_BASE_URL: `http://127.0.0.1:${port}`, OAUTH_RESOURCES: `${RESOURCE}=example.read` });
    gw = await topo.addGateway(1, { AUTHZ_AUDIENCE_RULES: `/example/=${RESOURCE}` }, "envoy", { port });
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumFound.path, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await context?.close();
    await topo?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it("RP -> authorize -> hosted sign-in with TOTP -> consent -> callback -> API call with the OAuth token", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    const email = uniqueEmail("oauth-browser");
    await topo.auth.client.signUp({ email, password: GOOD_PASSWORD });
    await markEmailVerified(topo.auth, email);
    const signedIn = await topo.auth.client.signIn({ email, password: GOOD_PASSWORD });
    const { secret: totpSecret } = await topo.auth.client.beginTotpEnrollment({ currentPassword: GOOD_PASSWORD }, bearer(signedIn.accessToken));
    const now = Date.now();
    await topo.auth.client.confirmTotpEnrollment({ code: TOTP.generate({ secret: Secret.fromBase32(totpSecret), timestamp: now }) }, bearer(signedIn.accessToken));

    const port = await findFreePort();
    const { clientId, secret } = await registerClient(topo.auth, { name: "Example RP", redirectUris: [`http://127.0.0.1:${port}/callback`], scopes: ["openid", "example.read"], grantTypes: ["authorization_code"] });
    const rp = await startRelyingParty(port, gw.url, clientId, secret!, "mfa");
    try {
      const page = await context!.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(`${rp.base}/login`);
      await page.waitForURL(/\/signin\?return_to=%2Foauth2%2Finteraction%2F/);
      await page.fill("#email", email);
      await page.fill("#password", GOOD_PASSWORD);
      await Promise.all([page.waitForSelector("#code"), page.click("button[type=submit]")]);
      // The next time step's code: the enrolment spent this one, and a code is good once.
      await page.fill("#code", TOTP.generate({ secret: Secret.fromBase32(totpSecret), timestamp: now + 30_000 }));
      await Promise.all([page.waitForSelector("text=Allow Example RP access?"), page.click("button[type=submit]")]);
      await Promise.all([page.waitForURL((url) => url.pathname === "/callback"), page.click("button[value=allow]")]);
      const shown = JSON.parse((await page.locator("body").textContent()) ?? "{}");
      expect(shown).toMatchObject({ api: 200, acr: "mfa", seen: { path: "/example/hello", identity: { authLevel: "mfa" } } });
      expect(shown.seen.identity.userId).toBe(JSON.parse(Buffer.from(signedIn.accessToken.split(".")[1]!, "base64url").toString()).sub);
    } finally {
      await rp.close();
    }
  });

  it("a fresh sign-in on the hosted page with consent remembered goes straight on to the client (CSP form-action does not stop it)", async (ctx) => {
    if ("skip" in chromiumFound) return ctx.skip(chromiumFound.skip);
    const email = uniqueEmail("oauth-again");
    await topo.auth.client.signUp({ email, password: GOOD_PASSWORD });
    await markEmailVerified(topo.auth, email);
    const port = await findFreePort();
    const { clientId, secret } = await registerClient(topo.auth, { name: "Returning RP", redirectUris: [`http://127.0.0.1:${port}/callback`], scopes: ["openid", "example.read"], grantTypes: ["authorization_code"] });
    const rp = await startRelyingParty(port, gw.url, clientId, secret!);
    const browsing = context!;
    // The browser of the case before is signed in as another person.
    await browsing.clearCookies();
    const page = await browsing.newPage();
    try {
      page.setDefaultTimeout(10_000);
      const signIn = async () => {
        await page.goto(`${rp.base}/login`);
        await page.waitForURL(/\/signin\?return_to=%2Foauth2%2Finteraction%2F/);
        await page.fill("#email", email);
        await page.fill("#password", GOOD_PASSWORD);
      };
      await signIn();
      await Promise.all([page.waitForSelector("text=Allow Returning RP access?"), page.click("button[type=submit]")]);
      await Promise.all([page.waitForURL((url) => url.pathname === "/callback"), page.click("button[value=allow]")]);
      // Signed out of the browser only (the grant's session lives on): the next visit signs in afresh, consent remembered.
      await browsing.clearCookies();
      await signIn();
      await Promise.all([page.waitForURL((url) => url.origin === rp.base && url.pathname === "/callback"), page.click("button[type=submit]")]);
      expect(JSON.parse((await page.locator("body").textContent()) ?? "{}")).toMatchObject({ api: 200, seen: { path: "/example/hello" } });
    } finally {
      await page.close();
      await rp.close();
    }
  });
});
