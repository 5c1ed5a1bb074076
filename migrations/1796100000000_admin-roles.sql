-- Up Migration
-- Roles a user holds (the Check's role: rules, the access token's `roles` claim). users.roles_version
-- rises with every change in the same transaction, so the copy in Redis (user:{<id>}:roles) is only
-- ever replaced by a newer one, whichever of two racing writers lands last.
CREATE TABLE user_roles (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, role)
);
ALTER TABLE users ADD COLUMN roles_version bigint NOT NULL DEFAULT 0;

-- The Admin API's FindUsers: email prefix (LIKE 'x%' needs pattern ops under a non-C collation) and
-- pages in creation order with (created_at, id) as the cursor.
CREATE INDEX users_email_pattern_idx ON users (email text_pattern_ops);
CREATE INDEX users_created_idx ON users (created_at, id);
-- A deleted admin's id is pseudonymised in the events of the users they acted on.
CREATE INDEX audit_events_admin_idx ON audit_events ((details ->> 'admin')) WHERE details ? 'admin';

-- Down Migration
DROP INDEX audit_events_admin_idx;
DROP INDEX users_created_idx;
DROP INDEX users_email_pattern_idx;
ALTER TABLE users DROP COLUMN roles_version;
DROP TABLE user_roles;
