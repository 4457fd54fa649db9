/**
 * The files `vigil install` writes, as text: the systemd unit, the SysV init
 * script and the example config. Pure, so tests read them without installing.
 * Each carries MARK, so `vigil uninstall` removes only files it wrote.
 */
import { HELPER_PRIORITY, REALTIME_PRIORITY } from "../realtime-host.ts";

export const MARK = "Written by `vigil install`";

/** Paths as the installed system sees them (no --root prefix). */
export interface InstalledPaths {
  binary: string;
  stateDir: string;
}

export function systemdUnit(p: InstalledPaths): string {
  return `# ${MARK}; \`vigil uninstall\` removes it. Change it with \`systemctl edit vigil\`.
[Unit]
Description=vigil high-availability node (heartbeats, VIPs, modules, console)
Documentation=man:vigil(8)
# Heartbeats, VRRP and VIPs need the node's addresses configured first.
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${p.binary} run --state-dir ${p.stateDir}
# vigil validates the new config first and keeps the running one if it is bad.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2s
# Stopping runs every module's stop scripts, each bounded by its stop_timeout
# (60 s by default) plus 2 s to kill it, before the daemon exits.
TimeoutStopSec=15min
# Only the daemon gets SIGTERM. Its fencing watchdog must outlive a daemon that
# crashed, to remove the VIPs and run the stop scripts; the services the modules
# started are stopped by vigil in order (and once more at the next start).
KillMode=process
# With tight timers (deadtime under 500 ms, VRRP advert_int under 100 ms) vigil
# puts its main thread on SCHED_RR priority ${REALTIME_PRIORITY} (its other threads on
# ${HELPER_PRIORITY}) and locks its memory, so a busy or swapping host does not make the
# node look dead. These limits allow that even
# without CAP_SYS_NICE/CAP_IPC_LOCK. CPUSchedulingPolicy stays unset on purpose:
# scripts and services vigil starts must run at normal priority.
LimitRTPRIO=${REALTIME_PRIORITY}
LimitMEMLOCK=infinity

[Install]
WantedBy=multi-user.target
`;
}

/** The arbiter on a third machine (vigil witness): it grants module leases, so it must be up when the nodes need it. */
export function witnessUnit(p: InstalledPaths): string {
  return `# ${MARK} --witness; \`vigil uninstall --witness\` removes it.
[Unit]
Description=vigil witness: the arbiter that grants each module's lease to one node
Documentation=man:vigil(8)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${p.binary} witness --state-dir ${p.stateDir}
# After a start it grants nothing for lease + grace unless its last stop was clean:
# a quick restart keeps no node waiting for long.
Restart=on-failure
RestartSec=1s

[Install]
WantedBy=multi-user.target
`;
}

/**
 * For hosts without systemd. POSIX sh, no start-stop-daemon (many industrial
 * images lack it): a small supervisor loop restarts the daemon when it fails,
 * as Restart=on-failure does under systemd.
 */
export function sysvScript(p: InstalledPaths & { witness?: boolean }): string {
  const name = p.witness === true ? "vigil-witness" : "vigil";
  return `#!/bin/sh
# ${MARK}${p.witness === true ? " --witness" : ""}; \`vigil uninstall\` removes it.
### BEGIN INIT INFO
# Provides:          ${name}
# Required-Start:    $network $remote_fs $syslog
# Required-Stop:     $network $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: ${p.witness === true ? "vigil witness (arbiter)" : "vigil high-availability node"}
### END INIT INFO

DAEMON=${shellQuote(p.binary)}
VERB=${p.witness === true ? "witness" : "run"}
STATE_DIR=${shellQuote(p.stateDir)}
PIDFILE=\${VIGIL_PIDFILE:-/run/${name}.pid}
LOG=\${VIGIL_LOG:-/var/log/${name}.log}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
supervisor_pid() { [ -f "$PIDFILE" ] && cat "$PIDFILE"; }
daemon_pid() { [ -f "$PIDFILE.daemon" ] && cat "$PIDFILE.daemon"; }

# Runs the daemon, and again 2 s after it fails; a clean exit (0) or a stop ends it.
supervise() {
  stopping=0
  child=
  trap 'stopping=1; alive "$child" && kill -TERM "$child"' TERM INT
  trap 'alive "$child" && kill -HUP "$child"' HUP
  while [ "$stopping" = 0 ]; do
    "$DAEMON" "$VERB" --state-dir "$STATE_DIR" </dev/null >>"$LOG" 2>&1 &
    child=$!
    echo "$child" >"$PIDFILE.daemon"
    # wait returns early when a trapped signal arrives; wait on until the daemon is gone.
    wait "$child"; rc=$?
    while alive "$child"; do wait "$child"; rc=$?; done
    [ "$stopping" = 1 ] && break
    [ "$rc" = 0 ] && break
    echo "$(basename "$0"): daemon exited with status $rc; restarting in 2 s" >>"$LOG"
    sleep 2
  done
  rm -f "$PIDFILE" "$PIDFILE.daemon"
}

case "$1" in
  start)
    if alive "$(supervisor_pid)"; then echo "${name} is already running"; exit 0; fi
    ulimit -l unlimited 2>/dev/null
    ulimit -r ${REALTIME_PRIORITY} 2>/dev/null
    supervise </dev/null >/dev/null 2>&1 &
    echo $! >"$PIDFILE"
    echo "${name} started (log: $LOG)"
    ;;
  stop)
    pid=$(supervisor_pid)
    if ! alive "$pid"; then echo "${name} is not running"; rm -f "$PIDFILE" "$PIDFILE.daemon"; exit 0; fi
    kill -TERM "$pid"
    # The daemon stops its modules first; each stop is bounded by its stop_timeout.
    n=0
    while alive "$pid" && [ "$n" -lt 900 ]; do sleep 1; n=$((n + 1)); done
    if alive "$pid"; then echo "${name} did not stop in 15 minutes" >&2; exit 1; fi
    echo "${name} stopped"
    ;;
  restart)
    "$0" stop && "$0" start
    ;;
  reload|force-reload)
    pid=$(daemon_pid)
    if ! alive "$pid"; then echo "${name} is not running" >&2; exit 7; fi
    kill -HUP "$pid" && echo "${name}: config reload asked (see $LOG)"
    ;;
  status)
    if alive "$(supervisor_pid)"; then echo "${name} is running (pid $(daemon_pid))"; exit 0; fi
    echo "${name} is not running"; exit 3
    ;;
  *)
    echo "Usage: $0 {start|stop|restart|reload|status}" >&2
    exit 2
    ;;
esac
`;
}

/** Written as vigil.yaml.example when /etc/vigil holds no vigil.yaml. */
export function exampleConfig(configDir: string): string {
  return `# An example vigil.yaml (${MARK}). Copy it to ${configDir}/vigil.yaml,
# put the same file on every node, then check it: vigil check-config
#
# Two servers share the virtual IP 198.51.100.80 and run one service; web1
# runs it while it is healthy, web2 takes over within the deadtime when it is not.

cluster:
  name: my-pair
  # The shared secret that signs heartbeats: vigil keygen ${configDir}/vigil.key,
  # then copy the file to every node.
  key_file: vigil.key
  nodes:
    # One address per heartbeat link; each node finds itself by its addresses.
    - { name: web1, addresses: [198.51.100.11] }
    - { name: web2, addresses: [198.51.100.12] }
  # Cut off from every peer, a node runs the module only if it reaches this.
  witness: { ping: [198.51.100.1] }

modules:
  - name: web
    type: failover
    prefer: web1
    resources:
      # Started in this order, stopped in reverse: the address, then the
      # service (a systemd unit here; start:/stop: scripts work too).
      - { vip: 198.51.100.80/24 }
      - { service: nginx.service }
    checkers:
      - { tcp: 127.0.0.1:80, on_fail: restart, restarts: 2, restart_window: 5m }

web:
  listen: 0.0.0.0:9010
`;
}

function shellQuote(s: string): string {
  return /^[\w./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
