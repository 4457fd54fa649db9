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
rm -f test-artifacts/vitest*.json
if [ $# -gt 0 ]; then
  node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@"
  vitest_exit=$?
  node scripts/test-summary.mjs "$extra_pass" "$extra_fail" "$vitest_exit" test-artifacts/vitest.json
  exit $?
fi
# Pure tests (cores, simulations, codecs) share nothing but the CPU: two files at
# once. Lab, CLI and browser tests share the kernel's network stack and the
# machine's timing, one file at a time (vitest.config.ts).
stray=$(find src test -name '*.test.ts' | grep -vE '^test/(unit|sim|lab|cli|web)/' || true)
if [ -n "$stray" ]; then echo "FAILED: test files outside test/{unit,sim,lab,cli,web} would not run: $stray"; extra_fail=$((extra_fail + 1)); fi
node_modules/.bin/vitest run --fileParallelism --maxWorkers=2 --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest-pure.json test/unit test/sim
pure_exit=$?
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json test/lab test/cli test/web
lab_exit=$?
vitest_exit=$(( pure_exit != 0 ? pure_exit : lab_exit ))
node scripts/test-summary.mjs "$extra_pass" "$extra_fail" "$vitest_exit" test-artifacts/vitest-pure.json test-artifacts/vitest.json
