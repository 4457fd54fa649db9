/**
 * The fencing watchdog hears what a module does here before it is done, for a
 * module whose first resource is a script (no VIP add to wait for):
 *
 * - `hold svc` (something of svc may run here: stop it if the daemon dies)
 *   before the start script runs (fence/guard.ts, instance.ts syncHolding);
 * - with an arbiter, `arm svc MS` (the lease deadline) before the start
 *   script runs under that lease.
 *
 * Under Bun a write to a child's stdin stream leaves only when the event loop
 * turns, and the start is spawned in the same turn: the script ran first, and
 * a daemon killed then left a service its watchdog did not know of (or, frozen,
 * one no deadline would stop). The daemon runs under strace -f, which records
 * its writes to the watchdog and the start script's execve in the order they
 * happen: an order, not a time, so the verdict is the same on a loaded host.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, onTestFinished } from "vitest";
import type { LabHost } from "./lab.ts";
import { createTestLab, labTestNeeding } from "./lab-test.ts";
import { requireVigilBinary, VIGIL_BIN, vigilKeygen } from "./vigil-cluster.ts";
import { waitUntil } from "./wait.ts";

const labTest = labTestNeeding("strace");

/** A line the daemon wrote to the watchdog: a write or sendto on a pipe or socket other than its stdout and stderr. */
const TO_WATCHDOG = /(?:write|sendto)\((?![12]<)\d+<(?:pipe|UNIX-STREAM):\[[^\]]*\]>, "(.*)"/;

interface Run {
  /** The daemon's trace, one syscall a line. */
  trace: string[];
  /** Trace line of the start script's execve. */
  started: number;
}

/**
 * vigil.yaml of h1 with module svc: a start script first, then a VIP.
 * `arbiter`: h1 is the only node, under that arbiter (nothing delays its
 * start once the lease is granted). Otherwise a second node that never
 * answers: h1 stands by (the watchdog is told `free` after the start-up
 * cleanup) until it takes the module over, its start in that step.
 */
async function writeConfig(h1: LabHost, dir: string, arbiter: string | null): Promise<string> {
  const start = join(dir, "start.sh");
  const stop = join(dir, "stop.sh");
  writeFileSync(start, `#!/bin/sh\ntouch ${join(dir, "started")}\nexit 0\n`);
  writeFileSync(stop, "#!/bin/sh\nexit 0\n");
  chmodSync(start, 0o755);
  chmodSync(stop, 0o755);
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
    `      - { start: ${start}, stop: ${stop} }`,
    "      - vip: 198.51.100.150/24",
    "",
  ].join("\n"));
  return config;
}

/** Runs h1's daemon under strace; returns once the start script ran. */
async function runTraced(h1: LabHost, dir: string, config: string): Promise<Run> {
  const marker = join(dir, "started");
  const traceFile = join(dir, "trace");
  const proc = h1.spawn(["strace", "-f", "-yy", "-s", "4096", "-e", "trace=write,sendto,execve", "-o", traceFile,
    VIGIL_BIN, "run", "--config", config, "--state-dir", join(dir, "state"), "--node", "h1"], { logName: "vigil-h1" });
  await proc.waitFor(/vigil started/, 60_000);
  await waitUntil(async () => (await h1.exec(["test", "-e", marker])).code === 0, { timeoutMs: 60_000, intervalMs: 100, what: "h1 to run svc's start script" });
  const trace = readFileSync(traceFile, "utf8").split("\n");
  const started = trace.findIndex((l) => /execve\(.*start\.sh/.test(l));
  expect(started, `the start script's execve in ${traceFile}`).toBeGreaterThanOrEqual(0);
  return { trace, started };
}

/** Each line the daemon sent the watchdog before trace line `before`, in order. */
function toldBefore(trace: readonly string[], before: number): string[] {
  return trace.slice(0, before).flatMap((l) => {
    const m = TO_WATCHDOG.exec(l);
    return m === null ? [] : m[1]!.split("\\n").filter((x) => x !== "");
  });
}

async function labDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-fence-tell-"));
  // VIGIL_KEEP_LAB_DIR=1 keeps the trace for a look (lab-test.ts).
  if (process.env["VIGIL_KEEP_LAB_DIR"] !== "1") onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

labTest("the watchdog holds a module whose first resource is a script before that script starts", async () => {
  requireVigilBinary();
  const lab = await createTestLab({ hosts: 1 });
  const h1 = lab.hosts[0]!;
  const dir = await labDir();
  const run = await runTraced(h1, dir, await writeConfig(h1, dir, null));
  const told = toldBefore(run.trace, run.started).filter((l) => /^(hold|free)\\tsvc$/.test(l));
  expect(told, "the start-up cleanup's hold and free").toContain("free\\tsvc");
  expect(told.at(-1), `what the watchdog last heard of svc before the start script ran (trace line ${run.started + 1})`).toBe("hold\\tsvc");
}, 120_000);

labTest("the watchdog has the lease deadline before the start script runs under that lease", async () => {
  requireVigilBinary();
  const lab = await createTestLab({ hosts: 2 });
  const [h1, h2] = [lab.host(1), lab.host(2)];
  const dir = await labDir();
  // The arbiter (a third machine's role) on h2; the cluster is h1 alone, so nothing delays its start after the grant.
  const config = await writeConfig(h1, dir, h2.addr());
  const witness = h2.spawn([VIGIL_BIN, "witness", "--config", config, "--state-dir", join(dir, "state-witness"), "--log-format", "json"], { logName: "witness" });
  await witness.waitFor(/"msg":"vigil witness started"/, 15_000);
  const run = await runTraced(h1, dir, config);
  const told = toldBefore(run.trace, run.started);
  expect(told.some((l) => /^arm\\tsvc\\t\d+$/.test(l)), `the watchdog armed for svc before the start script ran (trace line ${run.started + 1}); it heard: ${told.join(" | ")}`).toBe(true);
}, 120_000);
