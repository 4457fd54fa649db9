#!/bin/sh
# Stops the demo's "service"; stopping what is not running succeeds.
pidfile=/tmp/vigil-demo-app.pid
[ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
rm -f "$pidfile"
echo "demo app stopped"
