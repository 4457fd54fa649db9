/**
 * Shared by the lab tests of the arbiter: the vigil.yaml of two nodes with
 * a failover module `web` under an arbiter, and the module's service.
 *
 * Heartbeats run on link 2 only; the VIP, the arbiter and the client are on
 * link 1, so a test can cut the heartbeat without cutting the arbiter.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabHost } from "./lab.ts";

export const ARBITER_VIP = "198.51.100.100";
export const LEASE_MS = 3_000;
export const GRACE_MS = 1_000;

/** Whether a node in this role (as `vigil status` shows it) runs the module: PRIM, or ALONE without a peer. */
export const isPrimary = (role: string | undefined): boolean => role === "PRIM" || role === "ALONE";

export function arbiterPairYaml(keyFile: string, h1: LabHost, h2: LabHost, arbiter: LabHost, failback: "auto" | "manual" = "manual"): string {
  return [
    "cluster:",
    "  name: lab",
    `  key_file: ${keyFile}`,
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr(2)}] }`,
    `    - { name: h2, addresses: [${h2.addr(2)}] }`,
    "  heartbeat: { preset: lan }",
    `  witness: { arbiter: "${arbiter.addr(1)}:7695", lease: ${LEASE_MS}ms, grace: ${GRACE_MS}ms }`,
    "web: { listen: 127.0.0.1:0 }",
    "modules:",
    "  - name: web",
    "    type: failover",
    "    prefer: h1",
    `    failback: ${failback}`,
    `    vip: ${ARBITER_VIP}/24`,
    `    interface: ${h1.ifname(1)}`,
    "    start: ./web-start.sh",
    "    stop: ./web-stop.sh",
    "    start_timeout: 10s",
    "    stop_timeout: 10s",
    "",
  ].join("\n");
}

/**
 * The module's service: `node http-server.mjs NODE` answering the node's
 * name on `port`, in its own session so it outlives the start script; its
 * PID in svc-<node>.pid. The stop script appends $VIGIL_REASON to
 * stops-<node>.log on every run.
 */
export function writeWebService(dir: string, port: number): void {
  writeFileSync(join(dir, "http-server.mjs"), [
    'import { createServer } from "node:http";',
    "const name = process.argv[2];",
    `createServer((_req, res) => res.end(name + "\\n")).listen(${port}, "0.0.0.0", () => console.log("listening"));`,
    "",
  ].join("\n"));
  writeFileSync(join(dir, "web-start.sh"), [
    "#!/bin/sh",
    'cd "$(dirname "$0")" || exit 1',
    'log="svc-$VIGIL_NODE.log"',
    ': > "$log"',
    `setsid "${process.execPath}" http-server.mjs "$VIGIL_NODE" > "$log" 2>&1 < /dev/null &`,
    'echo $! > "svc-$VIGIL_NODE.pid"',
    "i=0",
    'while [ $i -lt 100 ]; do grep -q listening "$log" && exit 0; i=$((i + 1)); sleep 0.05; done',
    'echo "the service did not start" >&2',
    "exit 1",
    "",
  ].join("\n"));
  writeFileSync(join(dir, "web-stop.sh"), [
    "#!/bin/sh",
    'cd "$(dirname "$0")" || exit 1',
    'echo "${VIGIL_REASON:-none}" >> "stops-$VIGIL_NODE.log"',
    'f="svc-$VIGIL_NODE.pid"',
    '[ -f "$f" ] || exit 0',
    'pid=$(cat "$f")',
    'kill "$pid" 2>/dev/null',
    "i=0",
    'while kill -0 "$pid" 2>/dev/null; do [ $i -ge 100 ] && kill -9 "$pid"; i=$((i + 1)); sleep 0.05; done',
    'rm -f "$f"',
    "exit 0",
    "",
  ].join("\n"));
  chmodSync(join(dir, "web-start.sh"), 0o755);
  chmodSync(join(dir, "web-stop.sh"), 0o755);
}
