#!/bin/sh
# PgBouncer's container entrypoint: renders the repo's pgbouncer/pgbouncer.ini and
# pgbouncer/userlist.txt (mounted read-only in TEMPLATE_DIR) from the environment, then runs
# pgbouncer in the foreground as the container's main process.
#
# The auth file holds AUTH_SECRET as given: PgBouncer accepts a plain password there (and, with
# auth_type scram-sha-256, still does SCRAM with clients and the server), so compose passes the
# app role's password. It lives only in this container's /tmp, readable by its user alone.
#
# Usage: pgbouncer-entrypoint.sh TEMPLATE_DIR
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 TEMPLATE_DIR" >&2
  exit 64
fi
here=$(dirname "$0")
run=/tmp/pgbouncer
umask 077
mkdir -p "$run"
export AUTH_FILE="$run/userlist.txt" PID_FILE="$run/pgbouncer.pid" SOCKET_DIR="$run"
sh "$here/render-template.sh" "$1/userlist.txt" > "$AUTH_FILE"
sh "$here/render-template.sh" "$1/pgbouncer.ini" > "$run/pgbouncer.ini"
exec pgbouncer "$run/pgbouncer.ini"
