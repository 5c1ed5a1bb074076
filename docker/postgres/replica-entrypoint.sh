#!/bin/bash
# A streaming replica of the primary, in the official postgres image: on an empty volume it is
# cloned with pg_basebackup -R and its own replication slot (as cloneReplica in
# src/stack/postgres.ts does locally), then it runs postgres as the postgres user. A volume that
# already holds a replica is reused as is.
#
# Environment: REPLICA_INDEX (0, 1, 2: names the slot replica_N and application_name replica-N),
# PRIMARY_HOST, REPLICATION_PASSWORD.
set -euo pipefail
: "${REPLICA_INDEX:?set REPLICA_INDEX}" "${PRIMARY_HOST:?set PRIMARY_HOST}" "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"

# A subdirectory of the volume: pg_basebackup creates it with the 0700 mode postgres demands.
export PGDATA=/var/lib/postgresql/data/pgdata
name="replica-${REPLICA_INDEX}"
slot="replica_${REPLICA_INDEX}"
primary="host=${PRIMARY_HOST} port=5432 user=replicator password=${REPLICATION_PASSWORD}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # An interrupted clone leaves a partial directory behind: start over.
  rm -rf "$PGDATA"
  chown postgres:postgres /var/lib/postgresql/data
  # A slot left by an earlier, deleted copy of this replica would make -C fail; an active one is
  # another live replica's and is left alone (then -C fails loudly).
  gosu postgres psql "$primary dbname=postgres" -v ON_ERROR_STOP=1 -qAt -c \
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '${slot}' AND NOT active"
  # -R writes standby.signal and primary_conninfo (this connection string, so the password and
  # application_name too) into the clone; -S/-C give it a slot so the primary keeps its WAL.
  gosu postgres pg_basebackup -d "$primary application_name=${name}" -D "$PGDATA" \
    -R -X stream -C -S "$slot" --checkpoint=fast
fi

exec gosu postgres postgres -D "$PGDATA"
