import type pg from "pg";
import { withTransaction, type Queryable } from "../../platform/transaction.js";
import { enqueueMail } from "../mail/mail.js";
import type { MailTemplates } from "../mail/templates.js";
import type { SessionRevocation, SessionRevocations } from "../sessions/session-revocations.js";
import type { IdentityKey, IdentityStore, StoredIdentity } from "./identity-store.js";

export interface PgIdentityStoreDeps {
  primary: pg.Pool;
  /** Where an unlink, or claiming an unverified account, records the end of sessions, in its own transaction. */
  revocations: Pick<SessionRevocations, "record">;
  templates: Pick<MailTemplates, "securityNotice">;
}

interface Row {
  id: string;
  user_id: string;
  provider: string;
  issuer: string;
  subject: string;
  email: string;
  created_at: Date;
  last_used_at: Date | null;
}

const COLUMNS = "id, user_id, provider, issuer, subject, email, created_at, last_used_at";
const UNIQUE_VIOLATION = "23505";

const fromRow = (row: Row): StoredIdentity => ({
  id: row.id,
  userId: row.user_id,
  provider: row.provider,
  issuer: row.issuer,
  subject: row.subject,
  email: row.email,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at ?? undefined,
});

const isUniqueViolation = (error: unknown) => (error as { code?: unknown }).code === UNIQUE_VIOLATION;

const INSERT = "INSERT INTO social_identities (user_id, provider, issuer, subject, email) VALUES ($1, $2, $3, $4, $5)";
const insertValues = (userId: string, key: IdentityKey, email: string) => [userId, key.provider, key.issuer, key.subject, email];

async function insertIdentity(db: Queryable, userId: string, key: IdentityKey, email: string): Promise<StoredIdentity | undefined> {
  const result = await db.query<Row>(`${INSERT} ON CONFLICT (provider, issuer, subject) DO NOTHING RETURNING ${COLUMNS}`, insertValues(userId, key, email));
  return result.rows[0] ? fromRow(result.rows[0]) : undefined;
}

export function createPgIdentityStore(deps: PgIdentityStoreDeps): IdentityStore {
  const { primary, templates } = deps;

  /**
   * What an account had before anyone proved its mailbox goes, under the row lock the caller holds
   * (the rule resetPassword applies to a factor confirmed unverified, here for everything: nothing on
   * an unverified account was set up by a proven owner). One statement: every CTE runs.
   */
  async function claim(tx: Queryable, userId: string, email: string, hadPassword: boolean): Promise<SessionRevocation> {
    const gone = await tx.query<{ totp: number; passkeys: number }>(
      `WITH account AS (
         UPDATE users SET email_verified = true, password_hash = '', updated_at = now() WHERE id = $1
       ), totp AS (
         DELETE FROM totp_factors WHERE user_id = $1 RETURNING 1
       ), recovery AS (
         DELETE FROM recovery_codes WHERE user_id = $1
       ), passkey AS (
         DELETE FROM passkeys WHERE user_id = $1 RETURNING 1
       ), links AS (
         UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose IN ('reset_password', 'change_email') AND used_at IS NULL
       )
       SELECT (SELECT count(*) FROM totp)::int AS totp, (SELECT count(*) FROM passkey)::int AS passkeys`,
      [userId],
    );
    const { totp, passkeys } = gone.rows[0] as { totp: number; passkeys: number };
    const removed = [
      ...(hadPassword ? ["the password"] : []),
      ...(totp > 0 ? ["two-step sign-in (TOTP) and its recovery codes"] : []),
      ...(passkeys > 0 ? [passkeys === 1 ? "a passkey" : `${passkeys} passkeys`] : []),
      "every signed-in session",
    ];
    const change = `a link mailed to this address was used to sign in, which confirms the address; what was set up before it was confirmed is removed: ${removed.join(", ")}`;
    await enqueueMail(tx, templates.securityNotice(email, change));
    return deps.revocations.record(tx, userId);
  }

  return {
    async byKey({ provider, issuer, subject }) {
      const result = await primary.query<Row>(`SELECT ${COLUMNS} FROM social_identities WHERE provider = $1 AND issuer = $2 AND subject = $3`, [
        provider,
        issuer,
        subject,
      ]);
      return result.rows[0] ? fromRow(result.rows[0]) : undefined;
    },
    async listForUser(userId) {
      const result = await primary.query<Row>(`SELECT ${COLUMNS} FROM social_identities WHERE user_id = $1 ORDER BY created_at`, [userId]);
      return result.rows.map(fromRow);
    },
    link: (userId, key, email) => insertIdentity(primary, userId, key, email),
    async linkByMail(userId, key, email) {
      return withTransaction(primary, async (tx) => {
        // Locked first: a verification, enrolment or reset of this account waits, so what is judged unproven is what goes.
        // Still enabled, and still at the address the link was mailed to: an address changed since (and
        // verified by whoever changed it) is another owner's account now, and a disabled one opens nothing.
        const owner = await tx.query<{ email: string; email_verified: boolean; has_password: boolean }>(
          "SELECT email, email_verified, password_hash <> '' AS has_password FROM users WHERE id = $1 AND email = $2 AND disabled_at IS NULL FOR UPDATE",
          [userId, email],
        );
        const account = owner.rows[0];
        if (!account) return undefined;
        const identity = await insertIdentity(tx, userId, key, email);
        if (!identity) return undefined;
        return { identity, claimed: account.email_verified ? undefined : await claim(tx, userId, account.email, account.has_password) };
      });
    },
    async createAccount(email, key) {
      try {
        return await withTransaction(primary, async (tx) => {
          const user = await tx.query<{ id: string }>(
            "INSERT INTO users (email, email_verified, password_hash) VALUES ($1, true, '') ON CONFLICT (email) DO NOTHING RETURNING id",
            [email],
          );
          const userId = user.rows[0]?.id;
          if (!userId) return undefined;
          const identity = await tx.query<Row>(`${INSERT} RETURNING ${COLUMNS}`, insertValues(userId, key, email));
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
    async unlink(userId, id, keepSessionId) {
      return withTransaction(primary, async (tx) => {
        // The account row's lock orders concurrent removals: of two that would each leave the other, one sees it gone.
        const owner = await tx.query<{ has_password: boolean }>("SELECT password_hash <> '' AS has_password FROM users WHERE id = $1 FOR UPDATE", [userId]);
        if (!owner.rows[0]) return { outcome: "not_found" };
        const others = await tx.query<{ passkeys: string; identities: string; mine: string }>(
          `SELECT (SELECT count(*) FROM passkeys WHERE user_id = $1) AS passkeys,
                  (SELECT count(*) FROM social_identities WHERE user_id = $1 AND id <> $2) AS identities,
                  (SELECT count(*) FROM social_identities WHERE user_id = $1 AND id = $2) AS mine`,
          [userId, id],
        );
        const counts = others.rows[0] as { passkeys: string; identities: string; mine: string };
        if (counts.mine === "0") return { outcome: "not_found" };
        if (!owner.rows[0].has_password && counts.passkeys === "0" && counts.identities === "0") return { outcome: "last_sign_in" };
        await tx.query("DELETE FROM social_identities WHERE user_id = $1 AND id = $2", [userId, id]);
        return { outcome: "removed", revocation: await deps.revocations.record(tx, userId, keepSessionId) };
      });
    },
  };
}
