#!/bin/sh
# Renders haproxy/haproxy.cfg for compose and prints it. Lines ending in "# @each replica" are
# repeated once per host in REPLICA_HOSTS (space-separated; compose runs a fixed three) with
# ${REPLICA_INDEX}, ${REPLICA_HOST} and ${REPLICA_PORT} filled for that replica, as
# src/stack/render-config.ts renderHaproxyConfig does; every other placeholder comes from the
# environment through render-template.sh.
#
# Usage: REPLICA_HOSTS="h0 h1 h2" REPLICA_PORT=5432 ... render-haproxy.sh TEMPLATE > OUTPUT
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 TEMPLATE > OUTPUT" >&2
  exit 64
fi
if [ ! -r "$1" ]; then
  echo "$0: cannot read $1" >&2
  exit 66
fi
: "${REPLICA_HOSTS:?set REPLICA_HOSTS to the replica host names, space-separated}"
: "${REPLICA_PORT:?set REPLICA_PORT to the replicas port}"
here=$(dirname "$0")

# A temporary file rather than a pipe: plain sh has no pipefail, and a failed expansion must fail the render.
expanded=$(mktemp)
trap 'rm -f "$expanded"' EXIT
awk -v hosts="$REPLICA_HOSTS" -v port="$REPLICA_PORT" '
BEGIN { n = split(hosts, host, " ") }
/[ \t]*# @each replica[ \t]*$/ {
  body = $0
  sub(/[ \t]*# @each replica[ \t]*$/, "", body)
  for (i = 1; i <= n; i++) {
    line = body
    gsub(/[$][{]REPLICA_INDEX[}]/, i - 1, line)
    gsub(/[$][{]REPLICA_HOST[}]/, host[i], line)
    gsub(/[$][{]REPLICA_PORT[}]/, port, line)
    print line
  }
  next
}
{ print }' "$1" > "$expanded"
sh "$here/render-template.sh" "$expanded"
