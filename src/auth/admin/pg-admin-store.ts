import type pg from "pg";
import { withTransaction, type Queryable } from "../../platform/transaction.js";
import { newAccountToken } from "../lifecycle/account-token.js";
import type { AccountRef } from "../lifecycle/account-writes.js";
import { enqueueMail } from "../mail/mail.js";
import type { MailTemplates } from "../mail/templates.js";
import type { SessionRevocation, SessionRevocations } from "../sessions/session-revocations.js";
import type { AdminStore, FoundUser, Revoked } from "./admin-store.js";

export interface PgAdminStoreDeps {
  primary: pg.Pool;
  revocations: Pick<SessionRevocations, "record" | "apply">;
  templates: Pick<MailTemplates, "resetPassword">;
  resetTokenTtlMs: number;
  /** As for the owner's own writes (pg-account-writes.ts): drops cached copies after each commit. */
  userWritten(account: AccountRef): Promise<void>;
}

interface FoundRow {
  id: string;
  email: string;
  email_verified: boolean;
  disabled: boolean;
  created_at: Date;
  created_us: string;
  roles: string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `LIKE` takes the prefix literally: `%`, `_` and the escape itself match only themselves. */
const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const toFound = (row: FoundRow): FoundUser => ({
  id: row.id,
  email: row.email,
  emailVerified: row.email_verified,
  disabled: row.disabled,
  createdAt: row.created_at,
  createdMicros: row.created_us,
  roles: row.roles,
});

async function lockAccount(tx: Queryable, userId: string): Promise<(AccountRef & { disabled: boolean }) | undefined> {
  if (!UUID.test(userId)) return undefined;
  const result = await tx.query<AccountRef & { disabled: boolean }>("SELECT id, email, disabled_at IS NOT NULL AS disabled FROM users WHERE id = $1 FOR UPDATE", [userId]);
  return result.rows[0];
}

export function createPgAdminStore(deps: PgAdminStoreDeps): AdminStore {
  const { primary, revocations } = deps;

  /** The owner's writes' order: the cached row goes first, then the revocation, cut off at now, is applied. */
  async function thenRevoked(committed: { account: AccountRef; revocation: SessionRevocation } | undefined): Promise<Revoked | undefined> {
    if (!committed) return undefined;
    const dropped = await deps.userWritten(committed.account).then(
      () => true,
      () => false,
    );
    const revokedSessions = await revocations.apply(committed.revocation);
    if (!dropped) await deps.userWritten(committed.account);
    return { account: committed.account, revokedSessions };
  }

  return {
    async find(filter) {
      const result = await primary.query<FoundRow>(
        `SELECT u.id, u.email, u.email_verified, u.disabled_at IS NOT NULL AS disabled, u.created_at,
                (EXTRACT(EPOCH FROM u.created_at) * 1000000)::bigint::text AS created_us,
                ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id ORDER BY r.role) AS roles
         FROM users u
         WHERE ($1::text IS NULL OR u.email LIKE $1 ESCAPE '\\')
           AND ($2::uuid IS NULL OR u.id = $2::uuid)
           AND ($3::timestamptz IS NULL OR u.created_at >= $3)
           AND ($4::timestamptz IS NULL OR u.created_at < $4)
           AND ($5::bigint IS NULL OR (u.created_at, u.id) > (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6::uuid))
         ORDER BY u.created_at, u.id
         LIMIT $7`,
        [
          filter.emailPrefix === undefined ? null : likePrefix(filter.emailPrefix),
          filter.userId ?? null,
          filter.createdAfter ?? null,
          filter.createdBefore ?? null,
          filter.after?.createdMicros ?? null,
          filter.after?.id ?? null,
          filter.limit,
        ],
      );
      return result.rows.map(toFound);
    },

    async factors(userId) {
      const result = await primary.query<{ confirmed: boolean; left: number }>(
        `SELECT f.confirmed_at IS NOT NULL AS confirmed,
                (SELECT count(*)::int FROM recovery_codes c WHERE c.user_id = f.user_id AND c.used_at IS NULL) AS left
         FROM totp_factors f WHERE f.user_id = $1`,
        [userId],
      );
      return result.rows.map((row) => ({ type: "totp" as const, confirmed: row.confirmed, recoveryCodesLeft: row.left }));
    },

    async disable(userId) {
      const committed = await withTransaction(primary, async (tx) => {
        const account = await lockAccount(tx, userId);
        if (!account) return undefined;
        await tx.query("UPDATE users SET disabled_at = COALESCE(disabled_at, now()), updated_at = now() WHERE id = $1", [userId]);
        // Links mailed before (reset, verification, email change) die with it, so enabling is the only way back in.
        await tx.query("UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", [userId]);
        return { account: { id: account.id, email: account.email }, revocation: await revocations.record(tx, userId) };
      });
      return thenRevoked(committed);
    },

    async enable(userId) {
      if (!UUID.test(userId)) return undefined;
      const result = await primary.query<AccountRef>("UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = $1 RETURNING id, email", [userId]);
      const account = result.rows[0];
      if (account) await deps.userWritten(account);
      return account;
    },

    async forceReset(userId, unusableHash) {
      const committed = await withTransaction(primary, async (tx) => {
        const account = await lockAccount(tx, userId);
        if (!account || account.disabled) return account && ("disabled" as const);
        await tx.query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", [userId, unusableHash]);
        // A passkey signs in alone: one an intruder registered would outlive the reset and every session's end.
        await tx.query("DELETE FROM passkeys WHERE user_id = $1", [userId]);
        await tx.query("UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL", [userId]);
        const { token, hash } = newAccountToken();
        await tx.query(
          "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, 'reset_password', now() + make_interval(secs => $3))",
          [hash, userId, deps.resetTokenTtlMs / 1000],
        );
        await enqueueMail(tx, deps.templates.resetPassword(account.email, token, deps.resetTokenTtlMs));
        return { account: { id: account.id, email: account.email }, revocation: await revocations.record(tx, userId) };
      });
      return committed === "disabled" ? committed : thenRevoked(committed);
    },

    async removePasskeys(userId) {
      if (!UUID.test(userId)) return 0;
      return (await primary.query("DELETE FROM passkeys WHERE user_id = $1", [userId])).rowCount ?? 0;
    },

    async erase(userId, pseudonym) {
      const account = await withTransaction(primary, async (tx) => {
        const locked = await lockAccount(tx, userId);
        if (!locked) return undefined;
        // The trail keeps what happened and when, under the pseudonym; who (id, address, device) goes.
        await tx.query(
          `UPDATE audit_events SET user_id = NULL, ip = NULL, user_agent = NULL,
             details = (details - 'email' - 'newEmail' - 'previousEmail') || jsonb_build_object('subject', $2::text)
           WHERE user_id = $1`,
          [userId, pseudonym],
        );
        await tx.query("UPDATE audit_events SET details = jsonb_set(details, '{admin}', to_jsonb($2::text)) WHERE details ? 'admin' AND details ->> 'admin' = $1", [userId, pseudonym]);
        // Its mail, sent or not, and what went to an address it was moving to that nobody else holds.
        await tx.query(
          `DELETE FROM mail_outbox WHERE recipient = $2
             OR recipient IN (SELECT t.new_email FROM account_tokens t WHERE t.user_id = $1 AND t.new_email IS NOT NULL
                              AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email = t.new_email))`,
          [userId, locked.email],
        );
        // Its OAuth grants and what they issued (codes, tokens, provider sessions), which name it by id
        // without a foreign key: oidc-provider's artifacts are the provider's own JSON.
        await tx.query(
          `DELETE FROM oauth_artifacts WHERE payload ->> 'accountId' = $1
             OR grant_id IN (SELECT grant_id FROM oauth_grant_sessions WHERE account_id = $1)`,
          [userId],
        );
        await tx.query("DELETE FROM oauth_grant_sessions WHERE account_id = $1", [userId]);
        // Tokens, factors, recovery codes, roles, linked social identities and pending revocations go with the row (ON DELETE CASCADE).
        await tx.query("DELETE FROM users WHERE id = $1", [userId]);
        return { id: locked.id, email: locked.email };
      });
      if (account) await deps.userWritten(account);
      return account;
    },
  };
}

