/**
 * The fencing-order lab tests (fence-tell-order, fence-vip-order) run one
 * node's daemon under strace -f, which records its writes to the watchdog,
 * its netlink requests and its children's execve in the order they happen: an
 * order, not a time, so the verdict is the same on a loaded host.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished } from "vitest";
import type { LabHost } from "./lab.ts";
import { labTestNeeding } from "./lab-test.ts";
import { requireVigilBinary, VIGIL_BIN, vigilKeygen } from "./vigil-cluster.ts";

export const labTestTraced = labTestNeeding("strace");

/** A line the daemon wrote to the watchdog: a write or sendto on a pipe or socket other than its stdout and stderr. */
const TO_WATCHDOG = /(?:write|sendto)\((?![12]<)\d+<(?:pipe|UNIX-STREAM):\[[^\]]*\]>, "(.*)"/;

/** A directory for one test's files, removed when it ends (kept with VIGIL_KEEP_LAB_DIR=1, for a look at the trace). */
export function traceDir(prefix: string): string {
  requireVigilBinary();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (process.env["VIGIL_KEEP_LAB_DIR"] !== "1") onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An executable shell script DIR/NAME with BODY. */
export function script(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/**
 * DIR/vigil.yaml (and its key) for h1 with module svc of RESOURCES (YAML list
 * items). `arbiter`: h1 is the only node, under that arbiter (nothing delays
 * its start once the lease is granted); otherwise beside an h2 that never
 * answers, which h1 takes svc over from after initdead.
 */
export async function writeTracedConfig(h1: LabHost, dir: string, resources: readonly string[], arbiter: string | null = null): Promise<string> {
  await vigilKeygen(join(dir, "vigil.key"));
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:",
    "  name: lab",
    "  key_file: vigil.key",
    "  heartbeat: { initdead: 500ms }",
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr()}] }`,
    ...(arbiter === null ? ["    - { name: h2, addresses: [198.51.100.99] }"] : [`  witness: { arbiter: "${arbiter}:7695", lease: 3000ms, grace: 1000ms }`]),
    'web: { listen: "127.0.0.1:0" }',
    "modules:",
    "  - name: svc",
    "    type: failover",
    "    resources:",
    ...resources.map((r) => `      - ${r}`),
    "",
  ].join("\n"));
  return config;
}

/**
 * Runs h1's daemon under strace, recording SYSCALLS (strace's trace=) with
 * strings up to STRSIZE bytes, until it has started and `done` holds; returns
 * the trace, one syscall a line.
 */
export async function runTraced(h1: LabHost, dir: string, config: string, o: { syscalls: string; strsize: number; done: () => Promise<unknown> }): Promise<string[]> {
  const file = join(dir, "trace");
  const proc = h1.spawn(["strace", "-f", "-yy", "-s", String(o.strsize), "-e", `trace=${o.syscalls}`, "-o", file,
    VIGIL_BIN, "run", "--config", config, "--state-dir", join(dir, "state"), "--node", "h1"], { logName: "vigil-h1" });
  await proc.waitFor(/vigil started/, 60_000);
  await o.done();
  return readFileSync(file, "utf8").split("\n");
}

/** Each line the daemon sent the watchdog before trace line `before` (0-based), in order, its tabs as strace shows them (\t). */
export function toldWatchdog(trace: readonly string[], before: number): string[] {
  return trace.slice(0, before).flatMap((l) => {
    const m = TO_WATCHDOG.exec(l);
    return m === null ? [] : m[1]!.split("\\n").filter((x) => x !== "");
  });
}
