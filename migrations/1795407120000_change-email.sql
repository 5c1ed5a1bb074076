-- Up Migration
-- A change_email token carries the address it confirms: the account moves
-- there only when the link mailed to that address is opened.
ALTER TABLE account_tokens ADD COLUMN new_email text;
ALTER TABLE account_tokens DROP CONSTRAINT account_tokens_purpose_check;
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_purpose_check
  CHECK (purpose IN ('verify_email', 'reset_password', 'change_email'));
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_new_email_check
  CHECK ((purpose = 'change_email') = (new_email IS NOT NULL));

-- Down Migration
DELETE FROM account_tokens WHERE purpose = 'change_email';
ALTER TABLE account_tokens DROP CONSTRAINT account_tokens_new_email_check;
ALTER TABLE account_tokens DROP CONSTRAINT account_tokens_purpose_check;
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_purpose_check
  CHECK (purpose IN ('verify_email', 'reset_password'));
ALTER TABLE account_tokens DROP COLUMN new_email;
