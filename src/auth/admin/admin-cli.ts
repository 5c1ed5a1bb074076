import { userInfo } from "node:os";
import { ADMIN_ROLE } from "../../contract/roles.js";
import { systemClock } from "../../platform/clock.js";
import { createDb } from "../../platform/db.js";
import { DomainError } from "../../platform/errors.js";
import { createRedis, redisReady } from "../../platform/redis.js";
import { createDurableWrites } from "../../platform/redis-durable.js";
import { createReplicaReads } from "../../platform/replica-reads.js";
import type { AuditEvent } from "../audit/audit-log.js";
import { createPgAuditLog } from "../audit/pg-audit-log.js";
import type { AuthConfig } from "../config.js";
import { normalizeEmail } from "../email.js";
import { createMailTemplates } from "../mail/templates.js";
import { createPgRoleStore } from "../roles/pg-role-store.js";
import { createRoleCopies } from "../roles/role-copies.js";
import { createRedisSessionStore } from "../sessions/redis-session-store.js";
import { createSessionRevocations } from "../sessions/session-revocations.js";
import { createCachedUserStore } from "../users/cached-user-store.js";
import { createPgUserStore } from "../users/pg-user-store.js";
import { createUserWritten } from "../users/user-written.js";
import type { Logger } from "../../platform/log.js";
import { requireRole } from "./admin-input.js";
import { composeAdminStore } from "./compose-admin.js";
import { auditPseudonym } from "./pseudonym.js";

export const ADMIN_USAGE = `usage: npm run admin -- <command>
  grant-role EMAIL ROLE     give the account a role (the first admin: grant-role EMAIL ${ADMIN_ROLE})
  revoke-role EMAIL ROLE    take a role away
  disable-user EMAIL        end every session and token now; no sign-in, refresh or reset until enabled
  enable-user EMAIL         let a disabled account sign in again
  delete-user EMAIL         erase the account's personal data; its audit trail stays, pseudonymised
Talks to Postgres (DATABASE_URL, the primary) and Redis (REDIS_URL) directly, as the auth service does.`;

export class UsageError extends Error {}

/** Who ran the command; a container's uid may have no passwd entry, and then its number says it. */
function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? "unknown"}`;
  }
}

const COMMANDS: Record<string, number> = { "grant-role": 2, "revoke-role": 2, "disable-user": 1, "enable-user": 1, "delete-user": 1 };

/**
 * The operator's side door: no admin exists before the first is granted, so this needs no admin, only
 * what the service itself needs (the database and Redis). Each change goes through the same store code
 * as the Admin API, and is audited as `via: cli` with the operating-system user who ran it.
 */
export interface AdminCommand {
  command: string;
  email: string;
  role: string | undefined;
}

/** The command line, checked before any configuration is read or connection made. */
export function parseAdminCommand(args: readonly string[]): AdminCommand {
  const [command = "", ...rest] = args;
  const arity = COMMANDS[command];
  if (arity === undefined || rest.length !== arity) throw new UsageError(command === "" ? "no command given" : arity === undefined ? `unknown command "${command}"` : `${command} takes ${arity === 1 ? "EMAIL" : "EMAIL ROLE"}`);
  return { command, email: normalizeEmail(rest[0] ?? ""), role: arity === 2 ? requireRole(rest[1] ?? "") : undefined };
}

export async function runAdminCommand({ command, email, role }: AdminCommand, config: AuthConfig, log: Logger): Promise<string> {

  const db = createDb({ writeUrl: config.databaseUrl, readUrl: config.databaseReplicaUrl, onError: (error) => log.warn({ err: error }, "database connection lost") });
  const redis = createRedis(config.redis, { onError: (error) => log.warn({ err: error.message }, "redis error") });
  try {
    await redisReady(redis, config.redis);
    const clock = systemClock;
    const primary = db.write;
    // Durable as the service writes them (a replica acknowledges on a cluster); one client is enough for one command.
    const sessions = createRedisSessionStore({ redis, durable: createDurableWrites(redis, config.redisDurability), clock, idleTtlMs: config.sessionIdleTtlMs, absoluteTtlMs: config.sessionAbsoluteTtlMs, reuseGraceMs: 2_000 });
    // The CLI reads only the primary: every read here decides a change.
    const pgUsers = createPgUserStore(primary, createReplicaReads({ write: primary, read: primary, redis, log }));
    const users = createCachedUserStore({ inner: pgUsers, redis, ttlMs: config.userCacheTtlMs, profiles: config.profileCache });
    // Its writes still mark read-your-writes as the service's do (the replica pool is never queried here),
    // so a service's next profile read of that user, and the cache it fills, come after the change.
    const userWritten = createUserWritten({ ownReads: createReplicaReads({ write: primary, read: db.read, redis, log }), users });
    const roles = createPgRoleStore(primary);
    const roleCopies = createRoleCopies({ redis, store: roles, ttlMs: config.sessionAbsoluteTtlMs });
    const { store, erase } = composeAdminStore({
      primary,
      redis,
      clock,
      sessions,
      users,
      roles,
      roleCopies,
      revocations: createSessionRevocations({ primary, sessions, clock, log }),
      templates: createMailTemplates({ publicBaseUrl: config.shared.publicBaseUrl }),
      resetTokenTtlMs: config.resetTokenTtlMs,
      userWritten,
    });
    const auditLog = createPgAuditLog(primary);
    const audited = (event: AuditEvent) => auditLog.record({ ...event, details: { via: "cli", operator: operator(), ...event.details } });

    const user = await users.findByEmail(email);
    if (!user) throw new DomainError("not_found", `no account has the address ${email}`);
    switch (command) {
      case "grant-role":
      case "revoke-role": {
        // Taking a role away drops the gateways' copy first, as the Admin API does (role-copies.ts).
        if (command === "revoke-role") await roleCopies.drop(user.id);
        const change = command === "grant-role" ? await roles.grant(user.id, role!, undefined) : await roles.revoke(user.id, role!);
        if (!change) throw new DomainError("not_found", `no account has the address ${email}`);
        await audited({ type: command === "grant-role" ? "admin.role_granted" : "admin.role_revoked", userId: user.id, details: { role, changed: change.changed } });
        await roleCopies.publish(user.id, change.current);
        return `${email}: roles ${change.current.roles.join(", ") || "(none)"}${change.changed ? "" : " (unchanged)"}`;
      }
      case "disable-user": {
        const done = await store.disable(user.id);
        if (!done) throw new DomainError("not_found", `no account has the address ${email}`);
        await audited({ type: "admin.user_disabled", userId: user.id, details: { revokedSessions: done.revokedSessions ?? "pending" } });
        return `${email}: disabled; ${done.revokedSessions ?? "pending (applied by the auth service's sweep)"} sessions ended`;
      }
      case "enable-user": {
        if (!(await store.enable(user.id))) throw new DomainError("not_found", `no account has the address ${email}`);
        await audited({ type: "admin.user_enabled", userId: user.id });
        return `${email}: enabled`;
      }
      default: {
        const pseudonym = auditPseudonym(config.auditPseudonymKey, user.id);
        if (!(await erase(user.id, pseudonym))) throw new DomainError("not_found", `no account has the address ${email}`);
        await audited({ type: "admin.user_deleted", details: { subject: pseudonym } });
        return `${email}: deleted; audit trail kept as ${pseudonym}`;
      }
    }
  } finally {
    await redis.quit().catch(() => redis.disconnect());
    await db.close();
  }
}
