import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AuthService } from "../gen/auth/v1/auth_pb.js";
import { DomainError, invalidArgument, invalidCredentials } from "../platform/errors.js";
import type { Logger } from "../platform/log.js";
import { kRequestMeta } from "../platform/request-context.js";
import type { AuditEvent, AuditLog } from "./audit/audit-log.js";
import type { Authenticator } from "./authenticate.js";
import { normalizeEmail } from "./email.js";
import type { PasswordHasher } from "./passwords/password-hasher.js";
import { MAX_PASSWORD_LENGTH, type PasswordPolicy } from "./passwords/password-policy.js";
import { SESSION_ID_FORMAT } from "./sessions/refresh-token.js";
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
  audit: AuditLog;
  log: Logger;
}

// A password is hashed only after this cheap bound, so huge inputs cannot buy CPU time.
const MAX_PASSWORD_BYTES = MAX_PASSWORD_LENGTH * 4;

function requirePassword(field: string, value: string): string {
  if (value === "") throw invalidArgument(`${field} is required`);
  if (Buffer.byteLength(value) > MAX_PASSWORD_BYTES) throw invalidArgument(`${field} must be at most ${MAX_PASSWORD_LENGTH} characters`);
  return value;
}

export function createAuthService(deps: AuthServiceDeps): ServiceImpl<typeof AuthService> {
  const { users, sessions, tokens, authenticator, hasher, policy, log } = deps;

  async function audit(ctx: HandlerContext, event: AuditEvent): Promise<void> {
    const meta = ctx.values.get(kRequestMeta);
    try {
      await deps.audit.record({ ip: meta.ip, userAgent: meta.userAgent, requestId: meta.requestId, ...event });
    } catch (error) {
      // The request's own outcome stands; a lost audit row is loud in the logs instead.
      log.error({ err: error, event: event.type, requestId: meta.requestId }, "audit write failed");
    }
  }

  const caller = (ctx: HandlerContext) => authenticator.authenticate(ctx.requestHeader.get("authorization"));

  async function tokenPair(issued: IssuedRefresh) {
    const access = await tokens.issue(issued.session.userId, issued.session.id);
    return {
      accessToken: access.token,
      refreshToken: issued.refreshToken,
      sessionId: issued.session.id,
      accessTokenExpiresAt: timestampFromDate(access.expiresAt),
      refreshTokenExpiresAt: timestampFromDate(issued.refreshExpiresAt),
      tokenType: "Bearer",
    };
  }

  return {
    async signUp(req, ctx) {
      const email = normalizeEmail(req.email);
      policy.check(requirePassword("password", req.password));
      // Hash before knowing whether the email is taken: both answers cost the same.
      const hash = await hasher.hash(req.password);
      const result = await users.create(email, hash);
      if (result.created && result.user) await audit(ctx, { type: "signup", userId: result.user.id });
      return {};
    },

    async signIn(req, ctx) {
      const email = normalizeEmail(req.email);
      const password = requirePassword("password", req.password);
      const user = await users.findByEmail(email);
      if (!user || user.disabled) {
        await hasher.verifyDummy(password);
        await audit(ctx, { type: "signin.failure", userId: user?.id, details: { reason: user ? "disabled" : "unknown_email" } });
        throw invalidCredentials();
      }
      if (!(await hasher.verify(user.passwordHash, password))) {
        await audit(ctx, { type: "signin.failure", userId: user.id, details: { reason: "wrong_password" } });
        throw invalidCredentials();
      }
      if (hasher.needsRehash(user.passwordHash)) {
        const upgraded = await hasher.hash(password);
        if (await users.replacePasswordHash(user.id, user.passwordHash, upgraded)) {
          await audit(ctx, { type: "password.rehash", userId: user.id });
        }
      }
      const meta = ctx.values.get(kRequestMeta);
      const issued = await sessions.create({ userId: user.id, userAgent: meta.userAgent, ip: meta.ip });
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
      const user = await users.findById(who.userId);
      if (!user || user.disabled) throw new DomainError("unauthenticated", "account is not active");
      return {
        user: { id: user.id, email: user.email, emailVerified: user.emailVerified, createdAt: timestampFromDate(user.createdAt) },
      };
    },

    async changePassword(req, ctx) {
      const who = await caller(ctx);
      const current = requirePassword("current_password", req.currentPassword);
      const next = requirePassword("new_password", req.newPassword);
      const user = await users.findById(who.userId);
      if (!user || user.disabled) throw new DomainError("unauthenticated", "account is not active");
      if (!(await hasher.verify(user.passwordHash, current))) {
        await audit(ctx, { type: "signin.failure", userId: user.id, details: { reason: "wrong_current_password", during: "change_password" } });
        throw new DomainError("permission_denied", "current password is incorrect");
      }
      policy.check(next);
      if (next === current) throw invalidArgument("new_password must differ from current_password");
      const hash = await hasher.hash(next);
      if (!(await users.replacePasswordHash(user.id, user.passwordHash, hash))) {
        throw new DomainError("failed_precondition", "password was changed concurrently; retry");
      }
      const revokedSessions = await sessions.revokeAllForUser(user.id, who.sessionId);
      await audit(ctx, { type: "password.change", userId: user.id, details: { revokedSessions } });
      return { revokedSessions };
    },
  };
}
