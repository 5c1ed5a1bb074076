-- Up Migration
-- 0 = a link someone waits for (verification, reset, email change), 1 = a notice. Workers claim by
-- priority first, so a flood of notices cannot delay anyone's link (src/auth/mail/mail.ts).
ALTER TABLE mail_outbox ADD COLUMN priority smallint NOT NULL DEFAULT 1;
CREATE INDEX mail_outbox_claim_idx ON mail_outbox (priority, next_attempt_at, id) WHERE status = 'pending';

-- Down Migration
DROP INDEX mail_outbox_claim_idx;
ALTER TABLE mail_outbox DROP COLUMN priority;
