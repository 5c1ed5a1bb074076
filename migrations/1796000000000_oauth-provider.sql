-- Up Migration
-- OAuth 2.0 clients registered by an operator (npm run oauth, auth.oauth.v1.OAuthAdminService).
-- The secret is stored only as its SHA-256: it is 256 random bits, so a slow hash buys nothing
-- and would put argon2 on every token request.
CREATE TABLE oauth_clients (
  client_id text PRIMARY KEY,
  name text NOT NULL,
  secret_sha256 bytea,
  -- The RFC 7591 metadata oidc-provider validates (grant_types, redirect_uris, scope, jwks, ...).
  metadata jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  secret_rotated_at timestamptz
);

-- Everything oidc-provider persists through its adapter (grants, codes, refresh tokens, its
-- sessions and interactions), one row per artifact, on the primary: a consumed code or refresh
-- token must stay consumed for every instance, and an acknowledged grant must not be lost.
CREATE TABLE oauth_artifacts (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  uid text,
  user_code text,
  expires_at timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oauth_artifacts_grant_idx ON oauth_artifacts (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oauth_artifacts_uid_idx ON oauth_artifacts (uid) WHERE uid IS NOT NULL;
CREATE INDEX oauth_artifacts_expiry_idx ON oauth_artifacts (expires_at);

-- Each grant's session in the session store (Redis): the `sid` of every access token the grant
-- issues, so the gateway's Check ends them the way it ends a session (revocation events,
-- SignOutAll, user cutoffs). One row per (account, client): consent is remembered here.
CREATE TABLE oauth_grant_sessions (
  grant_id text PRIMARY KEY,
  account_id text NOT NULL,
  client_id text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
  session_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX oauth_grant_sessions_account_client_idx ON oauth_grant_sessions (account_id, client_id);

-- Down Migration
DROP TABLE oauth_grant_sessions;
DROP TABLE oauth_artifacts;
DROP TABLE oauth_clients;
