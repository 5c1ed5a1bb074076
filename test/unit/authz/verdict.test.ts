import { describe, expect, it } from "vitest";
import { headerMap, type CheckInput } from "../../../src/authz/check-input.js";
import { deny, type Decision } from "../../../src/authz/decision.js";
import { fromEnvoyRequest, InvalidCheckRequest, toEnvoyResponse } from "../../../src/authz/envoy-check.js";
import { toVerdict } from "../../../src/authz/verdict.js";

const options = { realm: "auth-platform", signinUrl: "http://gw:8080/signin", redirectBrowsers: true };
const input = (method = "GET", accept = "application/json", path = "/example/a", query = "b=1"): CheckInput => ({
  method,
  path,
  query,
  host: "gw",
  headers: headerMap([["accept", accept]]),
});
const identity = { userId: "u1", sessionId: "s1", level: "basic" as const, via: "token" as const };

describe("toVerdict", () => {
  it("sets the identity headers upstream and strips only what it does not replace", () => {
    const verdict = toVerdict({ allow: true, reason: "authenticated", identity }, input(), options);
    expect(verdict.status).toBe(200);
    expect(verdict.upstreamHeaders).toEqual([
      ["x-user-id", "u1"],
      ["x-session-id", "s1"],
      ["x-auth-level", "basic"],
    ]);
    expect(verdict.removeHeaders).toEqual(["x-auth-degraded", "x-oauth-client-id", "x-oauth-audience", "x-oauth-scope"]);
    const open = toVerdict({ allow: true, reason: "public" }, input(), options);
    expect(open.removeHeaders).toEqual(["x-user-id", "x-session-id", "x-auth-level", "x-auth-degraded", "x-oauth-client-id", "x-oauth-audience", "x-oauth-scope"]);
    const degraded = toVerdict({ allow: true, reason: "degraded", identity }, input(), options);
    expect(degraded.upstreamHeaders).toContainEqual(["x-auth-degraded", "1"]);
    expect(degraded.removeHeaders).toEqual(["x-oauth-client-id", "x-oauth-audience", "x-oauth-scope"]);
  });

  it("tells upstreams which OAuth client acts, for which resource, with which scopes", () => {
    const delegated = { ...identity, delegation: { clientId: "c_1", audience: "urn:example:api", scope: "orders.read" } };
    const verdict = toVerdict({ allow: true, reason: "authenticated", identity: delegated }, input(), options);
    expect(verdict.upstreamHeaders).toEqual([
      ["x-user-id", "u1"],
      ["x-session-id", "s1"],
      ["x-auth-level", "basic"],
      ["x-oauth-client-id", "c_1"],
      ["x-oauth-audience", "urn:example:api"],
      ["x-oauth-scope", "orders.read"],
    ]);
    expect(verdict.removeHeaders).toEqual(["x-auth-degraded"]);
    const degraded = toVerdict({ allow: true, reason: "degraded", identity: delegated }, input(), options);
    expect(degraded.removeHeaders).toEqual([]);
    expect(degraded.upstreamHeaders).toContainEqual(["x-oauth-scope", "orders.read"]);
    // No scope granted: no header on either gateway (nginx sends none for an empty value), and a client's copy goes.
    const unscoped = toVerdict({ allow: true, reason: "authenticated", identity: { ...identity, delegation: { ...delegated.delegation, scope: "" } } }, input(), options);
    expect(unscoped.upstreamHeaders.map(([name]) => name)).not.toContain("x-oauth-scope");
    expect(unscoped.removeHeaders).toEqual(["x-auth-degraded", "x-oauth-scope"]);
  });

  it("answers an API client 401 with WWW-Authenticate (RFC 6750 3) and the reason", () => {
    const missing = toVerdict(deny("missing_credential"), input(), options);
    expect(missing.status).toBe(401);
    expect(missing.clientHeaders).toContainEqual(["www-authenticate", 'Bearer realm="auth-platform"']);
    expect(missing.clientHeaders).toContainEqual(["x-auth-reason", "missing_credential"]);
    const bad = toVerdict(deny("invalid_token"), input(), options);
    expect(bad.clientHeaders).toContainEqual(["www-authenticate", 'Bearer realm="auth-platform", error="invalid_token"']);
  });

  it("redirects a browser navigation to sign in, returning to the page", () => {
    const verdict = toVerdict(deny("missing_credential"), input("GET", "text/html"), options);
    expect(verdict.status).toBe(302);
    expect(verdict.clientHeaders).toContainEqual(["location", "http://gw:8080/signin?return_to=%2Fexample%2Fa%3Fb%3D1"]);
    const nginx = toVerdict(deny("missing_credential"), input("GET", "text/html"), { ...options, redirectBrowsers: false });
    expect(nginx.status).toBe(401);
    expect(nginx.clientHeaders).toContainEqual(["x-auth-redirect", "http://gw:8080/signin?return_to=%2Fexample%2Fa%3Fb%3D1"]);
    expect(toVerdict(deny("missing_credential"), input("POST", "text/html"), options).status).toBe(401);
  });

  it("never returns a browser to a scheme-relative target", () => {
    const verdict = toVerdict(deny("missing_credential"), input("GET", "text/html", "//evil.example/x", ""), options);
    expect(verdict.clientHeaders).toContainEqual(["location", "http://gw:8080/signin?return_to=%2F"]);
  });

  it("answers insufficient level 403 with insufficient_scope, outages 503", () => {
    const verdict = toVerdict(deny("insufficient_level", "mfa"), input("GET", "text/html"), options);
    expect(verdict.status).toBe(403);
    expect(verdict.clientHeaders).toContainEqual(["www-authenticate", 'Bearer realm="auth-platform", error="insufficient_scope", scope="mfa"']);
    expect(toVerdict(deny("session_store_unavailable"), input(), options).status).toBe(503);
  });
});

describe("Envoy mapping", () => {
  it("reads headers from either the map or header_map", () => {
    const fromMap = fromEnvoyRequest({ attributes: { request: { http: { method: "get", path: "/a?x=1", host: "gw", headers: { Cookie: "a=1" } } } } });
    expect(fromMap).toMatchObject({ method: "GET", path: "/a", query: "x=1", host: "gw" });
    expect(fromMap.headers.get("cookie")).toBe("a=1");
    const raw = fromEnvoyRequest({
      attributes: { request: { http: { method: "GET", path: "/", header_map: { headers: [{ key: "x-a", raw_value: Buffer.from("v") }] } } } },
    });
    expect(raw.headers.get("x-a")).toBe("v");
  });

  it("rejects a request Envoy could not have sent", () => {
    expect(() => fromEnvoyRequest({})).toThrow(InvalidCheckRequest);
    expect(() => fromEnvoyRequest({ attributes: { request: { http: { path: "/" } } } })).toThrow(InvalidCheckRequest);
  });

  it("maps verdicts to OK / denied CheckResponses, naming the decision in dynamic metadata", () => {
    const respond = (decision: Decision) => toEnvoyResponse(toVerdict(decision, input(), options), decision);
    const ok = respond({ allow: true, reason: "authenticated", identity });
    expect(ok.status.code).toBe(0);
    expect(ok.ok_response?.headers[0]).toEqual({ header: { key: "x-user-id", value: "u1" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" });
    expect(ok.dynamic_metadata.fields).toEqual({ decision: { stringValue: "allow" }, reason: { stringValue: "authenticated" } });
    const denied = respond(deny("missing_credential"));
    expect(denied.status).toEqual({ code: 16, message: "missing_credential" });
    expect(denied.denied_response?.status.code).toBe(401);
    expect(denied.dynamic_metadata.fields).toEqual({ decision: { stringValue: "deny" }, reason: { stringValue: "missing_credential" } });
    expect(respond(deny("insufficient_level", "mfa")).status.code).toBe(7);
  });
});
