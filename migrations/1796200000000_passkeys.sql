-- Up Migration
-- WebAuthn credentials (passkeys). credential_id is the authenticator's id, base64url,
-- unique across users: a sign-in with a discoverable credential names only it.
-- sign_count is raised only by the UPDATE that accepts a higher one, so a cloned
-- authenticator replaying an old count is refused on every instance.
-- backed_up and device_type are the authenticator's BE/BS flags as of the last use.
CREATE TABLE passkeys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  credential_id text NOT NULL UNIQUE,
  public_key bytea NOT NULL,
  sign_count bigint NOT NULL,
  transports text[] NOT NULL DEFAULT '{}',
  device_type text NOT NULL,
  backed_up boolean NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- Down Migration
DROP TABLE passkeys;
