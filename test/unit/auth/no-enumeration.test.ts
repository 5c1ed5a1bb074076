import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import argon2 from "argon2";
import { describe, expect, it, vi } from "vitest";
import type { AbuseProtection } from "../../../src/auth/abuse/abuse-protection.js";
import type { AuditEvent } from "../../../src/auth/audit/audit-log.js";
import type { AccountWrites } from "../../../src/auth/lifecycle/account-writes.js";
import type { SignInChallenges } from "../../../src/auth/mfa/sign-in-challenges.js";
import type { RecentProof } from "../../../src/auth/recent-proof.js";
import { createAuthService } from "../../../src/auth/auth-service.js";
import { createLifecycleService } from "../../../src/auth/lifecycle/lifecycle-service.js";
import type { Authenticator } from "../../../src/auth/authenticate.js";
import { createPasswordHasher, type PasswordHasher } from "../../../src/auth/passwords/password-hasher.js";
import { createPasswordPolicy } from "../../../src/auth/passwords/password-policy.js";
import type { SessionStore } from "../../../src/auth/sessions/session-store.js";
import type { AccessTokens } from "../../../src/auth/tokens/access-tokens.js";
import { createMemoryUserStore, type MemoryUserStore } from "../../../src/auth/users/memory-user-store.js";
import { systemClock } from "../../../src/platform/clock.js";
import { AuthService } from "../../../src/gen/auth/v1/auth_pb.js";
import { createErrorInterceptor } from "../../../src/platform/interceptors.js";
import { createLogger } from "../../../src/platform/log.js";

/** Counts the expensive operations, which is what an attacker's stopwatch measures. */
function counting(inner: PasswordHasher) {
  const calls = { hash: 0, verify: 0, verifyDummy: 0 };
  const hasher: PasswordHasher = {
    hash: (p) => (calls.hash++, inner.hash(p)),
    verify: (h, p) => (calls.verify++, inner.verify(h, p)),
    verifyDummy: (p) => (calls.verifyDummy++, inner.verifyDummy(p)),
    needsRehash: (h) => inner.needsRehash(h),
  };
  return { hasher, calls };
}

/** Budgets that never run out: these cases are about the work done, not about limits. */
function unlimited(): AbuseProtection {
  const limiter = { consume: async () => {}, check: async () => {}, penalize: async () => {} };
  const lockout = { lockedFor: async () => 0, recordFailure: async () => 0, recordSuccess: async () => {}, clear: async () => {} };
  return { signInIp: limiter, lockout, signUpIp: limiter, mailAccount: limiter, mailReset: limiter, mailIp: limiter, tokenIp: limiter, mfaAccount: limiter };
}

/** Registration over the same memory store; the mail it would queue is not what these cases measure. */
function accountsOver(users: MemoryUserStore): AccountWrites {
  const none = () => Promise.reject(new Error("not used on these paths"));
  return {
    async register(email, passwordHash) {
      if (await users.findByEmail(email)) return { created: false };
      const user = { id: crypto.randomUUID(), email, emailVerified: false, passwordHash, disabled: false, createdAt: new Date() };
      users.add(user);
      return { created: true, account: user };
    },
    changePassword: none,
    requestVerification: none,
    requestEmailChange: none,
    verifyEmail: none,
    requestReset: none,
    resetPassword: none,
  };
}

const unused = new Proxy({}, { get: () => () => Promise.reject(new Error("not used on these paths")) });

describe("no user enumeration (answers and work done)", async () => {
  const { hasher, calls } = counting(await createPasswordHasher({ memoryKiB: 1024, iterations: 1, parallelism: 1 }));
  const audit: AuditEvent[] = [];
  const users = createMemoryUserStore();
  const service = createAuthService({
    users,
    sessions: unused as SessionStore,
    tokens: unused as AccessTokens,
    authenticator: unused as Authenticator,
    hasher,
    policy: createPasswordPolicy(new Set()),
    audit: async (_ctx, e) => void audit.push(e),
    abuse: unlimited(),
    accounts: accountsOver(users),
    deviceOf: () => undefined,
    secondFactor: { required: async () => false },
    challenges: unused as SignInChallenges,
    recentProof: unused as RecentProof,
    clock: systemClock,
  });
  const transport = createRouterTransport(({ service: register }) => register(AuthService, service), {
    router: { interceptors: [createErrorInterceptor(createLogger("silent"))] },
  });
  const client = createClient(AuthService, transport);
  const reset = () => Object.assign(calls, { hash: 0, verify: 0, verifyDummy: 0 });

  it("SignUp for a taken email answers the same and hashes exactly as much as a new one", async () => {
    reset();
    const fresh = await client.signUp({ email: "taken@example.com", password: "first passphrase" });
    const freshCalls = { ...calls };
    reset();
    const again = await client.signUp({ email: "TAKEN@example.com", password: "second passphrase" });
    expect(again).toEqual(fresh);
    expect(calls).toEqual(freshCalls);
    expect(calls.hash).toBe(1);
  });

  it("SignIn with an unknown email costs one argon2 verify, like a wrong password", async () => {
    await client.signUp({ email: "known@example.com", password: "right passphrase" });
    const failure = async (email: string) => {
      reset();
      try {
        await client.signIn({ email, password: "wrong passphrase" });
      } catch (error) {
        return { error: ConnectError.from(error), work: calls.verify + calls.verifyDummy };
      }
      throw new Error("sign-in should fail");
    };
    const wrong = await failure("known@example.com");
    const unknown = await failure("unknown@example.com");
    expect(wrong.error.code).toBe(Code.Unauthenticated);
    expect(unknown.error.code).toBe(Code.Unauthenticated);
    expect(unknown.error.rawMessage).toBe(wrong.error.rawMessage);
    expect(wrong.work).toBe(1);
    expect(unknown.work).toBe(1);
  });

  it("SignIn to an account with no password (made by a social sign-in) costs one argon2 verify, like a wrong password", async () => {
    await client.signUp({ email: "haspassword@example.com", password: "right passphrase" });
    users.add({ id: crypto.randomUUID(), email: "social@example.com", emailVerified: true, passwordHash: "", disabled: false, createdAt: new Date() });
    // Counted beneath the hasher, as hashes argon2 actually computed: it refuses an unreadable one at once, which is the leak.
    const real = argon2.verify.bind(argon2);
    let computed = 0;
    const spy = vi.spyOn(argon2, "verify").mockImplementation(async (...args) => {
      const matched = await real(...args);
      computed++;
      return matched;
    });
    const failure = async (email: string) => {
      computed = 0;
      const error = await client.signIn({ email, password: "some passphrase" }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      return { error, computed };
    };
    try {
      const wrong = await failure("haspassword@example.com");
      const passwordless = await failure("social@example.com");
      expect(passwordless.error?.code).toBe(Code.Unauthenticated);
      expect(passwordless.error?.rawMessage).toBe(wrong.error?.rawMessage);
      expect(wrong.computed).toBe(1);
      expect(passwordless.computed).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });
});

describe("no user enumeration: RequestPasswordReset does the same work for any address", async () => {
  const users = createMemoryUserStore();
  users.add({ id: crypto.randomUUID(), email: "known@example.com", emailVerified: true, passwordHash: "x", disabled: false, createdAt: new Date() });
  const calls: string[] = [];
  const countingUsers = new Proxy(users, {
    get: (target, prop, receiver) => {
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? (...args: unknown[]) => (calls.push(`users.${String(prop)}`), value.apply(target, args)) : value;
    },
  });
  const accounts = new Proxy({} as AccountWrites, {
    get: (_target, prop) => async (email: string) => {
      calls.push(`accounts.${String(prop)}`);
      const user = await users.findByEmail(email);
      return user && { id: user.id, email: user.email };
    },
  });
  const service = createLifecycleService({
    users: countingUsers,
    accounts,
    sessions: unused as SessionStore,
    authenticator: unused as Authenticator,
    hasher: unused as PasswordHasher,
    policy: createPasswordPolicy(new Set()),
    abuse: unlimited(),
    audit: async () => {},
    recentProof: unused as RecentProof,
  });
  const client = createClient(
    AuthService,
    createRouterTransport(({ service: register }) => register(AuthService, service), {
      router: { interceptors: [createErrorInterceptor(createLogger("silent"))] },
    }),
  );

  it("one write call, and no lookup that only one path would make, for a known and an unknown email", async () => {
    calls.length = 0;
    const known = await client.requestPasswordReset({ email: "known@example.com" });
    const knownCalls = [...calls];
    calls.length = 0;
    const unknown = await client.requestPasswordReset({ email: "unknown@example.com" });
    expect(unknown).toEqual(known);
    expect(calls).toEqual(knownCalls);
    expect(calls).toEqual(["accounts.requestReset"]);
  });
});
