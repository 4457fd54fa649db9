/**
 * The module-failover benchmark's service, the same files for vigil and for
 * Heartbeat: one HTTP server bound to the VIP that answers every request
 * with its node's name, and one script that starts, stops and reports it.
 *
 *   svc.sh start|stop|status
 *
 * is Heartbeat's resource.d contract (status prints "running" or
 * "stopped"); vigil's module runs start.sh and stop.sh, which call it. The
 * node's name is $VIGIL_NODE under vigil and the host name under Heartbeat
 * (each instance runs in a UTS namespace named after its lab host). start
 * returns once the server listens, so both daemons see the resource up at
 * the same point; the client is served as soon as it listens either way.
 *
 * With --service running the bench starts server.js itself on both nodes,
 * bound to all addresses, before the HA daemons (`server.js NODE PORT
 * 0.0.0.0`), and the module moves only the VIP: the outage is then the HA
 * daemon's part alone, as in a keepalived-style setup.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../test/lab/lab.ts";

export const VIP = "198.51.100.100";
export const VIP_PREFIX = 24;
/** The VIP's interface on the lab hosts: link 1, the client's link. */
export const VIP_INTERFACE = "eth0";
export const SERVICE_PORT = 8090;
export const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");

/** started: the module's start script starts the service on takeover; running: it runs on both nodes all along, the module is the VIP alone. */
export type ServiceMode = "started" | "running";
export const SERVICE_MODES: readonly ServiceMode[] = ["started", "running"];

export interface ServiceFiles {
  readonly dir: string;
  /** For Heartbeat's resource.d (start|stop|status). */
  readonly script: string;
  /** For vigil's module: `start:` and `stop:`. */
  readonly start: string;
  readonly stop: string;
  readonly serverJs: string;
  pidfile(node: string): string;
}

const SERVER_JS = `const http = require("node:http");
const name = process.argv[2];
// The address to bind: the VIP when started on takeover, all addresses when it runs before the fault (--service running).
http.createServer((req, res) => res.end(name)).listen(Number(process.argv[3]), process.argv[4] ?? "${VIP}");
`;

export function writeServiceFiles(dir: string): ServiceFiles {
  const serverJs = join(dir, "server.js");
  writeFileSync(serverJs, SERVER_JS);
  const script = join(dir, "svc.sh");
  const pid = `${join(dir, "svc-")}"$node".pid`;
  writeFileSync(
    script,
    [
      "#!/bin/sh",
      'node="${VIGIL_NODE:-$(uname -n)}"',
      `f=${pid}`,
      // Gone, or a zombie nobody reaped yet.
      'alive() { [ -f "$f" ] || return 1; s=$(cut -d" " -f3 /proc/$(cat "$f")/stat 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }',
      'case "$1" in',
      "start)",
      `  ${BUN} ${serverJs} "$node" ${SERVICE_PORT} >/dev/null 2>&1 </dev/null &`,
      '  echo $! > "$f"',
      `  for i in $(seq 1 250); do curl -s -o /dev/null -m 0.5 http://${VIP}:${SERVICE_PORT}/ && exit 0; sleep 0.02; done`,
      "  echo 'the service did not listen within 5 s' >&2; exit 1 ;;",
      "stop)",
      '  alive || { rm -f "$f"; exit 0; }',
      '  p=$(cat "$f"); kill "$p" 2>/dev/null',
      '  for i in $(seq 1 100); do alive || { rm -f "$f"; exit 0; }; sleep 0.02; done',
      '  kill -9 "$p" 2>/dev/null; rm -f "$f"; exit 0 ;;',
      "status)",
      "  if alive; then echo running; else echo stopped; exit 3; fi ;;",
      '*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;',
      "esac",
      "",
    ].join("\n"),
  );
  const start = join(dir, "start.sh");
  const stop = join(dir, "stop.sh");
  writeFileSync(start, `#!/bin/sh\nexec ${script} start\n`);
  writeFileSync(stop, `#!/bin/sh\nexec ${script} stop\n`);
  for (const f of [script, start, stop]) chmodSync(f, 0o755);
  return { dir, script, start, stop, serverJs, pidfile: (node) => join(dir, `svc-${node}.pid`) };
}
