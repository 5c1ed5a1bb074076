-- Up Migration
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Normalised (NFC, lower case); the unique index is what makes sign-up race-free.
  email text NOT NULL UNIQUE,
  email_verified boolean NOT NULL DEFAULT false,
  password_hash text NOT NULL,
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  -- AES-256-GCM under SIGNING_KEY_ENCRYPTION_KEY: iv(12) | tag(16) | ciphertext, kid as AAD.
  private_key_enc bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  activates_at timestamptz NOT NULL,
  retires_at timestamptz NOT NULL
);
CREATE INDEX signing_keys_retires_idx ON signing_keys (retires_at);

CREATE TABLE audit_events (
  id bigserial PRIMARY KEY,
  user_id uuid REFERENCES users (id) ON DELETE SET NULL,
  type text NOT NULL,
  ip text,
  user_agent text,
  request_id text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, created_at DESC);

-- Down Migration
DROP TABLE audit_events;
DROP TABLE signing_keys;
DROP TABLE users;
