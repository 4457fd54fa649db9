/**
 * Fencing against a slow stop: the arbiter pair of module-fence.test.ts,
 * but the stop script takes 6 s before it stops the service (stop_timeout
 * 8 s). The PRIM's daemon is frozen (SIGSTOP: its watchdog fires at the
 * lease deadline and runs the slow stop) or killed (SIGKILL: the watchdog
 * fences at once). Sampled every 20 ms on both nodes, the VIP is never on
 * both and the service never runs on both: the node that takes over waits
 * out the old node's stop budget (stop_timeout + 2 s) as part of its
 * takeover wait (src/core/module/config.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { isPrimary } from "./arbiter-pair.ts";
import { labTest } from "./lab-test.ts";
import { bothAt, type FencePair, firstAt, MODULE_VIP, processRuns, sampleBoth, startFencePair } from "./fence-lab.ts";
import { sleep, waitUntil } from "./wait.ts";

const STOP_SECONDS = 6;

let root = "";
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "vigil-slow-stop-lab-"));
});
afterAll(() => {
  if (root !== "") rmSync(root, { recursive: true, force: true });
});

async function faultAndWatch(p: FencePair, signal: "SIGSTOP" | "SIGKILL"): Promise<void> {
  const { n1, n2 } = p;
  const service = p.servicePid(n1);
  expect(processRuns(service)).toBe(true);
  const sampler = sampleBoth(p, false);
  await sleep(200);

  const at = Date.now();
  n1.proc.kill(signal);
  await waitUntil(async () => isPrimary(await p.role(n2)) && (await p.holds(n2, MODULE_VIP)) && p.serviceRuns(n2), {
    timeoutMs: 60_000, intervalMs: 100, what: "h2 to take the module over",
  });
  const serviceWhenTaken = processRuns(service);
  await sleep(1_000);
  const samples = await sampler.stop();
  if (signal === "SIGSTOP") n1.proc.kill("SIGCONT");

  console.log([
    `${signal} of h1's daemon, stop script of ${STOP_SECONDS} s; ms after the fault, from samples every 20 ms:`,
    `  VIP left h1: ${firstAt(samples, at, (s) => !s.vip[0])}, h1's service gone: ${firstAt(samples, at, (s) => !s.service[0])}`,
    `  h2 holds the VIP: ${firstAt(samples, at, (s) => s.vip[1])}, runs the service: ${firstAt(samples, at, (s) => s.service[1])}`,
  ].join("\n"));
  expect(serviceWhenTaken, "h1's service once h2 runs it").toBe(false);
  expect(bothAt(samples, (s) => s.vip), "samples with the VIP on both nodes").toEqual([]);
  expect(bothAt(samples, (s) => s.service), "samples with the service running on both nodes").toEqual([]);
  const stops = readFileSync(join(p.dir, "stops-h1.log"), "utf8");
  expect(stops).toContain("fenced");
}

labTest("a frozen PRIM daemon whose stop takes 6 s: the other node starts only after the fence has stopped it", async () => {
  const p = await startFencePair(root, { arbiter: true, vrrp: false, stopDelaySeconds: STOP_SECONDS, stopTimeout: "8s" });
  await faultAndWatch(p, "SIGSTOP");
}, 120_000);

labTest("a killed PRIM daemon whose stop takes 6 s: the other node starts only after the fence has stopped it", async () => {
  const p = await startFencePair(root, { arbiter: true, vrrp: false, stopDelaySeconds: STOP_SECONDS, stopTimeout: "8s" });
  await faultAndWatch(p, "SIGKILL");
}, 120_000);
