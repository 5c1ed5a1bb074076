import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as oidc from "openid-client";
import { bearer, newUser, type TestAuth } from "../../support/auth.js";
import { cookieBrowser } from "../../support/browser.js";
import { rawHttp } from "../../support/gateway.js";
import { codeFlow, discover, REDIRECT_URI, registerClient, startOAuthAuth, TEST_RESOURCE } from "../../support/oauth.js";

let auth: TestAuth & { baseUrl: string };
let db: pg.Pool;
let client: { clientId: string; secret: string; config: oidc.Configuration };

beforeAll(async () => {
  auth = await startOAuthAuth();
  db = new pg.Pool({ connectionString: auth.config.databaseUrl, max: 2 });
  const registered = await registerClient(auth);
  client = { clientId: registered.clientId, secret: registered.secret!, config: await discover(auth.baseUrl, registered.clientId, oidc.ClientSecretBasic(registered.secret!)) };
});
afterAll(async () => {
  await db?.end();
  await auth?.close();
});

const authorizeUrl = (params: Record<string, string>) => {
  const url = new URL("/oauth2/authorize", auth.baseUrl);
  url.search = new URLSearchParams({ client_id: client.clientId, response_type: "code", scope: "openid", redirect_uri: REDIRECT_URI, ...params }).toString();
  return url;
};

/** A user's code for `client`, with the verifier it was bound to. */
async function codeFor(user?: Awaited<ReturnType<typeof newUser>>) {
  const who = user ?? (await newUser(auth.client));
  const done = await codeFlow(auth.baseUrl, client.config, who);
  return { callback: done.callback!, verifier: done.verifier, user: who };
}

const tokenPost = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${auth.baseUrl}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString("base64")}`, ...headers },
    body,
  });

describe("the authorization endpoint refuses", () => {
  it("an unregistered redirect_uri, on a page of its own, never redirecting there", async () => {
    const res = await fetch(authorizeUrl({ redirect_uri: "https://evil.example/cb", code_challenge: "x".repeat(43), code_challenge_method: "S256" }), { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("redirect_uri did not match any of the client&#39;s registered redirect_uris");
  });

  it("a request without PKCE, and the plain method", async () => {
    for (const params of [{}, { code_challenge: "a".repeat(43), code_challenge_method: "plain" }, { code_challenge: "a".repeat(43) }] as Array<Record<string, string>>) {
      const res = await fetch(authorizeUrl(params), { redirect: "manual" });
      expect(res.status).toBe(303);
      const back = new URL(res.headers.get("location")!);
      expect(back.origin + back.pathname).toBe(REDIRECT_URI);
      expect(back.searchParams.get("error")).toBe("invalid_request");
    }
  });

  it("an unknown client, malformed and oversized parameters with a clear page", async () => {
    const unknown = await fetch(authorizeUrl({ client_id: "c_nope" }), { redirect: "manual" });
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain("invalid_client");
    const missing = await fetch(`${auth.baseUrl}/oauth2/authorize`, { redirect: "manual" });
    expect(missing.status).toBe(400);
    const duplicate = await fetch(`${authorizeUrl({ code_challenge: "a".repeat(43), code_challenge_method: "S256" })}&scope=email`, { redirect: "manual" });
    expect(duplicate.status).toBe(303);
    expect(new URL(duplicate.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");
    const huge = await rawHttp(auth.server.port, `GET /oauth2/authorize?state=${"a".repeat(70_000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(huge.status).toBe(431);
  });
});

describe("the token endpoint refuses", () => {
  it("a wrong client secret, and a malformed Basic header", async () => {
    const wrong = await tokenPost("grant_type=authorization_code&code=x", { authorization: `Basic ${Buffer.from(`${client.clientId}:not-the-secret`).toString("base64")}` });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).error).toBe("invalid_client");
    const malformed = await tokenPost("grant_type=client_credentials", { authorization: "Basic %%%" });
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).error).toBe("invalid_request");
    const post = await fetch(`${auth.baseUrl}/oauth2/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=client_credentials&client_id=${client.clientId}&client_secret=${client.secret}`,
    });
    // The client registered client_secret_basic; the same secret in the body is another method.
    expect((await post.json()).error).toBe("invalid_client");
  });

  it("a code with the wrong verifier, the wrong redirect_uri, or after it expired", async () => {
    const a = await codeFor();
    await expect(oidc.authorizationCodeGrant(client.config, a.callback, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: "st" })).rejects.toMatchObject({ error: "invalid_grant" });
    const b = await codeFor(a.user);
    const wrongUri = await tokenPost(new URLSearchParams({ grant_type: "authorization_code", code: b.callback.searchParams.get("code")!, code_verifier: b.verifier, redirect_uri: "https://rp.example/other" }).toString());
    expect((await wrongUri.json()).error).toBe("invalid_grant");
    const c = await codeFor(a.user);
    await db.query("UPDATE oauth_artifacts SET payload = payload || '{\"exp\": 1}' WHERE model = 'AuthorizationCode' AND id = $1", [c.callback.searchParams.get("code")]);
    await expect(oidc.authorizationCodeGrant(client.config, c.callback, { pkceCodeVerifier: c.verifier, expectedState: "st" })).rejects.toMatchObject({ error: "invalid_grant" });
  });

  it("a code presented twice, revoking the tokens the first exchange issued", async () => {
    const { callback, verifier, user } = await codeFor();
    const tokens = await oidc.authorizationCodeGrant(client.config, callback, { pkceCodeVerifier: verifier, expectedState: "st" });
    const replay = await tokenPost(new URLSearchParams({ grant_type: "authorization_code", code: callback.searchParams.get("code")!, code_verifier: verifier, redirect_uri: REDIRECT_URI }).toString());
    expect((await replay.json()).error).toBe("invalid_grant");
    await expect(oidc.refreshTokenGrant(client.config, tokens.refresh_token!)).rejects.toMatchObject({ error: "invalid_grant" });
    const sessions = (await auth.client.listSessions({}, bearer(user.tokens.accessToken))).sessions.map((s) => s.userAgent);
    expect(sessions).not.toContain("oauth: Test RP");
  });

  it("a code redeemed by two requests at once: one wins, the grant ends", async () => {
    const { callback, verifier } = await codeFor();
    const body = new URLSearchParams({ grant_type: "authorization_code", code: callback.searchParams.get("code")!, code_verifier: verifier, redirect_uri: REDIRECT_URI }).toString();
    const answers = await Promise.all([tokenPost(body), tokenPost(body)]);
    const bodies = await Promise.all(answers.map((r) => r.json()));
    expect(bodies.filter((b) => b.access_token).length).toBeLessThanOrEqual(1);
    expect(bodies.some((b) => b.error === "invalid_grant")).toBe(true);
  });

  it("malformed, oversized and unframed bodies, an unknown grant type and resource", async () => {
    expect((await tokenPost("grant_type=urn:nope")).status).toBe(400);
    const unknownResource = await tokenPost(`grant_type=refresh_token&refresh_token=x&resource=${encodeURIComponent("urn:unknown")}`);
    expect(unknownResource.status).toBe(400);
    expect((await tokenPost("%ZZ=%")).status).toBe(400);
    const big = await tokenPost(`grant_type=client_credentials&x=${"a".repeat(20_000)}`);
    expect(big.status).toBe(413);
    const chunked = await rawHttp(
      auth.server.port,
      `POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n`,
    );
    expect(chunked.status).toBe(411);
    expect(JSON.parse(chunked.body).error).toBe("invalid_request");
  });
});

describe("introspection, revocation and the interaction pages refuse", () => {
  it("an unauthenticated caller, and another client's token", async () => {
    const anonymous = await fetch(`${auth.baseUrl}/oauth2/introspect`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "token=x" });
    expect(anonymous.status).toBe(400);
    expect((await anonymous.json()).error).toBe("invalid_request");
    const { callback, verifier } = await codeFor();
    const tokens = await oidc.authorizationCodeGrant(client.config, callback, { pkceCodeVerifier: verifier, expectedState: "st" });
    const other = await registerClient(auth, { name: "Other" });
    const otherConfig = await discover(auth.baseUrl, other.clientId, oidc.ClientSecretBasic(other.secret!));
    expect((await oidc.tokenIntrospection(otherConfig, tokens.refresh_token!)).active).toBe(false);
    await oidc.tokenRevocation(otherConfig, tokens.refresh_token!).catch(() => {});
    expect((await oidc.tokenIntrospection(client.config, tokens.refresh_token!)).active).toBe(true);
  });

  it("an unknown interaction, a bad uid, a consent post without its CSRF token", async () => {
    const b = cookieBrowser(auth.baseUrl);
    expect((await b.get("/oauth2/interaction/unknown-uid")).status).toBe(404);
    expect((await b.get("/oauth2/interaction/%3Cscript%3E")).status).toBe(404);
    expect((await b.post("/oauth2/interaction/unknown-uid/consent", { decision: "allow" })).status).toBe(403);
    expect((await b.get("/oauth2/interaction/unknown-uid/consent")).status).toBe(405);
  });

  it("an RP that checks state refuses a callback whose state is not its own", async () => {
    const { callback, verifier } = await codeFor();
    const error = await oidc.authorizationCodeGrant(client.config, callback, { pkceCodeVerifier: verifier, expectedState: "another" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "OAUTH_INVALID_RESPONSE" });
    expect(String((error as Error).cause)).toContain('unexpected "state" response parameter value');
  });
});
