#!/bin/sh
# The demo's "service": a process that only sleeps, with its PID in a pidfile.
# Kill it (kill $(cat /tmp/vigil-demo-app.pid)) and watch vigil restart it.
sleep 2147483 >/dev/null 2>&1 &
echo $! > /tmp/vigil-demo-app.pid
echo "demo app started as PID $!"
