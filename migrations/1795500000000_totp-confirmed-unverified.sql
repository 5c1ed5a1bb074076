-- Up Migration
-- Whether the factor was confirmed while the account's email was unverified. Enrolment now needs a
-- verified email; a factor from before that rule on a then-unverified account may belong to whoever
-- signed up first with the owner's address, so a password reset by mail clears it (README, Two-step
-- sign-in). For rows from before this column, the account's verification state now is the best
-- evidence there is: an account still unverified was certainly unverified when it enrolled.
ALTER TABLE totp_factors ADD COLUMN confirmed_unverified boolean NOT NULL DEFAULT false;
UPDATE totp_factors f SET confirmed_unverified = true
  FROM users u WHERE u.id = f.user_id AND f.confirmed_at IS NOT NULL AND NOT u.email_verified;

-- Down Migration
ALTER TABLE totp_factors DROP COLUMN confirmed_unverified;
