import { randomBytes } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "../../gen/auth/admin/v1/admin_pb.js";
import { ADMIN_ROLE } from "../../contract/roles.js";
import { DomainError, invalidArgument } from "../../platform/errors.js";
import type { AuditTrail } from "../audit/audit-trail.js";
import type { RequestAudit } from "../audit/request-audit.js";
import type { Authenticator } from "../authenticate.js";
import type { MfaStore } from "../mfa/mfa-store.js";
import type { PasswordHasher } from "../passwords/password-hasher.js";
import type { RoleCopies } from "../roles/role-copies.js";
import type { RoleChange, RoleStore } from "../roles/role-store.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { UserStore } from "../users/user-store.js";
import {
  decodeUserCursor,
  encodeUserCursor,
  optionalEmailPrefix,
  optionalReason,
  optionalTime,
  optionalUserId,
  pageSize,
  requireRole,
  requireUserId,
} from "./admin-input.js";
import type { AdminStore, FoundUser } from "./admin-store.js";
import { auditPseudonym } from "./pseudonym.js";
import type { AccountRef } from "../lifecycle/account-writes.js";

export interface AdminServiceDeps {
  authenticator: Authenticator;
  users: Pick<UserStore, "findById">;
  roles: RoleStore;
  roleCopies: Pick<RoleCopies, "publish" | "drop">;
  store: AdminStore;
  sessions: Pick<SessionStore, "listForUser">;
  mfa: Pick<MfaStore, "disable">;
  trail: AuditTrail;
  audit: RequestAudit;
  hasher: Pick<PasswordHasher, "hash">;
  /** Deletes the account everywhere (user-erasure.ts). */
  erase(userId: string, pseudonym: string): Promise<AccountRef | undefined>;
  pseudonymKey: Buffer;
}

const RECENT_EVENTS = 50;

const noSuchUser = () => new DomainError("not_found", "no such user");

const userOut = (user: FoundUser) => ({
  id: user.id,
  email: user.email,
  emailVerified: user.emailVerified,
  disabled: user.disabled,
  createdAt: timestampFromDate(user.createdAt),
  roles: user.roles,
});

/**
 * auth.admin.v1.AdminService. Every call proves its caller first: a live session (the token alone is
 * not enough), an active account, and the admin role read from the primary, never from the token's
 * claim or a cache, so a removed admin is refused on their very next call. Every call is audited with
 * the admin's id (`details.admin`) under the subject's user id.
 */
export function createAdminService(deps: AdminServiceDeps): ServiceImpl<typeof AdminService> {
  const { store, audit } = deps;

  async function requireAdmin(ctx: HandlerContext): Promise<string> {
    const caller = await deps.authenticator.authenticate(ctx.requestHeader.get("authorization"));
    const user = await deps.users.findById(caller.userId);
    if (!user || user.disabled) throw new DomainError("unauthenticated", "account is not active");
    const roles = await deps.roles.current(caller.userId);
    if (!roles?.roles.includes(ADMIN_ROLE)) {
      await audit(ctx, { type: "admin.denied", userId: caller.userId, details: { method: ctx.method.name } });
      throw new DomainError("permission_denied", `the ${ADMIN_ROLE} role is required`);
    }
    return caller.userId;
  }

  const notSelf = (admin: string, userId: string, what: string) => {
    // Another admin must do it: no admin can lock every admin out by accident.
    if (admin === userId) throw new DomainError("failed_precondition", `an admin cannot ${what} their own account`);
  };

  /** The copy the gateways read follows the commit; a retry of the RPC publishes again if this failed. */
  async function published(userId: string, change: RoleChange | undefined): Promise<RoleChange> {
    if (!change) throw noSuchUser();
    await deps.roleCopies.publish(userId, change.current);
    return change;
  }

  return {
    async findUsers(req, ctx) {
      const admin = await requireAdmin(ctx);
      const filter = {
        emailPrefix: optionalEmailPrefix(req.emailPrefix),
        userId: optionalUserId(req.userId),
        createdAfter: optionalTime(req.createdAfter, "created_after"),
        createdBefore: optionalTime(req.createdBefore, "created_before"),
        after: decodeUserCursor(req.pageToken),
        limit: pageSize(req.pageSize),
      };
      if (filter.createdAfter && filter.createdBefore && filter.createdAfter >= filter.createdBefore) {
        throw invalidArgument("created_after must be before created_before");
      }
      const rows = await store.find({ ...filter, limit: filter.limit + 1 });
      const page = rows.slice(0, filter.limit);
      const last = page.at(-1);
      await audit(ctx, { type: "admin.users_found", details: { admin, found: page.length, ...(filter.emailPrefix ? { emailPrefix: filter.emailPrefix } : {}) } });
      return { users: page.map(userOut), nextPageToken: rows.length > filter.limit && last ? encodeUserCursor(last) : "" };
    },

    async getUser(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      const [user] = await store.find({ userId, emailPrefix: undefined, createdAfter: undefined, createdBefore: undefined, after: undefined, limit: 1 });
      if (!user) throw noSuchUser();
      const [sessions, factors, events] = await Promise.all([deps.sessions.listForUser(userId), store.factors(userId), deps.trail.listForUser(userId, { limit: RECENT_EVENTS })]);
      await audit(ctx, { type: "admin.user_viewed", userId, details: { admin } });
      return {
        user: userOut(user),
        sessions: sessions.map((s) => ({
          sessionId: s.id,
          userAgent: s.userAgent,
          ip: s.ip,
          createdAt: timestampFromDate(s.createdAt),
          lastSeenAt: timestampFromDate(s.lastSeenAt),
          expiresAt: timestampFromDate(s.expiresAt),
          acr: s.acr,
        })),
        factors,
        recentEvents: events.map((e) => ({ ...e, createdAt: timestampFromDate(e.createdAt) })),
      };
    },

    async disableUser(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      const reason = optionalReason(req.reason);
      notSelf(admin, userId, "disable");
      const done = await store.disable(userId);
      if (!done) throw noSuchUser();
      await audit(ctx, { type: "admin.user_disabled", userId, details: { admin, revokedSessions: done.revokedSessions ?? "pending", ...(reason ? { reason } : {}) } });
      return { revokedSessions: done.revokedSessions ?? 0 };
    },

    async enableUser(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      if (!(await store.enable(userId))) throw noSuchUser();
      await audit(ctx, { type: "admin.user_enabled", userId, details: { admin } });
      return {};
    },

    async forcePasswordReset(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      // A real argon2id hash of a secret nobody keeps: sign-in with any password fails in the usual time.
      const unusable = await deps.hasher.hash(randomBytes(32).toString("base64url"));
      const done = await store.forceReset(userId, unusable);
      if (!done) throw noSuchUser();
      if (done === "disabled") throw new DomainError("failed_precondition", "the account is disabled; enable it first");
      await audit(ctx, { type: "admin.password_reset_forced", userId, details: { admin, revokedSessions: done.revokedSessions ?? "pending" } });
      return { revokedSessions: done.revokedSessions ?? 0 };
    },

    async removeSecondFactor(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      const user = await deps.users.findById(userId);
      if (!user) throw noSuchUser();
      // Passkeys too: each is a second factor, and signs in alone besides.
      const passkeys = await store.removePasskeys(user.id);
      const removed = (await deps.mfa.disable({ id: user.id, email: user.email })) || passkeys > 0;
      await audit(ctx, { type: "admin.second_factor_removed", userId, details: { admin, removed, passkeys } });
      return { removed };
    },

    async deleteUser(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      notSelf(admin, userId, "delete");
      const pseudonym = auditPseudonym(deps.pseudonymKey, userId);
      if (!(await deps.erase(userId, pseudonym))) throw noSuchUser();
      // Under the pseudonym, as the rest of the erased user's trail now is.
      await audit(ctx, { type: "admin.user_deleted", details: { admin, subject: pseudonym } });
      return {};
    },

    async grantRole(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      const role = requireRole(req.role);
      const change = await published(userId, await deps.roles.grant(userId, role, admin));
      await audit(ctx, { type: "admin.role_granted", userId, details: { admin, role, changed: change.changed } });
      return { roles: change.current.roles };
    },

    async revokeRole(req, ctx) {
      const admin = await requireAdmin(ctx);
      const userId = requireUserId(req.userId);
      const role = requireRole(req.role);
      if (role === ADMIN_ROLE) notSelf(admin, userId, `remove the ${ADMIN_ROLE} role from`);
      // Fail closed: the gateways' copy goes first, so a publish lost after the commit cannot keep the role alive.
      await deps.roleCopies.drop(userId);
      const change = await deps.roles.revoke(userId, role);
      if (!change) throw noSuchUser();
      // Recorded once committed, whether or not the copy can be refilled now.
      await audit(ctx, { type: "admin.role_revoked", userId, details: { admin, role, changed: change.changed } });
      await published(userId, change);
      return { roles: change.current.roles };
    },
  };
}
