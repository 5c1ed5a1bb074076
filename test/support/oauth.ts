import { execFile } from "node:child_process";
import path from "node:path";
import pg from "pg";
import * as oidc from "openid-client";
import { createClientRegistry, type NewOAuthClient } from "../../src/auth/oauth/client-registry.js";
import { findFreePort } from "../../src/stack/ports.js";
import { startTestAuth, testEnv, type TestAuth } from "./auth.js";
import { cookieBrowser, csrfOf } from "./browser.js";

export const TEST_RESOURCE = "urn:test:api";
export const REDIRECT_URI = "https://rp.example/callback";

/** An auth service whose PUBLIC_BASE_URL is its own address, so the provider's URLs are reachable without a gateway. */
export async function startOAuthAuth(overrides: Record<string, string> = {}): Promise<TestAuth & { baseUrl: string }> {
  const port = await findFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const auth = await startTestAuth({ AUTH_PORT: String(port), PUBLIC_BASE_URL: baseUrl, OAUTH_RESOURCES: `${TEST_RESOURCE}=api.read api.write`, ...overrides });
  return Object.assign(auth, { baseUrl });
}

/** Registers a client straight in the registry (the CLI's and the admin RPC's own path). */
export async function registerClient(auth: TestAuth, input: Partial<NewOAuthClient> = {}) {
  const pool = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 1 });
  try {
    return await createClientRegistry(pool).create({
      name: "Test RP",
      grantTypes: ["authorization_code", "refresh_token"],
      redirectUris: [REDIRECT_URI],
      scopes: ["openid", "email", "offline_access", "api.read"],
      public: false,
      ...input,
    });
  } finally {
    await pool.end();
  }
}

/** openid-client's view of our provider, by discovery (plain HTTP is allowed in tests only). */
export async function discover(baseUrl: string, clientId: string, auth?: oidc.ClientAuth): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(baseUrl), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

/**
 * Drives a browser (cookie jar over fetch) through our authorize endpoint: every hop on our own
 * origin is followed, forms are filled with `signIn` and the consent is answered with `decision`.
 * Returns the URL the browser was finally sent to off our origin (the RP's callback).
 */
export async function browserAuthorize(
  baseUrl: string,
  authorizeUrl: URL,
  options: { browser?: ReturnType<typeof cookieBrowser>; signIn?: { email: string; password: string }; decision?: "allow" | "deny"; code?: () => string } = {},
): Promise<{ callback: URL | undefined; last: Response; body: string; browser: ReturnType<typeof cookieBrowser> }> {
  const b = options.browser ?? cookieBrowser(baseUrl);
  let res = await b.get(authorizeUrl.pathname + authorizeUrl.search);
  for (let hop = 0; hop < 20; hop++) {
    // A sign-in that continues an OAuth interaction answers a page that refreshes to it (hosted-pages.ts finish).
    const refreshTo = res.status === 200 ? /^0; url=(.+)$/.exec(res.headers.get("refresh") ?? "")?.[1] : undefined;
    const location = res.headers.get("location") ?? refreshTo;
    if (res.status === 302 || res.status === 303 || refreshTo) {
      const next = new URL(location ?? "/", baseUrl);
      if (next.origin !== new URL(baseUrl).origin) return { callback: next, last: res, body: "", browser: b };
      res = await b.get(next.pathname + next.search);
      continue;
    }
    const body = await res.text();
    const url = new URL(res.url);
    if (res.status === 200 && url.pathname === "/signin" && options.signIn) {
      const returnTo = url.searchParams.get("return_to") ?? "/";
      res = await b.post("/signin", { ...options.signIn, csrf: csrfOf(body), return_to: returnTo });
      const again = res.status === 200 ? await res.clone().text() : "";
      const challenge = /name="challenge" value="([^"]+)"/.exec(again)?.[1];
      if (challenge && options.code) res = await b.post("/signin/code", { challenge, code: options.code(), csrf: csrfOf(again), return_to: returnTo });
      continue;
    }
    if (res.status === 200 && body.includes("/consent\"") && options.decision) {
      const action = /action="([^"]+\/consent)"/.exec(body)?.[1] ?? "";
      res = await b.post(action, { csrf: csrfOf(body), decision: options.decision });
      continue;
    }
    return { callback: undefined, last: res, body, browser: b };
  }
  throw new Error("too many redirects");
}

/** Runs `npm run oauth -- <args>` (its source, through tsx: the build is not the subject) against the test stack. */
export function oauthCli(auth: TestAuth, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...testEnv(), DATABASE_URL: auth.config.databaseUrl, LOG_LEVEL: "silent" };
    execFile(path.resolve("node_modules/.bin/tsx"), ["src/main-oauth.ts", ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The KEY=value lines of a CLI answer. */
export const keyValues = (stdout: string): Record<string, string> =>
  Object.fromEntries(stdout.split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));

/** A user's authorization through the hosted pages (sign-in, consent allowed), with the PKCE verifier the code is bound to. */
export async function codeFlow(baseUrl: string, config: oidc.Configuration, user: { email: string; password: string }, params: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = params.state ?? "st";
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid offline_access api.read",
    resource: TEST_RESOURCE,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    // OpenID Connect Core 11: offline_access (a refresh token) only with prompt=consent.
    prompt: "consent",
    ...params,
  });
  const done = await browserAuthorize(baseUrl, url, { signIn: user, decision: "allow" });
  return { ...done, verifier, state };
}
