/**
 * A daemon that dies leaves nothing behind: h1 runs module `web` (a VIP and
 * a service) and is the VRRP master (a second VIP); its daemon gets
 * SIGKILL, as from the OOM killer. Its fencing watchdog (a small bash
 * process, fence/guard.ts) sees its stdin end and removes both VIPs at once,
 * then runs the module's stop script. Sampled every 20 ms on both nodes,
 * neither VIP is ever on both, h1's service is gone within the module's stop
 * budget (stop_timeout + 2 s), and h2 takes both VIPs over. Without an
 * arbiter and with one.
 *
 * Printed, not asserted: how long after the kill each VIP left h1, the
 * service stopped and h2 took over, and the watchdog's RSS.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { isPrimary } from "./arbiter-pair.ts";
import { labTest } from "./lab-test.ts";
import { bothAt, type FencePair, firstAt, MODULE_VIP, processRuns, sampleBoth, startFencePair, vmRssKiB, VRRP_VIP } from "./fence-lab.ts";
import { parseVigilLog } from "./vigil-cluster.ts";
import { sleep, waitUntil } from "./wait.ts";

/** stop_timeout 10 s + 2 s to kill: the bound on the service's stop after the daemon's death. */
const STOP_BUDGET_MS = 12_000;

let root = "";
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "vigil-death-lab-"));
});
afterAll(() => {
  if (root !== "") rmSync(root, { recursive: true, force: true });
});

async function killAndWatch(p: FencePair, label: string): Promise<void> {
  const { n1, n2 } = p;
  const service = p.servicePid(n1);
  const watchdog = p.watchdogPid(n1);
  expect(processRuns(service), "h1's service before the kill").toBe(true);
  expect(processRuns(watchdog), "h1's fencing watchdog before the kill").toBe(true);
  const rss = vmRssKiB(watchdog);
  const sampler = sampleBoth(p, true);
  await sleep(200);

  const killedAt = Date.now();
  n1.proc.kill("SIGKILL");
  await n1.proc.exited;
  await waitUntil(() => !processRuns(service), { timeoutMs: STOP_BUDGET_MS, intervalMs: 20, what: "h1's service to be stopped within its stop budget" });
  await waitUntil(async () => !(await p.holds(n1, MODULE_VIP)) && !(await p.holds(n1, VRRP_VIP)), { timeoutMs: 5_000, intervalMs: 20, what: "both VIPs to leave h1" });
  await waitUntil(async () => isPrimary(await p.role(n2)) && (await p.holds(n2, MODULE_VIP)) && (await p.holds(n2, VRRP_VIP)), {
    timeoutMs: 40_000, intervalMs: 100, what: "h2 to take the module and the VRRP VIP over",
  });
  await waitUntil(() => !processRuns(watchdog), { timeoutMs: STOP_BUDGET_MS, what: "h1's watchdog to leave once it has fenced" });
  await sleep(500);
  const samples = await sampler.stop();
  // What the watchdog did once the daemon was gone is in h1's own log, in its line format (JSON in this lab).
  const after = parseVigilLog(readFileSync(join(n1.stateDir, "vigil.log"), "utf8")).filter((e) => e.at >= killedAt - 1000);
  const removed = after.filter((e) => e.msg === "fence watchdog: VIP removed").map((e) => String(e.fields["vip"]));
  expect(removed.filter((v) => [MODULE_VIP, VRRP_VIP].includes(v.split("/")[0]!)), `VIPs h1's vigil.log says its watchdog removed: ${removed.join(", ")}`).toHaveLength(2);
  expect(after.some((e) => e.msg === "fence watchdog: module fenced" && e.fields["module"] === "web")).toBe(true);

  console.log([
    `${label}: h1's daemon killed (SIGKILL); ms after the kill, from samples every 20 ms:`,
    `  module VIP left h1: ${firstAt(samples, killedAt, (s) => !s.vip[0])}, VRRP VIP left h1: ${firstAt(samples, killedAt, (s) => !s.vrrp[0])}, ` +
      `h1's service gone: ${firstAt(samples, killedAt, (s) => !s.service[0])}`,
    `  h2 holds the module VIP: ${firstAt(samples, killedAt, (s) => s.vip[1])}, the VRRP VIP: ${firstAt(samples, killedAt, (s) => s.vrrp[1])}, ` +
      `runs the service: ${firstAt(samples, killedAt, (s) => s.service[1])}`,
    `  fencing watchdog RSS before the kill: ${rss} KiB`,
  ].join("\n"));

  expect(bothAt(samples, (s) => s.vip), "samples with the module VIP on both nodes").toEqual([]);
  expect(bothAt(samples, (s) => s.vrrp), "samples with the VRRP VIP on both nodes").toEqual([]);
  expect(samples.filter((s) => s.at < killedAt).every((s) => s.vip[0] && s.vrrp[0])).toBe(true);
  expect(readFileSync(join(p.dir, "stops-h1.log"), "utf8")).toContain("fenced");
  expect(rss).not.toBeNull();
  // A shell, not a second runtime (which took about 46 MiB).
  expect(rss ?? Infinity).toBeLessThan(16 * 1024);
}

labTest("without an arbiter: a killed daemon's module VIP, VRRP VIP and service go, and the peer takes over", async () => {
  const p = await startFencePair(root, { arbiter: false, vrrp: true });
  await killAndWatch(p, "no arbiter");
}, 120_000);

labTest("with an arbiter: a killed daemon's module VIP, VRRP VIP and service go, and the peer takes over", async () => {
  const p = await startFencePair(root, { arbiter: true, vrrp: true });
  await killAndWatch(p, "arbiter");
}, 120_000);
