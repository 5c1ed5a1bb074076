import type pg from "pg";
import type { ReplicaReads } from "../../platform/replica-reads.js";
import type { Profile, User, UserStore } from "./user-store.js";

interface UserRow {
  id: string;
  email: string;
  email_verified: boolean;
  password_hash: string;
  disabled_at: Date | null;
  created_at: Date;
}

const COLUMNS = "id, email, email_verified, password_hash, disabled_at, created_at";
const PROFILE_COLUMNS = "id, email, email_verified, disabled_at, created_at";

function toProfile(row: Omit<UserRow, "password_hash">): Profile {
  return { id: row.id, email: row.email, emailVerified: row.email_verified, disabled: row.disabled_at !== null, createdAt: row.created_at };
}

const toUser = (row: UserRow): User => ({ ...toProfile(row), passwordHash: row.password_hash });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `primary` serves every write and every security-critical read; `ownReads`
 * serves a user's reads of their own profile.
 */
export function createPgUserStore(primary: pg.Pool, ownReads: ReplicaReads): UserStore {
  return {
    async findByEmail(email) {
      const result = await primary.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email]);
      return result.rows[0] ? toUser(result.rows[0]) : undefined;
    },
    async findById(id) {
      if (!UUID.test(id)) return undefined;
      const result = await primary.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
      return result.rows[0] ? toUser(result.rows[0]) : undefined;
    },
    async findProfile(id) {
      if (!UUID.test(id)) return undefined;
      const result = await ownReads.query<Omit<UserRow, "password_hash">>(id, `SELECT ${PROFILE_COLUMNS} FROM users WHERE id = $1`, [id]);
      return result.rows[0] ? toProfile(result.rows[0]) : undefined;
    },
    async holdsCredential(account, passwordHash) {
      const result = await primary.query("SELECT 1 FROM users WHERE id = $1 AND password_hash = $2 AND disabled_at IS NULL", [account.id, passwordHash]);
      return result.rowCount === 1;
    },
    async replacePasswordHash(account, expected, next) {
      const result = await primary.query(
        "UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2",
        [account.id, expected, next],
      );
      if (result.rowCount !== 1) return false;
      await ownReads.wrote(account.id);
      return true;
    },
  };
}
