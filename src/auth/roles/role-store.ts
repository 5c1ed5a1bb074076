import type { UserRoles } from "../../contract/session-record.js";
import type { Queryable } from "../../platform/transaction.js";

/** A role change as committed: whether it changed anything, and the user's roles after it. */
export interface RoleChange {
  changed: boolean;
  current: UserRoles;
}

/**
 * The roles of each user, in Postgres (the truth); every change raises the user's roles version in
 * its transaction, so copies elsewhere can tell a newer set from an older one.
 */
export interface RoleStore {
  /** The user's roles from the primary; undefined when there is no such user. */
  current(userId: string): Promise<UserRoles | undefined>;
  /** Grants in the caller's transaction (or its own); undefined when there is no such user. */
  grant(userId: string, role: string, grantedBy: string | undefined, tx?: Queryable): Promise<RoleChange | undefined>;
  revoke(userId: string, role: string, tx?: Queryable): Promise<RoleChange | undefined>;
}
