import type pg from "pg";
import type { UserRoles } from "../../contract/session-record.js";
import { withTransaction, type Queryable } from "../../platform/transaction.js";
import type { RoleChange, RoleStore } from "./role-store.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// One statement: a token issue whose Redis copy is missing pays one round trip for it.
async function read(db: Queryable, userId: string, lock: boolean): Promise<UserRoles | undefined> {
  const result = await db.query<{ roles_version: string; roles: string[] }>(
    `SELECT u.roles_version, ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id ORDER BY r.role) AS roles FROM users u WHERE u.id = $1${lock ? " FOR UPDATE OF u" : ""}`,
    [userId],
  );
  const row = result.rows[0];
  return row && { version: Number(row.roles_version), roles: row.roles };
}

/** Every change locks the user row first, so two changes to one user's roles apply one after the other. */
export function createPgRoleStore(primary: pg.Pool): RoleStore {
  async function change(userId: string, tx: Queryable | undefined, apply: (db: Queryable) => Promise<boolean>): Promise<RoleChange | undefined> {
    if (!UUID.test(userId)) return undefined;
    const run = async (db: Queryable): Promise<RoleChange | undefined> => {
      if (!(await read(db, userId, true))) return undefined;
      const changed = await apply(db);
      if (changed) await db.query("UPDATE users SET roles_version = roles_version + 1 WHERE id = $1", [userId]);
      return { changed, current: (await read(db, userId, false))! };
    };
    return tx ? run(tx) : withTransaction(primary, run);
  }

  return {
    current: (userId) => (UUID.test(userId) ? read(primary, userId, false) : Promise.resolve(undefined)),
    grant: (userId, role, grantedBy, tx) =>
      change(userId, tx, async (db) => {
        const inserted = await db.query("INSERT INTO user_roles (user_id, role, granted_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [userId, role, grantedBy ?? null]);
        return inserted.rowCount === 1;
      }),
    revoke: (userId, role, tx) =>
      change(userId, tx, async (db) => (await db.query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2", [userId, role])).rowCount === 1),
  };
}
