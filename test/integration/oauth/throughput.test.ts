import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { GOOD_PASSWORD, newUser, type TestAuth } from "../../support/auth.js";
import { startTestAuthz, type TestAuthz } from "../../support/authz.js";
import { browserAuthorize, discover, REDIRECT_URI, registerClient, startOAuthAuth, TEST_RESOURCE } from "../../support/oauth.js";

const CONCURRENCY = 8;
const SECONDS = Number(process.env.OAUTH_BENCH_SECONDS ?? 1);

/** Runs `work` from CONCURRENCY workers for SECONDS (or `limit` calls, if fewer); the answers per second and how many failed. */
async function throughput(work: (worker: number) => Promise<unknown>, limit = Number.POSITIVE_INFINITY): Promise<{ perSecond: number; failed: number }> {
  const start = performance.now();
  const end = start + SECONDS * 1000;
  let started = 0;
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (performance.now() < end && started++ < limit) {
        await work(worker).then(
          () => done++,
          () => failed++,
        );
      }
    }),
  );
  return { perSecond: done / ((performance.now() - start) / 1000), failed };
}

let auth: TestAuth & { baseUrl: string };
let authz: TestAuthz;

beforeAll(async () => {
  auth = await startOAuthAuth();
  authz = await startTestAuthz(auth, { AUTHZ_AUDIENCE_RULES: `/example/=${TEST_RESOURCE}`, AUTHZ_CACHE_TTL: "1ms" });
});
afterAll(async () => {
  await authz?.close();
  await auth?.close();
});

describe("OAuth endpoints beside the RPCs (reported, not asserted)", () => {
  it("measures the token endpoint, introspection, SignIn and Refresh at concurrency 8, and the Check for each kind of token", async () => {
    const { clientId, secret } = await registerClient(auth);
    const config = await discover(auth.baseUrl, clientId, oidc.ClientSecretBasic(secret!));
    const user = await newUser(auth.client);
    const verifier = oidc.randomPKCECodeVerifier();
    const challenge = await oidc.calculatePKCECodeChallenge(verifier);
    const authorize = (prompt?: string) =>
      oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid offline_access api.read", resource: TEST_RESOURCE, code_challenge: challenge, code_challenge_method: "S256", state: "b", ...(prompt ? { prompt } : {}) });
    const first = await browserAuthorize(auth.baseUrl, authorize("consent"), { signIn: { email: user.email, password: user.password }, decision: "allow" });
    // Codes made ahead: the measurement is of their exchange, not of the browser's hops.
    const codes: URL[] = [];
    for (let i = 0; i < 60; i++) codes.push((await browserAuthorize(auth.baseUrl, authorize(), { browser: first.browser })).callback!);
    const exchange = await throughput(() => oidc.authorizationCodeGrant(config, codes.pop()!, { pkceCodeVerifier: verifier, expectedState: "b" }), codes.length);

    // One refresh chain per worker (prompt=consent: offline_access needs it); one browser, so one after another.
    const chains: oidc.TokenEndpointResponse[] = [];
    for (let i = 0; i < CONCURRENCY; i++) {
      const done = await browserAuthorize(auth.baseUrl, authorize("consent"), { browser: first.browser, decision: "allow" });
      chains.push(await oidc.authorizationCodeGrant(config, done.callback!, { pkceCodeVerifier: verifier, expectedState: "b" }));
    }
    const current = chains.map((t) => t.refresh_token!);
    const refresh = await throughput(async (w) => {
      current[w] = (await oidc.refreshTokenGrant(config, current[w]!)).refresh_token!;
    });
    const introspect = await throughput((w) => oidc.tokenIntrospection(config, current[w]!));

    const signIn = await throughput(() => auth.client.signIn({ email: user.email, password: GOOD_PASSWORD }));
    const rpcRefresh = await Promise.all(Array.from({ length: CONCURRENCY }, () => auth.client.signIn({ email: user.email, password: GOOD_PASSWORD })));
    const rpcCurrent = rpcRefresh.map((t) => t.refreshToken);
    const rpcRotate = await throughput(async (w) => {
      rpcCurrent[w] = (await auth.client.refresh({ refreshToken: rpcCurrent[w]! })).refreshToken;
    });

    const oauthToken = chains[0]!.access_token;
    const sessionToken = rpcRefresh[0]!.accessToken;
    const checkWith = (token: string) => async () => {
      const answer = await authz.check({ path: "/example/", headers: { authorization: `Bearer ${token}` } });
      if (answer.status.code !== 0) throw new Error("denied");
    };
    const checkOAuth = await throughput(checkWith(oauthToken));
    const checkSession = await throughput(checkWith(sessionToken));

    const rows = { exchange, refresh, introspect, signIn, rpcRotate, checkOAuth, checkSession };
    for (const [name, row] of Object.entries(rows)) console.log(`${name.padEnd(12)} ${row.perSecond.toFixed(0).padStart(6)}/s  failed ${row.failed}`);
    console.log(`ratios: code exchange/SignIn ${(exchange.perSecond / signIn.perSecond).toFixed(2)}, OAuth refresh/Refresh RPC ${(refresh.perSecond / rpcRotate.perSecond).toFixed(2)}, Check OAuth/session ${(checkOAuth.perSecond / checkSession.perSecond).toFixed(2)}`);
    for (const [name, row] of Object.entries(rows)) expect(row.failed, name).toBe(0);
  }, 180_000);
});
