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
 * one no deadline would stop). The daemon runs under strace -f (fence-trace.ts),
 * which records its writes to the watchdog and the start script's execve in the
 * order they happen.
 */
import { expect } from "vitest";
import type { LabHost } from "./lab.ts";
import { createTestLab } from "./lab-test.ts";
import { labTestTraced, runTraced, script, toldWatchdog, traceDir, writeTracedConfig } from "./fence-trace.ts";
import { VIGIL_BIN } from "./vigil-cluster.ts";
import { waitUntil } from "./wait.ts";

interface Run {
  /** The daemon's trace, one syscall a line. */
  trace: string[];
  /** Trace line of the start script's execve. */
  started: number;
}

/** vigil.yaml of h1 with module svc: a start script first, then a VIP (see writeTracedConfig for `arbiter`). */
async function svcConfig(h1: LabHost, dir: string, arbiter: string | null): Promise<string> {
  const start = script(dir, "start.sh", `touch ${dir}/started\nexit 0`);
  const stop = script(dir, "stop.sh", "exit 0");
  return await writeTracedConfig(h1, dir, [`{ start: ${start}, stop: ${stop} }`, "vip: 198.51.100.150/24"], arbiter);
}

/** Runs h1's daemon under strace; returns once the start script ran. */
async function runTracedStart(h1: LabHost, dir: string, config: string): Promise<Run> {
  const marker = `${dir}/started`;
  const trace = await runTraced(h1, dir, config, {
    syscalls: "write,sendto,execve", strsize: 4096,
    done: () => waitUntil(async () => (await h1.exec(["test", "-e", marker])).code === 0, { timeoutMs: 60_000, intervalMs: 100, what: "h1 to run svc's start script" }),
  });
  const started = trace.findIndex((l) => /execve\(.*start\.sh/.test(l));
  expect(started, `the start script's execve in ${dir}/trace`).toBeGreaterThanOrEqual(0);
  return { trace, started };
}

labTestTraced("the watchdog holds a module whose first resource is a script before that script starts", async () => {
  const lab = await createTestLab({ hosts: 1 });
  const h1 = lab.hosts[0]!;
  const dir = traceDir("vigil-fence-tell-");
  const run = await runTracedStart(h1, dir, await svcConfig(h1, dir, null));
  const told = toldWatchdog(run.trace, run.started).filter((l) => /^(hold|free)\\tsvc$/.test(l));
  expect(told, "the start-up cleanup's hold and free").toContain("free\\tsvc");
  expect(told.at(-1), `what the watchdog last heard of svc before the start script ran (trace line ${run.started + 1})`).toBe("hold\\tsvc");
}, 120_000);

labTestTraced("the watchdog has the lease deadline before the start script runs under that lease", async () => {
  const lab = await createTestLab({ hosts: 2 });
  const [h1, h2] = [lab.host(1), lab.host(2)];
  const dir = traceDir("vigil-fence-tell-");
  // The arbiter (a third machine's role) on h2; the cluster is h1 alone, so nothing delays its start after the grant.
  const config = await svcConfig(h1, dir, h2.addr());
  const witness = h2.spawn([VIGIL_BIN, "witness", "--config", config, "--state-dir", `${dir}/state-witness`, "--log-format", "json"], { logName: "witness" });
  await witness.waitFor(/"msg":"vigil witness started"/, 15_000);
  const run = await runTracedStart(h1, dir, config);
  const told = toldWatchdog(run.trace, run.started);
  expect(told.some((l) => /^arm\\tsvc\\t\d+$/.test(l)), `the watchdog armed for svc before the start script ran (trace line ${run.started + 1}); it heard: ${told.join(" | ")}`).toBe(true);
}, 120_000);
