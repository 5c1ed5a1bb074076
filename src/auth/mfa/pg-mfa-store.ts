import type pg from "pg";
import { withTransaction } from "../../platform/transaction.js";
import { enqueueMail } from "../mail/mail.js";
import type { MailTemplates } from "../mail/templates.js";
import type { MfaStore } from "./mfa-store.js";

export interface PgMfaStoreDeps {
  primary: pg.Pool;
  templates: MailTemplates;
}

export function createPgMfaStore(deps: PgMfaStoreDeps): MfaStore {
  const { primary, templates } = deps;
  return {
    async factor(userId) {
      const result = await primary.query<{ secret_enc: Buffer; confirmed: boolean }>(
        "SELECT secret_enc, confirmed_at IS NOT NULL AS confirmed FROM totp_factors WHERE user_id = $1",
        [userId],
      );
      const row = result.rows[0];
      return row ? { secretEnc: row.secret_enc, confirmed: row.confirmed } : undefined;
    },

    async beginEnrollment(userId, secretEnc) {
      const result = await primary.query(
        `INSERT INTO totp_factors (user_id, secret_enc) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET secret_enc = EXCLUDED.secret_enc, created_at = now(), last_counter = NULL
         WHERE totp_factors.confirmed_at IS NULL`,
        [userId, secretEnc],
      );
      return result.rowCount === 1;
    },

    async confirm(account, counter, recoveryCodeHashes) {
      return withTransaction(primary, async (tx) => {
        const result = await tx.query(
          // The mailbox state at confirmation decides whether a reset by mail may later clear the factor.
          `UPDATE totp_factors SET confirmed_at = now(), last_counter = $2,
             confirmed_unverified = NOT (SELECT email_verified FROM users WHERE id = $1)
           WHERE user_id = $1 AND confirmed_at IS NULL`,
          [account.id, counter],
        );
        if (result.rowCount !== 1) return false;
        await tx.query("DELETE FROM recovery_codes WHERE user_id = $1", [account.id]);
        await tx.query("INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])", [account.id, recoveryCodeHashes]);
        await enqueueMail(tx, templates.securityNotice(account.email, "two-step sign-in (TOTP) was turned on"));
        return true;
      });
    },

    async useCounter(userId, counter) {
      // Compare-and-set on the primary: of two instances given the same code, one UPDATE matches.
      const result = await primary.query(
        `UPDATE totp_factors SET last_counter = $2
         WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_counter IS NULL OR last_counter < $2)`,
        [userId, counter],
      );
      return result.rowCount === 1;
    },

    async useRecoveryCode(userId, codeHash) {
      const result = await primary.query(
        "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        [userId, codeHash],
      );
      return result.rowCount === 1;
    },

    async disable(account) {
      return withTransaction(primary, async (tx) => {
        const result = await tx.query("DELETE FROM totp_factors WHERE user_id = $1", [account.id]);
        if (result.rowCount !== 1) return false;
        await tx.query("DELETE FROM recovery_codes WHERE user_id = $1", [account.id]);
        await enqueueMail(tx, templates.securityNotice(account.email, "two-step sign-in (TOTP) was turned off"));
        return true;
      });
    },
  };
}
