#!/bin/sh
# Fills the ${NAME} placeholders of a repo template (pgbouncer/*, haproxy/haproxy.cfg) from the
# environment and prints the result: the envsubst syntax, as src/stack/render-config.ts fills it
# for the local launcher. Unlike envsubst, a placeholder whose variable is unset or empty is an
# error naming it, so a template edit can never ship a blank value into a running config.
# POSIX sh + awk only: it runs in the Alpine (PgBouncer) and Debian (HAProxy) images alike.
#
# Usage: render-template.sh TEMPLATE > OUTPUT   (TEMPLATE "-" reads standard input)
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 TEMPLATE > OUTPUT" >&2
  exit 64
fi
if [ "$1" != "-" ] && [ ! -r "$1" ]; then
  echo "$0: cannot read $1" >&2
  exit 66
fi

# Bracket expressions instead of \$ and \{: the same regex in mawk, gawk and busybox awk.
# Output is held until the end, so a failed render prints nothing.
exec awk '
{
  rest = $0
  done = ""
  while (match(rest, /[$][{][A-Z][A-Z0-9_]*[}]/)) {
    name = substr(rest, RSTART + 2, RLENGTH - 3)
    if (ENVIRON[name] == "") missing[name] = 1
    done = done substr(rest, 1, RSTART - 1) ENVIRON[name]
    rest = substr(rest, RSTART + RLENGTH)
  }
  out[NR] = done rest
}
END {
  for (name in missing) {
    printf "%s: no value for ${%s} (set the environment variable %s)\n", FILENAME, name, name > "/dev/stderr"
    failed = 1
  }
  if (failed) exit 1
  for (i = 1; i <= NR; i++) print out[i]
}' "$1"
