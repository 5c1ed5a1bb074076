import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { bearer, newUser, type TestAuth } from "../../support/auth.js";
import { headerOf, startTestAuthz, type TestAuthz } from "../../support/authz.js";
import { eventually } from "../../support/eventually.js";
import { codeFlow, discover, oauthCli, registerClient, startOAuthAuth, TEST_RESOURCE } from "../../support/oauth.js";

let auth: TestAuth & { baseUrl: string };
let authz: TestAuthz;

beforeAll(async () => {
  auth = await startOAuthAuth();
  // A long cache TTL: only the revocation event can explain a prompt denial.
  authz = await startTestAuthz(auth, { AUTHZ_AUDIENCE_RULES: `/example/=${TEST_RESOURCE},/other/=urn:test:other`, AUTHZ_CACHE_TTL: "60s" });
});
afterAll(async () => {
  await authz?.close();
  await auth?.close();
});

async function oauthTokens() {
  const { clientId, secret } = await registerClient(auth);
  const config = await discover(auth.baseUrl, clientId, oidc.ClientSecretBasic(secret!));
  const user = await newUser(auth.client);
  const done = await codeFlow(auth.baseUrl, config, user);
  const tokens = await oidc.authorizationCodeGrant(config, done.callback!, { pkceCodeVerifier: done.verifier, expectedState: done.state });
  return { config, user, tokens };
}

const checkAs = (token: string, path: string) => authz.check({ path, headers: { authorization: `Bearer ${token}` } });

describe("the Check and OAuth access tokens", () => {
  it("accepts a token only on routes configured for its audience", async () => {
    const { tokens, user } = await oauthTokens();
    const allowed = await checkAs(tokens.access_token, "/example/hello");
    expect(allowed.status.code).toBe(0);
    expect(headerOf(allowed, "x-user-id")).toBe(tokens.claims()!.sub);
    for (const path of ["/other/x", "/auth.v1.AuthService/GetMe", "/private/", "/example/..%2fadmin"]) {
      const denied = await checkAs(tokens.access_token, path);
      expect(denied.status.code, path).not.toBe(0);
      expect(headerOf(denied, "x-auth-reason"), path).toBe("wrong_audience");
    }
    // Our own session tokens are unchanged: everywhere, and still not replaceable by an OAuth one at the auth service.
    expect((await checkAs(user.tokens.accessToken, "/other/x")).status.code).toBe(0);
    await expect(auth.client.getMe({}, bearer(tokens.access_token))).rejects.toThrow(/audience/);
  });

  it("denies a grant's tokens at once when the grant is revoked", async () => {
    const { config, tokens } = await oauthTokens();
    expect((await checkAs(tokens.access_token, "/example/")).status.code).toBe(0);
    await oidc.tokenRevocation(config, tokens.refresh_token!);
    const { ms } = await eventually(async () => headerOf(await checkAs(tokens.access_token, "/example/"), "x-auth-reason") === "session_not_found", 2000, "revoked grant denied");
    console.log(`OAuth token denied ${ms} ms after the grant's revocation returned`);
  });

  it("denies a grant's tokens when the user signs out everywhere", async () => {
    const { tokens, user } = await oauthTokens();
    expect((await checkAs(tokens.access_token, "/example/")).status.code).toBe(0);
    await auth.client.signOutAll({}, bearer(user.tokens.accessToken));
    await eventually(async () => headerOf(await checkAs(tokens.access_token, "/example/"), "x-auth-reason") === "session_not_found", 2000, "signed-out grant denied");
  });

  it("accepts a client_credentials token on its audience's routes, and stops it when the client is deleted", async () => {
    const { clientId, secret } = await registerClient(auth, { name: "Svc", grantTypes: ["client_credentials"], redirectUris: [], scopes: ["api.read"] });
    const config = await discover(auth.baseUrl, clientId, oidc.ClientSecretBasic(secret!));
    const { access_token } = await oidc.clientCredentialsGrant(config, { scope: "api.read", resource: TEST_RESOURCE });
    const allowed = await checkAs(access_token, "/example/");
    expect(headerOf(allowed, "x-user-id")).toBe(clientId);
    expect(headerOf(await checkAs(access_token, "/other/"), "x-auth-reason")).toBe("wrong_audience");
    const deleted = await oauthCli(auth, ["delete", clientId]);
    expect(deleted.stdout).toBe(`DELETED=${clientId}\n`);
    await eventually(async () => headerOf(await checkAs(access_token, "/example/"), "x-auth-reason") === "session_not_found", 2000, "deleted client's token denied");
    await expect(oidc.clientCredentialsGrant(config, { scope: "api.read", resource: TEST_RESOURCE })).rejects.toThrow();
  });
});
