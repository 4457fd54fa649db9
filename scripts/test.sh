#!/usr/bin/env bash
# The whole suite: set-up, build, type-check, then unit, sim, lab and browser
# tests. Ends with one plain line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed (setup)"; exit 1; }

extra_pass=0
extra_fail=0
step() { # name, command...
  local name=$1; shift
  echo "== $name"
  if "$@"; then extra_pass=$((extra_pass + 1)); else extra_fail=$((extra_fail + 1)); echo "FAILED: $name"; fi
}
step "build dist/vigil" node scripts/build.mjs
step "type-check (tsc, strict)" node_modules/.bin/tsc -p .
step "Deno compatibility (deno task check)" node_modules/deno/deno task check

mkdir -p test-artifacts
rm -f test-artifacts/vitest.json
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@"
vitest_exit=$?
node scripts/test-summary.mjs test-artifacts/vitest.json "$extra_pass" "$extra_fail" "$vitest_exit"
