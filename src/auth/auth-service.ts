import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import { DomainError, invalidArgument, invalidCredentials } from "../platform/errors.js";
import { kRequestMeta } from "../platform/request-context.js";
import type { AbuseProtection } from "./abuse/abuse-protection.js";
import { retryLater } from "./abuse/retry-later.js";
import type { RequestAudit } from "./audit/request-audit.js";
import { activeCaller } from "./active-caller.js";
import type { Authenticator } from "./authenticate.js";
import { normalizeEmail } from "./email.js";
import type { PasswordHasher } from "./passwords/password-hasher.js";
import type { PasswordPolicy } from "./passwords/password-policy.js";
import type { RecentProof } from "./recent-proof.js";
import { normalizePassword } from "./passwords/normalize-password.js";
import { requirePassword } from "./passwords/require-password.js";
import type { AccountWrites } from "./lifecycle/account-writes.js";
import type { SecondFactor } from "./mfa/second-factor.js";
import type { SignInChallenges } from "./mfa/sign-in-challenges.js";
import { tokenPair as pairFor } from "./tokens/token-pair.js";
import { SESSION_ID_FORMAT } from "../contract/session-secret.js";
import type { Clock } from "../platform/clock.js";
import { sessionOpenedBy, type DeviceOf } from "./sessions/device-of.js";
import type { IssuedRefresh, SessionStore } from "./sessions/session-store.js";
import type { AccessTokens } from "./tokens/access-tokens.js";
import type { UserStore } from "./users/user-store.js";

export interface AuthServiceDeps {
  users: UserStore;
  sessions: SessionStore;
  tokens: AccessTokens;
  authenticator: Authenticator;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  audit: RequestAudit;
  abuse: AbuseProtection;
  accounts: AccountWrites;
  secondFactor: Pick<SecondFactor, "required">;
  challenges: Pick<SignInChallenges, "create">;
  deviceOf: DeviceOf;
  recentProof: RecentProof;
  clock: Clock;
}

/** The RPCs of the auth core; account lifecycle and MFA handlers live beside their domains. */
export type CoreHandlers = Pick<
  ServiceImpl<typeof AuthService>,
  "signUp" | "signIn" | "refresh" | "signOut" | "signOutAll" | "listSessions" | "revokeSession" | "getMe" | "changePassword"
>;

export function createAuthService(deps: AuthServiceDeps): CoreHandlers {
  const { users, sessions, tokens, authenticator, hasher, policy, abuse, accounts, audit } = deps;

  const caller = (ctx: HandlerContext) => authenticator.authenticate(ctx.requestHeader.get("authorization"));

  const tokenPair = (issued: IssuedRefresh) => pairFor(tokens, issued);

  return {
    async signUp(req, ctx) {
      const email = normalizeEmail(req.email);
      const password = requirePassword("password", req.password);
      policy.check(password);
      await abuse.signUpIp.consume(ctx, ctx.values.get(kRequestMeta).ip);
      // Either answer mails this address (a link or a notice to its owner) on the caller's say-so: it spends
      // the recipient's budget, keyed on the address whether or not it is taken, so the limit tells nothing.
      await abuse.mailAccount.consume(ctx, email);
      // The breached-corpus lookup (if configured) only after the budgets: it is an outbound request.
      await policy.assess(password);
      // Hash before knowing whether the email is taken: both answers cost the same.
      const hash = await hasher.hash(req.password);
      // Either branch commits one transaction with one mail (verification, or a notice to the owner).
      const result = await accounts.register(email, hash);
      await audit(ctx, result.account ? { type: "signup", userId: result.account.id } : { type: "signup.existing_email" });
      return {};
    },

    async signIn(req, ctx) {
      const email = normalizeEmail(req.email);
      const password = requirePassword("password", req.password);
      const meta = ctx.values.get(kRequestMeta);
      await abuse.signInIp.check(ctx, meta.ip);
      // Before the password is read: a password change committing while this sign-in verifies the
      // old one then cuts off the session it creates (NewSession.provenAt).
      const provenAt = deps.clock.now();
      const user = await users.findByEmail(email);
      // Before any hashing, so a locked account costs no CPU; keyed on the email, so unknown ones lock alike.
      const lockedMs = await abuse.lockout.lockedFor(email, meta.ip);
      if (lockedMs === "capped") {
        await audit(ctx, { type: "signin.failure", userId: user?.id, details: { reason: "capped" } });
        throw new DomainError("resource_exhausted", "too many failed sign-ins; reset the password to sign in again");
      }
      if (lockedMs > 0) {
        await audit(ctx, { type: "signin.failure", userId: user?.id, details: { reason: "locked" } });
        throw retryLater(ctx, lockedMs);
      }
      const failed = async (reason: string, userId: string | undefined) => {
        await audit(ctx, { type: "signin.failure", userId, details: { reason } });
        await abuse.signInIp.penalize(meta.ip);
        const lockMs = await abuse.lockout.recordFailure(email);
        if (lockMs > 0) await audit(ctx, { type: "signin.locked", userId, details: { lockSeconds: Math.ceil(lockMs / 1000) } });
        return invalidCredentials();
      };
      if (!user || user.disabled) {
        await hasher.verifyDummy(password);
        throw await failed(user ? "disabled" : "unknown_email", user?.id);
      }
      if (!(await hasher.verify(user.passwordHash, password))) {
        throw await failed("wrong_password", user.id);
      }
      // The row may be a cached copy that a password change or a disable failed to drop: a
      // credential that verified must still be the account's on the primary.
      if (!(await users.holdsCredential(user, user.passwordHash))) {
        throw await failed("replaced_password", user.id);
      }
      if (hasher.needsRehash(user.passwordHash)) {
        const upgraded = await hasher.hash(password);
        if (await users.replacePasswordHash(user, user.passwordHash, upgraded)) {
          await audit(ctx, { type: "password.rehash", userId: user.id });
        }
      }
      if (await deps.secondFactor.required(user.id)) {
        // No tokens yet: the lockout and known-device record wait for the second factor too.
        const mfaChallenge = await deps.challenges.create({ userId: user.id, email, provenAt });
        await audit(ctx, { type: "mfa.challenge", userId: user.id });
        return { mfaRequired: true, mfaChallenge };
      }
      await abuse.lockout.recordSuccess(email, meta.ip);
      const issued = await sessions.create(sessionOpenedBy(meta, deps.deviceOf, { userId: user.id, secondFactor: false, emailVerified: user.emailVerified, provenAt }));
      await audit(ctx, { type: "signin.success", userId: user.id, details: { sessionId: issued.session.id } });
      return tokenPair(issued);
    },

    async refresh(req, ctx) {
      if (req.refreshToken === "") throw invalidArgument("refresh_token is required");
      const rotated = await sessions.rotate(req.refreshToken);
      if (rotated.outcome === "reused") {
        // OAuth 2.0 Security BCP 4.14.2: a rotated token coming back means theft; end the whole family.
        await sessions.revoke(rotated.sessionId, rotated.userId);
        await audit(ctx, { type: "refresh.reuse", userId: rotated.userId, details: { sessionId: rotated.sessionId } });
        throw new DomainError("unauthenticated", "refresh token was already used; the session has been revoked");
      }
      if (rotated.outcome !== "ok") throw new DomainError("unauthenticated", "invalid refresh token");
      return tokenPair(rotated);
    },

    async signOut(_req, ctx) {
      const who = await caller(ctx);
      await sessions.revoke(who.sessionId, who.userId);
      await audit(ctx, { type: "session.revoke", userId: who.userId, details: { sessionId: who.sessionId, by: "sign_out" } });
      return {};
    },

    async signOutAll(_req, ctx) {
      const who = await caller(ctx);
      const revoked = await sessions.revokeAllForUser(who.userId);
      await audit(ctx, { type: "session.revoke_all", userId: who.userId, details: { revoked } });
      return { revoked };
    },

    async listSessions(_req, ctx) {
      const who = await caller(ctx);
      const list = await sessions.listForUser(who.userId);
      return {
        sessions: list.map((s) => ({
          sessionId: s.id,
          userAgent: s.userAgent,
          ip: s.ip,
          createdAt: timestampFromDate(s.createdAt),
          lastSeenAt: timestampFromDate(s.lastSeenAt),
          expiresAt: timestampFromDate(s.expiresAt),
          current: s.id === who.sessionId,
        })),
      };
    },

    async revokeSession(req, ctx) {
      const who = await caller(ctx);
      if (!SESSION_ID_FORMAT.test(req.sessionId)) throw invalidArgument("session_id is not a valid session id");
      if (!(await sessions.revoke(req.sessionId, who.userId))) throw new DomainError("not_found", "no such session");
      await audit(ctx, { type: "session.revoke", userId: who.userId, details: { sessionId: req.sessionId, by: "revoke_session" } });
      return {};
    },

    async getMe(_req, ctx) {
      const who = await caller(ctx);
      // The caller's own profile: may come from a replica (read-your-writes); the live session above is the access check.
      const user = await users.findProfile(who.userId);
      if (!user || user.disabled) throw new DomainError("unauthenticated", "account is not active");
      return {
        user: { id: user.id, email: user.email, emailVerified: user.emailVerified, createdAt: timestampFromDate(user.createdAt) },
      };
    },

    async changePassword(req, ctx) {
      const caller = await activeCaller(deps, ctx);
      const { user, sessionId } = caller;
      const current = requirePassword("current_password", req.currentPassword);
      const next = requirePassword("new_password", req.newPassword);
      await deps.recentProof.require(ctx, caller, current, "change_password");
      await policy.assess(next);
      if (normalizePassword(next) === normalizePassword(current)) throw invalidArgument("new_password must differ from current_password");
      const hash = await hasher.hash(next);
      // The other sessions end with this commit, applied now or, if Redis fails, by the sweep (session-revocations.ts).
      const changed = await accounts.changePassword(user, user.passwordHash, hash, sessionId);
      if (!changed) throw new DomainError("failed_precondition", "password was changed concurrently; retry");
      await audit(ctx, { type: "password.change", userId: user.id, details: { revokedSessions: changed.revokedSessions ?? "pending" } });
      return { revokedSessions: changed.revokedSessions ?? 0 };
    },
  };
}
