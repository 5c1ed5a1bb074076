import { describe, expect, it } from "vitest";
import { headerMap, type CheckInput } from "../../../src/authz/check-input.js";
import { createCheckPipeline, type CheckPipelineDeps } from "../../../src/authz/check-pipeline.js";
import { deviceFingerprint } from "../../../src/contract/device-fingerprint.js";
import { newSessionSecret } from "../../../src/contract/session-secret.js";
import { createRoutePolicy } from "../../../src/authz/route-policy.js";
import { SessionStoreUnavailable, type SessionState } from "../../../src/authz/session-lookup.js";
import type { TokenResult } from "../../../src/authz/token-verifier.js";

const NOW = 1_700_000_000_000;
const SID = "AAAAAAAAAAAAAAAAAAAAAA";
const JWT = "h.p.s";
const COOKIE = newSessionSecret(SID);
const live: SessionState = { userId: "u1", expiresAt: NOW + 60_000, userAgent: "Laptop/1.0", fingerprint: undefined, level: "basic", cookieHash: COOKIE.hash };

function pipeline(overrides: Partial<CheckPipelineDeps> & { token?: TokenResult; session?: SessionState | null | "down" } = {}) {
  const storeStatus: boolean[] = [];
  const { token = { ok: true, claims: { userId: "u1", sessionId: SID, level: "basic", expiresAt: NOW / 1000 + 600 } }, session = live } = overrides;
  const deps: CheckPipelineDeps = {
    tokens: { verify: async (t) => (t === JWT ? token : { ok: false, reason: "invalid_token" }) },
    sessions: {
      get: async (id) => {
        if (session === "down") throw new SessionStoreUnavailable(new Error("ECONNREFUSED"));
        return id === SID ? session : null;
      },
    },
    routes: createRoutePolicy({ publicPrefixes: ["/signin", "/.well-known/"], levelRules: [{ prefix: "/admin/", level: "mfa" }] }),
    clock: { now: () => NOW },
    sessionCookie: "auth_session",
    degradedMode: "fail_closed",
    deviceBinding: [],
    onStoreStatus: (ok) => storeStatus.push(ok),
    ...overrides,
  };
  return { check: createCheckPipeline(deps).check, storeStatus };
}

const req = (headers: Record<string, string>, path = "/example/x", method = "GET"): CheckInput => ({
  method,
  path,
  query: "",
  host: "gw",
  headers: headerMap(Object.entries(headers)),
});
const bearer = { authorization: `Bearer ${JWT}` };
const cookie = { cookie: `auth_session=${COOKIE.value}` };

describe("check pipeline", () => {
  it("allows public routes without identity, but not lookalike paths", async () => {
    const { check } = pipeline();
    expect(await check(req({}, "/signin"))).toEqual({ allow: true, reason: "public" });
    expect(await check(req({}, "/signin/../example/x"))).toMatchObject({ allow: false, reason: "missing_credential", status: 401 });
  });

  it("denies a protected route without a credential (401)", async () => {
    expect(await pipeline().check(req({}))).toEqual({ allow: false, reason: "missing_credential", status: 401 });
  });

  it("allows a valid bearer token with a live session", async () => {
    expect(await pipeline().check(req(bearer))).toEqual({
      allow: true,
      reason: "authenticated",
      identity: { userId: "u1", sessionId: SID, level: "basic", via: "token" },
    });
  });

  it("allows a session cookie with a live session", async () => {
    expect(await pipeline().check(req(cookie))).toMatchObject({ allow: true, identity: { userId: "u1", sessionId: SID, via: "cookie" } });
  });

  it("falls back to the cookie when the bearer fails, else reports the bearer's failure", async () => {
    const broken = { authorization: "Bearer x.y.z" };
    expect(await pipeline().check(req({ ...broken, ...cookie }))).toMatchObject({ allow: true, identity: { via: "cookie" } });
    expect(await pipeline().check(req(broken))).toMatchObject({ allow: false, reason: "invalid_token" });
    expect(await pipeline().check(req({ authorization: "Bearer garbage" }))).toMatchObject({ allow: false, reason: "invalid_token" });
    expect(await pipeline({ token: { ok: false, reason: "token_expired" } }).check(req(bearer))).toMatchObject({ reason: "token_expired" });
  });

  it("denies a revoked, expired or foreign session", async () => {
    expect(await pipeline({ session: null }).check(req(bearer))).toMatchObject({ allow: false, reason: "session_not_found", status: 401 });
    expect(await pipeline({ session: { ...live, expiresAt: NOW } }).check(req(cookie))).toMatchObject({ reason: "session_expired" });
    expect(await pipeline({ session: { ...live, userId: "u2" } }).check(req(bearer))).toMatchObject({ reason: "invalid_token" });
  });

  it("denies a cookie that is not the one issued: a bare session id, a made-up secret, no cookie issued", async () => {
    expect(await pipeline().check(req({ cookie: `auth_session=${SID}` }))).toMatchObject({ allow: false, reason: "invalid_cookie", status: 401 });
    expect(await pipeline().check(req({ cookie: "auth_session=nonsense" }))).toMatchObject({ reason: "invalid_cookie" });
    const madeUp = { cookie: `auth_session=${SID}.${"A".repeat(43)}` };
    expect(await pipeline().check(req(madeUp))).toMatchObject({ allow: false, reason: "invalid_cookie", status: 401 });
    expect(await pipeline({ session: { ...live, cookieHash: undefined } }).check(req(cookie))).toMatchObject({ reason: "invalid_cookie" });
  });

  it("enforces device binding only when configured", async () => {
    const other = { ...cookie, "user-agent": "Phone/2.0" };
    expect(await pipeline().check(req(other))).toMatchObject({ allow: true });
    const bound = pipeline({ deviceBinding: ["user-agent"] });
    expect(await bound.check(req(other))).toMatchObject({ allow: false, reason: "device_mismatch", status: 401 });
    expect(await bound.check(req({ ...cookie, "user-agent": "Laptop/1.0" }))).toMatchObject({ allow: true });
    const recorded = pipeline({ deviceBinding: ["user-agent"], session: { ...live, fingerprint: deviceFingerprint(["user-agent"], () => "Phone/2.0") } });
    expect(await recorded.check(req(other))).toMatchObject({ allow: true });
  });

  it("requires the route's level (403), any path an upstream could read differently gets the strictest", async () => {
    expect(await pipeline().check(req(bearer, "/admin/users"))).toEqual({ allow: false, reason: "insufficient_level", status: 403, requiredLevel: "mfa" });
    expect(await pipeline().check(req(bearer, "/x/..%2fadmin/users"))).toMatchObject({ reason: "insufficient_level" });
    const mfa = pipeline({ token: { ok: true, claims: { userId: "u1", sessionId: SID, level: "mfa", expiresAt: NOW / 1000 + 600 } } });
    expect(await mfa.check(req(bearer, "/admin/users"))).toMatchObject({ allow: true });
  });

  it("fails closed when the session store is down", async () => {
    const { check, storeStatus } = pipeline({ session: "down" });
    expect(await check(req(bearer))).toEqual({ allow: false, reason: "session_store_unavailable", status: 503 });
    expect(storeStatus).toEqual([false]);
  });

  it("in allow_tokens mode lets valid tokens through degraded, never cookies", async () => {
    const { check } = pipeline({ session: "down", degradedMode: "allow_tokens" });
    expect(await check(req(bearer))).toMatchObject({ allow: true, reason: "degraded", identity: { userId: "u1", via: "token" } });
    expect(await check(req(cookie))).toMatchObject({ allow: false, reason: "session_store_unavailable" });
    expect(await check(req({ authorization: "Bearer x.y.z" }))).toMatchObject({ allow: false, reason: "invalid_token" });
  });
});
