import type { RedisClient } from "../../platform/redis.js";
import type pg from "pg";
import type { Clock } from "../../platform/clock.js";
import type { AuditTrail } from "../audit/audit-trail.js";
import type { RequestAudit } from "../audit/request-audit.js";
import type { Authenticator } from "../authenticate.js";
import type { AccountRef } from "../lifecycle/account-writes.js";
import type { MailTemplates } from "../mail/templates.js";
import type { MfaStore } from "../mfa/mfa-store.js";
import type { PasswordHasher } from "../passwords/password-hasher.js";
import type { RoleCopies } from "../roles/role-copies.js";
import type { RoleStore } from "../roles/role-store.js";
import type { SessionRevocations } from "../sessions/session-revocations.js";
import type { SessionStore } from "../sessions/session-store.js";
import type { CachedUserStore } from "../users/cached-user-store.js";
import { createAdminService } from "./admin-service.js";
import type { AdminStore } from "./admin-store.js";
import { createPgAdminStore } from "./pg-admin-store.js";
import { eraseUser } from "./user-erasure.js";

export interface AdminParts {
  primary: pg.Pool;
  redis: RedisClient;
  clock: Clock;
  sessions: SessionStore;
  users: CachedUserStore;
  roles: RoleStore;
  roleCopies: RoleCopies;
  revocations: Pick<SessionRevocations, "record" | "apply">;
  templates: MailTemplates;
  resetTokenTtlMs: number;
  /** As the owner's writes do (app.ts): drops the cached row and marks the write for read-your-writes. */
  userWritten(account: AccountRef): Promise<void>;
}

/** The admin store and erasure over the service's own parts: what the RPCs and the CLI both act through. */
export function composeAdminStore(parts: AdminParts): { store: AdminStore; erase(userId: string, pseudonym: string): Promise<AccountRef | undefined> } {
  const store = createPgAdminStore({ primary: parts.primary, revocations: parts.revocations, templates: parts.templates, resetTokenTtlMs: parts.resetTokenTtlMs, userWritten: parts.userWritten });
  return {
    store,
    erase: (userId, pseudonym) => eraseUser({ redis: parts.redis, store, sessions: parts.sessions, users: parts.users, roles: parts.roleCopies, clock: parts.clock }, userId, pseudonym),
  };
}

export function composeAdminService(
  parts: AdminParts & { authenticator: Authenticator; mfa: Pick<MfaStore, "disable">; trail: AuditTrail; audit: RequestAudit; hasher: Pick<PasswordHasher, "hash">; pseudonymKey: Buffer },
) {
  const { store, erase } = composeAdminStore(parts);
  return createAdminService({
    authenticator: parts.authenticator,
    users: parts.users,
    roles: parts.roles,
    roleCopies: parts.roleCopies,
    store,
    sessions: parts.sessions,
    mfa: parts.mfa,
    trail: parts.trail,
    audit: parts.audit,
    hasher: parts.hasher,
    erase,
    pseudonymKey: parts.pseudonymKey,
  });
}
