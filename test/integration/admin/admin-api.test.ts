import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditPseudonym } from "../../../src/auth/admin/pseudonym.js";
import { limiterKey } from "../../../src/contract/limiter-key.js";
import { revokedBeforeKey } from "../../../src/contract/session-record.js";
import { adminClient, grantRoleDirectly, redisDump, rowsMentioning, type AdminClient } from "../../support/admin.js";
import { AdminService } from "../../../src/gen/auth/admin/v1/admin_pb.js";
import { GOOD_PASSWORD, bearer, clientFrom, connectTransport, markEmailVerified, randomIp, uniqueEmail, userIdOf, type AuthClient } from "../../support/auth.js";
import { type TestAuthz, headerOf, startTestAuthz } from "../../support/authz.js";
import { browserSignIn } from "../../support/browser.js";
import { eventually } from "../../support/eventually.js";
import { startMailStack } from "../../support/mail.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString());
const asToken = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` });
const asCookie = (cookie: string) => ({ cookie: `auth_session=${cookie}` });
const NEW_PASSWORD = "a different horse battery staple";

describe("Admin API (auth.admin.v1.AdminService)", () => {
  let stack: Awaited<ReturnType<typeof startMailStack>>;
  let authz: TestAuthz;
  let admin: AdminClient;
  let adminId: string;
  let asAdmin: { headers: { authorization: string } };

  /** A fresh account, signed in from an address of its own. */
  async function person(tag = "person") {
    const client = clientFrom(stack.auth, randomIp());
    const email = uniqueEmail(tag);
    await client.signUp({ email, password: GOOD_PASSWORD });
    const tokens = await client.signIn({ email, password: GOOD_PASSWORD });
    return { client, email, id: userIdOf(tokens.accessToken), tokens };
  }

  /** A second admin, made the way the first was. */
  async function anotherAdmin() {
    const other = await person("admin");
    await grantRoleDirectly(stack.auth, other.email, "admin");
    const tokens = await other.client.signIn({ email: other.email, password: GOOD_PASSWORD });
    return { ...other, tokens, as: bearer(tokens.accessToken) };
  }

  /** The gateway's answer for `path`: allowed, or the deny's reason. */
  async function gate(path: string, headers: Record<string, string>) {
    const response = await authz.check({ path, headers });
    return response.status.code === 0 ? "allowed" : headerOf(response, "x-auth-reason");
  }

  beforeAll(async () => {
    // A short user-cache TTL: an erased address's cache generation counter lives twice that.
    stack = await startMailStack({ USER_CACHE_TTL: "500ms" });
    // A long cache TTL, so only the user.changed and revocation events can explain a change at the Check.
    authz = await startTestAuthz(stack.auth, { AUTHZ_ROLE_RULES: "/example/ops=role:ops", AUTHZ_CACHE_TTL: "60s" });
    admin = adminClient(stack.auth);
    const first = await person("first-admin");
    adminId = await grantRoleDirectly(stack.auth, first.email, "admin");
    const tokens = await first.client.signIn({ email: first.email, password: GOOD_PASSWORD });
    asAdmin = bearer(tokens.accessToken);
  });
  afterAll(async () => {
    await authz?.close();
    await stack?.close();
  });

  const everyCall = (userId: string): Array<[string, (options: object) => Promise<unknown>]> => [
    ["FindUsers", (o) => admin.findUsers({}, o)],
    ["GetUser", (o) => admin.getUser({ userId }, o)],
    ["DisableUser", (o) => admin.disableUser({ userId }, o)],
    ["EnableUser", (o) => admin.enableUser({ userId }, o)],
    ["ForcePasswordReset", (o) => admin.forcePasswordReset({ userId }, o)],
    ["RemoveSecondFactor", (o) => admin.removeSecondFactor({ userId }, o)],
    ["DeleteUser", (o) => admin.deleteUser({ userId }, o)],
    ["GrantRole", (o) => admin.grantRole({ userId, role: "admin" }, o)],
    ["RevokeRole", (o) => admin.revokeRole({ userId, role: "ops" }, o)],
  ];

  it("answers UNAUTHENTICATED without a live session and PERMISSION_DENIED without the admin role, for every RPC", async () => {
    const someone = await person();
    const ended = await person();
    await ended.client.signOut({}, bearer(ended.tokens.accessToken));
    for (const [name, call] of everyCall(someone.id)) {
      expect(await codeOf(call({})), name).toBe(Code.Unauthenticated);
      expect(await codeOf(call(bearer("not.a.token"))), name).toBe(Code.Unauthenticated);
      expect(await codeOf(call(bearer(ended.tokens.accessToken))), name).toBe(Code.Unauthenticated);
      expect(await codeOf(call(bearer(someone.tokens.accessToken))), name).toBe(Code.PermissionDenied);
    }
    // Nothing happened to the account on any of those calls, and each refusal is on record.
    expect(await someone.client.getMe({}, bearer(someone.tokens.accessToken))).toMatchObject({ user: { email: someone.email } });
    const denied = await stack.primary.query("SELECT details->>'method' AS method FROM audit_events WHERE type = 'admin.denied' AND user_id = $1", [someone.id]);
    expect(denied.rows.map((r) => r.method).sort()).toEqual(everyCall(someone.id).map(([name]) => name).sort());
  });

  it("takes the admin role away at the admin's next call, whatever their token says", async () => {
    const second = await anotherAdmin();
    expect(claimsOf(second.tokens.accessToken).roles).toEqual(["admin"]);
    await admin.findUsers({ userId: second.id }, second.as);
    await admin.revokeRole({ userId: second.id, role: "admin" }, asAdmin);
    expect(await codeOf(admin.findUsers({ userId: second.id }, second.as))).toBe(Code.PermissionDenied);
  });

  it("FindUsers filters by email prefix, id and creation range, in pages", async () => {
    const tag = `find-${randomUUID().slice(0, 8)}`;
    const made = [];
    for (const n of [1, 2, 3]) made.push(await person(`${tag}-${n}`));
    const emailPrefix = `${tag.toUpperCase()}-`;
    const first = await admin.findUsers({ emailPrefix, pageSize: 2 }, asAdmin);
    expect(first.users.map((u) => u.email)).toEqual(made.slice(0, 2).map((m) => m.email));
    expect(first.nextPageToken).not.toBe("");
    const second = await admin.findUsers({ emailPrefix, pageSize: 2, pageToken: first.nextPageToken }, asAdmin);
    expect(second.users.map((u) => u.email)).toEqual([made[2]!.email]);
    expect(second.nextPageToken).toBe("");

    const byId = await admin.findUsers({ userId: made[1]!.id }, asAdmin);
    expect(byId.users).toMatchObject([{ id: made[1]!.id, email: made[1]!.email, disabled: false, emailVerified: false, roles: [] }]);

    const created = byId.users[0]!.createdAt!;
    const later = await admin.findUsers({ emailPrefix, createdAfter: created }, asAdmin);
    expect(later.users.map((u) => u.email)).toEqual(made.slice(1).map((m) => m.email));
    const earlier = await admin.findUsers({ emailPrefix, createdBefore: created }, asAdmin);
    expect(earlier.users.map((u) => u.email)).toEqual([made[0]!.email]);

    // LIKE's wildcards in a prefix are the characters themselves.
    expect((await admin.findUsers({ emailPrefix: "%" }, asAdmin)).users).toEqual([]);
    expect((await admin.findUsers({ emailPrefix: `${tag}_` }, asAdmin)).users).toEqual([]);
    const audited = await stack.primary.query("SELECT 1 FROM audit_events WHERE type = 'admin.users_found' AND details->>'admin' = $1", [adminId]);
    expect(audited.rowCount).toBeGreaterThan(0);
  });

  /** Turns TOTP on for the account (its email verified first, as enrolment needs). */
  async function withTotp(someone: { client: AuthClient; email: string; tokens: { accessToken: string } }) {
    await markEmailVerified(stack.auth, someone.email);
    const { secret } = await someone.client.beginTotpEnrollment({ currentPassword: GOOD_PASSWORD }, bearer(someone.tokens.accessToken));
    await someone.client.confirmTotpEnrollment({ code: TOTP.generate({ secret: Secret.fromBase32(secret) }) }, bearer(someone.tokens.accessToken));
  }

  it("GetUser shows the account's sessions, factors and recent events; RemoveSecondFactor turns TOTP off", async () => {
    const someone = await person();
    await withTotp(someone);
    const seen = await admin.getUser({ userId: someone.id }, asAdmin);
    expect(seen.user).toMatchObject({ id: someone.id, email: someone.email, emailVerified: true, disabled: false });
    expect(seen.sessions).toMatchObject([{ sessionId: someone.tokens.sessionId, acr: "basic" }]);
    expect(seen.sessions[0]!.ip).toMatch(/^198\.18\./);
    expect(seen.factors).toMatchObject([{ type: "totp", confirmed: true, recoveryCodesLeft: 10 }]);
    expect(seen.recentEvents.map((e) => e.type)).toEqual(expect.arrayContaining(["mfa.enabled", "signin.success", "signup"]));
    expect(await codeOf(admin.getUser({ userId: randomUUID() }, asAdmin))).toBe(Code.NotFound);

    expect((await someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD })).mfaRequired).toBe(true);
    expect(await admin.removeSecondFactor({ userId: someone.id }, asAdmin)).toMatchObject({ removed: true });
    expect((await someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD })).mfaRequired).toBe(false);
    expect(await admin.removeSecondFactor({ userId: someone.id }, asAdmin)).toMatchObject({ removed: false });
    // A passkey is a second factor too (and signs in alone): removed with the rest.
    await addPasskey(someone.id);
    expect(await admin.removeSecondFactor({ userId: someone.id }, asAdmin)).toMatchObject({ removed: true });
    expect(await passkeysOf(someone.id)).toBe(0);
    await stack.sink.waitFor(someone.email, /two-step|security/i);
    const trail = await stack.primary.query("SELECT type, details FROM audit_events WHERE user_id = $1 AND type LIKE 'admin.%' ORDER BY id", [someone.id]);
    expect(trail.rows).toMatchObject([
      { type: "admin.user_viewed", details: { admin: adminId } },
      { type: "admin.second_factor_removed", details: { admin: adminId, removed: true } },
      { type: "admin.second_factor_removed", details: { admin: adminId, removed: false } },
      { type: "admin.second_factor_removed", details: { admin: adminId, removed: true, passkeys: 1 } },
    ]);
  });

  it("DisableUser ends every session and token at once; no sign-in, refresh or reset until EnableUser", async () => {
    const someone = await person();
    const cookie = await browserSignIn(stack.auth.server.url, someone.email, GOOD_PASSWORD);
    await someone.client.requestPasswordReset({ email: someone.email });
    const { token: resetLink } = await stack.tokenFrom(someone.email, /reset/i);
    expect(await gate("/example/x", asToken(someone.tokens.accessToken))).toBe("allowed");
    expect(await gate("/example/x", asCookie(cookie))).toBe("allowed");

    const { revokedSessions } = await admin.disableUser({ userId: someone.id, reason: "compromised laptop" }, asAdmin);
    expect(revokedSessions).toBe(2);
    for (const headers of [asToken(someone.tokens.accessToken), asCookie(cookie)]) {
      await eventually(async () => (await gate("/example/x", headers)) === "session_not_found", 1000, "denied at the Check");
    }
    expect(await codeOf(someone.client.getMe({}, bearer(someone.tokens.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(someone.client.refresh({ refreshToken: someone.tokens.refreshToken }))).toBe(Code.Unauthenticated);
    expect(await codeOf(someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    expect(await codeOf(someone.client.resetPassword({ token: resetLink, newPassword: NEW_PASSWORD }))).toBe(Code.InvalidArgument);
    const issued = await stack.primary.query("SELECT count(*)::int AS n FROM account_tokens WHERE user_id = $1 AND used_at IS NULL", [someone.id]);
    await someone.client.requestPasswordReset({ email: someone.email });
    expect((await stack.primary.query("SELECT count(*)::int AS n FROM account_tokens WHERE user_id = $1 AND used_at IS NULL", [someone.id])).rows[0].n).toBe(issued.rows[0].n);
    expect((await admin.getUser({ userId: someone.id }, asAdmin)).user).toMatchObject({ disabled: true });
    expect(await codeOf(admin.forcePasswordReset({ userId: someone.id }, asAdmin))).toBe(Code.FailedPrecondition);

    await admin.enableUser({ userId: someone.id }, asAdmin);
    const back = await someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD });
    expect(await gate("/example/x", asToken(back.accessToken))).toBe("allowed");
    const trail = await stack.primary.query("SELECT type, details FROM audit_events WHERE user_id = $1 AND type LIKE 'admin.user_%abled' ORDER BY id", [someone.id]);
    expect(trail.rows).toMatchObject([
      { type: "admin.user_disabled", details: { admin: adminId, reason: "compromised laptop", revokedSessions: 2 } },
      { type: "admin.user_enabled", details: { admin: adminId } },
    ]);
  });

  /** A passkey as registration stores it: the row is what a passwordless sign-in looks up. */
  const addPasskey = (userId: string) =>
    stack.primary.query(
      "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, device_type, backed_up, name) VALUES ($1, $2, '\\x00', 0, 'singleDevice', false, 'intruder key')",
      [userId, randomUUID()],
    );
  const passkeysOf = async (userId: string) => (await stack.primary.query("SELECT 1 FROM passkeys WHERE user_id = $1", [userId])).rowCount;

  it("ForcePasswordReset ends every session, retires the password and every passkey, and mails a reset link", async () => {
    const someone = await person();
    // One an intruder may have registered: it would sign in alone after the reset.
    await addPasskey(someone.id);
    const { revokedSessions } = await admin.forcePasswordReset({ userId: someone.id }, asAdmin);
    expect(revokedSessions).toBe(1);
    expect(await codeOf(someone.client.getMe({}, bearer(someone.tokens.accessToken)))).toBe(Code.Unauthenticated);
    expect(await codeOf(someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    expect(await passkeysOf(someone.id)).toBe(0);
    const { token } = await stack.tokenFrom(someone.email, /reset/i);
    await someone.client.resetPassword({ token, newPassword: NEW_PASSWORD });
    await someone.client.signIn({ email: someone.email, password: NEW_PASSWORD });
    const trail = await stack.primary.query("SELECT details FROM audit_events WHERE user_id = $1 AND type = 'admin.password_reset_forced'", [someone.id]);
    expect(trail.rows).toMatchObject([{ details: { admin: adminId, revokedSessions: 1 } }]);
  });

  it("a granted or removed role holds at the Check on the next request, for tokens and cookies alike; the claim follows at refresh", async () => {
    const someone = await person();
    const cookie = await browserSignIn(stack.auth.server.url, someone.email, GOOD_PASSWORD);
    const credentials = [asToken(someone.tokens.accessToken), asCookie(cookie)];
    for (const headers of credentials) {
      expect(await gate("/example/ops/deploy", headers)).toBe("missing_role");
      expect(await gate("/example/x", headers)).toBe("allowed");
    }
    expect(await admin.grantRole({ userId: someone.id, role: "ops" }, asAdmin)).toMatchObject({ roles: ["ops"] });
    expect(await admin.grantRole({ userId: someone.id, role: "ops" }, asAdmin)).toMatchObject({ roles: ["ops"] });
    for (const headers of credentials) await eventually(async () => (await gate("/example/ops/deploy", headers)) === "allowed", 1000, "role granted at the Check");
    // The token issued before the grant says nothing of it; the next one does.
    expect(claimsOf(someone.tokens.accessToken).roles).toBeUndefined();
    const refreshed = await someone.client.refresh({ refreshToken: someone.tokens.refreshToken });
    expect(claimsOf(refreshed.accessToken).roles).toEqual(["ops"]);
    expect((await admin.getUser({ userId: someone.id }, asAdmin)).user?.roles).toEqual(["ops"]);

    expect(await admin.revokeRole({ userId: someone.id, role: "ops" }, asAdmin)).toMatchObject({ roles: [] });
    // Refused at once, though this token's claim still names the role.
    for (const headers of [asToken(refreshed.accessToken), asCookie(cookie)]) {
      await eventually(async () => (await gate("/example/ops/deploy", headers)) === "missing_role", 1000, "role removed at the Check");
    }
    expect(await codeOf(admin.grantRole({ userId: randomUUID(), role: "ops" }, asAdmin))).toBe(Code.NotFound);
    const trail = await stack.primary.query("SELECT type, details FROM audit_events WHERE user_id = $1 AND type LIKE 'admin.role_%' ORDER BY id", [someone.id]);
    expect(trail.rows).toMatchObject([
      { type: "admin.role_granted", details: { admin: adminId, role: "ops", changed: true } },
      { type: "admin.role_granted", details: { admin: adminId, role: "ops", changed: false } },
      { type: "admin.role_revoked", details: { admin: adminId, role: "ops", changed: true } },
    ]);
  });

  it("an admin cannot disable, delete or demote themselves", async () => {
    expect(await codeOf(admin.disableUser({ userId: adminId }, asAdmin))).toBe(Code.FailedPrecondition);
    expect(await codeOf(admin.deleteUser({ userId: adminId }, asAdmin))).toBe(Code.FailedPrecondition);
    expect(await codeOf(admin.revokeRole({ userId: adminId, role: "admin" }, asAdmin))).toBe(Code.FailedPrecondition);
    await admin.findUsers({ userId: adminId }, asAdmin);
  });

  it("DeleteUser leaves nothing personal in Postgres or Redis, and the audit trail under a pseudonym", async () => {
    const someone = await person("erased");
    const cookie = await browserSignIn(stack.auth.server.url, someone.email, GOOD_PASSWORD);
    await someone.client.requestEmailVerification({}, bearer(someone.tokens.accessToken));
    await withTotp(someone);
    await admin.grantRole({ userId: someone.id, role: "ops" }, asAdmin);
    await someone.client.changeEmail({ currentPassword: GOOD_PASSWORD, newEmail: uniqueEmail("moving") }, bearer(someone.tokens.accessToken));
    // Counters keyed on the address and the account: a reset mail, a failed sign-in and a wrong second factor.
    await someone.client.requestPasswordReset({ email: someone.email });
    await codeOf(someone.client.signIn({ email: someone.email, password: "wrong password entirely" }));
    const { mfaChallenge } = await someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD });
    await codeOf(someone.client.completeSignIn({ challenge: mfaChallenge, code: "000000" }));
    // An admin who acted and is then deleted is pseudonymised in the events of those they acted on.
    const second = await anotherAdmin();
    await admin.getUser({ userId: someone.id }, second.as);
    // An OAuth grant it gave a client, as oidc-provider stores one: its id only inside the provider's JSON.
    const clientId = `erasure-${randomUUID()}`;
    await stack.primary.query("INSERT INTO oauth_clients (client_id, name, metadata) VALUES ($1, 'erasure test', '{}')", [clientId]);
    await stack.primary.query("INSERT INTO oauth_grant_sessions (grant_id, account_id, client_id, session_id) VALUES ($1, $2, $3, 'sid')", [`g-${clientId}`, someone.id, clientId]);
    await stack.primary.query("INSERT INTO oauth_artifacts (model, id, payload, grant_id) VALUES ('Grant', $1, $2, $1)", [`g-${clientId}`, JSON.stringify({ accountId: someone.id, clientId })]);
    await stack.primary.query("INSERT INTO oauth_artifacts (model, id, payload) VALUES ('Session', $1, $2)", [`s-${clientId}`, JSON.stringify({ accountId: someone.id })]);
    const outbox = await stack.primary.query("SELECT count(*)::int AS n FROM mail_outbox WHERE recipient = $1", [someone.email]);
    expect(outbox.rows[0].n).toBeGreaterThan(0);

    await admin.deleteUser({ userId: someone.id }, asAdmin);
    await admin.deleteUser({ userId: second.id }, asAdmin);
    expect(await codeOf(admin.deleteUser({ userId: someone.id }, asAdmin))).toBe(Code.NotFound);

    const needles = [someone.id, someone.email, second.id, second.email];
    expect(await rowsMentioning(stack.auth.config.databaseUrl, needles)).toEqual([]);
    const pseudonym = auditPseudonym(stack.auth.config.auditPseudonymKey, someone.id);
    const kept = await stack.primary.query("SELECT type, ip, user_agent, details FROM audit_events WHERE details->>'subject' = $1 ORDER BY id", [pseudonym]);
    expect(kept.rows.map((r) => r.type)).toEqual(expect.arrayContaining(["signup", "signin.success", "mfa.enabled", "admin.role_granted", "admin.user_viewed", "admin.user_deleted"]));
    // The account's own events lose where they came from; the deletion keeps the deleting admin's request.
    expect(kept.rows.filter((r) => r.type !== "admin.user_deleted").every((r) => r.ip === null && r.user_agent === null)).toBe(true);
    expect(kept.rows.find((r) => r.type === "admin.user_viewed" && r.details.admin !== adminId)?.details.admin).toBe(auditPseudonym(stack.auth.config.auditPseudonymKey, second.id));

    // In Redis: no key or value naming the account, its address, or their digests, once the address's
    // cache generation counter has run out (2 x USER_CACHE_TTL); only the session cutoff stays (user-erasure.ts).
    const digests = [someone.id, someone.email, limiterKey(someone.email), limiterKey(someone.id)];
    const leftover = async () =>
      (await redisDump(stack.auth.config.redis)).filter(({ key, value }) => digests.some((d) => key.includes(d) || value.includes(d))).map(({ key }) => key);
    const { value: left } = await eventually(async () => {
      const keys = await leftover();
      return keys.length <= 1 && keys;
    }, 5000, "Redis holds nothing of the erased account").catch(async (error: Error) => {
      throw new Error(`${error.message}: ${(await leftover()).join(", ")}`);
    });
    expect(left).toEqual([revokedBeforeKey(someone.id)]);

    expect(await codeOf(someone.client.signIn({ email: someone.email, password: GOOD_PASSWORD }))).toBe(Code.Unauthenticated);
    expect(await gate("/example/x", asCookie(cookie))).toBe("session_not_found");
    expect(await gate("/example/x", asToken(someone.tokens.accessToken))).toBe("session_not_found");
  });

  describe("bad input", () => {
    const validId = randomUUID();
    const badIds = ["", "not-a-uuid", "' OR 1=1 --", `${validId}\u0000`, "\u202e".repeat(36)];
    const badRoles = ["", "Admin", "ad min", "a".repeat(64), "admin\u0000", "1admin", "role:admin", "../admin"];

    it("refuses malformed user ids, naming the field, on every RPC that takes one", async () => {
      for (const userId of badIds) {
        for (const [name, call] of everyCall(userId).filter(([n]) => n !== "FindUsers")) {
          const error = await rejection(call(asAdmin));
          expect(error.code, `${name} ${JSON.stringify(userId)}`).toBe(Code.InvalidArgument);
          expect(error.rawMessage).toMatch(/user_id/);
        }
        if (userId !== "") expect(await codeOf(admin.findUsers({ userId }, asAdmin))).toBe(Code.InvalidArgument);
      }
    });

    it("refuses malformed role names on GrantRole and RevokeRole", async () => {
      for (const role of badRoles) {
        for (const call of [() => admin.grantRole({ userId: validId, role }, asAdmin), () => admin.revokeRole({ userId: validId, role }, asAdmin)]) {
          const error = await rejection(call());
          expect(error.code, JSON.stringify(role)).toBe(Code.InvalidArgument);
          expect(error.rawMessage).toMatch(/role/);
        }
      }
    });

    it("refuses bad filters, page sizes, page tokens and reasons", async () => {
      const binaryAdmin = createClient(AdminService, connectTransport(stack.auth.server.url, true));
      const cases: Array<[string, () => Promise<unknown>]> = [
        ["negative page", () => admin.findUsers({ pageSize: -1 }, asAdmin)],
        ["garbage token", () => admin.findUsers({ pageToken: "garbage!" }, asAdmin)],
        ["forged token", () => admin.findUsers({ pageToken: Buffer.from("v1:1:' OR 1=1 --").toString("base64url") }, asAdmin)],
        ["long token", () => admin.findUsers({ pageToken: "A".repeat(1000) }, asAdmin)],
        ["control in prefix", () => admin.findUsers({ emailPrefix: "a\u0000b" }, asAdmin)],
        ["long prefix", () => admin.findUsers({ emailPrefix: "a".repeat(300) }, asAdmin)],
        ["inverted range", () => admin.findUsers({ createdAfter: timestampFromDate(new Date(2030, 0)), createdBefore: timestampFromDate(new Date(2020, 0)) }, asAdmin)],
        // Binary protobuf: JSON cannot even spell a time past year 9999.
        ["time out of range", () => binaryAdmin.findUsers({ createdAfter: { seconds: 999_999_999_999n, nanos: 0 } as never }, asAdmin)],
        ["negative nanos", () => binaryAdmin.findUsers({ createdAfter: { seconds: 0n, nanos: -1 } as never }, asAdmin)],
        ["long reason", () => admin.disableUser({ userId: validId, reason: "x".repeat(501) }, asAdmin)],
        ["control in reason", () => admin.disableUser({ userId: validId, reason: "ok\u001b[2J" }, asAdmin)],
      ];
      for (const [what, call] of cases) expect(await codeOf(call()), what).toBe(Code.InvalidArgument);
    });

    it("refuses oversized, malformed and unknown-field bodies without touching anything", async () => {
      // Over MAX_MESSAGE_BYTES (64 KiB), refused before it is parsed, on every RPC.
      for (const [name, call] of everyCall("x".repeat(100_000)).filter(([n]) => n !== "FindUsers")) expect(await codeOf(call(asAdmin)), name).toBe(Code.ResourceExhausted);
      expect(await codeOf(admin.findUsers({ emailPrefix: "a".repeat(100_000) }, asAdmin))).toBe(Code.ResourceExhausted);
      const post = (path: string, body: string) =>
        fetch(`${stack.auth.server.url}/auth.admin.v1.AdminService/${path}`, { method: "POST", headers: { "content-type": "application/json", ...asAdmin.headers }, body });
      for (const [name] of everyCall(validId)) {
        const res = await post(name, "{not json");
        expect(res.status, name).toBe(400);
        expect(await res.json()).toMatchObject({ code: "invalid_argument" });
      }
      for (const [path, body] of [
        ["GetUser", "{not json"],
        ["GetUser", '{"userId": 42}'],
        ["GrantRole", '{"userId": "' + validId + '", "role": "ops", "isRoot": true}'],
        ["FindUsers", '{"pageSize": "many"}'],
      ] as const) {
        const res = await post(path, body);
        expect(res.status, `${path} ${body}`).toBe(400);
        expect(await res.json()).toMatchObject({ code: "invalid_argument" });
      }
    });
  });
});

