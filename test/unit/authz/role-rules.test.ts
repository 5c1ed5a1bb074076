import { describe, expect, it } from "vitest";
import { headerMap } from "../../../src/authz/check-input.js";
import { createCheckPipeline } from "../../../src/authz/check-pipeline.js";
import { loadAuthzConfig } from "../../../src/authz/config.js";
import { createRolePolicy, parseRoleRules } from "../../../src/authz/role-rules.js";
import { createRoutePolicy } from "../../../src/authz/route-policy.js";
import { SessionStoreUnavailable, type SessionState } from "../../../src/authz/session-lookup.js";
import { parseSessionEvent, USER_CHANGED } from "../../../src/contract/session-events.js";
import { decodeUserRoles, encodeUserRoles } from "../../../src/contract/session-record.js";
import { readAccessClaims } from "../../../src/contract/access-token-rules.js";
import { problemsOf } from "../../support/config-problems.js";

const NOW = 1_700_000_000_000;
const SID = "AAAAAAAAAAAAAAAAAAAAAA";

describe("AUTHZ_ROLE_RULES", () => {
  it("parses prefix=role:<name> rules, a trailing * being the prefix itself", () => {
    const config = loadAuthzConfig({ REDIS_URL: "redis://r:6379", AUTHZ_ROLE_RULES: "/admin/*=role:admin, /example/ops=role:ops" });
    expect(config.roleRules).toEqual([
      { prefix: "/admin/", role: "admin" },
      { prefix: "/example/ops", role: "ops" },
    ]);
    expect(loadAuthzConfig({ REDIS_URL: "redis://r:6379" }).roleRules).toEqual([]);
  });

  it("names every malformed rule", () => {
    const found = problemsOf(() => loadAuthzConfig({ REDIS_URL: "redis://r:6379", AUTHZ_ROLE_RULES: "admin=role:admin,/a=admin,/b=role:Admin,/c=role:,/d=role:a b" }));
    expect(found.filter((p) => p.startsWith("AUTHZ_ROLE_RULES"))).toHaveLength(5);
  });

  it("matches as level rules do: longest prefix, case-insensitive, escapes decoded; a non-canonical path needs every role", () => {
    const policy = createRolePolicy(parseRoleRules(["/admin=role:admin", "/admin/billing=role:billing", "/admin/billing=role:finance", "/ops=role:ops"], []));
    expect(policy.requiredRoles("/admin/users")).toEqual(["admin"]);
    expect(policy.requiredRoles("/ADMIN/users")).toEqual(["admin"]);
    expect(policy.requiredRoles("/%61dmin/users")).toEqual(["admin"]);
    expect(policy.requiredRoles("/admin/billing/x")).toEqual(["billing", "finance"]);
    expect(policy.requiredRoles("/example/x")).toEqual([]);
    expect([...policy.requiredRoles("/x/..%2fadmin")].sort()).toEqual(["admin", "billing", "finance", "ops"]);
    expect(createRolePolicy([]).requiredRoles("/x/../admin")).toEqual([]);
  });
});

describe("roles in the Check", () => {
  const live: SessionState = { userId: "u1", expiresAt: NOW + 60_000, userAgent: "", fingerprint: undefined, level: "basic", cookieHash: undefined, roles: ["ops"] };
  const check = (session: SessionState | "down", claimRoles: string[], path: string, degradedMode: "fail_closed" | "allow_tokens" = "fail_closed") =>
    createCheckPipeline({
      tokens: { verify: async () => ({ ok: true, claims: { userId: "u1", sessionId: SID, level: "basic", expiresAt: NOW / 1000 + 600, roles: claimRoles } }) },
      sessions: {
        get: async () => {
          if (session === "down") throw new SessionStoreUnavailable(new Error("ECONNREFUSED"));
          return session;
        },
      },
      routes: createRoutePolicy({ publicPrefixes: [], levelRules: [{ prefix: "/ops/mfa", level: "mfa" }] }),
      roles: createRolePolicy([{ prefix: "/ops", role: "ops" }]),
      clock: { now: () => NOW },
      sessionCookie: "auth_session",
      degradedMode,
      deviceBinding: [],
      onStoreStatus: () => {},
    }).check({ method: "GET", path, query: "", host: "gw", headers: headerMap([["authorization", "Bearer h.p.s"]]) });

  it("takes the roles from the user's record, not the token's claim", async () => {
    expect(await check(live, [], "/ops/deploy")).toMatchObject({ allow: true });
    expect(await check({ ...live, roles: [] }, ["ops"], "/ops/deploy")).toEqual({ allow: false, reason: "missing_role", status: 403 });
    expect(await check({ ...live, roles: [] }, [], "/example")).toMatchObject({ allow: true });
  });

  it("applies the level rules too, the level first", async () => {
    expect(await check(live, ["ops"], "/ops/mfa/x")).toMatchObject({ allow: false, reason: "insufficient_level" });
    expect(await check({ ...live, roles: [] }, [], "/ops/mfa/x")).toMatchObject({ allow: false, reason: "insufficient_level" });
  });

  it("in degraded mode, where only the token speaks, takes the claim", async () => {
    expect(await check("down", ["ops"], "/ops/deploy", "allow_tokens")).toMatchObject({ allow: true, reason: "degraded" });
    expect(await check("down", [], "/ops/deploy", "allow_tokens")).toMatchObject({ allow: false, reason: "missing_role" });
  });
});

describe("the roles contract", () => {
  it("round-trips the Redis copy and refuses anything else", () => {
    expect(decodeUserRoles(encodeUserRoles({ version: 7, roles: ["admin", "ops"] }))).toEqual({ version: 7, roles: ["admin", "ops"] });
    expect(decodeUserRoles(encodeUserRoles({ version: 0, roles: [] }))).toEqual({ version: 0, roles: [] });
    for (const bad of [null, "", "x admin", "7", "7 Admin", "7 a b"]) expect(decodeUserRoles(bad)).toBeUndefined();
  });

  it("reads the roles claim, keeping only well-formed names", () => {
    const base = { sub: "u", sid: "s", jti: "j", iat: 1, exp: 2 };
    expect(readAccessClaims({ ...base, roles: ["admin", "Admin", 7, "ops", "admin"] })?.roles).toEqual(["admin", "ops"]);
    expect(readAccessClaims({ ...base, roles: "admin" })?.roles).toEqual([]);
    expect(readAccessClaims(base)?.roles).toEqual([]);
  });

  it("parses the user.changed event", () => {
    expect(parseSessionEvent(JSON.stringify({ type: USER_CHANGED, userId: "u1" }))).toEqual({ type: USER_CHANGED, userId: "u1" });
    expect(parseSessionEvent(JSON.stringify({ type: USER_CHANGED }))).toBeUndefined();
  });
});
