#!/usr/bin/env bash
# `npm run demo`: installs what is missing, builds dist/vigil, starts a demo
# node and opens the console at http://localhost:9010 (log in as admin with the
# password it prints). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
# As root: two nodes and a client in network namespaces, a mirror module and a
# farm, with a demo panel to kill a node or pull its cables
# (scripts/demo-cluster.ts). VIGIL_DEMO_SINGLE=1
# keeps the one-node demo below.
if [ "$(id -u)" = 0 ] && [ -z "${VIGIL_DEMO_SINGLE:-}" ]; then
  bash scripts/setup.sh
  node scripts/build.mjs
  exec node_modules/.bin/bun scripts/demo-cluster.ts
fi
bash scripts/setup.sh --npm-only
node scripts/build.mjs

state=${VIGIL_DEMO_STATE:-$(mktemp -d /tmp/vigil-demo.XXXXXX)}
url=http://localhost:9010/
# The console's first-start login (user admin, password in STATE/console-password): made
# here rather than by the daemon so it can be printed before the daemon's log begins.
password_file=$state/console-password
if [ ! -s "$password_file" ]; then
  (umask 077 && node -e "process.stdout.write(require('node:crypto').randomBytes(15).toString('base64url') + '\\n')" >"$password_file")
fi
echo
echo "vigil demo: one node from examples/demo/vigil.yaml, state in $state"
if [ "$(id -u)" != 0 ]; then
  echo "(as root, npm run demo runs a cluster instead: two nodes and a client in network namespaces, a web service"
  echo " whose folder is mirrored between the nodes, a farm VIP both nodes answer, and a panel to kill a node or pull"
  echo " its cables and watch the other take over without losing a write)"
fi
echo "console: $url   user admin, password $(cat "$password_file")   (Ctrl-C to stop)"
echo "try: dist/vigil status --state-dir $state"
echo "     dist/vigil restart app --state-dir $state"
echo "     kill \$(cat /tmp/vigil-demo-app.pid)   # vigil restarts the app"
echo
# Open the console once it answers, if this machine has a desktop. Started through a
# subshell that exits at once, so the opener is not a child of the exec'd vigil below
# (which would never reap it and leave a zombie), but of init.
(
  (
    for _ in $(seq 50); do
      if node -e "fetch('$url').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then
        if command -v xdg-open >/dev/null && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then xdg-open "$url" >/dev/null 2>&1 || true; fi
        exit 0
      fi
      sleep 0.2
    done
  ) </dev/null >/dev/null 2>&1 &
)
exec dist/vigil run --config examples/demo/vigil.yaml --node demo --state-dir "$state"
