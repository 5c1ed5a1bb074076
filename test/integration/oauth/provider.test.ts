import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { newUser, type TestAuth } from "../../support/auth.js";
import { browserAuthorize, discover, REDIRECT_URI, registerClient, startOAuthAuth, TEST_RESOURCE } from "../../support/oauth.js";

let auth: TestAuth & { baseUrl: string };

beforeAll(async () => {
  auth = await startOAuthAuth();
});
afterAll(async () => {
  await auth?.close();
});

async function signedInFlow(extra: Record<string, string> = {}) {
  const { clientId, secret } = await registerClient(auth);
  const config = await discover(auth.baseUrl, clientId, oidc.ClientSecretBasic(secret!));
  const user = await newUser(auth.client);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: "openid email offline_access api.read",
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    resource: TEST_RESOURCE,
    prompt: "consent",
    ...extra,
  });
  const result = await browserAuthorize(auth.baseUrl, url, { signIn: { email: user.email, password: user.password }, decision: "allow" });
  return { clientId, secret: secret!, config, user, verifier, state, ...result };
}

describe("the OpenID Provider", () => {
  it("serves discovery naming our issuer, its endpoints and S256 only", async () => {
    const res = await fetch(`${auth.baseUrl}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = await res.json();
    expect(doc.issuer).toBe(auth.config.shared.issuer);
    expect(doc.token_endpoint).toBe(`${auth.baseUrl}/oauth2/token`);
    expect(doc.code_challenge_methods_supported).toEqual(["S256"]);
    expect(doc.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["client_secret_basic", "private_key_jwt"]));
    expect(doc.token_endpoint_auth_methods_supported).not.toContain("client_secret_post");
    const jwks = await (await fetch(doc.jwks_uri)).json();
    const ours = await (await fetch(`${auth.baseUrl}/.well-known/jwks.json`)).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid).sort()).toEqual(ours.keys.map((k: { kid: string }) => k.kid).sort());
  });

  it("runs the code flow with PKCE: hosted sign-in, consent, tokens signed by our key ring", async () => {
    const flow = await signedInFlow();
    expect(flow.callback?.origin).toBe("https://rp.example");
    const tokens = await oidc.authorizationCodeGrant(flow.config, flow.callback!, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    expect(tokens.refresh_token).toBeTruthy();
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(JSON.parse(Buffer.from(flow.user.tokens.accessToken.split(".")[1]!, "base64url").toString()).sub);
    const header = JSON.parse(Buffer.from(tokens.access_token.split(".")[0]!, "base64url").toString());
    expect(header.typ).toBe("at+jwt");
    const ours = await (await fetch(`${auth.baseUrl}/.well-known/jwks.json`)).json();
    expect(ours.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);
    const payload = JSON.parse(Buffer.from(tokens.access_token.split(".")[1]!, "base64url").toString());
    expect(payload.aud).toBe(TEST_RESOURCE);
    expect(payload.sid).toMatch(/.+/);
    expect(payload.client_id).toBe(flow.clientId);
  });
});
