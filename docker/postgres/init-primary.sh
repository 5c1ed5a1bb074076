#!/bin/bash
# Run once by the official postgres image on a fresh data directory (/docker-entrypoint-initdb.d),
# while its temporary server is up: the same roles, database, grants and settings that
# src/stack/postgres.ts gives the local stack, with passwords from the environment instead of
# the launcher's loopback trust. The image sources this file when it is not executable, so it
# sets no shell options of its own; the image's entrypoint already stops on a failed command.

# psql variables (:'name') quote the passwords as SQL literals.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set auth_password="${AUTH_DB_PASSWORD:?set AUTH_DB_PASSWORD}" \
  --set replication_password="${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}" <<'SQL'
CREATE ROLE auth LOGIN PASSWORD :'auth_password';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'replication_password';
CREATE DATABASE auth OWNER auth;
\connect auth
-- Function grants are per database: the app's. pg_monitor lets the app read replication lag.
GRANT EXECUTE ON FUNCTION pg_wal_replay_pause(), pg_wal_replay_resume() TO auth;
GRANT pg_monitor TO auth;
SQL

# In postgresql.conf rather than on the command line, so replicas get them with pg_basebackup
# (a hot standby refuses to start with fewer max_connections than its primary).
cat >> "$PGDATA/postgresql.conf" <<'CONF'
# --- added by docker/postgres/init-primary.sh (as src/stack/postgres.ts does locally) ---
max_connections = 200
shared_buffers = 64MB
wal_level = replica
max_wal_senders = 16
max_replication_slots = 16
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
# --- bounds (issue 11), as src/stack/postgres.ts sets them; see the comments there ---
max_slot_wal_keep_size = 10GB
statement_timeout = 30s
idle_in_transaction_session_timeout = 60s
tcp_keepalives_idle = 60
tcp_keepalives_interval = 10
tcp_keepalives_count = 6
CONF

# The image allows password logins to every database ("all"), which does not cover replication.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
