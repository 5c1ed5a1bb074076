import type pg from "pg";
import { invalidArgument } from "../../platform/errors.js";
import { withTransaction, type Queryable } from "../../platform/transaction.js";
import { enqueueMail, PRIORITY_RANK, type Mail } from "../mail/mail.js";
import type { MailTemplates } from "../mail/templates.js";
import { cacheDroppedThenRevoked, type SessionRevocation, type SessionRevocations } from "../sessions/session-revocations.js";
import { hashAccountToken, newAccountToken } from "./account-token.js";
import type { AccountRef, AccountWrites, VerifiedEmail } from "./account-writes.js";

export interface PgAccountWritesDeps {
  primary: pg.Pool;
  templates: MailTemplates;
  verifyEmailTokenTtlMs: number;
  resetTokenTtlMs: number;
  changeEmailTokenTtlMs: number;
  /** Where a password change records the end of the other sessions, in its own transaction. */
  revocations: Pick<SessionRevocations, "record" | "apply">;
  /**
   * Called once after every committed write to a user row, e.g. to drop cached copies;
   * `previousEmail` is the address an email change replaced, whose copies must go too.
   */
  userWritten(account: AccountRef & { previousEmail?: string }): Promise<void>;
}

type Purpose = "verify_email" | "reset_password" | "change_email";

const UNIQUE_VIOLATION = "23505";

/** The token's owner as it was before redemption, and the address a change_email token confirms. */
interface Redeemed extends AccountRef {
  newEmail: string | null;
}

/**
 * Locks the owner's row before touching any token: with one lock order, two redemptions for one user
 * (each voiding the other's tokens) queue instead of deadlocking. Marks the token used in the same
 * statement that checks it, so two concurrent redemptions cannot both win.
 */
async function redeemToken(tx: Queryable, token: string, purposes: Purpose[]): Promise<Redeemed | undefined> {
  const hash = hashAccountToken(token);
  const owner = await tx.query<AccountRef>(
    // A disabled account redeems nothing: no reset (or verification) into it until it is enabled.
    "SELECT u.id, u.email FROM users u JOIN account_tokens t ON t.user_id = u.id WHERE t.token_hash = $1 AND u.disabled_at IS NULL FOR UPDATE OF u",
    [hash],
  );
  const account = owner.rows[0];
  if (!account) return undefined;
  const result = await tx.query<{ new_email: string | null }>(
    `UPDATE account_tokens SET used_at = now()
     WHERE token_hash = $1 AND purpose = ANY($2) AND used_at IS NULL AND expires_at > now() RETURNING new_email`,
    [hash, purposes],
  );
  const redeemed = result.rows[0];
  return redeemed && { ...account, newEmail: redeemed.new_email };
}

export function createPgAccountWrites(deps: PgAccountWritesDeps): AccountWrites {
  const { primary, templates } = deps;
  const links: Record<Purpose, { ttlMs: number; mail: (to: string, token: string, ttlMs: number) => Mail }> = {
    verify_email: { ttlMs: deps.verifyEmailTokenTtlMs, mail: templates.verifyEmail },
    reset_password: { ttlMs: deps.resetTokenTtlMs, mail: templates.resetPassword },
    change_email: { ttlMs: deps.changeEmailTokenTtlMs, mail: templates.confirmEmailChange },
  };

  /** Issues a token for `purpose` and queues the mail carrying its link to `to`, in the caller's transaction. */
  async function mailToken(tx: Queryable, userId: string, purpose: Purpose, to: string, newEmail: string | null = null): Promise<void> {
    const { ttlMs, mail } = links[purpose];
    const { token, hash } = newAccountToken();
    await tx.query(
      "INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at, new_email) VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5)",
      [hash, userId, purpose, ttlMs / 1000, newEmail],
    );
    await enqueueMail(tx, mail(to, token, ttlMs));
  }

  async function written<T extends VerifiedEmail | undefined>(account: T): Promise<T> {
    if (account) await deps.userWritten(account);
    return account;
  }

  /** After a password change commits (session-revocations.ts): a sign-in that verified the old password from the cache ends too. */
  const revokedAfter = (account: AccountRef, revocation: SessionRevocation) => cacheDroppedThenRevoked(deps.revocations, () => written(account), revocation);

  return {
    async register(email, passwordHash) {
      // One statement, the same for a new and a taken email: one round trip and one plan either way
      // (no enumeration by timing), and atomic, so an acknowledged sign-up has its account and its mail.
      const { token, hash } = newAccountToken();
      const { ttlMs } = links.verify_email;
      const verify = templates.verifyEmail(email, token, ttlMs);
      const notice = templates.signUpAttempt(email);
      const result = await primary.query<AccountRef>(
        `WITH created AS (
           INSERT INTO users (email, password_hash) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING RETURNING id, email
         ), token AS (
           INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at)
           SELECT $3, id, 'verify_email', now() + make_interval(secs => $4) FROM created RETURNING user_id
         ), mail AS (
           INSERT INTO mail_outbox (recipient, subject, body, priority)
           SELECT $1, CASE WHEN linked THEN $5 ELSE $7 END, CASE WHEN linked THEN $6 ELSE $8 END, CASE WHEN linked THEN $9::smallint ELSE $10::smallint END
           FROM (SELECT EXISTS (SELECT 1 FROM token) AS linked) AS outcome
         )
         SELECT id, email FROM created`,
        [email, passwordHash, hash, ttlMs / 1000, verify.subject, verify.text, notice.subject, notice.text, PRIORITY_RANK.link, PRIORITY_RANK.notice],
      );
      const account = result.rows[0];
      await written(account);
      return account ? { created: true, account } : { created: false };
    },

    async changePassword(account, expected, next, keepSessionId) {
      const revocation = await withTransaction(primary, async (tx) => {
        const result = await tx.query("UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2", [
          account.id,
          expected,
          next,
        ]);
        if (result.rowCount !== 1) return undefined;
        await enqueueMail(tx, templates.securityNotice(account.email, "your password was changed"));
        return deps.revocations.record(tx, account.id, keepSessionId);
      });
      if (!revocation) return undefined;
      return { revokedSessions: await revokedAfter(account, revocation) };
    },

    async requestVerification(account) {
      await withTransaction(primary, async (tx) => {
        await mailToken(tx, account.id, "verify_email", account.email);
      });
    },

    async requestEmailChange(account, newEmail) {
      await withTransaction(primary, async (tx) => {
        const taken = await tx.query("SELECT 1 FROM users WHERE email = $1", [newEmail]);
        if (taken.rowCount === 0) {
          await mailToken(tx, account.id, "change_email", newEmail, newEmail);
        } else {
          await enqueueMail(tx, templates.emailChangeAttempt(newEmail));
        }
        await enqueueMail(tx, templates.emailChangeRequested(account.email, newEmail));
      });
    },

    async verifyEmail(token) {
      const account = await withTransaction(primary, async (tx): Promise<VerifiedEmail | undefined> => {
        const redeemed = await redeemToken(tx, token, ["verify_email", "change_email"]);
        if (!redeemed) return undefined;
        if (redeemed.newEmail === null) {
          await tx.query("UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1", [redeemed.id]);
          return { id: redeemed.id, email: redeemed.email };
        }
        try {
          await tx.query("UPDATE users SET email = $2, email_verified = true, updated_at = now() WHERE id = $1", [
            redeemed.id,
            redeemed.newEmail,
          ]);
        } catch (error) {
          // Free when requested, taken since: the unique index decides, and the rollback leaves everything as it was.
          if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) throw invalidArgument("this address is no longer available");
          throw error;
        }
        // Other pending changes end with this one; verification links sent to the old address no longer speak for the account.
        await tx.query(
          "UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose IN ('verify_email', 'change_email') AND used_at IS NULL",
          [redeemed.id],
        );
        await enqueueMail(tx, templates.emailChanged(redeemed.email, redeemed.newEmail));
        return { id: redeemed.id, email: redeemed.newEmail, previousEmail: redeemed.email };
      });
      return written(account);
    },

    async requestReset(email, by) {
      // One statement whether or not the address has an account (no enumeration by timing); the
      // token and the mail exist only for an active account. The audit row is written in it on both
      // paths, so both commit a write and wait for the same WAL flush: a path that wrote nothing
      // would skip the commit's fsync, by far the largest cost here. It also commits the record of
      // the request together with its effect.
      const { token, hash } = newAccountToken();
      const { ttlMs } = links.reset_password;
      const mail = templates.resetPassword(email, token, ttlMs);
      const result = await primary.query<{ id: string | null; email: string | null }>(
        `WITH target AS (
           SELECT id, email, disabled_at IS NULL AS active FROM users WHERE email = $1
         ), token AS (
           INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at)
           SELECT $2, id, 'reset_password', now() + make_interval(secs => $3) FROM target WHERE active RETURNING user_id
         ), mail AS (
           INSERT INTO mail_outbox (recipient, subject, body, priority) SELECT $1, $4, $5, $6 FROM token
         ), audit AS (
           INSERT INTO audit_events (user_id, type, ip, user_agent, request_id, details)
           SELECT (SELECT id FROM target), 'password.reset_requested', $7, $8, $9,
                  jsonb_build_object('known', EXISTS (SELECT 1 FROM target))
         )
         SELECT target.id, target.email FROM (SELECT 1) AS one LEFT JOIN target ON true`,
        [email, hash, ttlMs / 1000, mail.subject, mail.text, PRIORITY_RANK.link, by.ip || null, by.userAgent.slice(0, 512) || null, by.requestId.slice(0, 128) || null],
      );
      const row = result.rows[0];
      return row?.id && row.email ? { id: row.id, email: row.email } : undefined;
    },

    async resetPassword(token, passwordHash) {
      const reset = await withTransaction(primary, async (tx) => {
        const redeemed = await redeemToken(tx, token, ["reset_password"]);
        if (!redeemed) return undefined;
        // Any other reset link still out there dies with this one, and so does a pending email change:
        // the change notice tells an owner who did not ask for it that a reset cancels it.
        await tx.query(
          "UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND purpose IN ('reset_password', 'change_email') AND used_at IS NULL",
          [redeemed.id],
        );
        // The row is locked since redeemToken read it, so its id and email are still current.
        await tx.query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1", [redeemed.id, passwordHash]);
        await enqueueMail(tx, templates.securityNotice(redeemed.email, "your password was reset"));
        // The recovery rule for a factor nobody proved the mailbox for (README, Two-step sign-in): the
        // owner who proves the mailbox now is the only proven owner there is, so such a factor goes.
        const cleared = await tx.query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_unverified", [redeemed.id]);
        if (cleared.rowCount === 1) {
          await tx.query("DELETE FROM recovery_codes WHERE user_id = $1", [redeemed.id]);
          await enqueueMail(tx, templates.securityNotice(redeemed.email, "two-step sign-in (TOTP) was turned off"));
        }
        const revocation = await deps.revocations.record(tx, redeemed.id);
        return { account: { id: redeemed.id, email: redeemed.email }, revocation };
      });
      if (!reset) return undefined;
      return { ...reset.account, revokedSessions: await revokedAfter(reset.account, reset.revocation) };
    },
  };
}
