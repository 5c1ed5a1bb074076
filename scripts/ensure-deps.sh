#!/usr/bin/env bash
# Installs npm dependencies when node_modules is missing or older than the lockfile,
# so `npm start` and `npm test` work on a fresh clone. System packages (Postgres,
# Redis, PgBouncer, HAProxy) are installed by the launcher itself (src/stack/install.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[deps] npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
