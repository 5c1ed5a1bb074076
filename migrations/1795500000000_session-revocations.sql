-- Up Migration
-- A password change or reset commits the end of the account's other sessions with the new hash:
-- the row is written in the same transaction, applied to Redis after the commit, and deleted once
-- applied. A row left behind (Redis stalled, the instance died) is applied by every instance's sweep.
CREATE TABLE session_revocations (
  id bigserial PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Sessions created before this instant end; ms since the epoch, on the auth service's clock, as
  -- the session record's `created` field is.
  revoke_before_ms bigint NOT NULL,
  -- The session that made the change, which lives on (none for a reset).
  keep_session_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_revocations_user_idx ON session_revocations (user_id);

-- Down Migration
DROP TABLE session_revocations;
