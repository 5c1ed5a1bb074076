import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { exportJWK, generateKeyPair } from "jose";
import { Secret, TOTP } from "otpauth";
import { bearer, markEmailVerified, newUser, type TestAuth } from "../../support/auth.js";
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

async function sessionsOf(accessToken: string) {
  return (await auth.client.listSessions({}, bearer(accessToken))).sessions.map((s) => s.userAgent);
}

describe("refresh, revocation and introspection", () => {
  it("rotates the refresh token; presenting a rotated one revokes the grant and its session", async () => {
    const flow = await signedInFlow();
    const first = await oidc.authorizationCodeGrant(flow.config, flow.callback!, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    expect(await sessionsOf(flow.user.tokens.accessToken)).toContain("oauth: Test RP");
    const second = await oidc.refreshTokenGrant(flow.config, first.refresh_token!);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    await expect(oidc.refreshTokenGrant(flow.config, first.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    await expect(oidc.refreshTokenGrant(flow.config, second.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    expect(await sessionsOf(flow.user.tokens.accessToken)).not.toContain("oauth: Test RP");
  });

  it("introspects a refresh token (RFC 7662) and revokes it (RFC 7009), ending the grant", async () => {
    const flow = await signedInFlow();
    const tokens = await oidc.authorizationCodeGrant(flow.config, flow.callback!, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    const active = await oidc.tokenIntrospection(flow.config, tokens.refresh_token!);
    expect(active).toMatchObject({ active: true, client_id: flow.clientId, sub: flow.callback && active.sub });
    await oidc.tokenRevocation(flow.config, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(flow.config, tokens.refresh_token!)).active).toBe(false);
    expect(await sessionsOf(flow.user.tokens.accessToken)).not.toContain("oauth: Test RP");
  });

  it("a grant's tokens end with SignOutAll", async () => {
    const flow = await signedInFlow();
    const tokens = await oidc.authorizationCodeGrant(flow.config, flow.callback!, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
    await auth.client.signOutAll({}, bearer(flow.user.tokens.accessToken));
    await expect(oidc.refreshTokenGrant(flow.config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("issues client_credentials tokens for a resource, sub being the client", async () => {
    const { clientId, secret } = await registerClient(auth, { name: "Service", grantTypes: ["client_credentials"], redirectUris: [], scopes: ["api.read"] });
    const config = await discover(auth.baseUrl, clientId, oidc.ClientSecretBasic(secret!));
    const tokens = await oidc.clientCredentialsGrant(config, { scope: "api.read", resource: TEST_RESOURCE });
    const payload = JSON.parse(Buffer.from(tokens.access_token.split(".")[1]!, "base64url").toString());
    expect(payload).toMatchObject({ sub: clientId, aud: TEST_RESOURCE, scope: "api.read", client_id: clientId });
    expect(payload.sid).toMatch(/.+/);
    // The same session for the client's next token: one per client, not one per request.
    const again = JSON.parse(Buffer.from((await oidc.clientCredentialsGrant(config, { scope: "api.read", resource: TEST_RESOURCE })).access_token.split(".")[1]!, "base64url").toString());
    expect(again.sid).toBe(payload.sid);
  });

  it("authenticates a confidential client with private_key_jwt", async () => {
    const pair = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "rp-key-1", alg: "ES256", use: "sig" };
    const { clientId, secret } = await registerClient(auth, { name: "Keyed", grantTypes: ["client_credentials"], redirectUris: [], scopes: ["api.read"], jwks: { keys: [jwk] } });
    expect(secret).toBeUndefined();
    const config = await discover(auth.baseUrl, clientId, oidc.PrivateKeyJwt({ key: pair.privateKey, kid: "rp-key-1" }));
    const tokens = await oidc.clientCredentialsGrant(config, { scope: "api.read", resource: TEST_RESOURCE });
    expect(tokens.access_token).toBeTruthy();
    const other = await generateKeyPair("ES256");
    const forged = await discover(auth.baseUrl, clientId, oidc.PrivateKeyJwt({ key: other.privateKey, kid: "rp-key-1" }));
    await expect(oidc.clientCredentialsGrant(forged, { scope: "api.read", resource: TEST_RESOURCE })).rejects.toMatchObject({ error: "invalid_client" });
  });
});

describe("prompts, max_age, acr_values, userinfo and logout", () => {
  it("remembers consent, honours prompt=none in the signed-in browser and refuses it in another", async () => {
    const flow = await signedInFlow();
    const fresh = { redirect_uri: REDIRECT_URI, scope: "openid email", code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier), code_challenge_method: "S256", state: flow.state };
    // Consent given once: the same browser goes straight back with a code, no page shown.
    const again = await browserAuthorize(auth.baseUrl, oidc.buildAuthorizationUrl(flow.config, { ...fresh, prompt: "none" }), { browser: flow.browser });
    expect(again.callback?.searchParams.get("code")).toBeTruthy();
    const stranger = await browserAuthorize(auth.baseUrl, oidc.buildAuthorizationUrl(flow.config, { ...fresh, prompt: "none" }));
    expect(stranger.callback?.searchParams.get("error")).toBe("login_required");
    // Remembered for the account, not the browser: signing in elsewhere asks no consent again.
    const elsewhere = await browserAuthorize(auth.baseUrl, oidc.buildAuthorizationUrl(flow.config, fresh), { signIn: { email: flow.user.email, password: flow.user.password } });
    expect(elsewhere.callback?.searchParams.get("code")).toBeTruthy();
  });

  it("prompt=login and max_age=0 send a signed-in browser to sign in again", async () => {
    const flow = await signedInFlow();
    const params = { redirect_uri: REDIRECT_URI, scope: "openid", code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier), code_challenge_method: "S256", state: flow.state };
    for (const extra of [{ prompt: "login" }, { max_age: "0" }] as Array<Record<string, string>>) {
      const stopped = await browserAuthorize(auth.baseUrl, oidc.buildAuthorizationUrl(flow.config, { ...params, ...extra }), { browser: flow.browser });
      expect(new URL(stopped.last.url).pathname).toBe("/signin");
      const signedIn = await browserAuthorize(auth.baseUrl, oidc.buildAuthorizationUrl(flow.config, { ...params, ...extra }), { browser: flow.browser, signIn: { email: flow.user.email, password: flow.user.password } });
      expect(signedIn.callback?.searchParams.get("code")).toBeTruthy();
    }
  });

  it("acr_values=mfa needs a second factor: refused for an account without one, `mfa` in the ID token with one", async () => {
    const flow = await signedInFlow({ acr_values: "mfa" });
    expect(flow.callback?.searchParams.get("error")).toBe("unmet_authentication_requirements");

    const user = await newUser(auth.client);
    await markEmailVerified(auth, user.email);
    const { secret } = await auth.client.beginTotpEnrollment({ currentPassword: user.password }, bearer(user.tokens.accessToken));
    const { recoveryCodes } = await auth.client.confirmTotpEnrollment({ code: TOTP.generate({ secret: Secret.fromBase32(secret) }) }, bearer(user.tokens.accessToken));
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(flow.config, {
      redirect_uri: REDIRECT_URI,
      scope: "openid",
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state: "s1",
      acr_values: "mfa",
    });
    const done = await browserAuthorize(auth.baseUrl, url, { signIn: { email: user.email, password: user.password }, code: () => recoveryCodes[0]!, decision: "allow" });
    const tokens = await oidc.authorizationCodeGrant(flow.config, done.callback!, { pkceCodeVerifier: verifier, expectedState: "s1" });
    expect(tokens.claims()?.acr).toBe("mfa");
  });

  it("answers userinfo for an access token without a resource, and logs out RP-initiated, ending the hosted session", async () => {
    const { clientId, secret } = await registerClient(auth, { postLogoutRedirectUris: ["https://rp.example/bye"] });
    const config = await discover(auth.baseUrl, clientId, oidc.ClientSecretBasic(secret!));
    const user = await newUser(auth.client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid email", code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", state: "s2" });
    const done = await browserAuthorize(auth.baseUrl, url, { signIn: { email: user.email, password: user.password }, decision: "allow" });
    const tokens = await oidc.authorizationCodeGrant(config, done.callback!, { pkceCodeVerifier: verifier, expectedState: "s2" });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(info).toMatchObject({ email: user.email, email_verified: false });

    const logout = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: "https://rp.example/bye", state: "bye" });
    const b = done.browser;
    const confirmation = async () => {
      const html = await (await b.get(logout.pathname + logout.search)).text();
      return { xsrf: /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? "", path: new URL(/action="([^"]+)"/.exec(html)?.[1] ?? "", auth.baseUrl).pathname };
    };
    // "No, stay signed in": oidc-provider answers 303 too; the hosted session must live on.
    const stay = await confirmation();
    expect((await b.post(stay.path, { xsrf: stay.xsrf })).status).toBe(303);
    expect(b.jar.get(auth.config.shared.sessionCookieName)).toBeDefined();
    const { xsrf, path } = await confirmation();
    const bye = await b.post(path, { xsrf, logout: "yes" });
    expect(bye.status).toBe(303);
    expect(bye.headers.get("location")).toBe("https://rp.example/bye?state=bye");
    expect(b.jar.get(auth.config.shared.sessionCookieName)).toBeUndefined();
    const back = await browserAuthorize(auth.baseUrl, oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: "openid", code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256", prompt: "none" }), { browser: b });
    expect(back.callback?.searchParams.get("error")).toBe("login_required");
  });
});
