import type pg from "pg";
import type { User, UserStore } from "./user-store.js";

interface UserRow {
  id: string;
  email: string;
  email_verified: boolean;
  password_hash: string;
  disabled_at: Date | null;
  created_at: Date;
}

const COLUMNS = "id, email, email_verified, password_hash, disabled_at, created_at";

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified,
    passwordHash: row.password_hash,
    disabled: row.disabled_at !== null,
    createdAt: row.created_at,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createPgUserStore(primary: pg.Pool): UserStore {
  return {
    async create(email, passwordHash) {
      const result = await primary.query<UserRow>(
        `INSERT INTO users (email, password_hash) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING RETURNING ${COLUMNS}`,
        [email, passwordHash],
      );
      const row = result.rows[0];
      return row ? { created: true, user: toUser(row) } : { created: false };
    },
    async findByEmail(email) {
      const result = await primary.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email]);
      return result.rows[0] ? toUser(result.rows[0]) : undefined;
    },
    async findById(id) {
      if (!UUID.test(id)) return undefined;
      const result = await primary.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
      return result.rows[0] ? toUser(result.rows[0]) : undefined;
    },
    async replacePasswordHash(id, expected, next) {
      const result = await primary.query(
        "UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2",
        [id, expected, next],
      );
      return result.rowCount === 1;
    },
  };
}
