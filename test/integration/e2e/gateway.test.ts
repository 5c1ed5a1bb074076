import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, bearer, uniqueEmail } from "../../support/auth.js";
import { percentile } from "../../support/authz.js";
import { browserSignIn } from "../../support/browser.js";
import { registerClient, TEST_RESOURCE } from "../../support/oauth.js";
import type { GatewayProxy } from "../../../src/stack/gateway.js";
import { bucketQuantile, gatewayChecks, http1, rawHttp, startTopology, userIdOf, type TestGateway, type TestTopology } from "../../support/gateway.js";

// Envoy generates a UUID; nginx its $request_id (32 hex digits).
const REQUEST_ID: Record<GatewayProxy, RegExp> = { envoy: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/, nginx: /^[0-9a-f]{32}$/ };

/**
 * The real request path: client -> gateway -> two authz instances -> auth service / example upstream.
 * Envoy asks authz over gRPC ext_authz, nginx over HTTP forward-auth; both must hold the same line.
 */
describe.each(["envoy", "nginx"] as const)("through the %s gateway", (proxy) => {
  let topo: TestTopology;
  let gw: TestGateway;
  const checks = (authz: TestGateway["authz"][number]) => gatewayChecks(authz, proxy === "envoy" ? "grpc" : "http");

  beforeAll(async () => {
    topo = await startTopology({ OAUTH_RESOURCES: `${TEST_RESOURCE}=api.read api.write` });
    // A long cache TTL, so only the revocation event can explain a prompt denial.
    gw = await topo.addGateway(2, { AUTHZ_CACHE_TTL: "60s", AUTHZ_AUDIENCE_RULES: `/example/=${TEST_RESOURCE}` }, proxy);
  });
  afterAll(async () => {
    await topo?.close();
  });

  const signUpAndIn = async () => {
    const email = uniqueEmail("gw");
    const signUp = await fetch(`${gw.url}/auth.v1.AuthService/SignUp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: GOOD_PASSWORD }),
    });
    expect(signUp.status).toBe(200);
    const tokens = await gw.client.signIn({ email, password: GOOD_PASSWORD });
    return { email, tokens };
  };

  it("signs up and in over Connect JSON; the upstream sees x-user-id, never a forged one", async () => {
    const { tokens } = await signUpAndIn();
    const forged = { "x-user-id": "admin", "x-session-id": "forged", "x-auth-level": "mfa" };
    const response = await fetch(`${gw.url}/example/hello?x=1`, { headers: { ...forged, authorization: `Bearer ${tokens.accessToken}` } });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ path: "/example/hello?x=1", identity: { userId: userIdOf(tokens.accessToken), sessionId: tokens.sessionId, authLevel: "basic" } });
    expect(body.requestId).toMatch(REQUEST_ID[proxy]);
    // A protected RPC passes the Check at the edge and the service's own bearer check.
    expect((await gw.client.getMe({}, bearer(tokens.accessToken))).user?.id).toBe(userIdOf(tokens.accessToken));
  });

  it("tells the upstream which OAuth client acts, for which resource and scopes; a client's own x-oauth-* never pass", async () => {
    const { clientId, secret } = await registerClient(topo.auth, { name: "Svc", grantTypes: ["client_credentials"], redirectUris: [], scopes: ["api.read"] });
    const grant = await fetch(`${topo.auth.server.url}/oauth2/token`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "api.read", resource: TEST_RESOURCE }),
    });
    expect(grant.status).toBe(200);
    const { access_token } = (await grant.json()) as { access_token: string };
    const forged = { "x-oauth-client-id": "c_admin", "x-oauth-audience": "urn:other", "x-oauth-scope": "api.write admin" };
    const delegated = await fetch(`${gw.url}/example/hello`, { headers: { ...forged, authorization: `Bearer ${access_token}` } });
    expect(delegated.status).toBe(200);
    expect(await delegated.json()).toMatchObject({ identity: { userId: clientId }, oauth: { clientId, audience: TEST_RESOURCE, scope: "api.read" } });
    const { tokens } = await signUpAndIn();
    const own = await fetch(`${gw.url}/example/hello`, { headers: { ...forged, authorization: `Bearer ${tokens.accessToken}` } });
    expect(await own.json()).toMatchObject({ identity: { sessionId: tokens.sessionId }, oauth: null });
    // Underscored spellings are no identity headers to the rules, but are to some upstream stacks (CGI):
    // Envoy refuses the request (nginx drops such headers by default: underscores_in_headers off).
    const underscored = await fetch(`${gw.url}/example/hello`, { headers: { x_user_id: "admin", x_oauth_scope: "admin", authorization: `Bearer ${tokens.accessToken}` } });
    expect(underscored.status).toBe(proxy === "envoy" ? 400 : 200);
  });

  it("without a credential: 401 with WWW-Authenticate for APIs, 302 to the sign-in page for browsers", async () => {
    const api = await fetch(`${gw.url}/example/hello`, { headers: { accept: "application/json", "x-user-id": "admin" } });
    expect(api.status).toBe(401);
    expect(api.headers.get("www-authenticate")).toBe('Bearer realm="auth-platform"');
    expect(api.headers.get("x-auth-reason")).toBe("missing_credential");
    expect(await api.json()).toEqual({ code: "missing_credential" });

    const page = await fetch(`${gw.url}/example/page?x=1`, { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" }, redirect: "manual" });
    expect(page.status).toBe(302);
    const location = page.headers.get("location") ?? "";
    expect(location).toBe(`${gw.url}/signin?return_to=%2Fexample%2Fpage%3Fx%3D1`);
    const form = await fetch(location);
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="return_to" value="/example/page?x=1"');
    expect((await fetch(`${gw.url}/some/other/service`)).status).toBe(401);
  });

  it("lets a caller without a credential recover an account: reset, verification and the second sign-in step", async () => {
    const post = (rpc: string, body: unknown) =>
      fetch(`${gw.url}/auth.v1.AuthService/${rpc}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post("RequestPasswordReset", { email: uniqueEmail("gw") })).status).toBe(200);
    // A bad token is refused by the auth service itself, not by the gateway for lack of a credential.
    for (const [rpc, body] of [
      ["ResetPassword", { token: "A".repeat(43), newPassword: "a fresh long passphrase" }],
      ["VerifyEmail", { token: "A".repeat(43) }],
      ["CompleteSignIn", { challenge: "nope", code: "123456" }],
    ] as const) {
      const res = await post(rpc, body);
      expect(res.headers.get("x-auth-reason"), rpc).toBeNull();
      expect((await res.json()).code, rpc).toMatch(/invalid_argument|unauthenticated/);
    }
    for (const page of ["/forgot-password", "/verify-email", "/reset-password"]) {
      const res = await fetch(`${gw.url}${page}`, { headers: { accept: "text/html" }, redirect: "manual" });
      expect(res.status, page).toBe(200);
      expect(await res.text()).toContain("<form");
    }
  });

  it("accepts the hosted page's cookie and denies a real session id with a made-up secret", async () => {
    const { email, tokens } = await signUpAndIn();
    const cookie = await browserSignIn(gw.url, email, GOOD_PASSWORD);
    const ok = await fetch(`${gw.url}/example/`, { headers: { cookie: `auth_session=${cookie}` } });
    expect(ok.status).toBe(200);
    expect((await ok.json()).identity.userId).toBe(userIdOf(tokens.accessToken));
    const [sessionId] = cookie.split(".");
    const forged = await fetch(`${gw.url}/example/`, { headers: { cookie: `auth_session=${sessionId}.${"A".repeat(43)}`, accept: "application/json" } });
    expect(forged.status).toBe(401);
    expect(forged.headers.get("x-auth-reason")).toBe("invalid_cookie");
  });

  it("holds level rules against encoded and re-cased paths, and ignores a client's X-Forwarded-Uri", async () => {
    const strict = await topo.addGateway(1, { AUTHZ_LEVEL_RULES: "/example/admin=mfa" }, proxy);
    const { tokens } = await signUpAndIn();
    const get = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${strict.url}${path}`, { headers: { authorization: `Bearer ${tokens.accessToken}`, accept: "application/json", ...headers } });
    for (const path of ["/example/admin", "/example/%61dmin", "/example/admi%6e/x", "/example/Admin"]) {
      const res = await get(path);
      expect(res.status, path).toBe(403);
      expect(res.headers.get("x-auth-reason"), path).toBe("insufficient_level");
    }
    const spoofed = await get("/example/hello", { "x-forwarded-uri": "/signin", "x-original-uri": "/signin" });
    expect(spoofed.status).toBe(200);
    expect((await spoofed.json()).identity.userId).toBe(userIdOf(tokens.accessToken));
  });

  it("tells the auth service each client's own address, so limits and lockout are per client", async () => {
    const { email } = await signUpAndIn();
    const body = JSON.stringify({ email, password: GOOD_PASSWORD });
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        `${gw.url}/auth.v1.AuthService/SignIn`,
        { method: "POST", localAddress: "127.0.0.3", headers: { "content-type": "application/json", "x-forwarded-for": "6.6.6.6" } },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve(text));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    const { accessToken, sessionId } = JSON.parse(answer);
    const { sessions } = await gw.client.listSessions({}, bearer(accessToken));
    expect(sessions.find((s) => s.sessionId === sessionId)?.ip).toBe("127.0.0.3");
  });

  it("after RevokeSession returns, both authz instances deny within 100 ms", async () => {
    const { email, tokens: victim } = await signUpAndIn();
    const admin = await gw.client.signIn({ email, password: GOOD_PASSWORD });
    const asVictim = { authorization: `Bearer ${victim.accessToken}`, accept: "application/json" };
    const viaGateway = () => fetch(`${gw.url}/example/`, { headers: asVictim });

    // Warm every cache on the path: an allow served from memory is what must not outlive the revocation.
    const before = await Promise.all(gw.authz.map(checks));
    for (let i = 0; i < 20; i++) expect((await viaGateway()).status).toBe(200);
    const after = await Promise.all(gw.authz.map(checks));
    after.forEach((n, i) => expect(n, `authz instance ${i} answered gateway checks`).toBeGreaterThan(before[i] ?? 0));
    for (const authz of gw.authz) expect((await authz.forward("/example/", asVictim)).status).toBe(200);

    await gw.client.revokeSession({ sessionId: victim.sessionId }, bearer(admin.accessToken));
    const returned = performance.now();
    const until401 = async (send: () => Promise<Response>) => {
      for (;;) {
        const response = await send();
        if (response.status === 401) {
          expect(response.headers.get("x-auth-reason")).toBe("session_not_found");
          return performance.now() - returned;
        }
        expect(response.status).toBe(200);
        if (performance.now() - returned > 1000) return Number.POSITIVE_INFINITY;
      }
    };
    const [gatewayMs, ...instanceMs] = await Promise.all([until401(viaGateway), ...gw.authz.map((authz) => until401(() => authz.forward("/example/", asVictim)))]);
    console.log(
      `revocation through the gateway: denied ${gatewayMs.toFixed(1)} ms after RevokeSession returned; ` +
        `per authz instance (forward-auth direct): ${instanceMs.map((ms) => `${ms.toFixed(1)} ms`).join(", ")}`,
    );
    for (const ms of [gatewayMs, ...instanceMs]) expect(ms).toBeLessThan(100);
    // And every later request, whichever instance the gateway picks, stays denied.
    const statuses = await Promise.all(Array.from({ length: 10 }, viaGateway).map(async (r) => (await r).status));
    expect(new Set(statuses)).toEqual(new Set([401]));
  });

  it("denies path tricks without a credential, never letting them reach the upstream", async () => {
    const tricks = [
      "GET /signin/../example/ HTTP/1.1",
      "GET /signin/%2e%2e/example/ HTTP/1.1",
      "GET /signin/%2E%2E/example/ HTTP/1.1",
      "GET //example/ HTTP/1.1",
      "GET /signin//../example/ HTTP/1.1",
      "GET /.well-known/jwks.json/../../example/ HTTP/1.1",
      "GET /SIGNIN/../example/ HTTP/1.1",
      "GET /Example/ HTTP/1.1",
      "POST /auth.v1.AuthService/signin/../GetMe HTTP/1.1",
      "POST /auth.v1.authservice/GetMe HTTP/1.1",
    ];
    for (const line of tricks) {
      const { status, body } = await rawHttp(gw.port, http1(line, ["Host: gw", "Accept: application/json", "Content-Length: 0"]));
      // 404: Envoy resolves /signin//../example/ as RFC 3986 says (dot segments, then slashes) to
      // /signin/example/, a public path the auth service has no page for.
      expect([400, 401, 404], `${line} -> ${status}`).toContain(status);
      expect(body, line).not.toContain('"service":"example"');
    }
  });

  it("answers malformed and hostile requests with a clean 4xx, never a 5xx or a stack", async () => {
    const h = (...headers: string[]) => ["Host: gw", ...headers];
    const cases: Array<[string, string]> = [
      ["dot-dot above the root", http1("GET /../../etc/passwd HTTP/1.1")],
      ["encoded dot-dot", http1("GET /example/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1")],
      ["dot-dot out of a public prefix", http1("GET /signin/../example/ HTTP/1.1", h("Accept: application/json"))],
      ["encoded slash dot-dot", http1("GET /signin/..%2fexample%2f HTTP/1.1", h("Accept: application/json"))],
      ["NUL in the path", http1("GET /example/%00 HTTP/1.1")],
      ["no leading slash", http1("GET example HTTP/1.1")],
      ["no Host", http1("GET /example/ HTTP/1.1", [])],
      ["unknown method", http1("BREW /example/ HTTP/1.1")],
      ["garbage request line", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"],
      ["huge header", http1("GET /example/ HTTP/1.1", h(`X-Pad: ${"p".repeat(64 * 1024)}`))],
      ["huge cookie", http1("GET /example/ HTTP/1.1", h(`Cookie: auth_session=${"c".repeat(20_000)}`))],
      ["many headers", http1("GET /example/ HTTP/1.1", h(...Array.from({ length: 500 }, (_, i) => `X-H${i}: ${"v".repeat(60)}`)))],
      ["garbage cookie", http1("GET /example/ HTTP/1.1", h("Cookie: auth_session=%00%ff..;;=; auth_session=../../etc"))],
      ["cookie with a bad session id", http1("GET /example/ HTTP/1.1", h(`Cookie: auth_session=${"!".repeat(22)}.${"A".repeat(43)}`))],
      ["control bytes in a bearer", http1("GET /example/ HTTP/1.1", h("Authorization: Bearer \x01\x02.e30."))],
      ["alg none token", http1("GET /example/ HTTP/1.1", h(`Authorization: Bearer ${Buffer.from('{"alg":"none"}').toString("base64url")}.e30.`))],
      ["bad content-length", http1("POST /auth.v1.AuthService/SignIn HTTP/1.1", h("Content-Length: -1"))],
      ["oversized sign-up body", http1("POST /auth.v1.AuthService/SignUp HTTP/1.1", h("Content-Type: application/json", `Content-Length: ${2 * 1024 * 1024}`))],
      ["bad JSON sign-in", http1("POST /auth.v1.AuthService/SignIn HTTP/1.1", h("Content-Type: application/json", "Content-Length: 9"), '{"email":')],
    ];
    const answers: string[] = [];
    for (const [label, request] of cases) {
      const { status, head, body } = await rawHttp(gw.port, request).catch((error: Error) => {
        throw new Error(`${label}: ${error.message}`);
      });
      expect(status, `${label}: ${head.split("\r\n")[0]}`).toBeGreaterThanOrEqual(400);
      expect(status, `${label}: ${head.split("\r\n")[0]}`).toBeLessThan(500);
      expect(body, label).not.toMatch(/\bat [\w.<>]+ \(|node:internal|Error:|\/work\//);
      answers.push(`${label} ${status}`);
    }
    console.log(`hostile requests through ${proxy}: ${answers.join("; ")}`);
    // Still serving after all that.
    expect((await fetch(`${gw.url}/.well-known/jwks.json`)).status).toBe(200);
  });

  it("measures Check latency (reported, not asserted)", async () => {
    const { tokens } = await signUpAndIn();
    const headers = { authorization: `Bearer ${tokens.accessToken}`, accept: "application/json" };
    const time = async (send: () => Promise<Response>, n: number) => {
      for (let i = 0; i < 50; i++) await (await send()).arrayBuffer();
      const samples: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        const response = await send();
        await response.arrayBuffer();
        samples.push(performance.now() - started);
        expect(response.status).toBe(200);
      }
      return samples.sort((a, b) => a - b);
    };
    const fmt = (s: number[]) => `p50 ${percentile(s, 50).toFixed(3)} ms, p99 ${percentile(s, 99).toFixed(3)} ms`;
    const forward = await time(() => gw.authz[0]!.forward("/example/", headers), 500);
    const whole = await time(() => fetch(`${gw.url}/example/`, { headers }), 500);
    const server = await Promise.all(gw.authz.map(async (a) => bucketQuantile(await a.metrics(), proxy === "envoy" ? "grpc" : "http", [0.5, 0.99])));
    console.log(
      [
        `Check latency, forward-auth round trip (500 sequential, fetch keep-alive, cached): ${fmt(forward)}`,
        `whole request through ${proxy} -> authz -> example upstream (500 sequential): ${fmt(whole)}`,
        ...server.map(([p50, p99], i) => `authz instance ${i} decision time from authz_check_duration_seconds (bucket upper bounds): p50 <= ${p50} ms, p99 <= ${p99} ms`),
      ].join("\n"),
    );
  });
});
