import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultProtoDirs } from "../../../src/authz/app.js";
import { loadAuthzProtos } from "../../../src/authz/grpc-server.js";
import { GOOD_PASSWORD, type TestAuth, bearer, newUser, startTestAuth, userIdOf } from "../../support/auth.js";
import { type TestAuthz, headerOf, rawCheck, startTestAuthz } from "../../support/authz.js";
import { browserSignIn, cookieBrowser, signOutVia } from "../../support/browser.js";
import { REDIS_SHAPES, redisEnv } from "../../support/redis-matrix.js";

describe.each(REDIS_SHAPES)("ext_authz Check over gRPC (redis %s)", (shape) => {
  let auth: TestAuth;
  let authz: TestAuthz;

  beforeAll(async () => {
    auth = await startTestAuth(redisEnv(shape));
    authz = await startTestAuthz(auth, redisEnv(shape));
  });
  afterAll(async () => {
    await authz?.close();
    await auth?.close();
  });

  it("allows a Bearer access token and passes the identity upstream", async () => {
    const { tokens } = await newUser(auth.client);
    const response = await authz.check({ headers: { authorization: `Bearer ${tokens.accessToken}` } });
    expect(response.status.code).toBe(0);
    expect(headerOf(response, "x-user-id")).toBe(userIdOf(tokens.accessToken));
    expect(headerOf(response, "x-session-id")).toBe(tokens.sessionId);
    expect(headerOf(response, "x-auth-level")).toBe("basic");
  });

  it("allows the session cookie the hosted sign-in page issued", async () => {
    const { email, tokens } = await newUser(auth.client);
    const cookie = await browserSignIn(auth.server.url, email, GOOD_PASSWORD);
    const response = await authz.check({ headers: { cookie: `theme=dark; auth_session=${cookie}` } });
    expect(response.status.code).toBe(0);
    expect(headerOf(response, "x-user-id")).toBe(userIdOf(tokens.accessToken));
    expect(headerOf(response, "x-session-id")).toBe(cookie.split(".")[0]);
  });

  it("denies a cookie made of a real session id and a made-up secret, or of the id alone", async () => {
    const { email } = await newUser(auth.client);
    const [sessionId] = (await browserSignIn(auth.server.url, email, GOOD_PASSWORD)).split(".");
    for (const forged of [`${sessionId}.${"A".repeat(43)}`, `${sessionId}`]) {
      const response = await authz.check({ headers: { cookie: `auth_session=${forged}`, accept: "application/json" } });
      expect(response.denied_response?.status.code, forged).toBe("Unauthorized");
      expect(headerOf(response, "x-auth-reason"), forged).toBe("invalid_cookie");
    }
  });

  it("denies a request without a credential: 401, WWW-Authenticate, reason", async () => {
    const response = await authz.check({ headers: { accept: "application/json" } });
    expect(response.status.code).toBe(16);
    expect(response.denied_response?.status.code).toBe("Unauthorized");
    expect(headerOf(response, "www-authenticate")).toBe('Bearer realm="auth-platform"');
    expect(headerOf(response, "x-auth-reason")).toBe("missing_credential");
  });

  it("redirects a browser to the hosted sign-in page", async () => {
    const response = await authz.check({ path: "/example/page?tab=2", headers: { accept: "text/html,*/*;q=0.8" } });
    expect(response.denied_response?.status.code).toBe("Found");
    expect(headerOf(response, "location")).toBe("http://gateway.test/signin?return_to=%2Fexample%2Fpage%3Ftab%3D2");
  });

  it("replaces a forged x-user-id and strips identity headers on public routes", async () => {
    const { tokens } = await newUser(auth.client);
    const forged = { "x-user-id": "admin", "x-auth-level": "mfa" };
    const response = await authz.check({ headers: { ...forged, authorization: `Bearer ${tokens.accessToken}` } });
    expect(headerOf(response, "x-user-id")).toBe(userIdOf(tokens.accessToken));
    expect(response.ok_response?.headers.every((h) => h.append_action === "OVERWRITE_IF_EXISTS_OR_ADD")).toBe(true);
    const open = await authz.check({ path: "/auth.v1.AuthService/SignIn", method: "POST", headers: forged });
    expect(open.status.code).toBe(0);
    expect(open.ok_response?.headers_to_remove).toEqual(expect.arrayContaining(["x-user-id", "x-session-id", "x-auth-level"]));
  });

  it("denies a signed-out session's token and cookie", async () => {
    const { email, tokens } = await newUser(auth.client);
    await auth.client.signOut({}, bearer(tokens.accessToken));
    const viaToken = await authz.check({ headers: { authorization: `Bearer ${tokens.accessToken}` } });
    expect(headerOf(viaToken, "x-auth-reason")).toBe("session_not_found");
    const browser = cookieBrowser(auth.server.url);
    const cookie = await browserSignIn(auth.server.url, email, GOOD_PASSWORD);
    browser.jar.set("auth_session", cookie);
    expect((await authz.check({ headers: { cookie: `auth_session=${cookie}` } })).status.code).toBe(0);
    expect((await signOutVia(browser)).status).toBe(303);
    const viaCookie = await authz.check({ headers: { cookie: `auth_session=${cookie}` } });
    expect(headerOf(viaCookie, "x-auth-reason")).toBe("session_not_found");
  });

  it("gives hostile or malformed requests a clean answer", async () => {
    const { tokens } = await newUser(auth.client);
    const [header, payload] = tokens.accessToken.split(".");
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "at+jwt" })).toString("base64url")}.${payload}.`;
    const hostile = [
      `Bearer ${header}.${payload}.${"A".repeat(86)}`,
      `Bearer ${none}x`,
      `Bearer ${Buffer.from("{not json").toString("base64url")}.e30.c2ln`,
      `Bearer ${"x".repeat(10_000)}`,
      "Bearer",
      "Basic YTpi",
    ];
    for (const authorization of hostile) {
      const response = await authz.check({ headers: { authorization } });
      expect(response.denied_response?.status.code, authorization.slice(0, 40)).toBe("Unauthorized");
    }
    const huge = await authz.check({ headers: { cookie: `auth_session=${"y".repeat(200_000)}`, "x-pad": "z".repeat(300_000) } });
    expect(headerOf(huge, "x-auth-reason")).toBe("missing_credential");
    const weird = await authz.check({ method: "BREW", path: "*", headers: { cookie: "auth_session=../../etc" } });
    expect(headerOf(weird, "x-auth-reason")).toBe("invalid_cookie");
  });

  it("answers INVALID_ARGUMENT for missing attributes and RESOURCE_EXHAUSTED beyond 1 MiB", async () => {
    const root = loadAuthzProtos(defaultProtoDirs());
    const Authorization = (root.envoy as unknown as { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } } } }).service.auth.v3
      .Authorization;
    const client = new Authorization(authz.server.grpcAddress, grpc.credentials.createInsecure());
    try {
      await expect(rawCheck(client, {})).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      await expect(rawCheck(client, { attributes: { request: {} } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
      const tooBig = { attributes: { request: { http: { method: "GET", path: "/", headers: { "x-pad": "p".repeat(2 * 1024 * 1024) } } } } };
      await expect(rawCheck(client, tooBig)).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
      // Still serving after all that.
      expect((await authz.check({})).denied_response?.status.code).toBe("Unauthorized");
    } finally {
      client.close();
    }
  });

  it("serves grpc.health.v1 for Envoy's health checks", async () => {
    const root = loadAuthzProtos(defaultProtoDirs());
    const Health = (root.grpc as unknown as { health: { v1: { Health: grpc.ServiceClientConstructor } } }).health.v1.Health;
    const client = new Health(authz.server.grpcAddress, grpc.credentials.createInsecure());
    const check = (service: string) =>
      new Promise<{ status: string }>((resolve, reject) =>
        (client as unknown as { Check: (r: unknown, cb: (e: Error | null, v: { status: string }) => void) => void }).Check({ service }, (e, v) =>
          e ? reject(e) : resolve(v),
        ),
      );
    try {
      expect(await check("")).toEqual({ status: "SERVING" });
      expect(await check("envoy.service.auth.v3.Authorization")).toEqual({ status: "SERVING" });
      await expect(check("nope")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      client.close();
    }
  });
});
