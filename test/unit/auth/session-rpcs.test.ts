import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { AbuseProtection } from "../../../src/auth/abuse/abuse-protection.js";
import type { AuditEvent } from "../../../src/auth/audit/audit-log.js";
import { createAuthService } from "../../../src/auth/auth-service.js";
import { createRecentProof } from "../../../src/auth/recent-proof.js";
import { createAuthenticator } from "../../../src/auth/authenticate.js";
import type { AccountWrites } from "../../../src/auth/lifecycle/account-writes.js";
import type { SignInChallenges } from "../../../src/auth/mfa/sign-in-challenges.js";
import { createPasswordHasher } from "../../../src/auth/passwords/password-hasher.js";
import { createPasswordPolicy } from "../../../src/auth/passwords/password-policy.js";
import { createMemorySessionStore } from "../../../src/auth/sessions/memory-session-store.js";
import type { AccessTokens } from "../../../src/auth/tokens/access-tokens.js";
import { createMemoryUserStore } from "../../../src/auth/users/memory-user-store.js";
import type { SessionEvent } from "../../../src/contract/session-events.js";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { createErrorInterceptor } from "../../../src/platform/interceptors.js";
import { createLogger } from "../../../src/platform/log.js";
import { steppingClock } from "../../support/clock.js";
import { codeOf, rejection } from "../../support/rpc-errors.js";

/**
 * The session RPCs' own logic, in memory: the stores are the in-memory ones (held to the same
 * contract suite as Redis and Postgres), the access token a readable stand-in whose signing is
 * tested elsewhere. No topology needed.
 */
describe("session RPCs over the in-memory stores", async () => {
  const clock = steppingClock();
  const events: SessionEvent[] = [];
  const audit: AuditEvent[] = [];
  const sessions = createMemorySessionStore({ clock, idleTtlMs: 60_000, absoluteTtlMs: 3_600_000, reuseGraceMs: 2_000, onEvent: (e) => events.push(e) });
  const users = createMemoryUserStore();
  const hasher = await createPasswordHasher({ memoryKiB: 1024, iterations: 1, parallelism: 1 });
  const tokens: AccessTokens = {
    issue: async (s) => ({ token: `h.${Buffer.from(JSON.stringify({ sid: s.id, sub: s.userId })).toString("base64url")}.s`, expiresAt: new Date(clock.now() + 600_000) }),
    async verify(token) {
      const { sid, sub } = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as { sid: string; sub: string };
      return { userId: sub, sessionId: sid, tokenId: "t", issuedAt: 0, expiresAt: 0, acr: "basic", emailVerified: false, roles: [] };
    },
  };
  const limiter = { consume: async () => {}, check: async () => {}, penalize: async () => {} };
  const abuse: AbuseProtection = {
    signInIp: limiter,
    signUpIp: limiter,
    mailAccount: limiter,
    mailReset: limiter,
    mailIp: limiter,
    tokenIp: limiter,
    mfaAccount: limiter,
    lockout: { lockedFor: async () => 0, recordFailure: async () => 0, recordSuccess: async () => {}, clear: async () => {} },
  };
  const service = createAuthService({
    users,
    sessions,
    tokens,
    authenticator: createAuthenticator({ tokens, sessions }),
    hasher,
    policy: createPasswordPolicy(new Set()),
    audit: async (_ctx, e) => void audit.push(e),
    abuse,
    accounts: {} as AccountWrites,
    secondFactor: { required: async () => false },
    challenges: {} as SignInChallenges,
    deviceOf: () => undefined,
    recentProof: createRecentProof({ abuse, hasher, audit: async (_ctx, e) => void audit.push(e), sessions, clock, maxAgeMs: 300_000 }),
    clock,
  });
  const client = createClient(
    AuthService,
    createRouterTransport(({ service: register }) => register(AuthService, service), { router: { interceptors: [createErrorInterceptor(createLogger("silent"))] } }),
  );
  const user = { id: crypto.randomUUID(), email: "ada@example.com", emailVerified: false, passwordHash: await hasher.hash("a passphrase"), disabled: false, createdAt: new Date() };
  users.add(user);
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

  it("revokes the whole session when a rotated refresh token comes back after the grace, and audits it", async () => {
    const signedIn = await client.signIn({ email: user.email, password: "a passphrase" });
    const refreshed = await client.refresh({ refreshToken: signedIn.refreshToken });
    clock.advance(3_000);
    expect(await codeOf(client.refresh({ refreshToken: signedIn.refreshToken }))).toBe(Code.Unauthenticated);
    expect(events).toContainEqual({ type: "session.revoked", sessionId: signedIn.sessionId, userId: user.id, atMs: expect.any(Number) });
    expect(audit.map((e) => e.type)).toContain("refresh.reuse");
    expect(await codeOf(client.refresh({ refreshToken: refreshed.refreshToken }))).toBe(Code.Unauthenticated);
    expect(await codeOf(client.getMe({}, bearer(refreshed.accessToken)))).toBe(Code.Unauthenticated);
  });

  it("ChangePassword compares new and current as they are hashed (NFKC): full-width is the same password", async () => {
    const signedIn = await client.signIn({ email: user.email, password: "a passphrase" });
    // U+FF41 and U+3000 are "a" and " " under NFKC: the stored password would not change.
    const refused = await rejection(client.changePassword({ currentPassword: "a passphrase", newPassword: "\uff41\u3000passphrase" }, bearer(signedIn.accessToken)));
    expect(refused.code).toBe(Code.InvalidArgument);
    expect(refused.rawMessage).toMatch(/must differ/);
  });

  it("a password change that commits while SignIn verifies the old password ends the session SignIn then creates", async () => {
    const read = users.findByEmail.bind(users);
    users.findByEmail = async (email) => {
      const found = await read(email);
      // The change commits and its cutoff is applied after SignIn read the old hash.
      clock.advance(1);
      await sessions.revokeCreatedBefore(user.id, clock.now());
      return found;
    };
    try {
      const raced = await client.signIn({ email: user.email, password: "a passphrase" });
      expect(await sessions.touch(raced.sessionId, user.id)).toBeUndefined();
      expect(await codeOf(client.refresh({ refreshToken: raced.refreshToken }))).toBe(Code.Unauthenticated);
    } finally {
      users.findByEmail = read;
    }
    clock.advance(1);
    const after = await client.signIn({ email: user.email, password: "a passphrase" });
    expect(await sessions.touch(after.sessionId, user.id)).toBeDefined();
  });

  it("RevokeSession ends only the caller's own sessions", async () => {
    const mine = await client.signIn({ email: user.email, password: "a passphrase" });
    const other = await client.signIn({ email: user.email, password: "a passphrase" });
    const stranger = await sessions.create({ userId: crypto.randomUUID(), userAgent: "", ip: "", secondFactor: false, emailVerified: false, fingerprint: undefined, provenAt: clock.now() });
    expect(await codeOf(client.revokeSession({ sessionId: stranger.session.id }, bearer(mine.accessToken)))).toBe(Code.NotFound);
    await client.revokeSession({ sessionId: other.sessionId }, bearer(mine.accessToken));
    const listed = await client.listSessions({}, bearer(mine.accessToken));
    expect(listed.sessions.map((s) => s.sessionId)).toContain(mine.sessionId);
    expect(listed.sessions.map((s) => s.sessionId)).not.toContain(other.sessionId);
    expect(await sessions.touch(stranger.session.id, stranger.session.userId)).toBeDefined();
  });
});
