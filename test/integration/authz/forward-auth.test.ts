import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_PASSWORD, type TestAuth, bearer, newUser, startTestAuth, userIdOf } from "../../support/auth.js";
import { type TestAuthz, startTestAuthz } from "../../support/authz.js";
import { browserSignIn } from "../../support/browser.js";

describe("HTTP forward-auth endpoint", () => {
  let auth: TestAuth;
  let authz: TestAuthz;

  beforeAll(async () => {
    auth = await startTestAuth();
    authz = await startTestAuthz(auth);
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close();
  });

  it("answers 200 with the identity headers for a token or a cookie", async () => {
    const { email, tokens } = await newUser(auth.client);
    const cookie = await browserSignIn(auth.server.url, email, GOOD_PASSWORD);
    const credentials: Array<[Record<string, string>, string]> = [
      [{ authorization: `Bearer ${tokens.accessToken}` }, tokens.sessionId],
      [{ cookie: `auth_session=${cookie}` }, cookie.split(".")[0] ?? ""],
    ];
    for (const [headers, sessionId] of credentials) {
      const response = await authz.forward("/example/a?b=1", { ...headers, "x-user-id": "forged" });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-user-id")).toBe(userIdOf(tokens.accessToken));
      expect(response.headers.get("x-session-id")).toBe(sessionId);
      expect(response.headers.get("x-auth-level")).toBe("basic");
    }
  });

  it("denies a cookie made of a real session id and a made-up secret", async () => {
    const { email } = await newUser(auth.client);
    const [sessionId] = (await browserSignIn(auth.server.url, email, GOOD_PASSWORD)).split(".");
    const response = await authz.forward("/example/", { cookie: `auth_session=${sessionId}.${"A".repeat(43)}`, accept: "application/json" });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-auth-reason")).toBe("invalid_cookie");
    expect(response.headers.get("x-user-id")).toBeNull();
  });

  it("reads Traefik/Caddy's X-Forwarded-* the same way", async () => {
    const response = await fetch(`${authz.server.httpUrl}/auth/forward`, {
      headers: { "x-forwarded-uri": "/signin?return_to=/", "x-forwarded-method": "GET", "x-forwarded-host": "gw" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-user-id")).toBeNull();
  });

  it("refuses a client's X-Original-URI beside the proxy's X-Forwarded-Uri (Traefik and Caddy pass client headers on)", async () => {
    const response = await fetch(`${authz.server.httpUrl}/auth/forward?redirect=true`, {
      headers: { "x-forwarded-uri": "/admin/delete-everything", "x-forwarded-method": "GET", "x-forwarded-host": "gw", "x-original-uri": "/signin" },
    });
    expect(response.status).toBe(400);
    expect(response.headers.get("x-auth-reason")).toBe("ambiguous_original_request");
    expect(response.headers.get("x-user-id")).toBeNull();
  });

  it("denies without a credential: 401, WWW-Authenticate and the reason", async () => {
    const response = await authz.forward("/example/", { accept: "application/json" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="auth-platform"');
    expect(response.headers.get("x-auth-reason")).toBe("missing_credential");
    expect(await response.json()).toEqual({ code: "missing_credential" });
  });

  it("tells nginx where to send a browser (401 + x-auth-redirect), others get the 302 itself", async () => {
    const html = { accept: "text/html" };
    const nginx = await authz.forward("/example/page", html);
    expect(nginx.status).toBe(401);
    expect(nginx.headers.get("x-auth-redirect")).toBe("http://gateway.test/signin?return_to=%2Fexample%2Fpage");
    const traefik = await authz.forward("/example/page", html, "?redirect=true");
    expect(traefik.status).toBe(302);
    expect(traefik.headers.get("location")).toBe("http://gateway.test/signin?return_to=%2Fexample%2Fpage");
  });

  it("denies a revoked session and hostile input cleanly", async () => {
    const { tokens } = await newUser(auth.client);
    await auth.client.signOut({}, bearer(tokens.accessToken));
    const revoked = await authz.forward("/example/", { authorization: `Bearer ${tokens.accessToken}` });
    expect(revoked.status).toBe(401);
    expect(revoked.headers.get("x-auth-reason")).toBe("session_not_found");
    const hostile: Array<Record<string, string>> = [
      { authorization: "Bearer e30.e30.e30" },
      { cookie: "auth_session=%00%00" },
      { "x-original-method": "GET /evil HTTP/1.1" },
      { "x-original-uri": "/signin/../example/" },
    ];
    for (const headers of hostile) {
      expect((await authz.forward("/example/", headers)).status, JSON.stringify(headers)).toBe(401);
    }
    const huge = await fetch(`${authz.server.httpUrl}/auth/forward`, { headers: { "x-pad": "p".repeat(100_000) } });
    expect(huge.status).toBe(431);
    expect((await fetch(`${authz.server.httpUrl}/healthz`)).status).toBe(200);
  });

  it("exposes Prometheus metrics", async () => {
    const metrics = await authz.metrics();
    expect(metrics).toMatch(/authz_checks_total\{transport="http",decision="deny",reason="missing_credential"\} \d+/);
    expect(metrics).toContain("authz_check_duration_seconds_bucket");
    expect(metrics).toMatch(/^authz_degraded 0$/m);
    expect(metrics).toMatch(/^authz_revocations_subscribed 1$/m);
  });
});
