import type pg from "pg";
import { withTransaction, type Queryable } from "../../platform/transaction.js";
import { enqueueMail } from "../mail/mail.js";
import type { MailTemplates } from "../mail/templates.js";
import { hashAccountToken, newAccountToken } from "./account-token.js";
import type { AccountRef, AccountWrites } from "./account-writes.js";

export interface PgAccountWritesDeps {
  primary: pg.Pool;
  templates: MailTemplates;
  verifyEmailTokenTtlMs: number;
  resetTokenTtlMs: number;
  /** Called after every committed write to a user row, e.g. to drop cached copies. */
  userWritten(account: AccountRef): Promise<void>;
}

type Purpose = "verify_email" | "reset_password";

async function issueToken(tx: Queryable, userId: string, purpose: Purpose, ttlMs: number): Promise<string> {
  const { token, hash } = newAccountToken();
  await tx.query(
    "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    [hash, userId, purpose, ttlMs / 1000],
  );
  return token;
}

/** Marks the token used in the same statement that checks it, so two concurrent redemptions cannot both win. */
async function redeemToken(tx: Queryable, token: string, purpose: Purpose): Promise<string | undefined> {
  const result = await tx.query<{ user_id: string }>(
    `UPDATE account_tokens SET used_at = now()
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now() RETURNING user_id`,
    [hashAccountToken(token), purpose],
  );
  return result.rows[0]?.user_id;
}

export function createPgAccountWrites(deps: PgAccountWritesDeps): AccountWrites {
  const { primary, templates } = deps;

  async function written<T extends AccountRef | undefined>(account: T): Promise<T> {
    if (account) await deps.userWritten(account);
    return account;
  }

  return {
    async register(email, passwordHash) {
      const account = await withTransaction(primary, async (tx) => {
        const inserted = await tx.query<AccountRef>(
          "INSERT INTO users (email, password_hash) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING RETURNING id, email",
          [email, passwordHash],
        );
        const created = inserted.rows[0];
        if (!created) {
          await enqueueMail(tx, templates.signUpAttempt(email));
          return undefined;
        }
        const token = await issueToken(tx, created.id, "verify_email", deps.verifyEmailTokenTtlMs);
        await enqueueMail(tx, templates.verifyEmail(email, token, deps.verifyEmailTokenTtlMs));
        return created;
      });
      await written(account);
      return account ? { created: true, account } : { created: false };
    },

    async changePassword(account, expected, next) {
      const changed = await withTransaction(primary, async (tx) => {
        const result = await tx.query("UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2", [
          account.id,
          expected,
          next,
        ]);
        if (result.rowCount !== 1) return false;
        await enqueueMail(tx, templates.securityNotice(account.email, "your password was changed"));
        return true;
      });
      if (changed) await written(account);
      return changed;
    },

    async requestVerification(account) {
      await withTransaction(primary, async (tx) => {
        const token = await issueToken(tx, account.id, "verify_email", deps.verifyEmailTokenTtlMs);
        await enqueueMail(tx, templates.verifyEmail(account.email, token, deps.verifyEmailTokenTtlMs));
      });
    },

    async verifyEmail(token) {
      const account = await withTransaction(primary, async (tx) => {
        const userId = await redeemToken(tx, token, "verify_email");
        if (!userId) return undefined;
        const result = await tx.query<AccountRef>(
          "UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1 RETURNING id, email",
          [userId],
        );
        return result.rows[0];
      });
      return written(account);
    },

    async requestReset(account) {
      await withTransaction(primary, async (tx) => {
        const token = await issueToken(tx, account.id, "reset_password", deps.resetTokenTtlMs);
        await enqueueMail(tx, templates.resetPassword(account.email, token, deps.resetTokenTtlMs));
      });
    },

    async resetPassword(token, passwordHash) {
      const account = await withTransaction(primary, async (tx) => {
        const userId = await redeemToken(tx, token, "reset_password");
        if (!userId) return undefined;
        // Any other reset link still out there dies with this one.
        await tx.query("UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL", [
          userId,
        ]);
        const result = await tx.query<AccountRef>(
          "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING id, email",
          [userId, passwordHash],
        );
        const updated = result.rows[0];
        if (updated) await enqueueMail(tx, templates.securityNotice(updated.email, "your password was reset"));
        return updated;
      });
      return written(account);
    },
  };
}
