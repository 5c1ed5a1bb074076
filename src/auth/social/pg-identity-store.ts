import type pg from "pg";
import { withTransaction } from "../../platform/transaction.js";
import type { IdentityStore, StoredIdentity } from "./identity-store.js";

interface Row {
  id: string;
  user_id: string;
  provider: string;
  subject: string;
  email: string;
  created_at: Date;
  last_used_at: Date | null;
}

const COLUMNS = "id, user_id, provider, subject, email, created_at, last_used_at";
const UNIQUE_VIOLATION = "23505";

const fromRow = (row: Row): StoredIdentity => ({
  id: row.id,
  userId: row.user_id,
  provider: row.provider,
  subject: row.subject,
  email: row.email,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at ?? undefined,
});

const isUniqueViolation = (error: unknown) => (error as { code?: unknown }).code === UNIQUE_VIOLATION;

export function createPgIdentityStore(primary: pg.Pool): IdentityStore {
  return {
    async bySubject(provider, subject) {
      const result = await primary.query<Row>(`SELECT ${COLUMNS} FROM social_identities WHERE provider = $1 AND subject = $2`, [provider, subject]);
      return result.rows[0] ? fromRow(result.rows[0]) : undefined;
    },
    async listForUser(userId) {
      const result = await primary.query<Row>(`SELECT ${COLUMNS} FROM social_identities WHERE user_id = $1 ORDER BY created_at`, [userId]);
      return result.rows.map(fromRow);
    },
    async link(userId, provider, subject, email) {
      const result = await primary.query<Row>(
        `INSERT INTO social_identities (user_id, provider, subject, email) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider, subject) DO NOTHING RETURNING ${COLUMNS}`,
        [userId, provider, subject, email],
      );
      return result.rows[0] ? fromRow(result.rows[0]) : undefined;
    },
    async createAccount(email, provider, subject) {
      try {
        return await withTransaction(primary, async (tx) => {
          const user = await tx.query<{ id: string }>(
            "INSERT INTO users (email, email_verified, password_hash) VALUES ($1, true, '') ON CONFLICT (email) DO NOTHING RETURNING id",
            [email],
          );
          const userId = user.rows[0]?.id;
          if (!userId) return undefined;
          const identity = await tx.query<Row>(
            `INSERT INTO social_identities (user_id, provider, subject, email) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
            [userId, provider, subject, email],
          );
          return fromRow(identity.rows[0] as Row);
        });
      } catch (error) {
        // The same identity signing up twice at once: the other request's account stands.
        if (isUniqueViolation(error)) return undefined;
        throw error;
      }
    },
    async recordUse(id) {
      await primary.query("UPDATE social_identities SET last_used_at = now() WHERE id = $1", [id]);
    },
    async unlink(userId, id) {
      return withTransaction(primary, async (tx) => {
        // The account row's lock orders concurrent removals: of two that would each leave the other, one sees it gone.
        const owner = await tx.query<{ has_password: boolean }>("SELECT password_hash <> '' AS has_password FROM users WHERE id = $1 FOR UPDATE", [userId]);
        if (!owner.rows[0]) return "not_found";
        const others = await tx.query<{ passkeys: string; identities: string; mine: string }>(
          `SELECT (SELECT count(*) FROM passkeys WHERE user_id = $1) AS passkeys,
                  (SELECT count(*) FROM social_identities WHERE user_id = $1 AND id <> $2) AS identities,
                  (SELECT count(*) FROM social_identities WHERE user_id = $1 AND id = $2) AS mine`,
          [userId, id],
        );
        const counts = others.rows[0] as { passkeys: string; identities: string; mine: string };
        if (counts.mine === "0") return "not_found";
        if (!owner.rows[0].has_password && counts.passkeys === "0" && counts.identities === "0") return "last_sign_in";
        await tx.query("DELETE FROM social_identities WHERE user_id = $1 AND id = $2", [userId, id]);
        return "removed";
      });
    },
  };
}
