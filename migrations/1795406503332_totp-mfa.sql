-- Up Migration
-- One TOTP factor per user. The secret is AES-256-GCM under MFA_ENCRYPTION_KEY
-- with "totp:<user id>" as associated data. last_counter is the RFC 6238 time
-- step of the last accepted code: a code is accepted only by the UPDATE that
-- raises it, so each code works once across every instance.
CREATE TABLE totp_factors (
  user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  secret_enc bytea NOT NULL,
  confirmed_at timestamptz,
  last_counter bigint,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- SHA-256 of 80-bit random codes; used_at makes each single use.
CREATE TABLE recovery_codes (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash bytea NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- Down Migration
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
