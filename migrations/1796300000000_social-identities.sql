-- Up Migration
-- Identities at outside providers (social sign-in) linked to an account. subject is the provider's
-- own stable id for the user (OIDC `sub`, GitHub's numeric user id), unique only within its issuer
-- (the ID token's `iss`, which for Microsoft names the tenant; GitHub: the configured web origin).
-- provider is the configured id, whose issuer a configuration change may replace (another tenant, a
-- GitHub Enterprise Server): (provider, issuer, subject) is unique, so one identity signs in to one
-- account only, and the new issuer's user 12345 never to the old one's. email is what the provider
-- said when it was linked, for the account page; it never decides a sign-in. An account created by a
-- provider has no password: password_hash '' verifies nothing, and a reset by mail can set one.
CREATE TABLE social_identities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider text NOT NULL,
  issuer text NOT NULL,
  subject text NOT NULL,
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  UNIQUE (provider, issuer, subject)
);
CREATE INDEX social_identities_user_idx ON social_identities (user_id);

-- Down Migration
DROP TABLE social_identities;
