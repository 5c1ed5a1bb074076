#!/usr/bin/env bash
# The one test command (`npm test`; .ci/run calls it too). It installs what it needs,
# checks generated code and types, then runs unit and integration tests against real
# Postgres (primary + 3 replicas), PgBouncer, HAProxy and Redis started by the harness.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh

echo "[test] proto lint + generated code is current" >&2
npx buf lint
npx buf generate
if ! git diff --quiet -- src/gen 2>/dev/null; then
  echo "[test] src/gen differs from 'buf generate' output: run npm run generate and commit" >&2
  git --no-pager diff --stat -- src/gen >&2
  exit 1
fi

echo "[test] typecheck, and the production build the image and npm run serve run (dist/)" >&2
npx tsc -p tsconfig.json --noEmit
npm run -s build

mkdir -p .test-artifacts
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-artifacts/vitest.json "$@" || status=$?
node scripts/test-summary.mjs .test-artifacts/vitest.json
exit $status
